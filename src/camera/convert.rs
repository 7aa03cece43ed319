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
#[path = "convert_tests.rs"]
mod tests;
