//! ALSA microphone and speaker: S16_LE at 48 kHz, mono (a stereo-only device is mixed down or
//! fed both channels), the device's periods regrouped into camloop's 20 ms blocks.

use super::{AudioError, AudioSink, AudioSource};
use crate::fault::FaultKind;
use crate::media::frame::{AudioBlock, SAMPLE_RATE, SAMPLES_PER_BLOCK};
use alsa::pcm::{Access, Format, Frames, HwParams, PCM};
use alsa::{Direction, ValueOr};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// 10 ms periods: a block is two of them, and a wakeup costs little.
const PERIOD_FRAMES: Frames = 480;
/// The capture buffer: room for a stall of the reader thread before an overrun.
const CAPTURE_BUFFER_FRAMES: Frames = 4800;
/// How long the microphone waits for a period before it looks again whether it may stop.
const CAPTURE_WAIT_MS: u32 = 100;
/// A microphone that delivers nothing this long has stopped answering (unplugged, its driver
/// wedged): a transient fault, so the media is opened again.
const CAPTURE_STALL: Duration = Duration::from_secs(2);
/// A speaker with no room for this long has stopped taking sound.
const PLAYBACK_STALL_MS: u32 = 1000;
/// The speaker's buffer: at most 60 ms between decoding and sound.
const PLAYBACK_BUFFER_US: u32 = 60_000;

/// Groups whatever the device delivers into 20 ms mono blocks.
#[derive(Debug, Default)]
pub struct BlockAssembler {
    pending: Vec<i16>,
}

impl BlockAssembler {
    /// Takes interleaved frames of `channels` channels; returns the blocks now complete.
    pub fn push(&mut self, interleaved: &[i16], channels: usize) -> Vec<Vec<i16>> {
        if channels <= 1 {
            self.pending.extend_from_slice(interleaved);
        } else {
            self.pending
                .extend(interleaved.chunks_exact(channels).map(|frame| {
                    let sum: i32 = frame.iter().map(|&s| i32::from(s)).sum();
                    (sum / channels as i32) as i16
                }));
        }
        let complete = self.pending.len() / SAMPLES_PER_BLOCK * SAMPLES_PER_BLOCK;
        let blocks = self.pending[..complete]
            .chunks_exact(SAMPLES_PER_BLOCK)
            .map(<[i16]>::to_vec)
            .collect();
        self.pending.drain(..complete);
        blocks
    }
}

fn device_error(device: &str, what: &str, e: alsa::Error) -> AudioError {
    let hint = match e.errno() {
        // At open, EINVAL is the configuration's: a plugin (dmix, dsnoop) rejecting its settings.
        libc::EINVAL if what == "open" => {
            "; ALSA's configuration for this name is rejected (alsa-lib says why just before; dmix and dsnoop need an `audio` group): fix it or use a hw:/plughw: name from `arecord -L` / `aplay -L`"
        }
        libc::ENOENT | libc::ENODEV | libc::ENXIO => {
            "; check the name with `arecord -L` / `aplay -L` and that the card is plugged in"
        }
        libc::EBUSY => "; another program is using it",
        libc::EACCES | libc::EPERM => "; add the user running camloop to the `audio` group",
        libc::EINVAL => "; the device cannot do S16_LE at 48 kHz: try its plughw: name",
        _ => "",
    };
    AudioError::Device {
        device: device.to_string(),
        reason: format!("{what}: {e}{hint}"),
        kind: FaultKind::of_errno(e.errno()),
    }
}

/// Opens `device` for S16_LE 48 kHz, mono if it can, else stereo; returns the channel count.
fn open(device: &str, direction: Direction, buffer: Buffer) -> Result<(PCM, usize), AudioError> {
    let err = |what| move |e| device_error(device, what, e);
    // Non-blocking: the kernel's blocking open of a device another program holds waits until
    // that program lets go, which could be never; this one says EBUSY at once. Reads and
    // writes then wait for their device with deadlines of their own.
    let pcm = PCM::new(device, direction, true).map_err(err("open"))?;
    let channels = {
        let hw = HwParams::any(&pcm).map_err(err("hardware parameters"))?;
        hw.set_access(Access::RWInterleaved)
            .map_err(err("interleaved access"))?;
        hw.set_format(Format::S16LE).map_err(err("S16_LE"))?;
        let channels = hw.set_channels_near(1).map_err(err("channels"))?;
        let rate = hw
            .set_rate_near(SAMPLE_RATE, ValueOr::Nearest)
            .map_err(err("rate"))?;
        if rate != SAMPLE_RATE || channels > 2 {
            return Err(AudioError::Device {
                device: device.to_string(),
                reason: format!(
                    "offers {rate} Hz with {channels} channels, camloop needs 48000 Hz mono or stereo; use its plughw: name to convert"
                ),
                kind: FaultKind::NeedsChange,
            });
        }
        hw.set_period_size_near(PERIOD_FRAMES, ValueOr::Nearest)
            .map_err(err("period size"))?;
        match buffer {
            Buffer::Frames(frames) => hw.set_buffer_size_near(frames).map(|_| ()),
            Buffer::Micros(us) => hw.set_buffer_time_near(us, ValueOr::Less).map(|_| ()),
        }
        .map_err(err("buffer size"))?;
        pcm.hw_params(&hw).map_err(err("set hardware parameters"))?;
        channels as usize
    };
    Ok((pcm, channels))
}

enum Buffer {
    Frames(Frames),
    Micros(u32),
}

pub struct AlsaMicrophone {
    device: String,
    pcm: PCM,
    channels: usize,
    assembler: BlockAssembler,
    ready: VecDeque<Vec<i16>>,
    period: Vec<i16>,
    next_id: u32,
    xruns: Arc<AtomicU64>,
    /// When a period last arrived.
    heard: Instant,
}

impl AlsaMicrophone {
    pub fn open(device: &str, xruns: Arc<AtomicU64>) -> Result<Self, AudioError> {
        let (pcm, channels) = open(
            device,
            Direction::Capture,
            Buffer::Frames(CAPTURE_BUFFER_FRAMES),
        )?;
        pcm.start()
            .map_err(|e| device_error(device, "start capture", e))?;
        Ok(AlsaMicrophone {
            device: device.to_string(),
            pcm,
            channels,
            assembler: BlockAssembler::default(),
            ready: VecDeque::new(),
            period: vec![0; PERIOD_FRAMES as usize * channels],
            next_id: 0,
            xruns,
            heard: Instant::now(),
        })
    }
}

impl AudioSource for AlsaMicrophone {
    fn describe(&self) -> String {
        let layout = if self.channels == 1 {
            "mono"
        } else {
            "stereo mixed to mono"
        };
        format!("ALSA {}: S16_LE 48 kHz {layout}", self.device)
    }

    fn next_block(&mut self) -> Result<AudioBlock, AudioError> {
        loop {
            if let Some(samples) = self.ready.pop_front() {
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1);
                // The block's last sample has just been read; its first is 20 ms older.
                let captured = Instant::now() - Duration::from_millis(20);
                return Ok(AudioBlock {
                    id,
                    captured,
                    samples,
                });
            }
            let io = self
                .pcm
                .io_i16()
                .map_err(|e| device_error(&self.device, "capture", e))?;
            // Waited for with a deadline, not read blind: readi on a device that stopped
            // answering would hold this thread, and the stream's close with it, for ever.
            let read = self.pcm.wait(Some(CAPTURE_WAIT_MS)).and_then(|ready| {
                if !ready {
                    return Ok(None);
                }
                match io.readi(&mut self.period) {
                    Err(e) if e.errno() == libc::EAGAIN => Ok(None),
                    read => read.map(Some),
                }
            });
            match read {
                Ok(Some(frames)) => {
                    self.heard = Instant::now();
                    let read = &self.period[..frames * self.channels];
                    self.ready.extend(self.assembler.push(read, self.channels));
                }
                Ok(None) if self.heard.elapsed() < CAPTURE_STALL => {}
                Ok(None) => {
                    return Err(AudioError::Device {
                        device: self.device.clone(),
                        reason: format!(
                            "no sound for {} s; is it still connected?",
                            CAPTURE_STALL.as_secs()
                        ),
                        kind: FaultKind::Transient,
                    });
                }
                // An overrun (EPIPE) or a suspend: recover and go on, counted.
                Err(e) => {
                    self.xruns.fetch_add(1, Ordering::Relaxed);
                    log::debug!("audio {}: capture {e}: recovering", self.device);
                    self.pcm
                        .try_recover(e, true)
                        .map_err(|e| device_error(&self.device, "capture (gone?)", e))?;
                    self.pcm
                        .start()
                        .map_err(|e| device_error(&self.device, "restart capture", e))?;
                }
            }
        }
    }
}

pub struct AlsaSpeaker {
    device: String,
    pcm: PCM,
    channels: usize,
    frames: Vec<i16>,
    underruns: Arc<AtomicU64>,
}

impl AlsaSpeaker {
    pub fn open(device: &str, underruns: Arc<AtomicU64>) -> Result<Self, AudioError> {
        let (pcm, channels) = open(
            device,
            Direction::Playback,
            Buffer::Micros(PLAYBACK_BUFFER_US),
        )?;
        // Start as soon as one block is queued, not when the buffer is full.
        {
            let sw = pcm
                .sw_params_current()
                .map_err(|e| device_error(device, "software parameters", e))?;
            sw.set_start_threshold(SAMPLES_PER_BLOCK as Frames)
                .and_then(|()| pcm.sw_params(&sw))
                .map_err(|e| device_error(device, "start threshold", e))?;
        }
        Ok(AlsaSpeaker {
            device: device.to_string(),
            pcm,
            channels,
            frames: Vec::new(),
            underruns,
        })
    }
}

impl AudioSink for AlsaSpeaker {
    fn write(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        self.frames.clear();
        self.frames.extend(
            samples
                .iter()
                .flat_map(|&s| std::iter::repeat_n(s, self.channels)),
        );
        let mut offset = 0;
        while offset < samples.len() {
            let io = self
                .pcm
                .io_i16()
                .map_err(|e| device_error(&self.device, "playback", e))?;
            match io.writei(&self.frames[offset * self.channels..]) {
                Ok(frames) => offset += frames,
                // The buffer is full (the PCM is non-blocking): wait for room, up to a deadline.
                // An error of the wait (an underrun) comes back from the next write.
                Err(e) if e.errno() == libc::EAGAIN => {
                    if !self.pcm.wait(Some(PLAYBACK_STALL_MS)).unwrap_or(true) {
                        return Err(AudioError::Device {
                            device: self.device.clone(),
                            reason: format!(
                                "took no sound for {PLAYBACK_STALL_MS} ms; is it still connected?"
                            ),
                            kind: FaultKind::Transient,
                        });
                    }
                }
                // An underrun (EPIPE): pc2's audio came late; recover and go on, counted.
                Err(e) => {
                    self.underruns.fetch_add(1, Ordering::Relaxed);
                    self.pcm
                        .try_recover(e, true)
                        .map_err(|e| device_error(&self.device, "playback (gone?)", e))?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        match self.pcm.drain() {
            Ok(()) => Ok(()),
            // Non-blocking, the drain goes on by itself: what is queued (at most the 60 ms
            // buffer) is given its time to play before the device is closed.
            Err(e) if e.errno() == libc::EAGAIN => {
                let queued = self.pcm.delay().unwrap_or(0).max(0) as u64;
                std::thread::sleep(Duration::from_micros(
                    queued * 1_000_000 / u64::from(SAMPLE_RATE),
                ));
                Ok(())
            }
            Err(e) => Err(device_error(&self.device, "drain", e)),
        }
    }
}

/// The ALSA PCM names there are, as `camloop probe` shows them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SoundDevices {
    pub capture: Vec<String>,
    pub playback: Vec<String>,
}

pub fn probe() -> SoundDevices {
    let mut devices = SoundDevices::default();
    let Ok(hints) = alsa::device_name::HintIter::new_str(None, "pcm") else {
        return devices;
    };
    for hint in hints {
        let Some(name) = hint.name else { continue };
        if hint.direction != Some(Direction::Playback) {
            devices.capture.push(name.clone());
        }
        if hint.direction != Some(Direction::Capture) {
            devices.playback.push(name);
        }
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_of_any_size_are_regrouped_into_whole_blocks_in_order() {
        let mut assembler = BlockAssembler::default();
        let samples: Vec<i16> = (0..3000).map(|i| i as i16).collect();
        let mut blocks = Vec::new();
        let mut at = 0;
        for period in [480, 441, 1024, 55, 1000] {
            blocks.extend(assembler.push(&samples[at..at + period], 1));
            at += period;
        }
        assert_eq!(at, 3000);
        assert_eq!(blocks.len(), 3, "2880 samples make three blocks, 120 wait");
        assert_eq!(blocks.concat(), samples[..2880]);
        let more = assembler.push(&samples[..840], 1);
        assert_eq!(more.len(), 1);
        assert_eq!(more[0][..120], samples[2880..]);
    }

    #[test]
    fn stereo_is_mixed_down_to_mono() {
        let mut assembler = BlockAssembler::default();
        let stereo: Vec<i16> = (0..SAMPLES_PER_BLOCK)
            .flat_map(|_| [i16::MAX, i16::MAX - 2])
            .collect();
        let blocks = assembler.push(&stereo, 2);
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].iter().all(|&s| s == i16::MAX - 1));
        let opposite: Vec<i16> = (0..SAMPLES_PER_BLOCK).flat_map(|_| [1000, -1000]).collect();
        assert!(assembler.push(&opposite, 2)[0].iter().all(|&s| s == 0));
    }

    #[test]
    fn a_missing_device_says_how_to_find_the_right_name() {
        let error = match AlsaMicrophone::open("hw:CARD=NoSuchCard", Arc::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a card that does not exist opened"),
        };
        assert!(
            error.starts_with("audio hw:CARD=NoSuchCard: open: "),
            "{error}"
        );
        assert!(error.contains("arecord -L"), "{error}");
    }

    #[test]
    fn invalid_argument_names_the_configuration_at_open_and_the_format_after() {
        let at_open = device_error(
            "default",
            "open",
            alsa::Error::new("snd_pcm_open", libc::EINVAL),
        );
        assert!(at_open.to_string().contains("`audio` group"), "{at_open}");
        let format = device_error(
            "hw:0",
            "S16_LE",
            alsa::Error::new("snd_pcm_hw_params_set_format", libc::EINVAL),
        );
        assert!(format.to_string().contains("plughw:"), "{format}");
        assert!(!format.to_string().contains("configuration"), "{format}");
    }
}
