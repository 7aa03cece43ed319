//! The scene: what a webcam on a desk sees. A textured room with hard-edged things in it, made
//! once; each frame is a window on it that pans slowly, an object crossing in front, and
//! sensor noise that changes from frame to frame. A frame is copies of rows and one addition
//! per pixel, so drawing it costs little next to encoding it.

/// How far the window pans from the centre, in pixels, each way.
const MARGIN: usize = 32;
/// Noise values the rows take their noise from, each row at a place the frame id picks.
const NOISE_LEN: usize = 1 << 16;
/// Things in the room: rectangles of their own colour over the texture.
const THINGS: usize = 12;

pub(super) struct Scene {
    width: usize,
    height: usize,
    /// The room's luma, `stride` wide and `height + 2 * MARGIN` high; chroma at half size.
    stride: usize,
    luma: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Sensor noise, σ ≈ 1.4 levels: what a camera adds and no encoder should keep.
    noise: Vec<i8>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scene({}x{})", self.width, self.height)
    }
}

/// SplitMix64: the same room on every run and every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In 0..1.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Value noise: random levels on a grid `cell` pixels apart, smoothly interpolated between.
struct Grid {
    cell: usize,
    columns: usize,
    levels: Vec<f32>,
}

impl Grid {
    fn new(random: &mut Random, width: usize, height: usize, cell: usize) -> Self {
        let columns = width / cell + 2;
        let rows = height / cell + 2;
        let levels = (0..columns * rows).map(|_| random.unit()).collect();
        Grid {
            cell,
            columns,
            levels,
        }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
        let (gx, gy) = (x / self.cell, y / self.cell);
        let fx = smooth((x % self.cell) as f32 / self.cell as f32);
        let fy = smooth((y % self.cell) as f32 / self.cell as f32);
        let level = |dx: usize, dy: usize| self.levels[(gy + dy) * self.columns + gx + dx];
        let top = level(0, 0) + (level(1, 0) - level(0, 0)) * fx;
        let bottom = level(0, 1) + (level(1, 1) - level(0, 1)) * fx;
        top + (bottom - top) * fy
    }
}

/// A triangle wave from 0 up to `span` and back, one step per `t`.
fn triangle(t: usize, span: usize) -> usize {
    if span == 0 {
        return 0;
    }
    let phase = t % (2 * span);
    if phase <= span {
        phase
    } else {
        2 * span - phase
    }
}

fn level(x: f32) -> u8 {
    x.round().clamp(16.0, 235.0) as u8
}

impl Scene {
    /// `width` and `height` even.
    pub(super) fn new(width: usize, height: usize) -> Self {
        let (stride, rows) = (width + 2 * MARGIN, height + 2 * MARGIN);
        let mut random = Random(0xca10_0b5c);
        // Shading over a room's width, surfaces within it, their grain.
        let octaves = [(96, 0.5), (24, 0.32), (4, 0.18)]
            .map(|(cell, weight)| (Grid::new(&mut random, stride, rows, cell), weight));
        let tint = [0, 1].map(|_| Grid::new(&mut random, stride, rows, 128));
        let things: Vec<_> = (0..THINGS)
            .map(|_| {
                let (w, h) = (24 + random.below(stride / 3), 24 + random.below(rows / 3));
                let (x, y) = (random.below(stride), random.below(rows));
                let colour = [random.unit(), random.unit(), random.unit()];
                (x..x + w, y..y + h, colour)
            })
            .collect();
        let thing_at = |x: usize, y: usize| {
            things
                .iter()
                .rev()
                .find(|(xs, ys, _)| xs.contains(&x) && ys.contains(&y))
                .map(|t| t.2)
        };
        let mut luma = Vec::with_capacity(stride * rows);
        for y in 0..rows {
            for x in 0..stride {
                let texture: f32 = octaves.iter().map(|(g, weight)| g.at(x, y) * weight).sum();
                let lit = 128.0 + (texture - 0.5) * 220.0;
                luma.push(level(match thing_at(x, y) {
                    Some([l, _, _]) => 40.0 + l * 180.0 * 0.7 + lit * 0.3,
                    None => lit,
                }));
            }
        }
        let (mut u, mut v) = (Vec::new(), Vec::new());
        for y in (0..rows).step_by(2) {
            for x in (0..stride).step_by(2) {
                let (cu, cv) = match thing_at(x, y) {
                    Some([_, cu, cv]) => (128.0 + (cu - 0.5) * 100.0, 128.0 + (cv - 0.5) * 100.0),
                    None => (
                        128.0 + (tint[0].at(x, y) - 0.5) * 40.0,
                        128.0 + (tint[1].at(x, y) - 0.5) * 40.0,
                    ),
                };
                u.push(level(cu));
                v.push(level(cv));
            }
        }
        let mut step = || random.below(3) as i8 - 1;
        let noise = (0..NOISE_LEN + width)
            .map(|_| step() + step() + step())
            .collect();
        Scene {
            width,
            height,
            stride,
            luma,
            u,
            v,
            noise,
        }
    }

    /// Frame `id`: the window, the object in front, the noise.
    pub(super) fn draw(&self, id: u32, y_plane: &mut [u8], u_plane: &mut [u8], v_plane: &mut [u8]) {
        let (w, h, id) = (self.width, self.height, id as usize);
        // Pans 2 pixels a frame across, 1 down; even, so chroma moves with luma.
        let (ox, oy) = (
            triangle(2 * id, 2 * MARGIN) & !1,
            triangle(id, 2 * MARGIN) & !1,
        );
        // The object: a square of the room, upside down, crossing at 4 pixels a frame.
        let side = (w.min(h) / 3).max(2) & !1;
        let bx = triangle(4 * id, w - side) & !1;
        let by = ((h - side) / 4 + triangle(id, (h - side) / 2)) & !1;
        let planes = [
            (&mut *y_plane, &self.luma, 1),
            (u_plane, &self.u, 2),
            (v_plane, &self.v, 2),
        ];
        for (plane, room, scale) in planes {
            let (pw, stride) = (w / scale, self.stride / scale);
            let (ox, oy, side) = (ox / scale, oy / scale, side / scale);
            let (bx, by) = (bx / scale, by / scale);
            for (y, row) in plane.chunks_exact_mut(pw).enumerate() {
                row.copy_from_slice(&room[(oy + y) * stride + ox..][..pw]);
                if (by..by + side).contains(&y) {
                    let from = (side - 1 - (y - by)) * stride;
                    row[bx..bx + side].copy_from_slice(&room[from..from + side]);
                }
            }
        }
        for (y, row) in y_plane.chunks_exact_mut(w).enumerate() {
            let at = ((id as u32).wrapping_mul(0x9e37_79b1) ^ (y as u32).wrapping_mul(0x85eb_ca6b))
                as usize
                % NOISE_LEN;
            for (px, n) in row.iter_mut().zip(&self.noise[at..at + w]) {
                *px = (i16::from(*px) + i16::from(*n)).clamp(0, 255) as u8;
            }
        }
    }
}
