//! The Y4M file display: every decoded picture appended as a frame, readable by ffmpeg.

use super::{DisplayError, VideoSink};
use crate::fault::FaultKind;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct Y4mSink {
    path: PathBuf,
    out: BufWriter<File>,
    fps: u32,
    size: Option<(usize, usize)>,
}

impl Y4mSink {
    pub fn create(path: &Path, fps: u32) -> Result<Self, DisplayError> {
        let file = crate::files::create(path)
            .map_err(|e| DisplayError::io(path.display(), "cannot create the Y4M file: ", &e))?;
        Ok(Y4mSink {
            path: path.to_owned(),
            out: BufWriter::new(file),
            fps,
            size: None,
        })
    }

    fn error(&self, e: &std::io::Error) -> DisplayError {
        DisplayError::io(self.path.display(), "", e)
    }
}

impl VideoSink for Y4mSink {
    fn show(&mut self, width: usize, height: usize, i420: &[u8]) -> Result<(), DisplayError> {
        match self.size {
            None => {
                let header = format!(
                    "YUV4MPEG2 W{width} H{height} F{}:1 Ip A1:1 C420jpeg\n",
                    self.fps
                );
                self.out
                    .write_all(header.as_bytes())
                    .map_err(|e| self.error(&e))?;
                self.size = Some((width, height));
            }
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
        }
        let result = self
            .out
            .write_all(b"FRAME\n")
            .and_then(|()| self.out.write_all(i420));
        result.map_err(|e| self.error(&e))
    }

    fn finish(&mut self) -> Result<(), DisplayError> {
        self.out.flush().map_err(|e| self.error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_one_header_and_a_size_change_is_refused() {
        let path = std::env::temp_dir().join(format!("camloop-y4m-{}.y4m", std::process::id()));
        let mut sink = Y4mSink::create(&path, 15).unwrap();
        sink.show(4, 2, &[7; 12]).unwrap();
        sink.show(4, 2, &[8; 12]).unwrap();
        assert!(
            sink.show(8, 2, &[0; 24])
                .unwrap_err()
                .to_string()
                .contains("size changed")
        );
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = b"YUV4MPEG2 W4 H2 F15:1 Ip A1:1 C420jpeg\n";
        assert_eq!(&bytes[..header.len()], header);
        assert_eq!(bytes.len(), header.len() + 2 * (6 + 12));
        std::fs::remove_file(path).unwrap();
    }
}
