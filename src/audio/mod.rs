//! Where sound comes from and goes: [`AudioSource`], [`AudioSink`] and their implementations.

pub mod alsa;
pub mod tone;
pub mod wav;

use crate::config::{AudioConfig, AudioOutput, AudioSource as SourceKind};
use crate::fault::{Fault, FaultKind};
use crate::media::frame::AudioBlock;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio {device}: {reason}")]
    Device {
        device: String,
        reason: String,
        kind: FaultKind,
    },
}

impl AudioError {
    pub fn fault(&self) -> Fault {
        let AudioError::Device { kind, .. } = self;
        Fault::new(*kind, self)
    }
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

/// Opens the microphone `[audio]` names, counting its overruns in `xruns`; `None` when audio
/// is disabled.
pub fn open_microphone(
    config: &AudioConfig,
    xruns: Arc<AtomicU64>,
) -> Result<Option<Box<dyn AudioSource>>, AudioError> {
    if !config.enabled {
        return Ok(None);
    }
    Ok(Some(match config.source {
        SourceKind::Tone => Box::new(tone::ToneMicrophone::new(config.tone_hz)),
        SourceKind::Alsa => Box::new(alsa::AlsaMicrophone::open(&config.capture, xruns)?),
    }))
}

/// Opens the speaker `[output] audio` names, counting its underruns in `underruns`.
pub fn open_speaker(
    output: &AudioOutput,
    underruns: Arc<AtomicU64>,
) -> Result<Option<Box<dyn AudioSink>>, AudioError> {
    Ok(match output {
        AudioOutput::Wav(path) => Some(Box::new(wav::WavSink::create(path)?)),
        AudioOutput::Alsa(device) => Some(Box::new(alsa::AlsaSpeaker::open(device, underruns)?)),
        AudioOutput::None => None,
    })
}
