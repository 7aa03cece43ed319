//! What the buttons do, and the buttons that are not GPIO: the terminal's keys and the demo's
//! script. GPIO buttons are in `gpio`.

use crate::call::{Button, Event, State};
use crate::daemon::{DaemonHandle, Input};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use std::io::{IsTerminal, Read};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What a button task may do to the daemon: press, and nothing else.
pub struct ButtonHandle {
    inputs: UnboundedSender<Input>,
}

impl ButtonHandle {
    pub fn new(daemon: &DaemonHandle) -> Self {
        ButtonHandle {
            inputs: daemon.inputs.clone(),
        }
    }

    pub fn press(&self, button: Button) {
        log::debug!("button {button:?} pressed");
        let _ = self.inputs.send(Input::Event(button.pressed()));
    }

    /// Completes when the daemon has gone.
    pub async fn closed(&self) {
        self.inputs.closed().await
    }
}

/// Reads keys from standard input: `c` Call, `h` Hangup, `q` quit. On a terminal, keys act
/// without Enter; the terminal is restored when the thread ends.
pub fn keyboard(inputs: UnboundedSender<Input>) {
    let spawned = std::thread::Builder::new()
        .name("keyboard".into())
        .spawn(move || {
            let _raw = RawTerminal::enter();
            let mut byte = [0u8; 1];
            while let Ok(1) = std::io::stdin().read(&mut byte) {
                let event = match byte[0] {
                    b'c' | b'C' => Event::CallPressed,
                    b'h' | b'H' => Event::HangupPressed,
                    b'q' | b'Q' | 3 | 4 => Event::Shutdown,
                    _ => continue,
                };
                let quit = event == Event::Shutdown;
                if inputs.send(Input::Event(event)).is_err() || quit {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("keyboard buttons unavailable: {e}");
    }
}

/// Non-canonical, no-echo mode on a terminal stdin, undone on drop.
struct RawTerminal(Option<Termios>);

impl RawTerminal {
    fn enter() -> RawTerminal {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawTerminal(None);
        }
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return RawTerminal(None);
        };
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        // A terminal that refuses keeps its mode: keys then need Enter, which still works.
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawTerminal(Some(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// The demo's script: Call once Ready, Hangup `duration` after Connected, then quit.
/// An error says why the call did not connect or ended before its Hangup.
pub async fn press_call_then_hangup(
    daemon: &mut DaemonHandle,
    duration: Duration,
    connect_timeout: Duration,
) -> Result<(), String> {
    let outcome = call_then_hangup(daemon, duration, connect_timeout).await;
    let outcome = match outcome {
        Ok(()) => Ok(()),
        Err(what) => {
            let why = if *daemon.state.borrow() == State::Stopping {
                Some("camloop was told to stop (a signal or quit)".into())
            } else {
                daemon.status().await.and_then(|s| s.last_error)
            };
            Err(format!(
                "{what}: {}",
                why.as_deref().unwrap_or("no error was reported")
            ))
        }
    };
    let _ = daemon
        .wait_for(Duration::from_secs(10), |s| {
            matches!(s, State::Ready | State::Error(_))
        })
        .await;
    daemon.press(Event::Shutdown);
    outcome
}

async fn call_then_hangup(
    daemon: &mut DaemonHandle,
    duration: Duration,
    connect_timeout: Duration,
) -> Result<(), String> {
    let ready = daemon
        .wait_for(Duration::from_secs(30), |s| s == State::Ready)
        .await;
    if let Err(state) = ready {
        return Err(format!(
            "the local stream did not become ready (state: {})",
            state.name()
        ));
    }
    daemon.press(Event::CallPressed);
    let connected = daemon
        .wait_for(connect_timeout + Duration::from_secs(5), |s| {
            !matches!(s, State::Ready | State::Connecting { .. })
        })
        .await;
    match connected {
        Ok(State::Connected) => {}
        Ok(state) | Err(state) => {
            return Err(format!(
                "the call did not connect (state: {})",
                state.name()
            ));
        }
    }
    let connected_at = std::time::Instant::now();
    match daemon.wait_for(duration, |s| s != State::Connected).await {
        Err(_) => {
            daemon.press(Event::HangupPressed);
            Ok(())
        }
        Ok(state) => Err(format!(
            "the call ended {:.1} s after connecting, before its Hangup (state: {})",
            connected_at.elapsed().as_secs_f64(),
            state.name()
        )),
    }
}
