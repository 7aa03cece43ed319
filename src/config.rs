//! Configuration: TOML in, a typed and validated [`Config`] out, every key with a default.
//!
//! Errors are one line that names the key, the value and what is allowed, because the person
//! reading them is at a board's serial console:
//! `config error: camera.width = "wide": expected a whole number from 16 to 3840`.

mod buttons;
mod section;

use crate::media::pixel::PixelFormat;
use crate::rtc::impair::Impairment;
use section::Section;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("config error: {0}")]
pub struct ConfigError(String);

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub camera: CameraConfig,
    pub audio: AudioConfig,
    pub video: VideoConfig,
    pub call: CallConfig,
    pub output: OutputConfig,
    pub buttons: ButtonSource,
    /// The status LED, when one is wired.
    pub led: Option<LedConfig>,
    pub control_socket: PathBuf,
    /// `[control] debug_commands`: the control socket also takes `debug-stall`, which hangs the
    /// owner task, so a test can watch systemd's watchdog restart camloop. Off on a board.
    pub debug_commands: bool,
    pub stats: StatsConfig,
    pub log_level: log::LevelFilter,
    /// `[network] impair`: a bad network made between pc1 and pc2, for tests and the bench.
    pub impairment: Option<Impairment>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CameraConfig {
    pub source: CameraSource,
    /// What the test-pattern camera draws.
    pub pattern: Picture,
    /// A V4L2 device path (`/dev/video0`) or card name (`vivid`).
    pub device: String,
    /// `None` is `auto`: the camera's best readable format.
    pub format: Option<PixelFormat>,
    /// How often a missing or vanished camera is looked for again.
    pub retry: Duration,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CameraSource {
    Pattern,
    V4l2,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AudioConfig {
    pub enabled: bool,
    pub source: AudioSource,
    pub tone_hz: u32,
    /// The ALSA capture device (`default`, `hw:1,0`, `plughw:CARD=Device`).
    pub capture: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AudioSource {
    Tone,
    Alsa,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VideoConfig {
    pub bitrate_kbps: u32,
    pub keyframe_interval_s: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallConfig {
    pub connect_timeout: Duration,
    /// How long pc1 and pc2 may hear nothing from each other before the call fails.
    pub network_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputConfig {
    pub video: VideoOutput,
    pub audio: AudioOutput,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VideoOutput {
    /// The screen on a DRM/KMS card: the one named, else the first with a screen connected.
    Drm(Option<PathBuf>),
    /// The screen through a framebuffer device.
    Fb(PathBuf),
    /// The remote pictures of each call, to a file.
    Y4m(PathBuf),
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AudioOutput {
    Wav(PathBuf),
    /// An ALSA playback device.
    Alsa(String),
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ButtonSource {
    Keyboard,
    Gpio(GpioButtons),
    None,
}

/// Call and Hangup on GPIO lines.
#[derive(Clone, Debug, PartialEq)]
pub struct GpioButtons {
    /// A chip label (`pinctrl-bcm2835`) or path (`/dev/gpiochip0`).
    pub chip: String,
    pub call: LineRef,
    /// `None` in toggle mode: the one button is Call or Hangup, whichever is enabled.
    pub hangup: Option<LineRef>,
    /// Pressed reads low: buttons to ground, with pull-ups.
    pub active_low: bool,
    pub debounce: Duration,
}

/// A GPIO line by offset on its chip or by name (`GPIO17`, `CALL`).
#[derive(Clone, Debug, PartialEq)]
pub enum LineRef {
    Offset(u32),
    Name(String),
}

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineRef::Offset(n) => write!(f, "line {n}"),
            LineRef::Name(name) => write!(f, "line \"{name}\""),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LedConfig {
    pub chip: String,
    pub line: LineRef,
    /// Lit when the line is low (LED to the supply rail).
    pub active_low: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StatsConfig {
    pub report: Option<PathBuf>,
    pub interval: Duration,
    /// Measure each picture's PSNR against the test pattern (it costs a picture drawn again
    /// and compared, on a thread of its own).
    pub quality: bool,
}

/// `[camera] format` values: `auto`, then the FourCCs camloop reads.
const PIXEL_FORMATS: [(&str, Option<PixelFormat>); 6] = [
    ("auto", None),
    ("NV12", Some(PixelFormat::Nv12)),
    ("YU12", Some(PixelFormat::Yu12)),
    ("YUYV", Some(PixelFormat::Yuyv)),
    ("UYVY", Some(PixelFormat::Uyvy)),
    ("MJPG", Some(PixelFormat::Mjpeg)),
];

/// Where `camloop run` and `camloop ctl` look when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/camloop/camloop.toml";
/// A config is a page of settings; anything this large is not one.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Picture sizes camloop takes: even (I420), at most OpenH264's largest, 3840x2160.
pub const WIDTHS: RangeInclusive<u32> = 16..=3840;
pub const HEIGHTS: RangeInclusive<u32> = 16..=2160;

/// `[camera] pattern`: which picture the test-pattern camera draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    Bars,
    Scene,
}

impl Picture {
    pub const NAMES: [(&'static str, Picture); 2] =
        [("bars", Picture::Bars), ("scene", Picture::Scene)];

    pub fn name(self) -> &'static str {
        match self {
            Picture::Bars => "bars",
            Picture::Scene => "scene",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::from_table(&toml::Table::new()).expect("the defaults are valid")
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_regular(path, MAX_CONFIG_BYTES)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let config = Config::parse(&text)
            .map_err(|ConfigError(e)| ConfigError(format!("{}: {e}", path.display())))?;
        let itself = |file: &Path| {
            file == path
                || file
                    .canonicalize()
                    .is_ok_and(|file| path.canonicalize().is_ok_and(|path| file == path))
        };
        if let Some((key, file)) = config.written_files().into_iter().find(|(_, f)| itself(f)) {
            return Err(ConfigError(format!(
                "{}: {key} = {}: the configuration file itself; give it a path of its own",
                path.display(),
                section::quoted(&file.display().to_string())
            )));
        }
        Ok(config)
    }

    /// What is wrong now, on this machine, with the files a call writes (recordings, the
    /// report): a folder that is not there, a symbolic link on the way, a folder at the path.
    /// A call would find out only at its end; `check-config` and `run` say it at once, as
    /// warnings, since a folder may yet be made (systemd's StateDirectory makes the report's).
    pub fn written_file_problems(&self) -> Vec<String> {
        self.written_files()
            .into_iter()
            // The socket's folders are made by camloop itself.
            .filter(|(key, _)| *key != "control.socket")
            .filter_map(|(key, path)| {
                let problem = crate::files::check_target(path).err()?;
                Some(format!(
                    "{key} = {}: {problem}",
                    section::quoted(&path.display().to_string())
                ))
            })
            .collect()
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            // The parser's message may span lines; the console gets one.
            let message: Vec<&str> = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            ConfigError(format!("{at}{}", message.join("; ")))
        })?;
        Config::from_table(&table)
    }

    fn from_table(table: &toml::Table) -> Result<Config, ConfigError> {
        const SECTIONS: &[&str] = &[
            "camera", "audio", "video", "call", "output", "buttons", "led", "control", "stats",
            "log", "network",
        ];
        if let Some(unknown) = table.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(ConfigError(format!(
                "[{unknown}]: unknown section; known sections are {}",
                SECTIONS.join(", ")
            )));
        }
        let camera = Section::new(
            table,
            "camera",
            &[
                "source", "pattern", "device", "format", "width", "height", "fps", "retry_s",
            ],
        )?;
        let audio = Section::new(table, "audio", &["enabled", "source", "tone_hz", "capture"])?;
        let video = Section::new(table, "video", &["bitrate_kbps", "keyframe_interval_s"])?;
        let call = Section::new(table, "call", &["connect_timeout_s", "network_timeout_s"])?;
        let output = Section::new(table, "output", &["video", "audio"])?;
        let buttons = Section::new(
            table,
            "buttons",
            &[
                "source",
                "chip",
                "call",
                "hangup",
                "active_low",
                "debounce_ms",
                "mode",
            ],
        )?;
        let led = Section::new(table, "led", &["chip", "line", "active_low"])?;
        let control = Section::new(table, "control", &["socket", "debug_commands"])?;
        let stats = Section::new(table, "stats", &["report", "interval_s", "quality"])?;
        let log = Section::new(table, "log", &["level"])?;
        let network = Section::new(table, "network", &["impair"])?;

        let config = Config {
            camera: CameraConfig {
                source: camera.choice(
                    "source",
                    "pattern",
                    &[
                        ("pattern", CameraSource::Pattern),
                        ("v4l2", CameraSource::V4l2),
                    ],
                )?,
                pattern: camera.choice("pattern", "bars", &Picture::NAMES)?,
                device: camera.text("device", "/dev/video0")?,
                format: camera.choice("format", "auto", &PIXEL_FORMATS)?,
                retry: Duration::from_secs(camera.number("retry_s", 2, 1, 600)?.into()),
                width: camera.even_number("width", 640, WIDTHS)?,
                height: camera.even_number("height", 480, HEIGHTS)?,
                fps: camera.number("fps", 30, 1, 120)?,
            },
            audio: AudioConfig {
                enabled: audio.boolean("enabled", true)?,
                source: audio.choice(
                    "source",
                    "tone",
                    &[("tone", AudioSource::Tone), ("alsa", AudioSource::Alsa)],
                )?,
                tone_hz: audio.number("tone_hz", 440, 20, 20_000)?,
                capture: audio.text("capture", "default")?,
            },
            video: VideoConfig {
                bitrate_kbps: video.number("bitrate_kbps", 1500, 50, 50_000)?,
                keyframe_interval_s: video.number("keyframe_interval_s", 2, 1, 600)?,
            },
            call: CallConfig {
                connect_timeout: Duration::from_secs(
                    call.number("connect_timeout_s", 10, 1, 600)?.into(),
                ),
                // Above ICE's 5 s to "disconnected", which a call rides out.
                network_timeout: Duration::from_secs(
                    call.number("network_timeout_s", 15, 6, 600)?.into(),
                ),
            },
            output: OutputConfig {
                video: output.sink(
                    "video",
                    &[
                        ("drm", "", |_| VideoOutput::Drm(None)),
                        ("drm", "/dev/dri/cardN", |p| {
                            VideoOutput::Drm(Some(p.into()))
                        }),
                        ("fb", "/dev/fbN", |p| VideoOutput::Fb(p.into())),
                        ("y4m", "PATH", |p| VideoOutput::Y4m(p.into())),
                    ],
                    VideoOutput::None,
                )?,
                audio: output.sink(
                    "audio",
                    &[
                        ("wav", "PATH", |p| AudioOutput::Wav(p.into())),
                        ("alsa", "DEVICE", |d| AudioOutput::Alsa(d.into())),
                    ],
                    AudioOutput::None,
                )?,
            },
            buttons: buttons::button_source(&buttons)?,
            led: match led.string("chip")? {
                None => {
                    // Keys that would be ignored without a chip are a mistake to say.
                    if let Some(key) = ["line", "active_low"].into_iter().find(|k| led.has(k)) {
                        return Err(ConfigError(format!(
                            "led.{key}: needs led.chip (the LED's GPIO chip); add it, or remove [led] for no LED"
                        )));
                    }
                    None
                }
                Some(chip) => Some(LedConfig {
                    chip: chip.to_string(),
                    line: led.required_line("line")?,
                    active_low: led.boolean("active_low", false)?,
                }),
            },
            control_socket: socket_path(&control)?,
            debug_commands: control.boolean("debug_commands", false)?,
            stats: StatsConfig {
                report: stats.optional_path("report")?,
                interval: Duration::from_secs(stats.number("interval_s", 5, 1, 3600)?.into()),
                quality: stats.boolean("quality", true)?,
            },
            log_level: log.choice(
                "level",
                "info",
                &[
                    ("error", log::LevelFilter::Error),
                    ("warn", log::LevelFilter::Warn),
                    ("info", log::LevelFilter::Info),
                    ("debug", log::LevelFilter::Debug),
                    ("trace", log::LevelFilter::Trace),
                ],
            )?,
            impairment: network.parsed("impair", str::parse)?,
        };
        config.files_apart()?;
        Ok(config)
    }

    /// Each file camloop writes has a path of its own: two on one path would overwrite each
    /// other, or the socket a recording.
    fn files_apart(&self) -> Result<(), ConfigError> {
        let files = self.written_files();
        for (i, (key, path)) in files.iter().enumerate() {
            if let Some((other, _)) = files[i + 1..].iter().find(|(_, p)| p == path) {
                return Err(ConfigError(format!(
                    "{other} = {}: the same file as {key}; give each its own path",
                    section::quoted(&path.display().to_string())
                )));
            }
        }
        Ok(())
    }

    /// The files camloop makes, by the key that names each.
    fn written_files(&self) -> Vec<(&'static str, &Path)> {
        let mut files: Vec<(&str, &Path)> = vec![("control.socket", &self.control_socket)];
        if let VideoOutput::Y4m(path) = &self.output.video {
            files.push(("output.video", path));
        }
        if let AudioOutput::Wav(path) = &self.output.audio {
            files.push(("output.audio", path));
        }
        if let Some(path) = &self.stats.report {
            files.push(("stats.report", path));
        }
        files
    }
}

/// The control socket's path, which must fit a Unix socket address (`sun_path`), and so must
/// the temporary name beside it that it is bound under first.
fn socket_path(control: &Section<'_>) -> Result<PathBuf, ConfigError> {
    const SUN_PATH_MAX: usize = 107;
    let path = control.path("socket", "/run/camloop/control.sock")?;
    let longest = path
        .as_os_str()
        .len()
        .max(crate::files::temporary_beside(&path).as_os_str().len());
    if longest > SUN_PATH_MAX {
        let value = toml::Value::String(path.display().to_string());
        return Err(control.invalid(
            "socket",
            &value,
            format!("a path of at most {SUN_PATH_MAX} bytes (a Unix socket's limit)"),
        ));
    }
    Ok(path)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
