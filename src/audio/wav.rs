//! The WAV file speaker: 16-bit PCM, 48 kHz mono. The header is brought up to date about once a
//! second while the file grows, so a crash loses at most the last second.
//!
//! Written here rather than with `hound`: its 3.5 writer counts the data in a u32 that wraps
//! (a panic in a debug build) past 4 GiB, which camloop reaches after 12 h 25 min of a call.
//! This one stops at the format's limit and says so; the call goes on.

use super::{AudioError, AudioSink};
use crate::fault::FaultKind;
use crate::media::frame::SAMPLE_RATE;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HEADER_EVERY: Duration = Duration::from_secs(1);
/// The most sound a WAV file can hold: its sizes are 32-bit, and the RIFF size counts the
/// header's 36 bytes too.
const MAX_DATA_BYTES: u32 = u32::MAX - 36;

pub struct WavSink {
    path: PathBuf,
    out: BufWriter<File>,
    data_bytes: u32,
    header_written: Instant,
}

fn header(data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let byte_rate = SAMPLE_RATE * 2;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_bytes).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

impl WavSink {
    pub fn create(path: &Path) -> Result<Self, AudioError> {
        let error = |e: std::io::Error| AudioError::Device {
            device: path.display().to_string(),
            reason: format!("cannot create the WAV file: {e}"),
            kind: FaultKind::of_io(&e),
        };
        let mut out = BufWriter::new(crate::files::create(path).map_err(error)?);
        out.write_all(&header(0)).map_err(error)?;
        Ok(WavSink {
            path: path.to_owned(),
            out,
            data_bytes: 0,
            header_written: Instant::now(),
        })
    }

    /// The header with the samples written so far, then back to the end.
    fn update_header(&mut self) -> std::io::Result<()> {
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(self.data_bytes))?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        self.header_written = Instant::now();
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> AudioError {
        AudioError::Device {
            device: self.path.display().to_string(),
            reason: e.to_string(),
            kind: FaultKind::of_io(&e),
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        let room = (MAX_DATA_BYTES - self.data_bytes) as usize / 2;
        if room == 0 {
            return Ok(());
        }
        let kept = &samples[..samples.len().min(room)];
        let bytes: Vec<u8> = kept.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.out.write_all(&bytes).map_err(|e| self.io_error(e))?;
        self.data_bytes += bytes.len() as u32;
        if kept.len() < samples.len() {
            log::warn!(
                "{}: a WAV file holds at most 4 GiB; the rest of the call's sound is not recorded",
                self.path.display()
            );
            return self.update_header().map_err(|e| self.io_error(e));
        }
        if self.header_written.elapsed() >= HEADER_EVERY {
            self.update_header().map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        self.update_header().map_err(|e| self.io_error(e))
    }
}

/// Reads the samples of a WAV file this module wrote (16-bit mono PCM).
pub fn read_samples(path: &Path) -> std::io::Result<Vec<i16>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[36..40] != b"data" {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a camloop WAV file",
        ));
    }
    Ok(bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_samples_read_back_with_a_complete_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.wav");
        let mut sink = WavSink::create(&path).unwrap();
        sink.write(&[1, -2, 3]).unwrap();
        sink.write(&[i16::MAX]).unwrap();
        sink.finish().unwrap();
        assert_eq!(read_samples(&path).unwrap(), [1, -2, 3, i16::MAX]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
    }

    #[test]
    fn a_full_file_keeps_its_sizes_at_the_limit_and_takes_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.wav");
        let mut sink = WavSink::create(&path).unwrap();
        // As after 12 h 25 min of sound: four bytes, two samples, of room left.
        sink.data_bytes = MAX_DATA_BYTES - 4;
        sink.write(&[1, 2, 3]).unwrap();
        assert_eq!(sink.data_bytes, MAX_DATA_BYTES, "two of three samples kept");
        sink.write(&[4]).unwrap();
        assert_eq!(sink.data_bytes, MAX_DATA_BYTES, "nothing past the limit");
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
        assert_eq!((riff, data), (u32::MAX, MAX_DATA_BYTES), "no size wrapped");
        assert_eq!(
            bytes.len(),
            44 + 4,
            "only the samples that fit were written"
        );
    }

    #[test]
    fn a_growing_file_has_a_valid_header_within_a_second_without_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.wav");
        let mut sink = WavSink::create(&path).unwrap();
        sink.write(&[7; 480]).unwrap();
        sink.header_written -= HEADER_EVERY;
        sink.write(&[8; 480]).unwrap();
        // Not finished: as a crash would leave it.
        let samples = read_samples(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 1920);
        assert_eq!(samples.len(), 960);
    }
}
