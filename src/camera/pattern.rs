//! The test-pattern camera: a moving picture at the configured size and rate, with each frame's
//! id drawn into it as a row of black and white blocks that survive lossy coding. Because the
//! picture is a pure function of the id, the receiver can redraw the source of any decoded frame
//! and measure its quality exactly.
//!
//! Two pictures: colour bars, which cost the encoder next to nothing, and a scene with the
//! texture, edges, sensor noise and motion of a webcam's view, so encode time, bitrate and
//! quality figures mean what they would with a camera.

mod scene;

use super::{CameraError, VideoFormat, VideoSource};
use crate::config::Picture;
use crate::media::frame::Frame;
use scene::Scene;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows of the id stripe at the top: one macroblock row, so coding of the picture below does
/// not bleed into it.
const STRIPE_ROWS: usize = 16;
/// 24 bits of id and an 8-bit check, so a misread id is rejected rather than mismatched.
const ID_BITS: usize = 24;
const STRIPE_BITS: usize = 32;
const BLACK: u8 = 16;
const WHITE: u8 = 235;

/// (Y, U, V) of the classic colour bars.
const BARS: [(u8, u8, u8); 8] = [
    (235, 128, 128),
    (210, 16, 146),
    (170, 166, 16),
    (145, 54, 34),
    (106, 202, 222),
    (81, 90, 240),
    (41, 240, 110),
    (16, 128, 128),
];

/// The picture of every frame id at one size. Cheap to clone: a scene's texture is shared.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub width: usize,
    pub height: usize,
    scene: Option<Arc<Scene>>,
}

fn check(id: u32) -> u32 {
    (id ^ (id >> 8) ^ (id >> 16) ^ 0xa5) & 0xff
}

impl Pattern {
    /// `width` and `height` even, at least 2.
    pub fn new(picture: Picture, width: usize, height: usize) -> Self {
        Pattern {
            width,
            height,
            scene: (picture == Picture::Scene).then(|| Arc::new(Scene::new(width, height))),
        }
    }

    pub fn picture(&self) -> Picture {
        if self.scene.is_some() {
            Picture::Scene
        } else {
            Picture::Bars
        }
    }

    fn block_width(&self) -> usize {
        self.width / STRIPE_BITS
    }

    /// Draws frame `id` as I420.
    pub fn render(&self, id: u32) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let mut data = vec![0u8; Frame::i420_len(w, h)];
        let (y_plane, chroma) = data.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
        match &self.scene {
            Some(scene) => scene.draw(id, y_plane, u_plane, v_plane),
            None => self.draw_bars(id, y_plane, u_plane, v_plane),
        }
        self.draw_id(y_plane, u_plane, v_plane, id);
        data
    }

    /// Frame `id`, stamped when the picture is complete, as a camera stamps a dequeued buffer.
    pub fn frame(&self, id: u32) -> Frame {
        let data = self.render(id);
        Frame {
            id,
            captured: Instant::now(),
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// Bars scrolling left by 4 pixels a frame, a grey square crossing diagonally. Every row
    /// is the same but for the square, so one row is made and copied.
    fn draw_bars(&self, id: u32, y_plane: &mut [u8], u_plane: &mut [u8], v_plane: &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let shift = (id as usize * 4) % w;
        let bar = |x: usize| BARS[((x + shift) % w) * BARS.len() / w];
        let side = (w.min(h) / 4).max(2) & !1;
        let (sx, sy) = (
            (id as usize * 6) % (w - side + 1),
            (id as usize * 3) % (h - side + 1),
        );
        let luma: Vec<u8> = (0..w).map(|x| bar(x).0).collect();
        for (y, row) in y_plane.chunks_exact_mut(w).enumerate() {
            row.copy_from_slice(&luma);
            if (sy..sy + side).contains(&y) {
                row[sx..sx + side].fill(128);
            }
        }
        // A chroma sample is grey where the luma sample at its top left is in the square.
        let (cx, cy) = (
            sx.div_ceil(2)..(sx + side).div_ceil(2),
            sy.div_ceil(2)..(sy + side).div_ceil(2),
        );
        for (plane, of) in [(u_plane, 1), (v_plane, 2)] {
            let chroma: Vec<u8> = (0..w / 2)
                .map(|x| {
                    let (_, u, v) = bar(x * 2);
                    if of == 1 { u } else { v }
                })
                .collect();
            for (y, row) in plane.chunks_exact_mut(w / 2).enumerate() {
                row.copy_from_slice(&chroma);
                if cy.contains(&y) {
                    row[cx.clone()].fill(128);
                }
            }
        }
    }

    fn draw_id(&self, y_plane: &mut [u8], u_plane: &mut [u8], v_plane: &mut [u8], id: u32) {
        let bw = self.block_width();
        if bw == 0 || self.height < STRIPE_ROWS {
            return;
        }
        let word = (id & ((1 << ID_BITS) - 1)) | (check(id) << ID_BITS);
        let w = self.width;
        for row in 0..STRIPE_ROWS {
            for x in 0..w {
                let bit = (x / bw).min(STRIPE_BITS - 1);
                y_plane[row * w + x] = if word >> bit & 1 == 1 { WHITE } else { BLACK };
            }
        }
        for row in 0..STRIPE_ROWS / 2 {
            u_plane[row * w / 2..(row + 1) * w / 2].fill(128);
            v_plane[row * w / 2..(row + 1) * w / 2].fill(128);
        }
    }

    /// Reads the frame id from a (possibly lossy) luma plane; `None` if the stripe does not
    /// check out or the picture is too small to carry one.
    pub fn read_id(&self, y_plane: &[u8]) -> Option<u32> {
        let bw = self.block_width();
        if bw == 0 || self.height < STRIPE_ROWS || y_plane.len() < self.width * self.height {
            return None;
        }
        let mut word = 0u32;
        for bit in 0..STRIPE_BITS {
            // Average the middle of the block, away from edges the coder smears.
            let (x0, x1) = (bit * bw + bw / 4, bit * bw + (3 * bw).div_ceil(4));
            let mut sum = 0u32;
            let mut n = 0u32;
            for row in 4..STRIPE_ROWS - 4 {
                for x in x0..x1.max(x0 + 1) {
                    sum += u32::from(y_plane[row * self.width + x]);
                    n += 1;
                }
            }
            if sum / n > 128 {
                word |= 1 << bit;
            }
        }
        let id = word & ((1 << ID_BITS) - 1);
        (word >> ID_BITS == check(id)).then_some(id)
    }
}

/// The test pattern as a camera, paced to the configured frame rate.
pub struct PatternCamera {
    pattern: Pattern,
    interval: Duration,
    next_id: u32,
    next_due: Option<Instant>,
}

impl PatternCamera {
    pub fn new(pattern: Pattern, fps: u32) -> Self {
        PatternCamera {
            pattern,
            interval: Duration::from_secs(1) / fps,
            next_id: 0,
            next_due: None,
        }
    }
}

impl VideoSource for PatternCamera {
    fn describe(&self) -> String {
        format!(
            "test pattern ({}) {}x{} at {:.0} fps",
            self.pattern.picture().name(),
            self.pattern.width,
            self.pattern.height,
            1.0 / self.interval.as_secs_f64()
        )
    }

    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: self.pattern.width,
            height: self.pattern.height,
            fps: (Duration::from_secs(1).as_nanos() / self.interval.as_nanos()) as u32,
        }
    }

    fn reference(&self) -> Option<Pattern> {
        Some(self.pattern.clone())
    }

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let due = *self.next_due.get_or_insert_with(Instant::now);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // Keep to the schedule, but never try to catch up on frames a stall made us miss.
        self.next_due = Some((due + self.interval).max(Instant::now()));
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1) & ((1 << ID_BITS) - 1);
        Ok(self.pattern.frame(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::psnr;
    use crate::media::h264::{EncoderSettings, H264Decoder, H264Encoder};

    const PICTURES: [Picture; 2] = [Picture::Bars, Picture::Scene];

    #[test]
    fn the_id_reads_back_from_the_picture() {
        for picture in PICTURES {
            let pattern = Pattern::new(picture, 320, 240);
            for id in [0, 1, 77, 4095, 0xab_cdef] {
                let data = pattern.render(id);
                assert_eq!(pattern.read_id(&data), Some(id), "{picture:?}");
            }
        }
    }

    #[test]
    fn the_id_survives_noise_and_a_damaged_stripe_is_rejected() {
        let pattern = Pattern::new(Picture::Bars, 320, 240);
        let mut data = pattern.render(1234);
        for (i, px) in data.iter_mut().enumerate() {
            *px = px.saturating_add((i % 7) as u8 * 6).saturating_sub(18);
        }
        assert_eq!(pattern.read_id(&data), Some(1234));
        // Invert one block: the check no longer matches.
        for row in 0..STRIPE_ROWS {
            for x in 0..10 {
                data[row * 320 + x] = 255 - data[row * 320 + x];
            }
        }
        assert_eq!(pattern.read_id(&data), None);
    }

    #[test]
    fn the_picture_moves_from_frame_to_frame_and_is_the_same_for_the_same_id() {
        for picture in PICTURES {
            let pattern = Pattern::new(picture, 64, 48);
            assert_ne!(pattern.render(1)[64 * 20..], pattern.render(2)[64 * 20..]);
            assert_eq!(pattern.render(5), pattern.render(5));
            // The receiver's own copy draws the sender's picture.
            assert_eq!(Pattern::new(picture, 64, 48).render(9), pattern.render(9));
        }
    }

    #[test]
    fn bars_are_bars_with_a_grey_square() {
        let pattern = Pattern::new(Picture::Bars, 64, 48);
        let data = pattern.render(4);
        // Frame 4: scrolled by 16 pixels, the 12-pixel square at (24, 12).
        let luma = |x: usize, y: usize| data[y * 64 + x];
        assert_eq!((luma(30, 20), luma(2, 20), luma(62, 40)), (128, 170, 210));
        let u = |x: usize, y: usize| data[64 * 48 + y * 32 + x];
        assert_eq!((u(15, 10), u(1, 10), u(31, 20)), (128, 166, 16));
    }

    #[test]
    fn the_scene_has_texture_noise_and_motion() {
        let pattern = Pattern::new(Picture::Scene, 320, 240);
        let (a, b) = (pattern.render(10), pattern.render(11));
        let luma = |d: &[u8]| d[320 * STRIPE_ROWS..320 * 240].to_vec();
        let (a, b) = (luma(&a), luma(&b));
        let mean = a.iter().map(|&p| f64::from(p)).sum::<f64>() / a.len() as f64;
        let spread = (a
            .iter()
            .map(|&p| (f64::from(p) - mean).powi(2))
            .sum::<f64>()
            / a.len() as f64)
            .sqrt();
        assert!(spread > 20.0, "a textured room, σ {spread:.1}");
        // Neighbouring pixels differ (grain and noise), and so do neighbouring frames.
        let steps = a.windows(2).filter(|p| p[0] != p[1]).count();
        assert!(steps > a.len() / 2, "{steps} of {}", a.len());
        let moved = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        assert!(moved > a.len() / 2, "{moved} of {}", a.len());
    }

    /// The scene at 640x480@30 and 500 kbit/s: every id reads back after coding, and the mean
    /// PSNR stays at 30 dB or above.
    #[test]
    fn the_scene_keeps_30_db_and_its_ids_at_500_kbits() {
        let (width, height) = (640, 480);
        let pattern = Pattern::new(Picture::Scene, width, height);
        let mut encoder = H264Encoder::new(&EncoderSettings {
            width,
            height,
            fps: 30,
            bitrate_kbps: 500,
            keyframe_interval_s: 2,
        })
        .unwrap();
        let mut decoder = H264Decoder::new().unwrap();
        let (mut quality, mut bytes) = (Vec::new(), 0);
        for id in 0..90 {
            let frame = pattern.frame(id);
            let Some(encoded) = encoder.encode(&frame).unwrap() else {
                continue;
            };
            bytes += encoded.data.len();
            let (_, _, picture) = decoder.decode(&encoded.data).unwrap().unwrap();
            assert_eq!(pattern.read_id(&picture), Some(id));
            quality.push(psnr(&frame.data, &picture));
        }
        let kbits = bytes as f64 * 8.0 / 1000.0 / 3.0;
        let mean = quality.iter().sum::<f64>() / quality.len() as f64;
        eprintln!("scene 640x480 at 500 kbit/s: {kbits:.0} kbit/s, mean PSNR {mean:.2} dB");
        assert!(kbits < 800.0, "{kbits:.0} kbit/s");
        assert!(mean >= 30.0, "{mean:.2} dB");
    }

    #[test]
    fn a_tiny_picture_carries_no_id() {
        for picture in PICTURES {
            let pattern = Pattern::new(picture, 16, 16);
            assert_eq!(pattern.read_id(&pattern.render(3)), None);
        }
    }

    #[test]
    fn the_camera_paces_to_its_frame_rate() {
        let mut camera = PatternCamera::new(Pattern::new(Picture::Bars, 64, 48), 50);
        let start = Instant::now();
        let ids: Vec<u32> = (0..6).map(|_| camera.next_frame().unwrap().id).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        // At least five intervals of 20 ms: a paced camera is never early. A busy machine can
        // make it late, so there is no upper bound.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    }
}
