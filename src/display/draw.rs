//! Drawing into a screen's buffer (32-bit XRGB, the format DRM dumb buffers and the Pi's
//! framebuffer use): pictures converted from I420 and scaled with SIMD crates, and text in a
//! bitmap font.

use super::inbox::Picture;
use super::layout::Rect;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use yuvutils_rs::{YuvPlanarImage, YuvRange, YuvStandardMatrix};

pub const BYTES_PER_PIXEL: usize = 4;
pub const FONT: RasterHeight = RasterHeight::Size16;
/// The status line: the font with a few pixels above and below.
pub const STATUS_HEIGHT: usize = FONT.val() + 8;
pub const BACKGROUND: [u8; 4] = [0x20, 0x20, 0x20, 0xff];
const STATUS_BACKGROUND: [u8; 4] = [0x40, 0x40, 0x40, 0xff];
/// Pale yellow, in the buffer's B, G, R, X byte order.
const TEXT: [u8; 4] = [0xa0, 0xf0, 0xff, 0xff];

/// A buffer of `height` rows of `stride` bytes, `width` pixels of 4 bytes (B, G, R, X) each.
pub struct Canvas<'a> {
    pixels: &'a mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    buffer: usize,
    /// The rows drawn into so far, first to last + 1.
    touched: Option<(usize, usize)>,
}

impl<'a> Canvas<'a> {
    /// `buffer` tells the surface's buffers apart: each still holds what was last drawn into it,
    /// so only what changed since needs drawing again.
    pub fn new(
        pixels: &'a mut [u8],
        stride: usize,
        (width, height): (usize, usize),
        buffer: usize,
    ) -> Canvas<'a> {
        Canvas {
            pixels,
            stride,
            width,
            height,
            buffer,
            touched: None,
        }
    }

    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// The rows drawn into, for a surface that copies them out.
    pub fn touched(&self) -> std::ops::Range<usize> {
        self.touched.map_or(0..0, |(first, end)| first..end)
    }

    /// The bytes of `rect`'s row `y` (relative to the rectangle), clipped to the canvas.
    fn row(&mut self, rect: Rect, y: usize) -> &mut [u8] {
        let right = (rect.x + rect.width).min(self.width);
        let start = (rect.y + y) * self.stride + rect.x.min(right) * BYTES_PER_PIXEL;
        &mut self.pixels[start..(rect.y + y) * self.stride + right * BYTES_PER_PIXEL]
    }

    /// How many of `rect`'s rows are on the canvas; they count as drawn into.
    fn rows(&mut self, rect: Rect) -> usize {
        let rows = (rect.y + rect.height)
            .min(self.height)
            .saturating_sub(rect.y);
        if rows > 0 {
            let (first, end) = self.touched.unwrap_or((rect.y, rect.y));
            self.touched = Some((first.min(rect.y), end.max(rect.y + rows)));
        }
        rows
    }

    pub fn fill(&mut self, rect: Rect, colour: [u8; 4]) {
        for y in 0..self.rows(rect) {
            for pixel in self.row(rect, y).chunks_exact_mut(BYTES_PER_PIXEL) {
                pixel.copy_from_slice(&colour);
            }
        }
    }

    /// Fills what of `area` is outside `inner` (a rectangle inside it).
    pub fn fill_around(&mut self, area: Rect, inner: Rect, colour: [u8; 4]) {
        let bottom = inner.y + inner.height;
        let band = |y: usize, height: usize| Rect { y, height, ..area };
        self.fill(band(area.y, inner.y - area.y), colour);
        self.fill(band(bottom, area.y + area.height - bottom), colour);
        let middle = |x: usize, width: usize| Rect { x, width, ..inner };
        self.fill(middle(area.x, inner.x - area.x), colour);
        let right = inner.x + inner.width;
        self.fill(middle(right, area.x + area.width - right), colour);
    }

    /// Copies a picture prepared for `rect` (see [`prepare`]) into place.
    pub fn blit(&mut self, rect: Rect, bgrx: &[u8]) {
        let row_bytes = rect.width * BYTES_PER_PIXEL;
        for y in 0..self.rows(rect) {
            let source = &bgrx[y * row_bytes..][..row_bytes];
            let row = self.row(rect, y);
            let n = row.len();
            row.copy_from_slice(&source[..n]);
        }
    }

    /// The status line: its background and `text` (one column per character).
    pub fn status(&mut self, rect: Rect, text: &str) {
        self.fill(rect, STATUS_BACKGROUND);
        let advance = get_raster_width(FontWeight::Regular, FONT);
        self.rows(rect);
        let top = rect.y + (rect.height.saturating_sub(FONT.val())) / 2;
        for (i, c) in text.chars().enumerate() {
            let Some(glyph) = get_raster(c, FontWeight::Regular, FONT)
                .or_else(|| get_raster('?', FontWeight::Regular, FONT))
            else {
                continue;
            };
            let left = rect.x + advance / 2 + i * advance;
            for (y, intensities) in glyph.rows().enumerate() {
                let y = top + y;
                if y >= self.height || y >= rect.y + rect.height {
                    break;
                }
                for (x, &intensity) in intensities.iter().enumerate() {
                    let x = left + x;
                    if x >= self.width || intensity == 0 {
                        continue;
                    }
                    let at = y * self.stride + x * BYTES_PER_PIXEL;
                    let pixel = &mut self.pixels[at..at + BYTES_PER_PIXEL];
                    for (channel, (&text, back)) in TEXT.iter().zip(STATUS_BACKGROUND).enumerate() {
                        pixel[channel] = blend(back, text, intensity);
                    }
                }
            }
        }
    }
}

/// How many characters a status line `width` pixels wide has room for.
pub fn columns(width: usize) -> usize {
    let advance = get_raster_width(FontWeight::Regular, FONT);
    width.saturating_sub(advance) / advance
}

fn blend(back: u8, front: u8, alpha: u8) -> u8 {
    ((back as u32 * (255 - alpha as u32) + front as u32 * alpha as u32) / 255) as u8
}

/// Buffers a scaled picture passes through, kept from picture to picture.
#[derive(Default)]
pub struct Scratch {
    bgrx: Vec<u8>,
    scaled: Vec<u8>,
    resizer: Resizer,
}

impl Canvas<'_> {
    /// Draws `picture` (I420: BT.601, limited range, as camloop's encoder is fed) into `rect`,
    /// scaled if the sizes differ; a picture of the rectangle's size is converted straight into
    /// the canvas. False, with nothing drawn, when the rectangle is empty or off the canvas, or
    /// the picture is not a whole I420 picture of its size.
    pub fn picture(&mut self, rect: Rect, picture: &Picture, scratch: &mut Scratch) -> bool {
        let on_canvas = rect.x + rect.width <= self.width && rect.y + rect.height <= self.height;
        if rect.is_empty() || !on_canvas {
            return false;
        }
        let size = (picture.width, picture.height);
        if size == (rect.width, rect.height) {
            let start = rect.y * self.stride + rect.x * BYTES_PER_PIXEL;
            let stride = self.stride;
            let drawn = convert(picture, &mut self.pixels[start..], stride).is_some();
            if drawn {
                self.rows(rect);
            }
            return drawn;
        }
        let row = picture.width * BYTES_PER_PIXEL;
        scratch.bgrx.resize(row * picture.height, 0);
        if convert(picture, &mut scratch.bgrx, row).is_none() {
            return false;
        }
        let Scratch {
            bgrx,
            scaled,
            resizer,
        } = scratch;
        scaled.resize(rect.width * rect.height * BYTES_PER_PIXEL, 0);
        let source = ImageRef::new(size.0 as u32, size.1 as u32, bgrx, PixelType::U8x4);
        let target = Image::from_slice_u8(
            rect.width as u32,
            rect.height as u32,
            scaled,
            PixelType::U8x4,
        );
        let (Ok(source), Ok(mut target)) = (source, target) else {
            return false;
        };
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        if resizer.resize(&source, &mut target, &options).is_err() {
            return false;
        }
        self.blit(rect, scaled);
        true
    }
}

/// Converts a whole I420 picture into `bgrx`, rows `stride` bytes apart; None if it is not
/// whole or `bgrx` is too short.
fn convert(picture: &Picture, bgrx: &mut [u8], stride: usize) -> Option<()> {
    let (width, height) = (picture.width, picture.height);
    let chroma_width = width.div_ceil(2);
    let luma = width * height;
    let chroma = chroma_width * height.div_ceil(2);
    let i420 = picture.i420.get(..luma + 2 * chroma)?;
    let planar = YuvPlanarImage {
        y_plane: &i420[..luma],
        y_stride: width as u32,
        u_plane: &i420[luma..luma + chroma],
        u_stride: chroma_width as u32,
        v_plane: &i420[luma + chroma..],
        v_stride: chroma_width as u32,
        width: width as u32,
        height: height as u32,
    };
    yuvutils_rs::yuv420_to_bgra(
        &planar,
        bgrx,
        stride as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: usize, height: usize, luma: u8) -> Picture {
        let mut i420 = vec![luma; width * height];
        i420.resize(
            width * height + 2 * width.div_ceil(2) * height.div_ceil(2),
            128,
        );
        Picture {
            width,
            height,
            i420,
        }
    }

    fn rect(x: usize, y: usize, width: usize, height: usize) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// A canvas of `width` x `height` with `picture` drawn at `rect`: whether it was, and the
    /// B, G, R, X pixels.
    fn draw_on(width: usize, height: usize, rect: Rect, picture: &Picture) -> (bool, Vec<u8>) {
        let mut pixels = vec![7u8; width * height * 4];
        let mut canvas = Canvas::new(&mut pixels, width * 4, (width, height), 0);
        let drawn = canvas.picture(rect, picture, &mut Scratch::default());
        (drawn, pixels)
    }

    fn pixels_in(pixels: &[u8], width: usize, r: Rect) -> Vec<&[u8]> {
        (r.y..r.y + r.height)
            .flat_map(|y| (r.x..r.x + r.width).map(move |x| (y * width + x) * 4))
            .map(|at| &pixels[at..at + 4])
            .collect()
    }

    #[test]
    fn a_picture_is_converted_and_scaled_to_its_rectangle() {
        let place = rect(3, 2, 64, 48);
        let (shown, white) = draw_on(80, 60, place, &grey(64, 48, 235));
        assert!(shown);
        assert!(
            pixels_in(&white, 80, place)
                .iter()
                .all(|p| p[..3] == [255, 255, 255])
        );
        assert_eq!(white[..4], [7; 4], "drawn outside its rectangle");
        let place = rect(5, 5, 33, 25);
        let (shown, scaled) = draw_on(80, 60, place, &grey(64, 48, 16));
        assert!(shown);
        assert!(
            pixels_in(&scaled, 80, place)
                .iter()
                .all(|p| p[..3] == [0, 0, 0])
        );
        assert_eq!(
            scaled[(4 * 80 + 5) * 4..][..4],
            [7; 4],
            "scaled beyond its rectangle"
        );
        let place = rect(0, 0, 31, 17);
        let (shown, odd) = draw_on(31, 17, place, &grey(31, 17, 126));
        assert!(shown);
        assert!(
            pixels_in(&odd, 31, place)
                .iter()
                .all(|p| p[0] == p[1] && p[1] == p[2])
        );
    }

    #[test]
    fn a_short_buffer_or_a_rectangle_off_the_canvas_draws_nothing_not_a_panic() {
        let mut short = grey(64, 48, 100);
        short.i420.truncate(100);
        let untouched = vec![7u8; 80 * 60 * 4];
        assert_eq!(
            draw_on(80, 60, rect(0, 0, 64, 48), &short),
            (false, untouched.clone())
        );
        let whole = grey(64, 48, 100);
        for place in [rect(0, 0, 0, 48), rect(20, 20, 64, 48), rect(0, 20, 32, 48)] {
            assert_eq!(
                draw_on(80, 60, place, &whole),
                (false, untouched.clone()),
                "{place:?}"
            );
        }
    }

    #[test]
    fn fill_around_spares_the_inside_and_the_rows_touched_are_known() {
        let size = 20;
        let mut pixels = vec![0u8; size * size * 4];
        let mut canvas = Canvas::new(&mut pixels, size * 4, (size, size), 0);
        assert_eq!(canvas.touched(), 0..0);
        let (area, inner) = (rect(2, 3, 10, 12), rect(4, 5, 6, 8));
        canvas.fill_around(area, inner, BACKGROUND);
        assert_eq!(canvas.touched(), 3..15);
        let within = |r: Rect, x: usize, y: usize| {
            (r.x..r.x + r.width).contains(&x) && (r.y..r.y + r.height).contains(&y)
        };
        for y in 0..size {
            for x in 0..size {
                let filled = within(area, x, y) && !within(inner, x, y);
                let expected = if filled { BACKGROUND } else { [0; 4] };
                assert_eq!(pixels[(y * size + x) * 4..][..4], expected, "at {x},{y}");
            }
        }
    }

    #[test]
    fn blit_fill_and_text_stay_inside_their_rectangles_and_the_canvas() {
        let (width, height, stride) = (50, 40, 50 * 4 + 8);
        let mut pixels = vec![0u8; stride * height];
        let mut canvas = Canvas::new(&mut pixels, stride, (width, height), 0);
        canvas.fill(rect(0, 0, 50, 40), BACKGROUND);
        let red = [0u8, 0, 255, 255].repeat(10 * 10);
        canvas.blit(rect(45, 35, 10, 10), &red);
        canvas.status(rect(0, 0, 50, STATUS_HEIGHT), "camloop: connected");
        let at = |x: usize, y: usize| &pixels[y * stride + x * 4..][..4];
        assert_eq!(
            at(49, 39),
            [0, 0, 255, 255],
            "clipped blit reaches the corner"
        );
        assert_eq!(at(44, 39), BACKGROUND);
        assert_eq!(at(0, 30), BACKGROUND);
        assert!(
            pixels.chunks(stride).all(|row| row[200..] == [0; 8]),
            "wrote into the padding"
        );
        let status_rows = &pixels[..STATUS_HEIGHT * stride];
        assert!(
            status_rows
                .chunks(stride)
                .any(|row| row[..200].chunks(4).any(|p| p[1] > 0x80)),
            "no text drawn"
        );
    }
}
