//! `camloop ctl`'s side of the control socket: one command sent, one answer read back, and
//! nothing of that answer trusted: bounded in size, printed only with its controls escaped.

use super::ControlError;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The longest answer `camloop ctl` reads: a status with its call's report is a few KiB.
pub const MAX_REPLY: usize = 1 << 20;
/// How much of an answer that is not the daemon's an error shows.
const SHOWN_REPLY: usize = 200;

/// How long ctl waits before asking again a daemon whose slots are all taken.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Sends one command and returns the daemon's one-line answer, waiting at most `timeout`; a
/// daemon busy with other clients is asked again until then.
pub async fn send(path: &Path, command: &str, timeout: Duration) -> Result<String, ControlError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, exchange(path, command)).await {
            Err(_) => {
                return Err(ControlError::NoAnswer {
                    path: path.to_owned(),
                    timeout,
                });
            }
            Ok(Err(ControlError::Busy { answer, .. }))
                if tokio::time::Instant::now() + BUSY_RETRY < deadline =>
            {
                log::debug!("{answer}; asking again");
                tokio::time::sleep(BUSY_RETRY).await;
            }
            Ok(answer) => return answer,
        }
    }
}

async fn exchange(path: &Path, command: &str) -> Result<String, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|source| ControlError::Connect {
            path: path.to_owned(),
            source,
        })?;
    // A daemon that turns ctl away answers and closes without reading: the write may fail,
    // and the answer is still there to read.
    let written = stream.write_all(format!("{command}\n").as_bytes()).await;
    // Read as bytes up to one past the bound: whatever is on the socket cannot make ctl hold
    // more than that, and nothing it sent reaches the terminal unescaped.
    let mut answer = Vec::new();
    let read = BufReader::new(stream.take(MAX_REPLY as u64 + 1))
        .read_until(b'\n', &mut answer)
        .await;
    if answer.is_empty() {
        written.map_err(io)?;
    }
    read.map_err(io)?;
    match reply(&answer) {
        Reply::Answer(answer) => Ok(answer),
        Reply::Refused(answer) => Err(ControlError::Refused {
            path: path.to_owned(),
            answer,
        }),
        Reply::Busy(answer) => Err(ControlError::Busy {
            path: path.to_owned(),
            answer,
        }),
        Reply::TooLong => Err(ControlError::TooLong {
            path: path.to_owned(),
        }),
    }
}

/// What `camloop ctl` makes of what it read: the daemon's answer, printable, or why not.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// JSON with its control characters escaped.
    Answer(String),
    /// An error from the daemon, or what is not one of its answers: printable too.
    Refused(String),
    /// The daemon's slots are taken: worth asking again.
    Busy(String),
    /// Past `MAX_REPLY`.
    TooLong,
}

pub fn reply(answer: &[u8]) -> Reply {
    if answer.len() > MAX_REPLY {
        return Reply::TooLong;
    }
    let text = String::from_utf8_lossy(answer);
    let text = text.trim();
    if text.is_empty() {
        return Reply::Refused("nothing (it closed the connection; did it exit?)".into());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.get("error").is_none() => Reply::Answer(printable_json(&value)),
        Ok(value) if value["busy"] == true => Reply::Busy(printable_json(&value)),
        Ok(value) => Reply::Refused(printable_json(&value)),
        Err(_) => Reply::Refused(shown(text)),
    }
}

/// JSON with every control character escaped, C1 and DEL included, which serde_json leaves
/// raw in strings: a terminal may act on them.
fn printable_json(value: &serde_json::Value) -> String {
    escape_controls(&value.to_string())
}

/// Text that is not the daemon's, cut to `SHOWN_REPLY` characters, controls escaped.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(SHOWN_REPLY).collect();
    let more = text.chars().count().saturating_sub(SHOWN_REPLY);
    let cut = cut.escape_debug().to_string();
    if more > 0 {
        format!("{cut}… ({more} characters more)")
    } else {
        cut
    }
}

/// Control characters as `\uXXXX`: inside a JSON string, the same string.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}
