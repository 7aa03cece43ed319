//! The board's buttons and status LED on GPIO lines (the kernel's GPIO character device):
//! chips found by label or path, lines by offset or name, and errors that say what to do.

pub mod debounce;

use crate::call::Button;
use crate::config::{GpioButtons, LedConfig, LineRef};
use crate::list_or_none;
use debounce::Debouncer;
use futures::{FutureExt, StreamExt};
use gpio_cdev::{AsyncLineEventHandle, Chip, EventRequestFlags, EventType, Line, LineRequestFlags};
use linux_embedded_hal::CdevPin;
use std::time::Duration;

const CONSUMER: &str = "camloop";
/// GPIO uAPI v1's pull-up request flag, which gpio-cdev does not name; drivers without bias
/// control ignore it.
const BIAS_PULL_UP: u32 = 1 << 5;

#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    #[error("gpio chip {chip}: not found (present: {}); set the chip's label or path", list_or_none(.present))]
    ChipNotFound { chip: String, present: Vec<String> },
    #[error(
        "gpio chip {chip}: permission denied; add the user running camloop to the `gpio` group (board/99-camloop-gpio.rules makes one where the OS has none)"
    )]
    PermissionDenied { chip: String },
    #[error("gpio chip {chip}: no {line}; its lines are {}", list_or_none(.names))]
    LineNotFound {
        chip: String,
        line: LineRef,
        names: Vec<String>,
    },
    #[error(
        "gpio chip {chip}: {line} is busy, held by \"{consumer}\"; stop that program or pick another line"
    )]
    LineBusy {
        chip: String,
        line: LineRef,
        consumer: String,
    },
    #[error("gpio chip {chip}: {what}: {reason}")]
    Io {
        chip: String,
        what: String,
        reason: String,
    },
}

/// "/dev/gpiochip0 (pinctrl-bcm2835, 54 lines)" for every chip there is.
pub fn present_chips() -> Vec<String> {
    let Ok(chips) = gpio_cdev::chips() else {
        return Vec::new();
    };
    let mut found: Vec<String> = chips
        .flatten()
        .map(|c| {
            format!(
                "{} ({}, {} lines)",
                c.path().display(),
                c.label(),
                c.num_lines()
            )
        })
        .collect();
    found.sort();
    found
}

/// A GPIO chip as `camloop probe` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GpioChip {
    pub path: String,
    pub label: String,
    pub lines: Vec<GpioLine>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GpioLine {
    pub name: String,
    /// Who holds the line, if anyone.
    pub consumer: String,
    /// Driven by the holder (an LED) rather than read (a button).
    pub output: bool,
}

/// Every GPIO chip there is, with its lines' names and consumers.
pub fn probe() -> Vec<GpioChip> {
    let Ok(chips) = gpio_cdev::chips() else {
        return Vec::new();
    };
    let mut found: Vec<GpioChip> = chips
        .flatten()
        .map(|chip| GpioChip {
            path: chip.path().display().to_string(),
            label: chip.label().to_string(),
            lines: chip
                .lines()
                .map(|line| {
                    let info = line.info().ok();
                    let text = |f: fn(&gpio_cdev::LineInfo) -> Option<&str>| {
                        info.as_ref().and_then(f).unwrap_or("").to_string()
                    };
                    GpioLine {
                        name: text(gpio_cdev::LineInfo::name),
                        consumer: text(gpio_cdev::LineInfo::consumer),
                        output: info
                            .as_ref()
                            .is_some_and(|i| i.direction() == gpio_cdev::LineDirection::Out),
                    }
                })
                .collect(),
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The chip named by a path (`/dev/gpiochip0`) or by its label or name.
fn open_chip(spec: &str) -> Result<Chip, GpioError> {
    let not_found = || GpioError::ChipNotFound {
        chip: spec.to_string(),
        present: present_chips(),
    };
    let path = if spec.starts_with('/') {
        std::path::PathBuf::from(spec)
    } else {
        gpio_cdev::chips()
            .map_err(|_| not_found())?
            .flatten()
            .find(|c| c.label() == spec || c.name() == spec)
            .map(|c| c.path().to_path_buf())
            .ok_or_else(not_found)?
    };
    // Opened once by hand first: gpio-cdev's error does not tell ENOENT from EACCES.
    if let Err(e) = std::fs::File::open(&path) {
        return Err(match e.kind() {
            std::io::ErrorKind::PermissionDenied => GpioError::PermissionDenied {
                chip: spec.to_string(),
            },
            _ => not_found(),
        });
    }
    Chip::new(&path).map_err(|e| GpioError::Io {
        chip: spec.to_string(),
        what: "open".into(),
        reason: e.to_string(),
    })
}

/// The line `line` names on `chip`.
fn find_line(chip: &mut Chip, spec: &str, line: &LineRef) -> Result<Line, GpioError> {
    let mut names = Vec::new();
    for candidate in chip.lines() {
        let name = candidate
            .info()
            .ok()
            .and_then(|info| info.name().map(str::to_string))
            .unwrap_or_default();
        let offset = candidate.offset();
        if match line {
            LineRef::Offset(n) => *n == offset,
            LineRef::Name(wanted) => *wanted == name,
        } {
            return Ok(candidate);
        }
        names.push(if name.is_empty() {
            format!("{offset} (unnamed)")
        } else {
            format!("{offset} {name}")
        });
    }
    Err(GpioError::LineNotFound {
        chip: spec.to_string(),
        line: line.clone(),
        names,
    })
}

/// Why requesting `line` failed: held by someone (named), or something else.
fn request_error(
    spec: &str,
    named: &LineRef,
    line: &Line,
    what: String,
    e: gpio_cdev::Error,
) -> GpioError {
    // After a failed request, a consumer on the line means someone else holds it.
    if let Ok(info) = line.info()
        && let Some(consumer) = info.consumer().filter(|c| !c.is_empty())
    {
        return GpioError::LineBusy {
            chip: spec.to_string(),
            line: named.clone(),
            consumer: consumer.to_string(),
        };
    }
    GpioError::Io {
        chip: spec.to_string(),
        what,
        reason: e.to_string(),
    }
}

/// The LED's line as an `embedded-hal` output pin, off. Active-low wiring is the kernel's
/// business (the line is requested active-low), so "high" is always lit.
pub fn open_led(config: &LedConfig) -> Result<CdevPin, GpioError> {
    let mut chip = open_chip(&config.chip)?;
    let line = find_line(&mut chip, &config.chip, &config.line)?;
    let mut flags = LineRequestFlags::OUTPUT;
    if config.active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    let what = || format!("{} as the LED", config.line);
    let handle = line
        .request(flags, 0, CONSUMER)
        .map_err(|e| request_error(&config.chip, &config.line, &line, what(), e))?;
    CdevPin::new(handle).map_err(|e| request_error(&config.chip, &config.line, &line, what(), e))
}

/// The buttons' lines, requested with edge events; [`GpioButtonLines::run`] turns their edges
/// into presses.
pub struct GpioButtonLines {
    lines: Vec<(Button, AsyncLineEventHandle)>,
    debounce: Duration,
}

pub fn open_buttons(config: &GpioButtons) -> Result<GpioButtonLines, GpioError> {
    let mut chip = open_chip(&config.chip)?;
    let mut flags = LineRequestFlags::INPUT;
    if config.active_low {
        // Logical 1 = pressed, whichever way the button is wired.
        flags |= LineRequestFlags::ACTIVE_LOW | LineRequestFlags::from_bits_retain(BIAS_PULL_UP);
    }
    let buttons = match &config.hangup {
        Some(hangup) => vec![(Button::Call, &config.call), (Button::Hangup, hangup)],
        None => vec![(Button::Toggle, &config.call)],
    };
    let mut lines = Vec::new();
    for (button, spec) in buttons {
        let line = find_line(&mut chip, &config.chip, spec)?;
        let events = line
            .async_events(flags.clone(), EventRequestFlags::BOTH_EDGES, CONSUMER)
            .map_err(|e| {
                let what = format!("{spec} as the {button:?} button");
                request_error(&config.chip, spec, &line, what, e)
            })?;
        lines.push((button, events));
    }
    Ok(GpioButtonLines {
        lines,
        debounce: config.debounce,
    })
}

impl GpioButtonLines {
    /// Waits for edges, debounces them and hands each press to `press`, until `closed`
    /// completes (whoever took the presses has gone).
    pub async fn run(mut self, press: impl Fn(Button), closed: impl Future<Output = ()>) {
        let mut closed = std::pin::pin!(closed);
        let mut debouncers: Vec<Debouncer> = self
            .lines
            .iter()
            .map(|(_, events)| {
                let pressed = events.as_ref().get_value().unwrap_or(0) == 1;
                Debouncer::new(self.debounce, pressed)
            })
            .collect();
        loop {
            let due = debouncers.iter().filter_map(Debouncer::deadline).min();
            let edges = futures::future::select_all(
                self.lines
                    .iter_mut()
                    .map(|(_, events)| Box::pin(events.next())),
            );
            let first = tokio::select! {
                (edge, index, _) = edges => Some((index, edge)),
                () = sleep_until(due) => None,
                () = &mut closed => return,
            };
            // Every edge the kernel has queued goes in before any deadline is judged, so a
            // late wake-up cannot take a release it has not read yet for a held press.
            let queued = self
                .lines
                .iter_mut()
                .enumerate()
                .flat_map(|(index, (_, events))| {
                    std::iter::from_fn(move || {
                        events
                            .next()
                            .now_or_never()
                            .flatten()
                            .map(|e| (index, Some(e)))
                    })
                });
            let mut edges: Vec<_> = first.into_iter().collect();
            edges.extend(queued);
            for (index, edge) in edges {
                let button = self.lines[index].0;
                match edge {
                    Some(Ok(event)) => {
                        let at = Duration::from_nanos(event.timestamp()).min(monotonic_now());
                        let pressed = event.event_type() == EventType::RisingEdge;
                        log::debug!("gpio {button:?} button: edge at {at:?}, pressed {pressed}");
                        if debouncers[index].edge(at, pressed) {
                            press(button);
                        }
                    }
                    Some(Err(e)) => {
                        log::error!("gpio {button:?} button: {e}");
                        return;
                    }
                    None => return,
                }
            }
            let now = monotonic_now();
            for ((button, _), debouncer) in self.lines.iter().zip(&mut debouncers) {
                if debouncer.settled(now) {
                    press(*button);
                }
            }
        }
    }
}

/// CLOCK_MONOTONIC, the clock of the kernel's GPIO event instants (Linux 5.7 and later; an
/// older kernel's wall-clock instants are clamped to now, which judges them as they arrive).
fn monotonic_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(Duration::ZERO, Duration::from)
}

async fn sleep_until(at: Option<Duration>) {
    match at {
        Some(at) => tokio::time::sleep(at.saturating_sub(monotonic_now())).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gpio_error_names_the_chip_and_what_to_do() {
        let cases = [
            (
                GpioError::ChipNotFound {
                    chip: "pinctrl-bcm2711".into(),
                    present: vec!["/dev/gpiochip0 (pinctrl-bcm2835, 54 lines)".into()],
                },
                "gpio chip pinctrl-bcm2711: not found (present: /dev/gpiochip0 (pinctrl-bcm2835, 54 lines)); set the chip's label or path",
            ),
            (
                GpioError::LineNotFound {
                    chip: "9030000.pl061".into(),
                    line: LineRef::Name("CALL".into()),
                    names: vec!["0 BUTTON1".into(), "1 (unnamed)".into()],
                },
                "gpio chip 9030000.pl061: no line \"CALL\"; its lines are 0 BUTTON1, 1 (unnamed)",
            ),
            (
                GpioError::LineBusy {
                    chip: "pinctrl-bcm2835".into(),
                    line: LineRef::Offset(17),
                    consumer: "gpiomon".into(),
                },
                "gpio chip pinctrl-bcm2835: line 17 is busy, held by \"gpiomon\"; stop that program or pick another line",
            ),
            (
                GpioError::PermissionDenied {
                    chip: "/dev/gpiochip0".into(),
                },
                "gpio chip /dev/gpiochip0: permission denied; add the user running camloop to the `gpio` group (board/99-camloop-gpio.rules makes one where the OS has none)",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn a_chip_that_is_not_there_is_not_found_with_the_chips_present() {
        let config = LedConfig {
            chip: "no-such-chip".into(),
            line: LineRef::Offset(0),
            active_low: false,
        };
        assert!(matches!(
            open_led(&config),
            Err(GpioError::ChipNotFound { chip, .. }) if chip == "no-such-chip"
        ));
    }
}
