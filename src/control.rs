//! The control socket: a line per command (`call`, `hangup`, `status`, `quit`), a line of JSON
//! back for each, in order. This is how `camloop ctl`, scripts and the board test drive the
//! daemon. It is built for a local user who may be hostile: bounded lines, a deadline on every
//! read and write (a client that sends nothing or takes no answer is dropped), slots shared
//! fairly between users (`clients.rs`), a listener that outlives accept errors, mode 0660
//! whatever the umask.

use crate::call::Event;
use crate::daemon::{DaemonHandle, Input};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::UnboundedSender;

mod client;
mod clients;
pub use client::{MAX_REPLY, Reply, reply, send};
use clients::{Clients, Dropped, MAX_CLIENTS, MAX_PER_USER, Slot};

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
    #[error("control socket {path}: the daemon stayed busy with other clients: {answer}")]
    Busy { path: PathBuf, answer: String },
    #[error(
        "control socket {path}: the answer is longer than {MAX_REPLY} bytes; is a camloop daemon on it?"
    )]
    TooLong { path: PathBuf },
    #[error(
        "control socket {path}: no answer within {timeout:?}; the daemon on it is stuck or stopped (try again with a longer --timeout)"
    )]
    NoAnswer { path: PathBuf, timeout: Duration },
    #[error(
        "control socket {path}: another camloop is running on it; stop it or set another [control] socket"
    )]
    InUse { path: PathBuf },
    #[error(
        "control socket {path}: a socket of user {owner} that nothing answers on is there; camloop replaces only its own user's: remove it or set another [control] socket"
    )]
    NotOurs { path: PathBuf, owner: u32 },
    #[error(
        "control socket {path}: {found} is there, not a socket; camloop does not remove it: move it away or set another [control] socket"
    )]
    NotASocket { path: PathBuf, found: &'static str },
}

/// `debug-stall` is carried out only with `[control] debug_commands = true`.
pub const COMMANDS: &[&str] = &["call", "hangup", "status", "quit", "debug-stall"];
const STALL_REFUSED: &str = "debug-stall hangs the daemon, to test systemd's watchdog; it is off unless [control] debug_commands = true";
/// The longest request line; a longer one gets an error and the connection is closed.
pub const MAX_REQUEST: usize = 4096;
/// A client has this long to send each line and to take each answer, or it is dropped.
const DEADLINE: Duration = Duration::from_secs(5);
/// After an accept error (out of file descriptors, say) the listener waits this long and goes on.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Owner and group may drive the daemon, whatever the umask.
const SOCKET_MODE: u32 = 0o660;

/// Serves the socket until the daemon ends; the socket file is removed on drop of the guard.
pub struct ControlServer {
    path: PathBuf,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// With `debug_commands`, `debug-stall` is carried out; without, it is refused.
pub fn serve(
    path: &Path,
    daemon: &DaemonHandle,
    debug_commands: bool,
) -> Result<ControlServer, ControlError> {
    let listener = bind(path)?;
    let inputs = daemon.inputs.clone();
    let clients = Clients::default();
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    log::warn!("control socket: accept: {e}; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            // A client whose user cannot be read shares one user's slots with all such.
            let user = stream.peer_cred().map_or(u32::MAX, |c| c.uid());
            match clients.admit(user) {
                Ok(slot) => {
                    let client = Client {
                        slot,
                        clients: clients.clone(),
                        inputs: inputs.clone(),
                        debug_commands,
                    };
                    tokio::spawn(client.answer(stream));
                }
                Err(reason) => {
                    note_dropped(&clients, reason, user);
                    tokio::spawn(refuse(stream, reason));
                }
            }
        }
    });
    Ok(ControlServer {
        path: path.to_owned(),
    })
}

/// The listening socket at `path`, mode 0660. A stale socket there is replaced; anything else
/// (a live daemon's socket, a file, a folder) is an error naming it, and is left alone.
fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let listen_error = |source| ControlError::Listen {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    make_folders(dir).map_err(listen_error)?;
    match std::fs::symlink_metadata(path) {
        Ok(found) if found.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse {
                    path: path.to_owned(),
                });
            }
            // Left by a daemon that died; only one of this user's is camloop's to replace.
            let owner = found.uid();
            if owner != crate::sys::effective_uid() {
                return Err(ControlError::NotOurs {
                    path: path.to_owned(),
                    owner,
                });
            }
            std::fs::remove_file(path).map_err(listen_error)?;
        }
        Ok(found) => {
            return Err(ControlError::NotASocket {
                path: path.to_owned(),
                found: if found.is_dir() {
                    "a folder"
                } else if found.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "a file"
                },
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_error(e)),
    }
    // Bound under a temporary name and given its mode before it appears at `path`: at no moment
    // does the umask's mode let others in. The name is random: one derived from the PID could
    // be planted beforehand in a shared folder.
    let temporary = crate::files::temporary_beside(path);
    let listener = std::os::unix::net::UnixListener::bind(&temporary).map_err(listen_error)?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(SOCKET_MODE))
        .and_then(|()| std::fs::rename(&temporary, path))
        .and_then(|()| listener.set_nonblocking(true));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(listen_error(e));
    }
    UnixListener::from_std(listener).map_err(listen_error)
}

/// Creates `dir` and the folders missing above it, whatever the umask: the socket's own folder
/// 0750 (its group reaches the socket), those above it 0710 (the group may pass, not list).
fn make_folders(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists())
        .collect();
    for folder in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(folder) {
            // Made by someone else meanwhile: theirs, with their mode.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            made => made?,
        }
        let mode = if folder == dir { 0o750 } else { 0o710 };
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn error_reply(message: &str) -> String {
    format!("{}\n", serde_json::json!({ "error": message }))
}

fn note_dropped(clients: &Clients, reason: Dropped, user: u32) {
    if let Some(line) = clients.dropped(reason, user, Instant::now()) {
        log::warn!("{line}");
    }
}

/// Tells a client turned away why; `"busy": true` tells `camloop ctl` to try again.
async fn refuse(mut stream: UnixStream, reason: Dropped) {
    let why = match reason {
        Dropped::UserBusy => format!(
            "busy: your user has {MAX_PER_USER} connections open to camloop; close one or try again"
        ),
        _ => format!("busy: {MAX_CLIENTS} clients are connected; try again"),
    };
    let reply = serde_json::json!({ "error": why, "busy": true });
    let _ = tokio::time::timeout(DEADLINE, stream.write_all(format!("{reply}\n").as_bytes())).await;
}

/// One connected client, holding its slot until it is dropped.
struct Client {
    slot: Slot,
    clients: Clients,
    inputs: UnboundedSender<Input>,
    debug_commands: bool,
}

impl Client {
    /// Answers each request line in order, until the client closes, misses a deadline, sends
    /// a line too long, or quits.
    async fn answer(self, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            let mut line = Vec::new();
            let mut limited = (&mut read).take(MAX_REQUEST as u64 + 1);
            match tokio::time::timeout(DEADLINE, limited.read_until(b'\n', &mut line)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Err(_) => return self.dropped(Dropped::Idle),
                Ok(Ok(_)) => {}
            }
            if line.len() > MAX_REQUEST {
                let message = format!("request longer than {MAX_REQUEST} bytes");
                let _ = self.send(&mut write, &error_reply(&message)).await;
                let _ = write.shutdown().await;
                // Closing with the rest unread would reset the connection and lose the answer:
                // the rest is read and dropped, for a bounded time.
                let mut sink = tokio::io::sink();
                let _ = tokio::time::timeout(DEADLINE, tokio::io::copy(&mut read, &mut sink)).await;
                return self.dropped(Dropped::TooLong);
            }
            let (reply, after) = match parse_request(&line) {
                Ok(Request::Stall) if !self.debug_commands => (error_reply(STALL_REFUSED), None),
                Ok(Request::Stall) => {
                    let _ = self.inputs.send(Input::Stall);
                    ("{\"stalling\":true}\n".to_string(), None)
                }
                Ok(request) => self.carry_out(request).await,
                Err(message) => (error_reply(&message), None),
            };
            match self.send(&mut write, &reply).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => return self.dropped(Dropped::Unread),
            }
            if let Some(event) = after {
                // `quit` is answered before it is carried out: once the daemon stops, nobody
                // would.
                let _ = write.shutdown().await;
                let _ = self.inputs.send(Input::Event(event));
                break;
            }
        }
    }

    /// Writes one answer within the deadline: the outer error is the deadline missed.
    async fn send(
        &self,
        write: &mut (impl AsyncWrite + Unpin),
        reply: &str,
    ) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
        tokio::time::timeout(DEADLINE, write.write_all(reply.as_bytes())).await
    }

    fn dropped(self, reason: Dropped) {
        note_dropped(&self.clients, reason, self.slot.user());
    }

    /// One request: the reply line, and what to do once it is sent.
    async fn carry_out(&self, request: Request) -> (String, Option<Event>) {
        let (before, after) = match request {
            Request::Call => (Some(Event::CallPressed), None),
            Request::Hangup => (Some(Event::HangupPressed), None),
            Request::Quit => (None, Some(Event::Shutdown)),
            Request::Status | Request::Stall => (None, None),
        };
        if let Some(event) = before {
            let _ = self.inputs.send(Input::Event(event));
        }
        // Inputs are handled in order, so this status reflects the command just sent.
        let json = match crate::daemon::ask_status(&self.inputs).await {
            Some(status) => {
                let status = if after.is_some() {
                    status.stopping()
                } else {
                    status
                };
                let mut json = serde_json::to_value(&status).unwrap_or_default();
                json["control_clients_dropped"] =
                    serde_json::to_value(self.clients.dropped_counts()).unwrap_or_default();
                json
            }
            None => serde_json::json!({ "state": "stopped" }),
        };
        (format!("{json}\n"), after)
    }
}

/// What a client may ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Call,
    Hangup,
    Status,
    Quit,
    /// Hangs the owner task (with `[control] debug_commands` only).
    Stall,
}

/// One request line (without its length check), or the error to answer it with: short, and
/// quoting at most 40 characters of what was sent.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text =
        std::str::from_utf8(line).map_err(|_| "the request is not UTF-8 text".to_string())?;
    match text.trim() {
        "call" => Ok(Request::Call),
        "hangup" => Ok(Request::Hangup),
        "status" => Ok(Request::Status),
        "quit" => Ok(Request::Quit),
        "debug-stall" => Ok(Request::Stall),
        other => {
            let mut shown: String = other.chars().take(40).collect();
            if shown.len() < other.len() {
                shown.push('…');
            }
            Err(format!(
                "unknown command {shown:?}; expected one of {}",
                COMMANDS.join(", ")
            ))
        }
    }
}
