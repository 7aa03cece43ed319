//! Where sound comes from and goes: [`AudioSource`], [`AudioSink`] and their implementations.

pub mod tone;
pub mod wav;

use crate::config::{AudioConfig, AudioSource as SourceKind};
use crate::media::frame::AudioBlock;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio {device}: {reason}")]
    Device { device: String, reason: String },
}

/// A microphone: blocks until the next 20 ms block is captured and returns it.
pub trait AudioSource: Send {
    fn describe(&self) -> String;
    fn next_block(&mut self) -> Result<AudioBlock, AudioError>;
}

/// A speaker: plays (or stores) decoded PCM.
pub trait AudioSink: Send {
    fn write(&mut self, samples: &[i16]) -> Result<(), AudioError>;
    /// Completes the output (a file's header, a device's drain).
    fn finish(&mut self) -> Result<(), AudioError>;
}

/// Opens the microphone `[audio]` names; `None` when audio is disabled.
pub fn open_microphone(config: &AudioConfig) -> Result<Option<Box<dyn AudioSource>>, AudioError> {
    if !config.enabled {
        return Ok(None);
    }
    Ok(Some(match config.source {
        SourceKind::Tone => Box::new(tone::ToneMicrophone::new(config.tone_hz)),
    }))
}
