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
mod tests {
    use super::*;

    /// What vivid's webcam input lists (Linux 6.x), in its order.
    fn vivid() -> Vec<Offer> {
        let sizes = Sizes::Discrete(vec![
            (320, 180),
            (640, 360),
            (640, 480),
            (1280, 720),
            (1920, 1080),
            (3840, 2160),
        ]);
        [
            b"YUYV", b"UYVY", b"YVYU", b"VYUY", b"422P", b"NV16", b"NV61", b"NV12", b"NV21",
            b"YU12", b"YV12", b"RGB3", b"BGR3",
        ]
        .into_iter()
        .map(|fourcc| Offer {
            fourcc: *fourcc,
            sizes: sizes.clone(),
        })
        .collect()
    }

    /// A UVC webcam that streams MJPEG only (many cheap ones at HD sizes).
    fn mjpeg_webcam() -> Vec<Offer> {
        vec![Offer {
            fourcc: *b"MJPG",
            sizes: Sizes::Discrete(vec![(640, 480), (1280, 720), (1920, 1080)]),
        }]
    }

    fn mode(format: PixelFormat, width: u32, height: u32) -> Mode {
        Mode {
            format,
            width,
            height,
        }
    }

    #[test]
    fn auto_on_vivid_prefers_nv12_at_the_asked_size() {
        assert_eq!(
            choose_mode(&vivid(), None, 640, 480),
            Ok(mode(PixelFormat::Nv12, 640, 480))
        );
    }

    #[test]
    fn a_size_vivid_lacks_gets_the_nearest_one() {
        assert_eq!(
            choose_mode(&vivid(), None, 320, 240),
            Ok(mode(PixelFormat::Nv12, 320, 180))
        );
    }

    #[test]
    fn an_mjpeg_only_webcam_is_read_as_mjpeg() {
        assert_eq!(
            choose_mode(&mjpeg_webcam(), None, 1280, 720),
            Ok(mode(PixelFormat::Mjpeg, 1280, 720))
        );
    }

    #[test]
    fn a_camera_with_only_other_sizes_gives_the_closest() {
        assert_eq!(
            choose_mode(&mjpeg_webcam(), None, 800, 600),
            Ok(mode(PixelFormat::Mjpeg, 640, 480))
        );
    }

    #[test]
    fn the_asked_size_beats_the_preferred_format() {
        let offers = vec![
            Offer {
                fourcc: *b"NV12",
                sizes: Sizes::Discrete(vec![(1920, 1080)]),
            },
            Offer {
                fourcc: *b"YUYV",
                sizes: Sizes::Discrete(vec![(640, 480), (1920, 1080)]),
            },
        ];
        assert_eq!(
            choose_mode(&offers, None, 640, 480),
            Ok(mode(PixelFormat::Yuyv, 640, 480))
        );
    }

    #[test]
    fn a_named_format_is_used_even_when_another_is_preferred() {
        assert_eq!(
            choose_mode(&vivid(), Some(PixelFormat::Uyvy), 640, 480),
            Ok(mode(PixelFormat::Uyvy, 640, 480))
        );
    }

    #[test]
    fn stepwise_sizes_are_clamped_and_rounded_to_the_step() {
        let offers = vec![Offer {
            fourcc: *b"YU12",
            sizes: Sizes::Stepwise {
                min: (32, 32),
                max: (1920, 1080),
                step: (16, 8),
            },
        }];
        assert_eq!(
            choose_mode(&offers, None, 650, 4000),
            Ok(mode(PixelFormat::Yu12, 640, 1080))
        );
    }

    #[test]
    fn nothing_usable_lists_what_the_camera_offers() {
        let offers = vec![Offer {
            fourcc: *b"RGB3",
            sizes: Sizes::Discrete(vec![(640, 480)]),
        }];
        assert_eq!(
            choose_mode(&offers, None, 640, 480),
            Err(NoUsableMode {
                wanted: String::new(),
                offered: "RGB3 (not readable)".into(),
            })
        );
        assert_eq!(
            choose_mode(&mjpeg_webcam(), Some(PixelFormat::Yuyv), 640, 480),
            Err(NoUsableMode {
                wanted: " in YUYV".into(),
                offered: "MJPG 640x480, 1280x720, 1920x1080".into(),
            })
        );
    }

    #[test]
    fn the_interval_nearest_the_wished_rate_is_asked_for() {
        let webcam = Intervals::Discrete(vec![(1, 30), (1, 25), (1, 15), (2, 25), (1, 5)]);
        assert_eq!(choose_interval(&webcam, 15), (1, 15));
        assert_eq!(choose_interval(&webcam, 12), (2, 25));
        assert_eq!(choose_interval(&webcam, 60), (1, 30));
        let range = Intervals::Stepwise {
            min: (1, 60),
            max: (1, 1),
        };
        assert_eq!(choose_interval(&range, 24), (1, 24));
        assert_eq!(choose_interval(&range, 120), (1, 60));
    }
}
