//! The tone microphone: a sine wave at the configured frequency, paced to real time.

use super::{AudioError, AudioSource};
use crate::media::frame::{AudioBlock, SAMPLE_RATE, SAMPLES_PER_BLOCK};
use std::time::{Duration, Instant};

const BLOCK: Duration = Duration::from_millis(20);
/// Half of full scale: loud enough to measure, far from clipping after coding.
const AMPLITUDE: f64 = 16_000.0;

pub struct ToneMicrophone {
    hz: u32,
    phase: f64,
    next_id: u32,
    next_due: Option<Instant>,
}

impl ToneMicrophone {
    pub fn new(hz: u32) -> Self {
        ToneMicrophone {
            hz,
            phase: 0.0,
            next_id: 0,
            next_due: None,
        }
    }

    fn synthesize(&mut self) -> Vec<i16> {
        let step = std::f64::consts::TAU * f64::from(self.hz) / f64::from(SAMPLE_RATE);
        (0..SAMPLES_PER_BLOCK)
            .map(|_| {
                let s = (self.phase.sin() * AMPLITUDE) as i16;
                self.phase = (self.phase + step) % std::f64::consts::TAU;
                s
            })
            .collect()
    }
}

impl AudioSource for ToneMicrophone {
    fn describe(&self) -> String {
        format!("{} Hz tone", self.hz)
    }

    fn next_block(&mut self) -> Result<AudioBlock, AudioError> {
        let due = *self.next_due.get_or_insert_with(Instant::now);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.next_due = Some((due + BLOCK).max(Instant::now()));
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        Ok(AudioBlock {
            id,
            captured: Instant::now(),
            samples: self.synthesize(),
        })
    }
}

/// Estimates the dominant frequency of a tone from its zero crossings, in Hz.
pub fn estimate_frequency(samples: &[i16]) -> Option<f64> {
    let crossings: Vec<usize> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (*crossings.first()?, *crossings.last()?);
    if crossings.len() < 3 {
        return None;
    }
    let periods = (crossings.len() - 1) as f64;
    Some(periods * f64::from(SAMPLE_RATE) / (last - first) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_has_its_frequency_across_blocks() {
        let mut mic = ToneMicrophone::new(440);
        let samples: Vec<i16> = (0..10).flat_map(|_| mic.synthesize()).collect();
        let hz = estimate_frequency(&samples).unwrap();
        assert!((hz - 440.0).abs() < 1.0, "{hz}");
    }

    #[test]
    fn silence_has_no_frequency() {
        assert_eq!(estimate_frequency(&[0; 960]), None);
    }
}
