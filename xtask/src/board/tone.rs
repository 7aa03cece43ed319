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

/// What a recording of the tone at the far end holds.
pub struct Recording {
    /// From rising zero crossings over the last second and a half (the call's audio starts a
    /// little after arecord).
    pub hz: f64,
    /// RMS over the same stretch.
    pub rms: f64,
    /// When the first audible block came, in seconds from the recording's start.
    pub first_sound_s: Option<f64>,
    /// Silences after the first sound: (start in seconds, length in ms).
    pub gaps: Vec<(f64, f64)>,
    /// RMS of each 100 ms, the level over time.
    pub levels: Vec<f64>,
}

/// Blocks this long are audible or silent.
const BLOCK_MS: usize = 10;

impl Recording {
    /// The level over time and where the sound was missing, for a message.
    pub fn described(&self) -> String {
        let levels: Vec<String> = self
            .levels
            .iter()
            .map(|l| format!("{:.0}", l / 1000.0))
            .collect();
        let gaps: Vec<String> = self
            .gaps
            .iter()
            .map(|(at, ms)| format!("{ms:.0} ms at {at:.2} s"))
            .collect();
        format!(
            "first sound at {}; gaps after it: {}; RMS per 100 ms in thousands: {}",
            self.first_sound_s
                .map_or("never".to_string(), |s| format!("{s:.2} s")),
            if gaps.is_empty() {
                "none".to_string()
            } else {
                gaps.join(", ")
            },
            levels.join(" ")
        )
    }
}

/// Analyses a 48 kHz mono S16 WAV as arecord writes it.
pub fn measure(path: &Path) -> Result<Recording> {
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
    analyse(&samples)
}

fn rms(samples: &[f64]) -> f64 {
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

fn analyse(samples: &[f64]) -> Result<Recording> {
    let window = (RATE as usize * 3) / 2;
    if samples.len() < window {
        bail!(
            "the recording holds {} samples, {window} needed",
            samples.len()
        );
    }
    let tail = &samples[samples.len() - window..];
    let rising = tail
        .windows(2)
        .filter(|p| p[0] < 0.0 && p[1] >= 0.0)
        .count();
    let block = RATE as usize * BLOCK_MS / 1000;
    let audible: Vec<bool> = samples.chunks(block).map(|b| rms(b) >= MIN_RMS).collect();
    let seconds = |blocks: usize| (blocks * BLOCK_MS) as f64 / 1000.0;
    let first = audible.iter().position(|&a| a);
    let mut gaps = Vec::new();
    if let Some(first) = first {
        let mut at = first;
        while at < audible.len() {
            let silent = audible[at..].iter().take_while(|&&a| !a).count();
            if silent > 0 {
                gaps.push((seconds(at), (silent * BLOCK_MS) as f64));
            }
            at += silent + audible[at + silent..].iter().take_while(|&&a| a).count();
        }
    }
    Ok(Recording {
        hz: rising as f64 / (window as f64 / f64::from(RATE)),
        rms: rms(tail),
        first_sound_s: first.map(seconds),
        gaps,
        levels: samples.chunks(RATE as usize / 10).map(rms).collect(),
    })
}

/// Fails unless the recording holds the tone: above silence, with no gap once it began, within
/// 2 % of its frequency. What it found comes back as text; a failure says where sound was
/// missing and how loud each 100 ms was.
pub fn check(path: &Path) -> Result<String> {
    let recording = measure(path)?;
    let found = format!("{:.1} Hz at RMS {:.0}", recording.hz, recording.rms);
    let why = if recording.rms < MIN_RMS {
        Some(format!("the far end is silent ({found})"))
    } else if !recording.gaps.is_empty() {
        Some(format!("the far end's tone has gaps ({found})"))
    } else if (recording.hz - HZ).abs() > HZ * 0.02 {
        Some(format!(
            "the far end has {found}, not the {HZ} Hz tone played in"
        ))
    } else {
        None
    };
    match why {
        Some(why) => bail!("{why}; {}", recording.described()),
        None => Ok(format!("{found}; {}", recording.described())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_tone_measures_as_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        write(&path, 2).unwrap();
        let recording = measure(&path).unwrap();
        assert!((recording.hz - HZ).abs() < 2.0, "{}", recording.hz);
        let rms = recording.rms;
        assert!((rms - AMPLITUDE / 2f64.sqrt()).abs() < 50.0, "{rms}");
        assert_eq!(recording.first_sound_s, Some(0.0));
        assert!(recording.gaps.is_empty(), "{}", recording.described());
        assert!(check(&path).is_ok());
    }

    #[test]
    fn a_late_start_and_a_dropout_are_told_with_where_they_are() {
        let tone = |seconds: f64| -> Vec<f64> {
            (0..(seconds * f64::from(RATE)) as usize)
                .map(|n| {
                    (std::f64::consts::TAU * HZ * n as f64 / f64::from(RATE)).sin() * AMPLITUDE
                })
                .collect()
        };
        let silence = |seconds: f64| vec![0.0; (seconds * f64::from(RATE)) as usize];
        let samples = [silence(0.5), tone(1.5), silence(0.06), tone(0.94)].concat();
        let recording = analyse(&samples).unwrap();
        assert_eq!(recording.first_sound_s, Some(0.5));
        assert_eq!(recording.gaps, [(2.0, 60.0)]);
        // 60 ms missing from the last 1.5 s: the frequency reads 4 % low, as seen once.
        assert!((recording.hz - 960.0).abs() < 2.0, "{}", recording.hz);
        let told = recording.described();
        assert!(
            told.contains("first sound at 0.50 s") && told.contains("60 ms at 2.00 s"),
            "{told}"
        );
    }
}
