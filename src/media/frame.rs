//! Raw media as it moves between threads: I420 video frames and 20 ms blocks of PCM.

use std::time::Instant;

/// One picture in I420 (planar Y, then U and V at half resolution), with its identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Frame number from the source; the test pattern also draws it into the picture.
    pub id: u32,
    /// When the source produced it: the start of the loop latency.
    pub captured: Instant,
    pub width: usize,
    pub height: usize,
    /// Y plane (`width * height`), then U and V (`width/2 * height/2` each).
    pub data: Vec<u8>,
}

impl Frame {
    pub fn i420_len(width: usize, height: usize) -> usize {
        width * height * 3 / 2
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.width * self.height]
    }

    pub fn u(&self) -> &[u8] {
        let y = self.width * self.height;
        &self.data[y..y + y / 4]
    }

    pub fn v(&self) -> &[u8] {
        let y = self.width * self.height;
        &self.data[y + y / 4..]
    }
}

/// Audio runs at 48 kHz mono in 20 ms blocks, as Opus in WebRTC expects.
pub const SAMPLE_RATE: u32 = 48_000;
pub const SAMPLES_PER_BLOCK: usize = 960;

/// 20 ms of mono 16-bit PCM.
#[derive(Clone, Debug)]
pub struct AudioBlock {
    pub id: u32,
    pub captured: Instant,
    pub samples: Vec<i16>,
}

/// Peak signal-to-noise ratio of `decoded` against `reference` (same length), in dB.
/// Identical pictures give 100 dB rather than infinity, so that means stay finite.
pub fn psnr(reference: &[u8], decoded: &[u8]) -> f64 {
    let squared: u64 = reference
        .iter()
        .zip(decoded)
        .map(|(&a, &b)| {
            let d = i64::from(a) - i64::from(b);
            (d * d) as u64
        })
        .sum();
    if squared == 0 {
        return 100.0;
    }
    let mse = squared as f64 / reference.len() as f64;
    (10.0 * (255.0 * 255.0 / mse).log10()).min(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_errors() {
        assert_eq!(psnr(&[10, 20], &[10, 20]), 100.0);
        // Every sample off by 1: MSE 1, so 20·log10(255) ≈ 48.13 dB.
        let p = psnr(&[10, 20, 30, 40], &[11, 19, 31, 39]);
        assert!((p - 48.13).abs() < 0.01, "{p}");
    }

    #[test]
    fn planes_split_where_i420_puts_them() {
        let frame = Frame {
            id: 0,
            captured: Instant::now(),
            width: 4,
            height: 2,
            data: (0..12).collect(),
        };
        assert_eq!(frame.y(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(frame.u(), &[8, 9]);
        assert_eq!(frame.v(), &[10, 11]);
    }
}
