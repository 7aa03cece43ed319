//! One `[section]` of the config file, with typed getters whose errors name `section.key`.

use super::{ConfigError, LineRef};
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// How much of a value an error message shows.
const SHOWN_CHARS: usize = 60;

/// A value as an error shows it on its one line: control characters escaped (TOML's own
/// quoting leaves some, such as C1 controls), and cut after `SHOWN_CHARS` characters with its
/// length said.
pub(super) fn shown(value: &str) -> String {
    let escaped: String = value
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_debug().to_string(),
            false => c.to_string(),
        })
        .collect();
    cut(&escaped, value.chars().count())
}

/// A string value as an error shows it: quoted with Rust's escapes, then cut as [`shown`].
pub(super) fn quoted(text: &str) -> String {
    cut(&format!("{text:?}"), text.chars().count())
}

fn cut(escaped: &str, length: usize) -> String {
    if escaped.chars().count() <= SHOWN_CHARS {
        return escaped.to_string();
    }
    let cut: String = escaped.chars().take(SHOWN_CHARS).collect();
    format!("{cut}… ({length} characters in all)")
}

/// A sink kind: its prefix, what follows the colon (for errors), and how to make it.
type SinkKind<'k, T> = (&'k str, &'k str, fn(&str) -> T);

/// One `[section]` of the file, with typed getters whose errors name `section.key`.
pub(super) struct Section<'a> {
    pub(super) name: &'static str,
    table: Option<&'a toml::Table>,
}

impl<'a> Section<'a> {
    pub(super) fn new(
        root: &'a toml::Table,
        name: &'static str,
        keys: &[&str],
    ) -> Result<Self, ConfigError> {
        let table = match root.get(name) {
            None => None,
            Some(toml::Value::Table(t)) => Some(t),
            Some(other) => {
                return Err(ConfigError(format!(
                    "{name} = {other}: expected a section [{name}]"
                )));
            }
        };
        if let Some(unknown) = table.and_then(|t| t.keys().find(|k| !keys.contains(&k.as_str()))) {
            return Err(ConfigError(format!(
                "{name}.{unknown}: unknown key; known keys in [{name}] are {}",
                keys.join(", ")
            )));
        }
        Ok(Section { name, table })
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.table.and_then(|t| t.get(key))
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn invalid(
        &self,
        key: &str,
        value: &toml::Value,
        expected: impl std::fmt::Display,
    ) -> ConfigError {
        ConfigError(format!(
            "{}.{key} = {}: expected {expected}",
            self.name,
            shown(&value.to_string())
        ))
    }

    pub(super) fn number(
        &self,
        key: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        value
            .as_integer()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.invalid(key, value, format!("a whole number from {min} to {max}")))
    }

    pub(super) fn even_number(
        &self,
        key: &str,
        default: u32,
        range: RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let (min, max) = range.into_inner();
        let n = self.number(key, default, min, max)?;
        if n % 2 == 1 {
            let value = toml::Value::Integer(n.into());
            return Err(self.invalid(
                key,
                &value,
                format!("an even whole number from {min} to {max} (I420 needs even sizes)"),
            ));
        }
        Ok(n)
    }

    pub(super) fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        value
            .as_bool()
            .ok_or_else(|| self.invalid(key, value, "true or false"))
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            // A device name or path with a NUL cannot reach the system (ALSA's open panics on
            // one); no other control character belongs in one either.
            Some(value @ toml::Value::String(s)) if s.contains(char::is_control) => {
                Err(self.invalid(key, value, "a string without control characters"))
            }
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(value) => Err(self.invalid(key, value, "a string")),
        }
    }

    /// A string read by `parse`, whose error says what is wrong with it.
    pub(super) fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        parse(text)
            .map(Some)
            .map_err(|why| ConfigError(format!("{}.{key} = {}: {why}", self.name, quoted(text))))
    }

    pub(super) fn missing(&self, key: &str, when: &str) -> ConfigError {
        ConfigError(format!("{}.{key}: required {when}", self.name))
    }

    /// A GPIO line: an offset or a name.
    pub(super) fn line(&self, key: &str) -> Result<Option<LineRef>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(name)) if !name.is_empty() => {
                Ok(Some(LineRef::Name(name.clone())))
            }
            Some(value) => value
                .as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .map(|n| Some(LineRef::Offset(n)))
                .ok_or_else(|| self.invalid(key, value, "a line offset (17) or name (\"GPIO17\")")),
        }
    }

    pub(super) fn required_line(&self, key: &str) -> Result<LineRef, ConfigError> {
        self.line(key)?
            .ok_or_else(|| self.missing(key, &format!("in [{}]", self.name)))
    }

    /// A non-empty string.
    pub(super) fn text(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        match self.string(key)? {
            Some("") => Err(self.invalid(key, &toml::Value::String(String::new()), "a name")),
            other => Ok(other.unwrap_or(default).to_string()),
        }
    }

    pub(super) fn choice<T: Copy>(
        &self,
        key: &str,
        default: &str,
        options: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let wanted = self.string(key)?.unwrap_or(default);
        options
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.invalid(
                    key,
                    &toml::Value::String(wanted.into()),
                    format!("one of {}", names.join(", ")),
                )
            })
    }

    pub(super) fn optional_path(&self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        match self.string(key)? {
            Some("") => Err(self.invalid(key, &toml::Value::String(String::new()), "a file path")),
            other => Ok(other.map(PathBuf::from)),
        }
    }

    pub(super) fn path(&self, key: &str, default: &str) -> Result<PathBuf, ConfigError> {
        Ok(self
            .optional_path(key)?
            .unwrap_or_else(|| PathBuf::from(default)))
    }

    /// A sink written as `"KIND:WHERE"` (one of `kinds`; a kind with no WHERE stands alone) or
    /// `"none"`, the default.
    pub(super) fn sink<T>(
        &self,
        key: &str,
        kinds: &[SinkKind<'_, T>],
        none: T,
    ) -> Result<T, ConfigError> {
        let spec = self.string(key)?.unwrap_or("none");
        if spec == "none" {
            return Ok(none);
        }
        kinds
            .iter()
            .find_map(|(kind, what, make)| {
                if what.is_empty() {
                    return (spec == *kind).then(|| make(""));
                }
                let rest = spec.strip_prefix(kind)?.strip_prefix(':')?;
                (!rest.is_empty()).then(|| make(rest))
            })
            .ok_or_else(|| {
                let forms: Vec<String> = kinds
                    .iter()
                    .map(|(kind, what, _)| match *what {
                        "" => format!("\"{kind}\""),
                        what => format!("\"{kind}:{what}\""),
                    })
                    .collect();
                self.invalid(
                    key,
                    &toml::Value::String(spec.into()),
                    format!("{} or \"none\"", forms.join(", ")),
                )
            })
    }
}
