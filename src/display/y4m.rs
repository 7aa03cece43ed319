//! The Y4M file display: every decoded picture appended as a frame (the `y4m` crate's encoder),
//! readable by ffmpeg.

use super::{DisplayError, VideoSink};
use crate::fault::FaultKind;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct Y4mSink {
    path: PathBuf,
    /// Until the first picture gives the size the header needs.
    file: Option<File>,
    /// Unbuffered: the encoder cannot be asked to flush, and a frame is five writes.
    encoder: Option<y4m::Encoder<File>>,
    fps: u32,
    size: Option<(usize, usize)>,
}

impl Y4mSink {
    pub fn create(path: &Path, fps: u32) -> Result<Self, DisplayError> {
        let file = crate::files::create(path)
            .map_err(|e| DisplayError::io(path.display(), "cannot create the Y4M file: ", &e))?;
        Ok(Y4mSink {
            path: path.to_owned(),
            file: Some(file),
            encoder: None,
            fps,
            size: None,
        })
    }

    fn error(&self, e: y4m::Error) -> DisplayError {
        match e {
            y4m::Error::IoError(e) => DisplayError::io(self.path.display(), "", &e),
            other => DisplayError {
                kind: FaultKind::Internal,
                ..DisplayError::new(self.path.display(), other.to_string())
            },
        }
    }
}

impl VideoSink for Y4mSink {
    fn show(&mut self, width: usize, height: usize, i420: &[u8]) -> Result<(), DisplayError> {
        match self.size {
            // A Y4M file has one size; a change mid-stream cannot be stored.
            Some(size) if size != (width, height) => {
                return Err(DisplayError {
                    kind: FaultKind::Internal,
                    ..DisplayError::new(
                        self.path.display(),
                        format!(
                            "picture size changed from {}x{} to {width}x{height}",
                            size.0, size.1
                        ),
                    )
                });
            }
            Some(_) => {}
            None => {
                let Some(file) = self.file.take() else {
                    return Err(DisplayError::new(self.path.display(), "already failed"));
                };
                let header = y4m::encode(width, height, y4m::Ratio::new(self.fps as usize, 1))
                    .with_colorspace(y4m::Colorspace::C420jpeg)
                    .write_header(file);
                self.encoder = Some(header.map_err(|e| self.error(e))?);
                self.size = Some((width, height));
            }
        }
        let luma = width * height;
        let chroma = luma / 4;
        let (y, uv) = i420.split_at(luma.min(i420.len()));
        let (u, v) = uv.split_at(chroma.min(uv.len()));
        let frame = y4m::Frame::new([y, u, v], None);
        let written = match self.encoder.as_mut() {
            Some(encoder) => encoder.write_frame(&frame),
            None => return Err(DisplayError::new(self.path.display(), "already failed")),
        };
        written.map_err(|e| self.error(e))
    }

    fn finish(&mut self) -> Result<(), DisplayError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_one_header_and_a_size_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.y4m");
        let mut sink = Y4mSink::create(&path, 15).unwrap();
        sink.show(4, 2, &[7; 12]).unwrap();
        sink.show(4, 2, &[8; 12]).unwrap();
        assert!(
            sink.show(8, 2, &[0; 24])
                .unwrap_err()
                .to_string()
                .contains("size changed")
        );
        let short = sink.show(4, 2, &[0; 11]).unwrap_err();
        assert_eq!(short.kind, FaultKind::Internal, "{short}");
        sink.finish().unwrap();
        let mut read = y4m::decode(File::open(&path).unwrap()).unwrap();
        assert_eq!((read.get_width(), read.get_height()), (4, 2));
        assert_eq!(read.get_framerate().num, 15);
        assert!(matches!(read.get_colorspace(), y4m::Colorspace::C420jpeg));
        for value in [7, 8] {
            let frame = read.read_frame().unwrap();
            assert!(frame.get_y_plane().iter().all(|&b| b == value));
            assert_eq!(frame.get_v_plane(), &[value, value]);
        }
        assert!(read.read_frame().is_err(), "two frames, no more");
    }
}
