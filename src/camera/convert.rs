//! Camera pixel formats' conversion to the I420 the encoder takes.

use crate::media::frame::Frame;
use crate::media::pixel::PixelFormat;
use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPackedImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

/// Why one captured buffer could not be converted; the camera skips such a frame.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{} buffer of {got} bytes, {needed} needed", .format.name())]
    Short {
        format: PixelFormat,
        got: usize,
        needed: usize,
    },
    #[error("MJPEG frame: {0}")]
    Jpeg(String),
    #[error("MJPEG frame is {got_width}x{got_height}, the format says {width}x{height}")]
    JpegSize {
        got_width: usize,
        got_height: usize,
        width: usize,
        height: usize,
    },
    #[error("conversion: {0}")]
    Yuv(String),
}

/// One buffer's layout: `width` and `height` are even (what the frame will be), `stride` is the
/// driver's bytes per line of the first plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    /// Rows in the driver's buffer (at least `height`; odd sizes are cropped to even).
    pub rows: usize,
}

impl Layout {
    /// Bytes a raw buffer must hold; MJPEG is variable.
    fn needed(&self) -> usize {
        match self.format {
            PixelFormat::Nv12 | PixelFormat::Yu12 => self.stride * self.rows * 3 / 2,
            PixelFormat::Yuyv | PixelFormat::Uyvy => self.stride * self.rows,
            PixelFormat::Mjpeg => 0,
        }
    }
}

/// Converts one captured buffer to I420 of `layout.width` x `layout.height`.
pub fn to_i420(layout: &Layout, buffer: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let needed = layout.needed();
    if buffer.len() < needed {
        return Err(ConvertError::Short {
            format: layout.format,
            got: buffer.len(),
            needed,
        });
    }
    let (w, h) = (layout.width, layout.height);
    let mut out = vec![0u8; Frame::i420_len(w, h)];
    match layout.format {
        PixelFormat::Yu12 => {
            let (y, chroma) = buffer.split_at(layout.stride * layout.rows);
            let (u, v) = chroma.split_at(chroma.len() / 2);
            let (out_y, out_chroma) = out.split_at_mut(w * h);
            let (out_u, out_v) = out_chroma.split_at_mut(w * h / 4);
            copy_plane(y, layout.stride, out_y, w, h);
            copy_plane(u, layout.stride / 2, out_u, w / 2, h / 2);
            copy_plane(v, layout.stride / 2, out_v, w / 2, h / 2);
        }
        PixelFormat::Nv12 => {
            let (y, uv) = buffer.split_at(layout.stride * layout.rows);
            let (out_y, out_chroma) = out.split_at_mut(w * h);
            let (out_u, out_v) = out_chroma.split_at_mut(w * h / 4);
            copy_plane(y, layout.stride, out_y, w, h);
            // No maintained SIMD crate splits NV12's interleaved chroma into planes (yuvutils
            // converts NV12 only to RGB); a quarter of the picture, so this stays cheap.
            for row in 0..h / 2 {
                let pairs = &uv[row * layout.stride..][..w];
                let (u_row, v_row) = (
                    &mut out_u[row * w / 2..][..w / 2],
                    &mut out_v[row * w / 2..][..w / 2],
                );
                for ((pair, u), v) in pairs.chunks_exact(2).zip(u_row).zip(v_row) {
                    (*u, *v) = (pair[0], pair[1]);
                }
            }
        }
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            // yuvutils 0.8 takes packed pictures only without line padding: repack padded ones.
            let tight_stride = 2 * w;
            let repacked;
            let tight = if layout.stride == tight_stride {
                &buffer[..tight_stride * h]
            } else {
                repacked = {
                    let mut lines = vec![0u8; tight_stride * h];
                    copy_plane(buffer, layout.stride, &mut lines, tight_stride, h);
                    lines
                };
                &repacked[..]
            };
            let packed = YuvPackedImage {
                yuy: tight,
                yuy_stride: tight_stride as u32,
                width: w as u32,
                height: h as u32,
            };
            let mut planar = planar_view(&mut out, w, h);
            let converted = if layout.format == PixelFormat::Yuyv {
                yuvutils_rs::yuyv422_to_yuv420(&mut planar, &packed)
            } else {
                yuvutils_rs::uyvy422_to_yuv420(&mut planar, &packed)
            };
            converted.map_err(|e| ConvertError::Yuv(e.to_string()))?;
        }
        PixelFormat::Mjpeg => {
            let options = zune_jpeg::zune_core::options::DecoderOptions::default()
                .jpeg_set_out_colorspace(zune_jpeg::zune_core::colorspace::ColorSpace::RGB);
            let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
                zune_jpeg::zune_core::bytestream::ZCursor::new(buffer),
                options,
            );
            let rgb = decoder
                .decode()
                .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
            let info = decoder
                .info()
                .ok_or(ConvertError::Jpeg("no header".into()))?;
            let (got_width, got_height) = (usize::from(info.width), usize::from(info.height));
            if got_width < w || got_height < h {
                return Err(ConvertError::JpegSize {
                    got_width,
                    got_height,
                    width: w,
                    height: h,
                });
            }
            let mut planar = planar_view(&mut out, w, h);
            yuvutils_rs::rgb_to_yuv420(
                &mut planar,
                &rgb,
                (got_width * 3) as u32,
                YuvRange::Limited,
                YuvStandardMatrix::Bt601,
                YuvConversionMode::Balanced,
            )
            .map_err(|e| ConvertError::Yuv(e.to_string()))?;
        }
    }
    Ok(out)
}

/// Copies `rows` lines of `width` bytes from a plane with `stride` bytes per line.
fn copy_plane(from: &[u8], stride: usize, to: &mut [u8], width: usize, rows: usize) {
    for (line, out) in from
        .chunks(stride)
        .zip(to.chunks_exact_mut(width))
        .take(rows)
    {
        out.copy_from_slice(&line[..width]);
    }
}

fn planar_view(i420: &mut [u8], w: usize, h: usize) -> YuvPlanarImageMut<'_, u8> {
    let (y, chroma) = i420.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(w * h / 4);
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: w as u32,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: (w / 2) as u32,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: (w / 2) as u32,
        width: w as u32,
        height: h as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8x4 reference picture in I420 with every sample different, chroma identical in the two
    /// rows each chroma sample covers (so a 4:2:2 source has one right answer).
    fn reference() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let y: Vec<u8> = (0..32).map(|i| 16 + i * 6).collect();
        let u: Vec<u8> = (0..8).map(|i| 40 + i * 20).collect();
        let v: Vec<u8> = (0..8).map(|i| 200 - i * 15).collect();
        (y, u, v)
    }

    fn i420(y: &[u8], u: &[u8], v: &[u8]) -> Vec<u8> {
        [y, u, v].concat()
    }

    fn layout(format: PixelFormat, stride: usize) -> Layout {
        Layout {
            format,
            width: 8,
            height: 4,
            stride,
            rows: 4,
        }
    }

    /// Rows padded to `stride` with a filler the conversion must never read.
    fn padded(rows: &[&[u8]], stride: usize) -> Vec<u8> {
        rows.iter()
            .flat_map(|row| {
                let mut line = row.to_vec();
                line.resize(stride, 0xee);
                line
            })
            .collect()
    }

    #[test]
    fn yu12_with_padded_lines_is_copied_plane_by_plane() {
        let (y, u, v) = reference();
        let mut buffer = padded(&y.chunks(8).collect::<Vec<_>>(), 12);
        buffer.extend(padded(&u.chunks(4).collect::<Vec<_>>(), 6));
        buffer.extend(padded(&v.chunks(4).collect::<Vec<_>>(), 6));
        let out = to_i420(&layout(PixelFormat::Yu12, 12), &buffer).unwrap();
        assert_eq!(out, i420(&y, &u, &v));
    }

    #[test]
    fn nv12_chroma_is_split_into_u_and_v_planes() {
        let (y, u, v) = reference();
        let mut buffer = padded(&y.chunks(8).collect::<Vec<_>>(), 10);
        for row in 0..2 {
            let pairs: Vec<u8> = (0..4)
                .flat_map(|i| [u[row * 4 + i], v[row * 4 + i]])
                .collect();
            buffer.extend(padded(&[&pairs], 10));
        }
        let out = to_i420(&layout(PixelFormat::Nv12, 10), &buffer).unwrap();
        assert_eq!(out, i420(&y, &u, &v));
    }

    /// Packs the reference as 4:2:2, each pixel pair as `order` of (Y0, U, Y1, V) indices.
    fn packed(order: [usize; 4], stride: usize) -> Vec<u8> {
        let (y, u, v) = reference();
        let mut rows = Vec::new();
        for row in 0..4 {
            let mut line = Vec::new();
            for pair in 0..4 {
                let c = (row / 2) * 4 + pair;
                let values = [y[row * 8 + pair * 2], u[c], y[row * 8 + pair * 2 + 1], v[c]];
                line.extend(order.map(|i| values[i]));
            }
            rows.push(line);
        }
        padded(&rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), stride)
    }

    #[test]
    fn yuyv_and_uyvy_give_the_reference_pixels_with_and_without_line_padding() {
        let (y, u, v) = reference();
        for stride in [16, 20] {
            let yuyv = packed([0, 1, 2, 3], stride);
            let out = to_i420(&layout(PixelFormat::Yuyv, stride), &yuyv).unwrap();
            assert_eq!(out, i420(&y, &u, &v), "YUYV, stride {stride}");
            let uyvy = packed([1, 0, 3, 2], stride);
            let out = to_i420(&layout(PixelFormat::Uyvy, stride), &uyvy).unwrap();
            assert_eq!(out, i420(&y, &u, &v), "UYVY, stride {stride}");
        }
    }

    #[test]
    fn mjpeg_decodes_to_the_colours_where_they_belong() {
        // 32x16: pure red on the left half, pure blue on the right (made with ffmpeg).
        let jpeg = include_bytes!("../../tests/fixtures/two-colours-32x16.jpg");
        let layout = Layout {
            format: PixelFormat::Mjpeg,
            width: 32,
            height: 16,
            stride: 0,
            rows: 16,
        };
        let out = to_i420(&layout, jpeg).unwrap();
        let (y, chroma) = out.split_at(32 * 16);
        let (u, v) = chroma.split_at(16 * 8);
        // BT.601 limited range: red is (81, 90, 240), blue (41, 240, 110).
        let near = |got: u8, want: u8| got.abs_diff(want) <= 6;
        for row in 0..16 {
            assert!(near(y[row * 32 + 4], 81), "red Y {}", y[row * 32 + 4]);
            assert!(near(y[row * 32 + 27], 41), "blue Y {}", y[row * 32 + 27]);
        }
        for row in 0..8 {
            let (left, right) = (row * 16 + 2, row * 16 + 13);
            assert!(
                near(u[left], 90) && near(v[left], 240),
                "red {} {}",
                u[left],
                v[left]
            );
            assert!(
                near(u[right], 240) && near(v[right], 110),
                "blue {} {}",
                u[right],
                v[right]
            );
        }
    }

    #[test]
    fn a_short_buffer_or_a_broken_jpeg_is_an_error_not_a_panic() {
        let err = to_i420(&layout(PixelFormat::Yuyv, 16), &[0; 40]).unwrap_err();
        assert_eq!(err.to_string(), "YUYV buffer of 40 bytes, 64 needed");
        let mjpeg = Layout {
            format: PixelFormat::Mjpeg,
            ..layout(PixelFormat::Mjpeg, 0)
        };
        assert!(matches!(
            to_i420(&mjpeg, &[0xff, 0xd8, 0xff, 0x00, 1, 2, 3]),
            Err(ConvertError::Jpeg(_))
        ));
        let jpeg = include_bytes!("../../tests/fixtures/two-colours-32x16.jpg");
        let too_big = Layout {
            width: 64,
            height: 32,
            ..mjpeg
        };
        assert!(matches!(
            to_i420(&too_big, jpeg),
            Err(ConvertError::JpegSize { .. })
        ));
    }

    #[test]
    fn fourccs_round_trip_and_unknown_ones_are_refused() {
        for format in PixelFormat::PREFERENCE {
            assert_eq!(PixelFormat::from_fourcc(format.fourcc()), Some(format));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"RGB3"), None);
    }
}
