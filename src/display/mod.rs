//! Where decoded remote video goes: the [`VideoSink`] trait and its implementations.

pub mod y4m;

use crate::config::VideoOutput;

#[derive(Debug, thiserror::Error)]
#[error("display {device}: {reason}")]
pub struct DisplayError {
    pub device: String,
    pub reason: String,
}

/// A display: shows (or stores) decoded I420 pictures.
pub trait VideoSink: Send {
    fn show(&mut self, width: usize, height: usize, i420: &[u8]) -> Result<(), DisplayError>;
    fn finish(&mut self) -> Result<(), DisplayError>;
}

/// Opens the display `[output] video` names, for pictures at `fps`.
pub fn open(output: &VideoOutput, fps: u32) -> Result<Option<Box<dyn VideoSink>>, DisplayError> {
    Ok(match output {
        VideoOutput::Y4m(path) => Some(Box::new(y4m::Y4mSink::create(path, fps)?)),
        VideoOutput::None => None,
    })
}
