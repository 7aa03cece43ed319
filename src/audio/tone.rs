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
    // A period is counted from below -T to above +T, T a quarter of the peak: the low-level
    // noise a faded concealment leaves around zero crosses it often, a tone once a period.
    let threshold = i32::from(samples.iter().map(|s| s.unsigned_abs()).max()? / 4);
    let mut armed = false;
    let mut crossings = Vec::new();
    for (i, &sample) in samples.iter().enumerate() {
        let sample = i32::from(sample);
        if sample < -threshold {
            armed = true;
        } else if armed && sample > threshold {
            armed = false;
            crossings.push(i);
        }
    }
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
        // Low-level noise around zero, as a concealment fades to, is not counted.
        let mut faded = samples.clone();
        faded.extend((0..48_000).map(|i: i32| [1i16, -1, 2, -2][(i % 4) as usize]));
        let hz = estimate_frequency(&faded).unwrap();
        assert!((hz - 440.0).abs() < 1.0, "{hz}");
    }

    #[test]
    fn silence_has_no_frequency() {
        assert_eq!(estimate_frequency(&[0; 960]), None);
    }
}
