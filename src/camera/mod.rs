//! Where video comes from: the [`VideoSource`] trait and its implementations.

pub mod pattern;

use crate::media::frame::Frame;

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("camera {device}: {reason}")]
    Device { device: String, reason: String },
}

/// A camera: blocks until the next frame is due and returns it.
pub trait VideoSource: Send {
    /// A line for the trace, like the sample's "Using video device: …".
    fn describe(&self) -> String;
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
}
