//! The control socket: one command per connection (`call`, `hangup`, `status`, `quit`), one
//! line of JSON back. This is how `camloop ctl`, scripts and the board test drive the daemon.

use crate::call::Event;
use crate::daemon::{DaemonHandle, Input};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "control socket {path}: cannot listen: {source}; set [control] socket to a writable path"
    )]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "control socket {path}: cannot connect: {source}; is `camloop run` running with this socket?"
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: the daemon answered: {answer}")]
    Refused { path: PathBuf, answer: String },
}

pub const COMMANDS: &[&str] = &["call", "hangup", "status", "quit"];

/// Serves the socket until the daemon ends; the socket file is removed on drop of the guard.
pub struct ControlServer {
    path: PathBuf,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn serve(path: &Path, daemon: &DaemonHandle) -> Result<ControlServer, ControlError> {
    let listen_error = |source| ControlError::Listen {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(listen_error)?;
    }
    // A socket file left by a daemon that died is in the way; a live daemon's answers.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(listen_error)?;
    let inputs = daemon.inputs.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, inputs.clone()));
        }
    });
    Ok(ControlServer {
        path: path.to_owned(),
    })
}

async fn answer(stream: UnixStream, inputs: UnboundedSender<Input>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    // `quit` is answered before it is carried out: once the daemon stops, nobody would answer.
    let (before, after) = match line.trim() {
        "call" => (Some(Event::CallPressed), None),
        "hangup" => (Some(Event::HangupPressed), None),
        "quit" => (None, Some(Event::Shutdown)),
        "status" => (None, None),
        other => {
            let reply = serde_json::json!({ "error": format!("unknown command {other:?}; expected one of {}", COMMANDS.join(", ")) });
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
            return;
        }
    };
    if let Some(event) = before {
        let _ = inputs.send(Input::Event(event));
    }
    // Inputs are handled in order, so this status reflects the command just sent.
    let (tx, rx) = oneshot::channel();
    let reply = match inputs.send(Input::Status(tx)) {
        Ok(()) => rx.await.ok(),
        Err(_) => None,
    };
    let json = match reply {
        Some(status) if after.is_some() => serde_json::to_string(&status.stopping()),
        Some(status) => serde_json::to_string(&status),
        None => Ok(serde_json::json!({ "state": "stopped" }).to_string()),
    };
    let _ = write
        .write_all(format!("{}\n", json.unwrap_or_default()).as_bytes())
        .await;
    let _ = write.shutdown().await;
    if let Some(event) = after {
        let _ = inputs.send(Input::Event(event));
    }
}

/// Sends one command and returns the daemon's one-line answer.
pub async fn send(path: &Path, command: &str) -> Result<String, ControlError> {
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
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .await
        .map_err(io)?;
    let answer = answer.trim().to_owned();
    if answer.is_empty() {
        return Err(ControlError::Refused {
            path: path.to_owned(),
            answer: "nothing (it closed the connection; did it exit?)".into(),
        });
    }
    let refused = serde_json::from_str::<serde_json::Value>(&answer)
        .map_or(true, |v| v.get("error").is_some());
    if refused {
        return Err(ControlError::Refused {
            path: path.to_owned(),
            answer,
        });
    }
    Ok(answer)
}
