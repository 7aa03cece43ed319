//! What `camloop probe` shows of the V4L2 cameras there are.

use super::{Intervals, Offer, PixelFormat, Sizes, list_intervals, list_offers, video_nodes};
use v4l::{Device, FourCC};

/// A V4L2 capture device as `camloop probe` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VideoDevice {
    pub path: String,
    pub driver: String,
    pub card: String,
    /// "NV12: 320x180 at 60, 30 fps; 640x480 at 30 fps", one per format camloop reads.
    pub formats: Vec<String>,
    /// FourCCs of the formats camloop cannot read.
    pub unreadable: Vec<String>,
}

/// Every capture device there is, with its formats, sizes and rates.
pub fn probe() -> Vec<VideoDevice> {
    video_nodes()
        .into_iter()
        .filter_map(|path| {
            let device = Device::with_path(&path).ok()?;
            let caps = crate::sys::video_capabilities(&device).ok()?;
            if !caps.capture {
                return None;
            }
            let (readable, unreadable): (Vec<Offer>, Vec<Offer>) = list_offers(&device)
                .unwrap_or_default()
                .into_iter()
                .partition(|offer| PixelFormat::from_fourcc(offer.fourcc).is_some());
            Some(VideoDevice {
                path: path.display().to_string(),
                driver: caps.driver,
                card: caps.card,
                formats: readable
                    .iter()
                    .map(|offer| describe_offer(&device, offer))
                    .collect(),
                unreadable: unreadable.iter().map(|o| fourcc_name(o.fourcc)).collect(),
            })
        })
        .collect()
}

/// A FourCC as text; bytes that are not printable (a big-endian flag) show as `?`.
fn fourcc_name(fourcc: [u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect::<String>()
        .trim_end_matches('?')
        .to_string()
}

fn describe_offer(device: &Device, offer: &Offer) -> String {
    let name = fourcc_name(offer.fourcc);
    let sizes = match &offer.sizes {
        Sizes::Discrete(sizes) => sizes
            .iter()
            .map(|&(w, h)| {
                let rates = match list_intervals(device, FourCC::new(&offer.fourcc), w, h) {
                    Intervals::Discrete(list) if !list.is_empty() => list
                        .iter()
                        .map(|&(num, den)| format!("{:.0}", f64::from(den) / f64::from(num.max(1))))
                        .collect::<Vec<_>>()
                        .join(", "),
                    Intervals::Stepwise { min, max } => format!(
                        "{:.0} to {:.0}",
                        f64::from(max.1) / f64::from(max.0.max(1)),
                        f64::from(min.1) / f64::from(min.0.max(1))
                    ),
                    Intervals::Discrete(_) => "?".into(),
                };
                format!("{w}x{h} at {rates} fps")
            })
            .collect::<Vec<_>>()
            .join("; "),
        Sizes::Stepwise { min, max, .. } => format!("{}x{} to {}x{}", min.0, min.1, max.0, max.1),
    };
    format!("{name}: {sizes}")
}
