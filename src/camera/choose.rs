//! Which of a camera's modes to ask for: pure, so every camera's list can be a test fixture.
//!
//! The size closest to the wish wins; among modes of that size the format `auto` prefers
//! ([`PixelFormat::PREFERENCE`]); then the frame interval closest to the wished rate. The
//! driver may still grant something else: the adapter reads back what it got.

use crate::media::pixel::PixelFormat;

/// The sizes a camera offers for one format (`VIDIOC_ENUM_FRAMESIZES`).
#[derive(Clone, Debug, PartialEq)]
pub enum Sizes {
    Discrete(Vec<(u32, u32)>),
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

/// One format a camera offers.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub fourcc: [u8; 4],
    pub sizes: Sizes,
}

/// The frame intervals a camera offers for one format and size, in seconds as (num, den).
#[derive(Clone, Debug, PartialEq)]
pub enum Intervals {
    Discrete(Vec<(u32, u32)>),
    Stepwise { min: (u32, u32), max: (u32, u32) },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
}

/// Nothing offered can be read; the strings go into the error the person sees.
#[derive(Debug, PartialEq, Eq)]
pub struct NoUsableMode {
    pub wanted: String,
    pub offered: String,
}

pub fn choose_mode(
    offers: &[Offer],
    format: Option<PixelFormat>,
    width: u32,
    height: u32,
) -> Result<Mode, NoUsableMode> {
    let rank = |f: PixelFormat| PixelFormat::PREFERENCE.iter().position(|&p| p == f);
    offers
        .iter()
        .filter_map(|offer| {
            let found = PixelFormat::from_fourcc(offer.fourcc)?;
            if format.is_some_and(|wanted| wanted != found) {
                return None;
            }
            let (w, h) = nearest_size(&offer.sizes, width, height)?;
            let distance = w.abs_diff(width) + h.abs_diff(height);
            Some((
                (distance, rank(found)),
                Mode {
                    format: found,
                    width: w,
                    height: h,
                },
            ))
        })
        .min_by_key(|(key, _)| *key)
        .map(|(_, mode)| mode)
        .ok_or_else(|| NoUsableMode {
            wanted: format.map_or(String::new(), |f| format!(" in {}", f.name())),
            offered: describe_offers(offers),
        })
}

fn nearest_size(sizes: &Sizes, width: u32, height: u32) -> Option<(u32, u32)> {
    match sizes {
        Sizes::Discrete(list) => list
            .iter()
            .copied()
            .min_by_key(|&(w, h)| w.abs_diff(width) + h.abs_diff(height)),
        Sizes::Stepwise { min, max, step } => {
            let fit = |wanted: u32, min: u32, max: u32, step: u32| {
                let clamped = wanted.clamp(min, max);
                min + (clamped - min) / step.max(1) * step.max(1)
            };
            Some((
                fit(width, min.0, max.0, step.0),
                fit(height, min.1, max.1, step.1),
            ))
        }
    }
}

/// The interval to ask for: the offered one whose rate is nearest `fps`.
pub fn choose_interval(intervals: &Intervals, fps: u32) -> (u32, u32) {
    let rate = |(num, den): (u32, u32)| f64::from(den) / f64::from(num.max(1));
    let wanted = f64::from(fps);
    match intervals {
        Intervals::Discrete(list) => list
            .iter()
            .copied()
            .min_by(|&a, &b| {
                (rate(a) - wanted)
                    .abs()
                    .total_cmp(&(rate(b) - wanted).abs())
            })
            .unwrap_or((1, fps)),
        // A shorter interval is a higher rate: `min` bounds the rate from above.
        Intervals::Stepwise { min, max } => {
            if wanted > rate(*min) {
                *min
            } else if wanted < rate(*max) {
                *max
            } else {
                (1, fps)
            }
        }
    }
}

/// "NV12 320x180, 640x480; MJPG 640x480; RGB3 (not readable)", for error messages.
pub fn describe_offers(offers: &[Offer]) -> String {
    if offers.is_empty() {
        return "no formats".into();
    }
    offers
        .iter()
        .map(|offer| {
            let name = String::from_utf8_lossy(&offer.fourcc).trim().to_string();
            if PixelFormat::from_fourcc(offer.fourcc).is_none() {
                return format!("{name} (not readable)");
            }
            let sizes = match &offer.sizes {
                Sizes::Discrete(list) => list
                    .iter()
                    .map(|(w, h)| format!("{w}x{h}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                Sizes::Stepwise { min, max, .. } => {
                    format!("{}x{} to {}x{}", min.0, min.1, max.0, max.1)
                }
            };
            format!("{name} {sizes}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "choose_tests.rs"]
mod tests;
