//! Buttons that are not GPIO: the terminal's keys, and the demo's script.

use crate::call::{Event, State};
use crate::daemon::{DaemonHandle, Input};
use std::io::Read;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

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
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> RawTerminal {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own; failure leaves it untouched.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawTerminal(None);
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return RawTerminal(None);
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// The demo's script: Call once Ready, Hangup `duration` after Connected, then quit.
/// Returns whether the call connected.
pub async fn press_call_then_hangup(
    daemon: &mut DaemonHandle,
    duration: Duration,
    connect_timeout: Duration,
) -> bool {
    let ready = daemon
        .wait_for(Duration::from_secs(30), |s| s == State::Ready)
        .await;
    if let Err(state) = ready {
        log::error!(
            "the local stream did not become ready (state: {})",
            state.name()
        );
        daemon.press(Event::Shutdown);
        return false;
    }
    daemon.press(Event::CallPressed);
    let connected = daemon
        .wait_for(connect_timeout + Duration::from_secs(5), |s| {
            !matches!(s, State::Ready | State::Connecting { .. })
        })
        .await;
    let connected = connected == Ok(State::Connected);
    if connected {
        let ended = daemon.wait_for(duration, |s| s != State::Connected).await;
        if ended.is_err() {
            daemon.press(Event::HangupPressed);
        }
    }
    let _ = daemon
        .wait_for(Duration::from_secs(10), |s| {
            matches!(s, State::Ready | State::Error(_))
        })
        .await;
    daemon.press(Event::Shutdown);
    connected
}
