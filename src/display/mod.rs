//! Where decoded remote video goes: the [`VideoSink`] trait and its implementations.

pub mod y4m;

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
