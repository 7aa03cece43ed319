//! A V4L2 camera (USB webcams, vivid, a CSI camera through libcamera's V4L2 layer): mmap
//! streaming, the mode chosen from what the camera lists ([`super::choose`]) and what the driver
//! granted read back, each buffer converted to I420 ([`super::convert`]).

use super::choose::{self, Intervals, Offer, Sizes};
use super::convert::{self, Layout};
use super::{CameraError, VideoFormat, VideoSource};
use crate::config::CameraConfig;
use crate::media::frame::Frame;
use crate::media::pixel::PixelFormat;
use crate::sys;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use v4l::buffer::Type;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, FourCC, Fraction};

mod probe;
pub use probe::{VideoDevice, probe};

/// A frame later than this means the camera has stopped delivering.
const FRAME_TIMEOUT: Duration = Duration::from_secs(1);
/// UVC cameras take up to a second or so to deliver their first frame after STREAMON.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(3);
const BUFFERS: u32 = 4;

pub struct V4l2Camera {
    path: String,
    card: String,
    layout: Layout,
    fps: u32,
    // Declared before `device`: the stream goes first.
    stream: Option<Stream<'static>>,
    _device: Device,
    frames: u64,
}

impl V4l2Camera {
    pub fn open(config: &CameraConfig) -> Result<V4l2Camera, CameraError> {
        let path = resolve(&config.device)?;
        let name = path.display().to_string();
        let io_error = |what| {
            let name = name.clone();
            move |source: io::Error| classify(&name, what, source)
        };
        let device = Device::with_path(&path).map_err(io_error("open"))?;
        let caps = sys::video_capabilities(&device).map_err(io_error("query capabilities"))?;
        if !(caps.capture && caps.streaming) {
            return Err(CameraError::NotFound {
                device: format!("{name} ({}, not a streaming capture device)", caps.card),
                present: capture_devices(),
            });
        }
        let offers = list_offers(&device).map_err(io_error("list formats"))?;
        let mode = choose::choose_mode(&offers, config.format, config.width, config.height)
            .map_err(|no| CameraError::NoUsableFormat {
                device: name.clone(),
                wanted: no.wanted,
                offered: no.offered,
            })?;
        let fourcc = FourCC::new(&mode.format.fourcc());
        let asked = v4l::Format::new(mode.width, mode.height, fourcc);
        let granted = device.set_format(&asked).map_err(io_error("set format"))?;
        // Drivers substitute a format they prefer without an error.
        let format = PixelFormat::from_fourcc(granted.fourcc.repr).ok_or_else(|| {
            CameraError::NoUsableFormat {
                device: name.clone(),
                wanted: format!(" (asked {}, got {})", mode.format.name(), granted.fourcc),
                offered: choose::describe_offers(&offers),
            }
        })?;
        // The rate after the format: a size change resets it.
        let intervals = list_intervals(&device, granted.fourcc, granted.width, granted.height);
        let (num, den) = choose::choose_interval(&intervals, config.fps);
        let interval = match device.set_params(&Parameters::new(Fraction::new(num, den))) {
            Ok(params) => params.interval,
            // Some cameras have a fixed rate and refuse S_PARM.
            Err(_) => device
                .params()
                .map(|p| p.interval)
                .unwrap_or(Fraction::new(1, config.fps)),
        };
        let fps = (f64::from(interval.denominator) / f64::from(interval.numerator.max(1)))
            .round()
            .max(1.0) as u32;
        let layout = Layout {
            format,
            // I420 needs even sizes: an odd last row or column is cropped.
            width: (granted.width & !1) as usize,
            height: (granted.height & !1) as usize,
            stride: granted.stride as usize,
            rows: granted.height as usize,
        };
        let stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(io_error("map buffers"))?;
        Ok(V4l2Camera {
            path: name,
            card: caps.card,
            layout,
            fps,
            stream: Some(stream),
            _device: device,
            frames: 0,
        })
    }
}

impl VideoSource for V4l2Camera {
    fn describe(&self) -> String {
        format!(
            "V4L2 {} ({}): {} {}x{} at {} fps",
            self.path,
            self.card,
            self.layout.format.name(),
            self.layout.width,
            self.layout.height,
            self.fps
        )
    }

    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: self.layout.width,
            height: self.layout.height,
            fps: self.fps,
        }
    }

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let stream = self.stream.as_mut().expect("the stream lives until drop");
        loop {
            stream.set_timeout(if self.frames == 0 {
                FIRST_FRAME_TIMEOUT
            } else {
                FRAME_TIMEOUT
            });
            let (buffer, meta) = stream.next().map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => CameraError::Stalled {
                    device: self.path.clone(),
                    seconds: if self.frames == 0 {
                        FIRST_FRAME_TIMEOUT
                    } else {
                        FRAME_TIMEOUT
                    }
                    .as_secs(),
                },
                _ => CameraError::Gone {
                    device: self.path.clone(),
                    reason: e.to_string(),
                },
            })?;
            let captured = capture_instant(meta.timestamp.sec, meta.timestamp.usec);
            let used = (meta.bytesused as usize).min(buffer.len());
            self.frames += 1;
            match convert::to_i420(&self.layout, &buffer[..used]) {
                Ok(data) => {
                    return Ok(Frame {
                        id: meta.sequence,
                        captured,
                        width: self.layout.width,
                        height: self.layout.height,
                        data,
                    });
                }
                // A corrupt buffer (a USB hiccup, a broken JPEG) costs one frame, not the call.
                Err(e) => log::warn!("camera {}: frame {} skipped: {e}", self.path, meta.sequence),
            }
        }
    }
}

impl Drop for V4l2Camera {
    fn drop(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        // The crate's Drop panics when STREAMOFF fails with anything but ENODEV; a camera that
        // broke that way costs its buffers' mapping rather than the process.
        match stream.stop() {
            Err(e) if e.raw_os_error() != Some(libc::ENODEV) => {
                log::warn!("camera {}: stopping the stream: {e}", self.path);
                std::mem::forget(stream);
            }
            _ => drop(stream),
        }
    }
}

/// The buffer's timestamp (CLOCK_MONOTONIC, the clock `Instant` runs on) as an `Instant`; a
/// driver that stamps with another clock gets the dequeue instant.
fn capture_instant(sec: libc::time_t, usec: libc::suseconds_t) -> Instant {
    let now = Instant::now();
    let Ok(mono) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) else {
        return now;
    };
    let now_us = i128::from(mono.tv_sec()) * 1_000_000 + i128::from(mono.tv_nsec()) / 1_000;
    let stamp_us = i128::from(sec) * 1_000_000 + i128::from(usec);
    match u64::try_from(now_us - stamp_us) {
        Ok(age) if age < 1_000_000 => now - Duration::from_micros(age),
        _ => now,
    }
}

/// A path, or the first capture device whose card name matches (`vivid`, `HD Pro Webcam C920`).
fn resolve(device: &str) -> Result<PathBuf, CameraError> {
    if device.starts_with('/') {
        return Ok(PathBuf::from(device));
    }
    video_nodes()
        .into_iter()
        .find(|path| card_of(path).is_some_and(|card| card.eq_ignore_ascii_case(device)))
        .ok_or_else(|| CameraError::NotFound {
            device: device.to_string(),
            present: capture_devices(),
        })
}

fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("video"))
        })
        .collect();
    nodes.sort_by_key(|p| {
        let name = p.to_string_lossy();
        name.trim_start_matches("/dev/video")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    nodes
}

/// The card name of a capture device, or `None` for other nodes (metadata, output, codecs).
fn card_of(path: &Path) -> Option<String> {
    let caps = sys::video_capabilities(&Device::with_path(path).ok()?).ok()?;
    caps.capture.then_some(caps.card)
}

/// "/dev/video0 (vivid)", for errors that list what is there.
fn capture_devices() -> Vec<String> {
    video_nodes()
        .into_iter()
        .filter_map(|path| Some(format!("{} ({})", path.display(), card_of(&path)?)))
        .collect()
}

fn classify(device: &str, what: &'static str, source: io::Error) -> CameraError {
    let device = device.to_string();
    match source.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENXIO) => CameraError::NotFound {
            device,
            present: capture_devices(),
        },
        Some(libc::ENODEV) => CameraError::Gone {
            device,
            reason: source.to_string(),
        },
        Some(libc::EBUSY) => CameraError::Busy { device },
        Some(libc::EACCES) | Some(libc::EPERM) => CameraError::PermissionDenied { device },
        _ => CameraError::Io {
            device,
            what,
            source,
        },
    }
}

fn list_offers(device: &Device) -> io::Result<Vec<Offer>> {
    let mut offers = Vec::new();
    for description in device.enum_formats()? {
        let fourcc = description.fourcc;
        let mut discrete = Vec::new();
        let mut stepwise = None;
        for size in device.enum_framesizes(fourcc).unwrap_or_default() {
            match size.size {
                FrameSizeEnum::Discrete(d) => discrete.push((d.width, d.height)),
                FrameSizeEnum::Stepwise(s) => {
                    stepwise = Some(Sizes::Stepwise {
                        min: (s.min_width, s.min_height),
                        max: (s.max_width, s.max_height),
                        step: (s.step_width, s.step_height),
                    })
                }
            }
        }
        offers.push(Offer {
            fourcc: fourcc.repr,
            sizes: stepwise.unwrap_or(Sizes::Discrete(discrete)),
        });
    }
    Ok(offers)
}

fn list_intervals(device: &Device, fourcc: FourCC, width: u32, height: u32) -> Intervals {
    let mut discrete = Vec::new();
    for interval in device
        .enum_frameintervals(fourcc, width, height)
        .unwrap_or_default()
    {
        match interval.interval {
            FrameIntervalEnum::Discrete(f) => discrete.push((f.numerator, f.denominator)),
            FrameIntervalEnum::Stepwise(s) => {
                return Intervals::Stepwise {
                    min: (s.min.numerator, s.min.denominator),
                    max: (s.max.numerator, s.max.denominator),
                };
            }
        }
    }
    Intervals::Discrete(discrete)
}
