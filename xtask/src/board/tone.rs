//! The test tone the board test plays into the sound card, and how it is found at the far end.

use anyhow::{Context, Result, bail};
use std::path::Path;

pub const HZ: f64 = 1000.0;
const RATE: u32 = 48_000;
/// Half of full scale, as a microphone at speaking level might give.
const AMPLITUDE: f64 = 16_000.0;
/// Below this RMS the far end is silence, whatever its zero crossings say.
const MIN_RMS: f64 = 1_000.0;

/// Writes `seconds` of the tone as a 16-bit mono 48 kHz WAV.
pub fn write(path: &Path, seconds: u32) -> Result<()> {
    let samples: Vec<u8> = (0..RATE * seconds)
        .flat_map(|n| {
            let t = f64::from(n) / f64::from(RATE);
            (((std::f64::consts::TAU * HZ * t).sin() * AMPLITUDE) as i16).to_le_bytes()
        })
        .collect();
    let mut wav = Vec::with_capacity(44 + samples.len());
    let data = samples.len() as u32;
    wav.extend(b"RIFF");
    wav.extend((36 + data).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes()); // PCM
    wav.extend(1u16.to_le_bytes()); // mono
    wav.extend(RATE.to_le_bytes());
    wav.extend((RATE * 2).to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend(data.to_le_bytes());
    wav.extend(samples);
    std::fs::write(path, wav).with_context(|| format!("writing {}", path.display()))
}

/// The frequency (from rising zero crossings) and RMS level of a 48 kHz mono S16 WAV as arecord
/// writes it, over its last second and a half (the call's audio starts a little after arecord).
pub fn measure(path: &Path) -> Result<(f64, f64)> {
    let wav = std::fs::read(path).with_context(|| format!("no recording at {}", path.display()))?;
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .map(|at| &wav[at + 8..])
        .context("the recording has no data chunk")?;
    let samples: Vec<f64> = data
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let window = (RATE as usize * 3) / 2;
    if samples.len() < window {
        bail!(
            "the recording holds {} samples, {window} needed",
            samples.len()
        );
    }
    let tail = &samples[samples.len() - window..];
    let rms = (tail.iter().map(|s| s * s).sum::<f64>() / tail.len() as f64).sqrt();
    let rising = tail
        .windows(2)
        .filter(|p| p[0] < 0.0 && p[1] >= 0.0)
        .count();
    let hz = rising as f64 / (window as f64 / f64::from(RATE));
    Ok((hz, rms))
}

/// Fails unless the recording holds the tone: within 2 % of its frequency, above silence.
pub fn check(path: &Path) -> Result<String> {
    let (hz, rms) = measure(path)?;
    let found = format!("{hz:.1} Hz at RMS {rms:.0}");
    if rms < MIN_RMS {
        bail!("the far end is silent ({found})");
    }
    if (hz - HZ).abs() > HZ * 0.02 {
        bail!("the far end has {found}, not the {HZ} Hz tone played in");
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_tone_measures_as_itself() {
        let path = std::env::temp_dir().join(format!("camloop-tone-{}.wav", std::process::id()));
        write(&path, 2).unwrap();
        let (hz, rms) = measure(&path).unwrap();
        assert!((hz - HZ).abs() < 2.0, "{hz}");
        assert!((rms - AMPLITUDE / 2f64.sqrt()).abs() < 50.0, "{rms}");
        std::fs::remove_file(path).unwrap();
    }
}
