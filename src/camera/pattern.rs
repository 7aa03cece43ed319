//! The test-pattern camera: a moving picture at the configured size and rate, with each frame's
//! id drawn into it as a row of black and white blocks that survive lossy coding. Because the
//! picture is a pure function of the id, the receiver can redraw the source of any decoded frame
//! and measure its quality exactly.

use super::{CameraError, VideoFormat, VideoSource};
use crate::media::frame::Frame;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub width: usize,
    pub height: usize,
}

fn check(id: u32) -> u32 {
    (id ^ (id >> 8) ^ (id >> 16) ^ 0xa5) & 0xff
}

impl Pattern {
    fn block_width(&self) -> usize {
        self.width / STRIPE_BITS
    }

    /// Draws frame `id` as I420.
    pub fn render(&self, id: u32) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let mut data = vec![0u8; Frame::i420_len(w, h)];
        let (y_plane, chroma) = data.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
        // Bars scroll left by 4 pixels a frame; a grey square crosses diagonally.
        let shift = (id as usize * 4) % w;
        let bar_of = |x: usize| ((x + shift) % w) * BARS.len() / w;
        let side = (w.min(h) / 4).max(2) & !1;
        let (sx, sy) = (
            (id as usize * 6) % (w - side + 1),
            (id as usize * 3) % (h - side + 1),
        );
        let in_square = |x: usize, y: usize| x >= sx && x < sx + side && y >= sy && y < sy + side;
        for y in 0..h {
            for x in 0..w {
                y_plane[y * w + x] = if in_square(x, y) {
                    128
                } else {
                    BARS[bar_of(x)].0
                };
            }
        }
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                let (_, u, v) = if in_square(x * 2, y * 2) {
                    (0, 128, 128)
                } else {
                    BARS[bar_of(x * 2)]
                };
                u_plane[y * w / 2 + x] = u;
                v_plane[y * w / 2 + x] = v;
            }
        }
        self.draw_id(y_plane, u_plane, v_plane, id);
        data
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
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        PatternCamera {
            pattern: Pattern {
                width: width as usize,
                height: height as usize,
            },
            interval: Duration::from_secs(1) / fps,
            next_id: 0,
            next_due: None,
        }
    }
}

impl VideoSource for PatternCamera {
    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} at {:.0} fps",
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
        Some(self.pattern)
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
        let data = self.pattern.render(id);
        // Stamped when the picture is complete, as a camera stamps a dequeued buffer.
        Ok(Frame {
            id,
            captured: Instant::now(),
            width: self.pattern.width,
            height: self.pattern.height,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_reads_back_from_the_picture() {
        let pattern = Pattern {
            width: 320,
            height: 240,
        };
        for id in [0, 1, 77, 4095, 0xab_cdef] {
            let data = pattern.render(id);
            assert_eq!(pattern.read_id(&data), Some(id));
        }
    }

    #[test]
    fn the_id_survives_noise_and_a_damaged_stripe_is_rejected() {
        let pattern = Pattern {
            width: 320,
            height: 240,
        };
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
    fn the_picture_moves_from_frame_to_frame() {
        let pattern = Pattern {
            width: 64,
            height: 48,
        };
        assert_ne!(pattern.render(1)[64 * 20..], pattern.render(2)[64 * 20..]);
        assert_eq!(pattern.render(5), pattern.render(5));
    }

    #[test]
    fn a_tiny_picture_carries_no_id() {
        let pattern = Pattern {
            width: 16,
            height: 16,
        };
        assert_eq!(pattern.read_id(&pattern.render(3)), None);
    }

    #[test]
    fn the_camera_paces_to_its_frame_rate() {
        let mut camera = PatternCamera::new(64, 48, 50);
        let start = Instant::now();
        let ids: Vec<u32> = (0..6).map(|_| camera.next_frame().unwrap().id).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        // Five intervals of 20 ms; generous upper bound for a busy machine.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    }
}
