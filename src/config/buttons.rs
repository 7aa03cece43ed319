//! `[buttons]`: where Call and Hangup come from, and with `source = "gpio"` the chip, the lines
//! and how they are wired, checked together (toggle mode has no Hangup line).

use super::section::Section;
use super::{ButtonSource, ConfigError, GpioButtons};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum SourceKind {
    Keyboard,
    Gpio,
    None,
}

pub(super) fn button_source(section: &Section<'_>) -> Result<ButtonSource, ConfigError> {
    let kinds = [
        ("keyboard", SourceKind::Keyboard),
        ("gpio", SourceKind::Gpio),
        ("none", SourceKind::None),
    ];
    Ok(match section.choice("source", "none", &kinds)? {
        SourceKind::Keyboard => ButtonSource::Keyboard,
        SourceKind::None => ButtonSource::None,
        SourceKind::Gpio => {
            let toggle = section.choice("mode", "two", &[("two", false), ("toggle", true)])?;
            let hangup = match (toggle, section.line("hangup")?) {
                (false, Some(line)) => Some(line),
                (false, None) => return Err(section.missing("hangup", "with mode = \"two\"")),
                (true, Some(_)) => {
                    return Err(ConfigError(
                        "buttons.hangup: not used with mode = \"toggle\" (the call button does both); remove it".into(),
                    ));
                }
                (true, None) => None,
            };
            let call = section.required_line("call")?;
            if hangup.as_ref() == Some(&call) {
                return Err(ConfigError(format!(
                    "buttons.hangup: {call} is the Call button's too; give each button a line of its own, or mode = \"toggle\" for one button"
                )));
            }
            ButtonSource::Gpio(GpioButtons {
                chip: section
                    .string("chip")?
                    .ok_or_else(|| section.missing("chip", "with source = \"gpio\""))?
                    .to_string(),
                call,
                hangup,
                active_low: section.boolean("active_low", true)?,
                debounce: Duration::from_millis(section.number("debounce_ms", 30, 1, 1000)?.into()),
            })
        }
    })
}
