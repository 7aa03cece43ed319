//! Where video is shown: the board's screen ([`screen`], on DRM/KMS or the framebuffer), alive
//! from start to exit, or a file of the remote pictures ([`y4m`]) per call.

pub mod composer;
pub mod draw;
pub mod drm;
pub mod fb;
pub mod inbox;
pub mod layout;
pub mod screen;
pub mod status;
pub mod y4m;

use crate::config::VideoOutput;
use crate::fault::{Fault, FaultKind};
use screen::{Feed, Screen, Surface};

#[derive(Debug, thiserror::Error)]
#[error("display {device}: {reason}")]
pub struct DisplayError {
    pub device: String,
    pub reason: String,
    pub kind: FaultKind,
}

impl DisplayError {
    pub fn new(device: impl std::fmt::Display, reason: impl Into<String>) -> DisplayError {
        DisplayError {
            device: device.to_string(),
            reason: reason.into(),
            kind: FaultKind::Transient,
        }
    }

    /// A file or device that could not be written: whether trying again can help is the
    /// error's.
    pub fn io(device: impl std::fmt::Display, what: &str, e: &std::io::Error) -> DisplayError {
        DisplayError {
            kind: FaultKind::of_io(e),
            ..DisplayError::new(device, format!("{what}{e}"))
        }
    }

    pub fn fault(&self) -> Fault {
        Fault::new(self.kind, self)
    }
}

/// A display: shows (or stores) decoded I420 pictures.
pub trait VideoSink: Send {
    fn show(&mut self, width: usize, height: usize, i420: &[u8]) -> Result<(), DisplayError>;
    fn finish(&mut self) -> Result<(), DisplayError>;
}

/// Opens the screen `[output] video` names, if it names one. A screen camloop cannot have (held
/// by another program, nothing connected) is logged, and camloop goes on without one.
pub fn open_screen(output: &VideoOutput) -> Option<Screen> {
    let surface: Result<Box<dyn Surface>, DisplayError> = match output {
        VideoOutput::Drm(card) => drm::DrmSurface::open(card.as_deref()).map(|s| Box::new(s) as _),
        VideoOutput::Fb(path) => fb::FbSurface::open(path).map(|s| Box::new(s) as _),
        VideoOutput::Y4m(_) | VideoOutput::None => return None,
    };
    match surface {
        Ok(surface) => Some(Screen::start(surface)),
        Err(e) => {
            log::warn!("{e}; camloop goes on without a screen (calls still work)");
            None
        }
    }
}

/// The sink of one call's remote pictures, at `fps`: the Y4M file `[output] video` names, or
/// else the screen's right half, if there is one.
pub fn open(
    output: &VideoOutput,
    fps: u32,
    screen: Option<&Feed>,
) -> Result<Option<Box<dyn VideoSink>>, DisplayError> {
    Ok(match output {
        VideoOutput::Y4m(path) => Some(Box::new(y4m::Y4mSink::create(path, fps)?)),
        VideoOutput::Drm(_) | VideoOutput::Fb(_) | VideoOutput::None => screen.map(Feed::remote),
    })
}
