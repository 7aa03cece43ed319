//! The pixel formats camloop reads from a camera, by their V4L2 FourCC names.

/// The formats camloop reads, in the order `format = "auto"` prefers them: the planar ones
/// cost least to convert, MJPEG most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Nv12,
    Yu12,
    Yuyv,
    Uyvy,
    Mjpeg,
}

impl PixelFormat {
    pub const PREFERENCE: [PixelFormat; 5] = [
        PixelFormat::Nv12,
        PixelFormat::Yu12,
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Mjpeg,
    ];

    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<PixelFormat> {
        Self::PREFERENCE.into_iter().find(|f| f.fourcc() == fourcc)
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Yu12 => "YU12",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Uyvy => "UYVY",
            PixelFormat::Mjpeg => "MJPG",
        }
    }

    pub fn fourcc(self) -> [u8; 4] {
        let name = self.name().as_bytes();
        [name[0], name[1], name[2], name[3]]
    }
}
