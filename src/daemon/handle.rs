//! What the rest of camloop holds of the owner task: its handle (inputs in, state and LED out,
//! its end) and the status it answers with.

use super::Input;
use crate::call::{Event, LedPattern, State};
use crate::stats::CallReport;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{oneshot, watch};

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub state: &'static str,
    pub call_enabled: bool,
    pub hangup_enabled: bool,
    pub led: LedPattern,
    /// Calls made since start.
    pub calls: u64,
    /// DTLS handshakes that stalled and were started again on new connections, since start.
    pub handshake_restarts: u64,
    /// Presses of a disabled button since start (traced at most once a second).
    pub ignored_presses: u64,
    /// Why the most recent failure happened (media or call), if one did.
    pub last_error: Option<String>,
    pub last_call: Option<CallReport>,
}

impl Status {
    /// This status as it will be once a shutdown under way has taken effect.
    pub fn stopping(self) -> Status {
        let stopping = State::Stopping;
        Status {
            state: stopping.name(),
            call_enabled: stopping.call_enabled(),
            hangup_enabled: stopping.hangup_enabled(),
            led: stopping.led(),
            ..self
        }
    }
}

/// A running daemon: send it inputs, watch its state, await its end.
pub struct DaemonHandle {
    pub inputs: UnboundedSender<Input>,
    pub state: watch::Receiver<State>,
    /// What the LED should show; the LED task follows it.
    pub led: watch::Receiver<LedPattern>,
    pub done: tokio::task::JoinHandle<Option<CallReport>>,
}

impl DaemonHandle {
    pub fn press(&self, event: Event) {
        let _ = self.inputs.send(Input::Event(event));
    }

    pub async fn status(&self) -> Option<Status> {
        ask_status(&self.inputs).await
    }

    /// Waits until the state satisfies `wanted`, up to `timeout`; returns the state then.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(State) -> bool,
    ) -> Result<State, State> {
        let result = tokio::time::timeout(timeout, self.state.wait_for(|s| wanted(*s)))
            .await
            .map(|r| r.map(|state| *state));
        match result {
            Ok(Ok(state)) => Ok(state),
            _ => Err(*self.state.borrow()),
        }
    }
}

/// The owner task's status, once it has handled every input sent before; none once it is gone.
pub async fn ask_status(inputs: &UnboundedSender<Input>) -> Option<Status> {
    let (tx, rx) = oneshot::channel();
    inputs.send(Input::Status(tx)).ok()?;
    rx.await.ok()
}
