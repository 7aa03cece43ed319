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
    pub pixels: &'a mut [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

impl Canvas<'_> {
    /// The bytes of `rect`'s row `y` (relative to the rectangle), clipped to the canvas.
    fn row(&mut self, rect: Rect, y: usize) -> &mut [u8] {
        let right = (rect.x + rect.width).min(self.width);
        let start = (rect.y + y) * self.stride + rect.x.min(right) * BYTES_PER_PIXEL;
        &mut self.pixels[start..(rect.y + y) * self.stride + right * BYTES_PER_PIXEL]
    }

    fn rows(&self, rect: Rect) -> usize {
        (rect.y + rect.height)
            .min(self.height)
            .saturating_sub(rect.y)
    }

    pub fn fill(&mut self, rect: Rect, colour: [u8; 4]) {
        for y in 0..self.rows(rect) {
            for pixel in self.row(rect, y).chunks_exact_mut(BYTES_PER_PIXEL) {
                pixel.copy_from_slice(&colour);
            }
        }
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

    /// How many characters the status line has room for.
    pub fn columns(&self) -> usize {
        let advance = get_raster_width(FontWeight::Regular, FONT);
        self.width.saturating_sub(advance) / advance
    }
}

fn blend(back: u8, front: u8, alpha: u8) -> u8 {
    ((back as u32 * (255 - alpha as u32) + front as u32 * alpha as u32) / 255) as u8
}

/// Re-usable buffers for [`prepare`].
#[derive(Default)]
pub struct Scratch {
    bgrx: Vec<u8>,
    resizer: Resizer,
}

/// The picture as `rect.width` x `rect.height` pixels of B, G, R, X: converted from I420
/// (BT.601, limited range, as camloop's encoder is fed), then scaled if the sizes differ.
/// Empty when the rectangle is, or the picture is not a whole I420 picture of its size.
pub fn prepare(picture: &Picture, rect: Rect, scratch: &mut Scratch) -> Vec<u8> {
    let (width, height) = (picture.width, picture.height);
    let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
    let luma = width * height;
    let chroma = chroma_width * chroma_height;
    if rect.is_empty() || picture.i420.len() < luma + 2 * chroma {
        return Vec::new();
    }
    let planar = YuvPlanarImage {
        y_plane: &picture.i420[..luma],
        y_stride: width as u32,
        u_plane: &picture.i420[luma..luma + chroma],
        u_stride: chroma_width as u32,
        v_plane: &picture.i420[luma + chroma..luma + 2 * chroma],
        v_stride: chroma_width as u32,
        width: width as u32,
        height: height as u32,
    };
    let same_size = (width, height) == (rect.width, rect.height);
    let mut converted = std::mem::take(&mut scratch.bgrx);
    converted.resize(luma * BYTES_PER_PIXEL, 0);
    let result = yuvutils_rs::yuv420_to_bgra(
        &planar,
        &mut converted,
        (width * BYTES_PER_PIXEL) as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
    );
    if result.is_err() {
        scratch.bgrx = converted;
        return Vec::new();
    }
    if same_size {
        return converted;
    }
    let scaled = scale(&converted, width, height, rect, &mut scratch.resizer);
    scratch.bgrx = converted;
    scaled
}

fn scale(bgrx: &[u8], width: usize, height: usize, rect: Rect, resizer: &mut Resizer) -> Vec<u8> {
    let Ok(source) = ImageRef::new(width as u32, height as u32, bgrx, PixelType::U8x4) else {
        return Vec::new();
    };
    let mut scaled = Image::new(rect.width as u32, rect.height as u32, PixelType::U8x4);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    match resizer.resize(&source, &mut scaled, &options) {
        Ok(()) => scaled.into_vec(),
        Err(_) => Vec::new(),
    }
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

    #[test]
    fn a_picture_is_converted_and_scaled_to_its_rectangle() {
        let mut scratch = Scratch::default();
        let white = prepare(&grey(64, 48, 235), rect(0, 0, 64, 48), &mut scratch);
        assert_eq!(white.len(), 64 * 48 * 4);
        assert!(
            white.chunks(4).all(|p| p[..3] == [255, 255, 255]),
            "{:?}",
            &white[..4]
        );
        let scaled = prepare(&grey(64, 48, 16), rect(5, 5, 33, 25), &mut scratch);
        assert_eq!(scaled.len(), 33 * 25 * 4);
        assert!(scaled.chunks(4).all(|p| p[..3] == [0, 0, 0]));
        let odd = prepare(&grey(31, 17, 126), rect(0, 0, 31, 17), &mut scratch);
        assert_eq!(odd.len(), 31 * 17 * 4);
    }

    #[test]
    fn a_short_buffer_or_an_empty_rectangle_gives_nothing_not_a_panic() {
        let mut scratch = Scratch::default();
        let mut short = grey(64, 48, 100);
        short.i420.truncate(100);
        assert!(prepare(&short, rect(0, 0, 64, 48), &mut scratch).is_empty());
        assert!(prepare(&grey(64, 48, 100), rect(0, 0, 0, 48), &mut scratch).is_empty());
    }

    #[test]
    fn blit_fill_and_text_stay_inside_their_rectangles_and_the_canvas() {
        let (width, height, stride) = (50, 40, 50 * 4 + 8);
        let mut pixels = vec![0u8; stride * height];
        let mut canvas = Canvas {
            pixels: &mut pixels,
            stride,
            width,
            height,
        };
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
