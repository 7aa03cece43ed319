//! What systemd is told of camloop (`sd_notify(3)`, for `Type=notify`): `READY=1` once the state
//! first leaves Starting — to Ready or to Error, so a missing camera never has systemd restart
//! camloop in a loop — `STATUS=` with the state and the last error, and `WATCHDOG=1` only after
//! the owner task answered a status request: if it stalls, the pings stop and systemd restarts
//! the service.

use crate::call::State;
use crate::daemon::{self, Input, Status};
use sd_notify::NotifyState;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

/// How often the owner task is asked without a watchdog; with one, twice per its period.
const ASK_EVERY: Duration = Duration::from_secs(2);

/// One thing to tell systemd.
#[derive(Clone, Debug, PartialEq)]
pub enum Tell {
    Ready,
    Status(String),
    Watchdog,
}

/// What was told so far, so each message goes once (the watchdog ping every time).
#[derive(Default)]
pub struct Notifier {
    ready: bool,
    status: Option<String>,
}

impl Notifier {
    /// What to tell after one status request: `answer` is the owner task's reply, none when it
    /// did not answer in time.
    pub fn after(&mut self, answer: Option<&Status>, watchdog: bool) -> Vec<Tell> {
        let Some(status) = answer else {
            return Vec::new();
        };
        let mut tell = Vec::new();
        let text = match &status.last_error {
            Some(error) => format!("{}; last error: {error}", status.state),
            None => status.state.to_string(),
        };
        if self.status.as_ref() != Some(&text) {
            tell.push(Tell::Status(text.clone()));
            self.status = Some(text);
        }
        if !self.ready && status.state != State::Starting.name() {
            self.ready = true;
            tell.push(Tell::Ready);
        }
        if watchdog {
            tell.push(Tell::Watchdog);
        }
        tell
    }
}

/// Tells systemd how camloop is until the owner task ends; returns at once when camloop was
/// not started by systemd (no `NOTIFY_SOCKET`).
pub async fn notify(inputs: UnboundedSender<Input>, mut state: watch::Receiver<State>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog.map_or(ASK_EVERY, |period| (period / 2).min(ASK_EVERY));
    log::info!(
        "systemd: notifying{}",
        watchdog.map_or(String::new(), |p| format!(
            ", watchdog every {:.1} s",
            p.as_secs_f64()
        ))
    );
    let mut notifier = Notifier::default();
    let mut ticks = tokio::time::interval(every);
    let mut failed = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            // A state change is told at once, not at the next tick.
            changed = state.changed() => if changed.is_err() { break },
        }
        let answer = tokio::time::timeout(every, daemon::ask_status(&inputs)).await;
        if answer.is_err() {
            log::warn!("systemd: the owner task did not answer within {every:?}; no watchdog ping");
        }
        let told = notifier.after(answer.ok().flatten().as_ref(), watchdog.is_some());
        if let Err(e) = send(&told) {
            if !failed {
                log::warn!("systemd: cannot notify: {e}");
            }
            failed = true;
        }
        if inputs.is_closed() {
            break;
        }
    }
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

fn send(told: &[Tell]) -> std::io::Result<()> {
    if told.is_empty() {
        return Ok(());
    }
    let states: Vec<NotifyState> = told
        .iter()
        .map(|tell| match tell {
            Tell::Ready => NotifyState::Ready,
            Tell::Status(text) => NotifyState::Status(text),
            Tell::Watchdog => NotifyState::Watchdog,
        })
        .collect();
    sd_notify::notify(&states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::LedPattern;

    fn status(state: State, last_error: Option<&str>) -> Status {
        Status {
            state: state.name(),
            call_enabled: false,
            hangup_enabled: false,
            led: LedPattern::Off,
            calls: 0,
            handshake_restarts: 0,
            ignored_presses: 0,
            last_error: last_error.map(String::from),
            last_call: None,
        }
    }

    #[test]
    fn ready_once_the_state_leaves_starting_even_for_an_error() {
        let mut notifier = Notifier::default();
        assert_eq!(
            notifier.after(Some(&status(State::Starting, None)), false),
            [Tell::Status("starting".into())]
        );
        let error = State::Error(crate::call::Failure::Media);
        assert_eq!(
            notifier.after(
                Some(&status(error, Some("camera /dev/video0: gone"))),
                false
            ),
            [
                Tell::Status("error; last error: camera /dev/video0: gone".into()),
                Tell::Ready
            ]
        );
        assert_eq!(
            notifier.after(Some(&status(State::Ready, None)), false),
            [Tell::Status("ready".into())],
            "READY=1 goes once"
        );
        assert_eq!(notifier.after(Some(&status(State::Ready, None)), false), []);
    }

    #[test]
    fn the_watchdog_is_pinged_only_when_the_owner_task_answered() {
        let mut notifier = Notifier::default();
        let ready = status(State::Ready, None);
        assert!(notifier.after(Some(&ready), true).contains(&Tell::Watchdog));
        assert_eq!(notifier.after(Some(&ready), true), [Tell::Watchdog]);
        assert_eq!(notifier.after(None, true), []);
    }
}
