//! `camloop probe`: what the board has (cameras, sound devices, GPIO chips) and, for the config,
//! what camloop would pick and whether each device opens, with the error it would give. The
//! collectors live with their adapters; the formatting here is pure.

use crate::config::{AudioOutput, ButtonSource, Config};
use crate::{audio, camera, gpio, list_or_none};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Probe {
    pub cameras: Vec<camera::v4l2::VideoDevice>,
    pub sound: audio::alsa::SoundDevices,
    pub gpio_chips: Vec<gpio::GpioChip>,
    /// Each device the config names: what it is, and what opening it gave.
    pub config: Vec<Opened>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Opened {
    pub what: &'static str,
    /// Whether it opened; `None` when there is nothing to open (none, a file).
    pub opens: Option<bool>,
    /// The device as opened, or the error it gave.
    pub detail: String,
}

impl Opened {
    fn tried(what: &'static str, result: Result<String, String>) -> Opened {
        let opens = Some(result.is_ok());
        let detail = result.unwrap_or_else(|e| e);
        Opened {
            what,
            opens,
            detail,
        }
    }

    fn nothing(what: &'static str, detail: String) -> Opened {
        Opened {
            what,
            opens: None,
            detail,
        }
    }
}

/// Looks at everything, and opens (then closes) each device `config` names.
pub fn collect(config: &Config) -> Probe {
    let mut opened = vec![Opened::tried(
        "camera",
        camera::open(&config.camera)
            .map(|c| c.describe())
            .map_err(|e| e.to_string()),
    )];
    opened.push(
        match audio::open_microphone(&config.audio, Arc::default()) {
            Ok(Some(m)) => Opened::tried("microphone", Ok(m.describe())),
            Ok(None) => Opened::nothing("microphone", "none (audio disabled)".into()),
            Err(e) => Opened::tried("microphone", Err(e.to_string())),
        },
    );
    opened.push(match &config.output.audio {
        // A file is not a device: the probe never creates one.
        AudioOutput::Wav(path) => {
            Opened::nothing("speaker", format!("WAV file {}", path.display()))
        }
        AudioOutput::None => Opened::nothing("speaker", "none".into()),
        AudioOutput::Alsa(device) => Opened::tried(
            "speaker",
            audio::open_speaker(&config.output.audio, Arc::default())
                .map(|_| format!("ALSA {device}"))
                .map_err(|e| e.to_string()),
        ),
    });
    if let ButtonSource::Gpio(buttons) = &config.buttons {
        let lines = match &buttons.hangup {
            Some(hangup) => format!("Call {}, Hangup {hangup}", buttons.call),
            None => format!("Call/Hangup (toggle) {}", buttons.call),
        };
        opened.push(Opened::tried(
            "buttons",
            gpio::open_buttons(buttons)
                .map(|_| format!("gpio chip {}: {lines}", buttons.chip))
                .map_err(|e| e.to_string()),
        ));
    }
    if let Some(led) = &config.led {
        opened.push(Opened::tried(
            "LED",
            gpio::open_led(led)
                .map(|_| format!("gpio chip {}: {}", led.chip, led.line))
                .map_err(|e| e.to_string()),
        ));
    }
    Probe {
        cameras: camera::v4l2::probe(),
        sound: audio::alsa::probe(),
        gpio_chips: gpio::probe(),
        config: opened,
    }
}

/// The probe as a person reads it.
pub fn format(probe: &Probe) -> String {
    let mut out = String::new();
    let none = |out: &mut String, list_empty: bool| {
        if list_empty {
            out.push_str("  none\n");
        }
    };
    out.push_str("Cameras (V4L2)\n");
    none(&mut out, probe.cameras.is_empty());
    for camera in &probe.cameras {
        let _ = writeln!(
            out,
            "  {}: {} ({})",
            camera.path, camera.card, camera.driver
        );
        for format in &camera.formats {
            let _ = writeln!(out, "    {format}");
        }
        if !camera.unreadable.is_empty() {
            let _ = writeln!(
                out,
                "    and formats camloop does not read: {}",
                camera.unreadable.join(", ")
            );
        }
    }
    out.push_str("Sound (ALSA)\n");
    let _ = writeln!(out, "  capture: {}", list_or_none(&probe.sound.capture));
    let _ = writeln!(out, "  playback: {}", list_or_none(&probe.sound.playback));
    out.push_str("GPIO chips\n");
    none(&mut out, probe.gpio_chips.is_empty());
    for chip in &probe.gpio_chips {
        let _ = writeln!(
            out,
            "  {}: {}, {} lines",
            chip.path,
            chip.label,
            chip.lines.len()
        );
        let lines: Vec<String> = chip
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.name.is_empty() || !l.consumer.is_empty())
            .map(|(offset, l)| match l.consumer.as_str() {
                "" => format!("{offset} {}", l.name),
                consumer => format!(
                    "{offset} {} (held by {consumer}, {})",
                    l.name,
                    if l.output { "output" } else { "input" }
                ),
            })
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(out, "    {}", lines.join(", "));
        }
    }
    out.push_str("This config\n");
    for opened in &probe.config {
        let (what, detail) = (opened.what, &opened.detail);
        let _ = match opened.opens {
            Some(true) => writeln!(out, "  {what}: {detail}: opens"),
            Some(false) => writeln!(out, "  {what}: does not open: {detail}"),
            None => writeln!(out, "  {what}: {detail}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reads_as_the_snapshot() {
        let probe = Probe {
            cameras: vec![camera::v4l2::VideoDevice {
                path: "/dev/video0".into(),
                driver: "vivid".into(),
                card: "vivid".into(),
                formats: vec![
                    "NV12: 320x180 at 60, 30, 15 fps; 640x480 at 30, 15 fps".into(),
                    "MJPG: 32x32 to 1920x1080".into(),
                ],
                unreadable: vec!["RGB3".into(), "Y16".into()],
            }],
            sound: audio::alsa::SoundDevices {
                capture: vec!["default".into(), "hw:CARD=Loopback,DEV=1".into()],
                playback: vec![],
            },
            gpio_chips: vec![gpio::GpioChip {
                path: "/dev/gpiochip0".into(),
                label: "9030000.pl061".into(),
                lines: vec![
                    gpio::GpioLine {
                        name: "CALL".into(),
                        consumer: "camloop".into(),
                        output: false,
                    },
                    gpio::GpioLine {
                        name: String::new(),
                        consumer: String::new(),
                        output: false,
                    },
                    gpio::GpioLine {
                        name: "LED".into(),
                        consumer: "camloop".into(),
                        output: true,
                    },
                ],
            }],
            config: vec![
                Opened::tried(
                    "camera",
                    Ok("V4L2 /dev/video0 (vivid): NV12 320x180 at 15 fps".into()),
                ),
                Opened::nothing("microphone", "none (audio disabled)".into()),
                Opened::tried("speaker", Err("audio hw:9: open: no such card".into())),
            ],
        };
        assert_eq!(
            format(&probe),
            "\
Cameras (V4L2)
  /dev/video0: vivid (vivid)
    NV12: 320x180 at 60, 30, 15 fps; 640x480 at 30, 15 fps
    MJPG: 32x32 to 1920x1080
    and formats camloop does not read: RGB3, Y16
Sound (ALSA)
  capture: default, hw:CARD=Loopback,DEV=1
  playback: none
GPIO chips
  /dev/gpiochip0: 9030000.pl061, 3 lines
    0 CALL (held by camloop, input), 2 LED (held by camloop, output)
This config
  camera: V4L2 /dev/video0 (vivid): NV12 320x180 at 15 fps: opens
  microphone: none (audio disabled)
  speaker: does not open: audio hw:9: open: no such card
"
        );
        let empty = format(&Probe::default());
        assert!(empty.contains("Cameras (V4L2)\n  none\n"), "{empty}");
        assert!(empty.contains("GPIO chips\n  none\n"), "{empty}");
    }
}
