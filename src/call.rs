//! The call: the loopback sample's page as a pure state machine.
//!
//! ```text
//!            MediaReady                 CallPressed
//! Starting ─────────────▶ Ready ─────────────────────▶ Connecting
//!    │  ▲                   ▲ ▲  HangupPressed             │  │
//!    │  │ Call (media)      │ └────────────────────────────┘  │ FirstRemoteFrame
//!    │  │                   │        HangupPressed            ▼
//!    │  └──── Error ────────┴──────────────────────────── Connected
//!    └─MediaFailed─▶ ▲  ◀── PeerFailed, OutputFailed, MediaFailed, connect timeout
//! ```
//!
//! Every failure comes as a [`Fault`] whose kind decides what follows. A transient media
//! failure (a camera unplugged, a module not loaded yet) opens the media again every
//! `media_retry` until it works; one that needs a change (a permission, a format the camera does
//! not offer) or is camloop's own waits, as every failed call does, for Call (which retries at
//! once), Hangup or a new configuration. The trace and the status say which.
//!
//! A DTLS handshake that has not finished `HANDSHAKE_STALL` after ICE connected is started
//! again on new connections, within the same connect deadline: rtc-dtls 0.21.1 drops its
//! retransmit timer when the peer repeats a flight it already answered, so one lost last flight
//! of the client stalls the handshake until the server gives up (`tests/network.rs` shows it).
//!
//! A new camera or microphone configuration (SIGHUP) reopens the media at once when no call is
//! up, and when the call ends otherwise: a call in progress keeps what it started with.
//!
//! Events go in with the time passed in; commands come out. No clock, no devices, no runtime:
//! the daemon carries the commands out and feeds back what happened. Buttons follow the sample's
//! enable rules, and a press on a disabled button is traced and ignored like a click on a
//! disabled HTML button.

use crate::fault::{Fault, FaultKind};
use std::time::Duration;

/// What the LED shows; each state has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedPattern {
    Off,
    On,
    FastBlink,
    SlowHeartbeat,
    DoubleBlink,
}

/// What failed, so that Call in the Error state retries exactly that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Media,
    Peers,
    /// The display or speaker of the call could not be opened or written.
    Output,
    /// An encoder or decoder of the call would not start or stopped working.
    Codec,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::Media => "Media error",
            Failure::Peers => "Call failed",
            Failure::Output => "Output error",
            Failure::Codec => "Codec error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Camera and microphone are being opened.
    Starting,
    /// Media is open; Call is enabled.
    Ready,
    /// Offer, answer, ICE and DTLS under way; gives up at `deadline`.
    Connecting { deadline: Duration },
    /// Remote media is arriving.
    Connected,
    /// Something failed; Call retries it, Hangup clears it.
    Error(Failure),
    /// Shutting down; every button is disabled.
    Stopping,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Connecting { .. } => "connecting",
            State::Connected => "connected",
            State::Error(_) => "error",
            State::Stopping => "stopping",
        }
    }

    pub fn led(self) -> LedPattern {
        match self {
            State::Starting | State::Connecting { .. } => LedPattern::FastBlink,
            State::Ready => LedPattern::SlowHeartbeat,
            State::Connected => LedPattern::On,
            State::Error(_) => LedPattern::DoubleBlink,
            State::Stopping => LedPattern::Off,
        }
    }

    pub fn call_enabled(self) -> bool {
        matches!(self, State::Ready | State::Error(_))
    }

    pub fn hangup_enabled(self) -> bool {
        matches!(
            self,
            State::Connecting { .. } | State::Connected | State::Error(_)
        )
    }

    /// Whether peer connections exist in this state and must be closed on leaving it.
    fn has_peers(self) -> bool {
        matches!(self, State::Connecting { .. } | State::Connected)
    }
}

/// A button of the board. `Toggle` is the one button of `mode = "toggle"`: the machine makes
/// its press Call when Call is enabled, else Hangup, from the state it is in at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    Call,
    Hangup,
    Toggle,
}

impl Button {
    pub fn pressed(self) -> Event {
        match self {
            Button::Call => Event::CallPressed,
            Button::Hangup => Event::HangupPressed,
            Button::Toggle => Event::TogglePressed,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    MediaReady,
    MediaFailed(Fault),
    CallPressed,
    HangupPressed,
    /// The toggle button: Call or Hangup, whichever is enabled.
    TogglePressed,
    IceState(String),
    /// ICE has connected: the DTLS handshake is under way.
    IceConnected,
    PeerConnected,
    PeerFailed(Fault),
    OutputFailed(Fault),
    CodecFailed(Fault),
    FirstRemoteFrame,
    /// The camera or microphone configuration has changed.
    MediaChanged,
    Tick,
    Shutdown,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    StartMedia,
    ConnectPeers,
    /// The call's connections closed and made anew, the call itself going on.
    RestartPeers,
    ClosePeers,
    SetLed(LedPattern),
    Trace(String),
    /// The call or the media failed, and why: the daemon's status shows it until it recovers.
    Failed(String),
    Exit,
}

/// How long a DTLS handshake may take after ICE connected before it is started again. A lost
/// flight is sent again after 1 s, then 2 s: two losses in a row still finish within it.
pub const HANDSHAKE_STALL: Duration = Duration::from_secs(5);

/// The call state machine. Construct with [`Call::start`], then feed it events.
#[derive(Debug)]
pub struct Call {
    state: State,
    connect_timeout: Duration,
    /// How long after a media failure the media is opened again.
    media_retry: Duration,
    /// When the next media retry is due; `None` while one is under way (or none is needed).
    retry_at: Option<Duration>,
    /// A StartMedia has gone out and its MediaReady or MediaFailed not come back yet.
    media_opening: bool,
    /// The media configuration changed during a call: reopen the media when it ends.
    reopen_after_call: bool,
    /// While connecting: when the DTLS handshake under way counts as stalled.
    handshake_by: Option<Duration>,
    /// The current connections' handshake is done: a late ICE report arms nothing.
    handshake_done: bool,
    /// Handshakes started again since start.
    handshake_restarts: u64,
    /// Presses of a disabled button since start.
    ignored_presses: u64,
    /// When an ignored press was last traced, and how many have not been since.
    ignored_traced_at: Option<Duration>,
    ignored_untraced: u64,
}

/// Ignored presses are traced at most once in this long: a bouncing or held button, or a
/// script, can press thousands of times a second.
const IGNORED_TRACE_EVERY: Duration = Duration::from_secs(1);

impl Call {
    /// A new call in Starting, with the commands that open the media.
    pub fn start(connect_timeout: Duration, media_retry: Duration) -> (Call, Vec<Command>) {
        let call = Call {
            state: State::Starting,
            connect_timeout,
            media_retry,
            retry_at: None,
            media_opening: true,
            reopen_after_call: false,
            handshake_by: None,
            handshake_done: false,
            handshake_restarts: 0,
            ignored_presses: 0,
            ignored_traced_at: None,
            ignored_untraced: 0,
        };
        let commands = vec![
            Command::Trace("Requesting local stream".into()),
            Command::StartMedia,
            Command::SetLed(State::Starting.led()),
        ];
        (call, commands)
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// DTLS handshakes started again because they stalled, since start.
    pub fn handshake_restarts(&self) -> u64 {
        self.handshake_restarts
    }

    /// Presses of a disabled button, since start.
    pub fn ignored_presses(&self) -> u64 {
        self.ignored_presses
    }

    /// Counts a press of a disabled button and traces it, at most once a second, with the
    /// number left untraced since the last such line.
    fn ignore(&mut self, now: Duration, button: &str, out: &mut Vec<Command>) {
        self.ignored_presses += 1;
        let due = self
            .ignored_traced_at
            .is_none_or(|at| now >= at + IGNORED_TRACE_EVERY);
        if !due {
            self.ignored_untraced += 1;
            return;
        }
        let untraced = match std::mem::take(&mut self.ignored_untraced) {
            0 => String::new(),
            n => format!(" ({n} more ignored presses since the last such line)"),
        };
        self.ignored_traced_at = Some(now);
        out.push(Command::Trace(format!(
            "{button} pressed while {}: ignored{untraced}",
            self.state.name()
        )));
    }

    /// New timeouts from a reloaded configuration, for the next call and the next media retry.
    pub fn retime(&mut self, connect_timeout: Duration, media_retry: Duration) {
        self.connect_timeout = connect_timeout;
        self.media_retry = media_retry;
    }

    /// The next instant at which the machine needs a [`Event::Tick`], if any.
    pub fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Connecting { deadline } => {
                Some(self.handshake_by.map_or(deadline, |by| by.min(deadline)))
            }
            State::Error(Failure::Media) => self.retry_at,
            _ => None,
        }
    }

    /// Handles one event at time `now` (time since the daemon started).
    pub fn handle(&mut self, now: Duration, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        if matches!(event, Event::MediaReady | Event::MediaFailed(_)) {
            self.media_opening = false;
        }
        let next = self.next_state(now, &event, &mut out);
        if let Some(mut next) = next {
            if self.state.has_peers() && !next.has_peers() {
                out.push(Command::ClosePeers);
                // A transient media failure already reopens the media on its own schedule.
                let retry_armed = next == State::Error(Failure::Media) && self.retry_at.is_some();
                if self.reopen_after_call && next != State::Stopping && !retry_armed {
                    out.push(Command::Trace(
                        "Call ended: requesting local stream with the new configuration".into(),
                    ));
                    out.push(Command::StartMedia);
                    next = State::Starting;
                }
            }
            if !next.has_peers() {
                self.reopen_after_call = false;
            }
            if next.led() != self.state.led() {
                out.push(Command::SetLed(next.led()));
            }
            if next == State::Stopping {
                out.push(Command::Exit);
            }
            if next != State::Error(Failure::Media) {
                self.retry_at = None;
            }
            if !matches!(next, State::Connecting { .. }) {
                self.handshake_by = None;
            }
            self.state = next;
        }
        if out.contains(&Command::StartMedia) {
            self.media_opening = true;
        }
        out
    }

    fn next_state(
        &mut self,
        now: Duration,
        event: &Event,
        out: &mut Vec<Command>,
    ) -> Option<State> {
        let trace = |out: &mut Vec<Command>, text: String| out.push(Command::Trace(text));
        match (self.state, event) {
            (State::Stopping, _) => None,
            (_, Event::Shutdown) => {
                trace(out, "Shutting down".into());
                Some(State::Stopping)
            }
            (_, Event::TogglePressed) => {
                let press = if self.state.call_enabled() {
                    Event::CallPressed
                } else {
                    Event::HangupPressed
                };
                self.next_state(now, &press, out)
            }
            (_, Event::CallPressed) if !self.state.call_enabled() => {
                self.ignore(now, "Call", out);
                None
            }
            (_, Event::HangupPressed) if !self.state.hangup_enabled() => {
                self.ignore(now, "Hangup", out);
                None
            }
            (State::Starting, Event::MediaReady) | (State::Error(_), Event::MediaReady) => {
                trace(out, "Received local stream".into());
                Some(State::Ready)
            }
            (_, Event::MediaFailed(fault)) => {
                let remedy = if fault.kind == FaultKind::Transient {
                    self.retry_at = Some(now + self.media_retry);
                    format!("retrying every {} s", self.media_retry.as_secs_f64())
                } else {
                    self.retry_at = None;
                    remedy(fault.kind).into()
                };
                failed(out, Failure::Media, fault, &remedy);
                Some(State::Error(Failure::Media))
            }
            (State::Error(Failure::Media), Event::Tick)
                if self.retry_at.is_some_and(|at| now >= at) =>
            {
                // One retry at a time: the next is armed when this one fails.
                self.retry_at = None;
                trace(out, "Retrying: requesting local stream".into());
                out.push(Command::StartMedia);
                None
            }
            (State::Ready, Event::CallPressed)
            | (
                State::Error(Failure::Peers | Failure::Output | Failure::Codec),
                Event::CallPressed,
            ) => {
                trace(out, "Starting call".into());
                out.push(Command::ConnectPeers);
                self.handshake_done = false;
                Some(State::Connecting {
                    deadline: now + self.connect_timeout,
                })
            }
            (State::Error(Failure::Media), Event::CallPressed | Event::HangupPressed) => {
                let what = if *event == Event::CallPressed {
                    "Retrying"
                } else {
                    "Error cleared"
                };
                // A timed retry already under way answers for this press too.
                if self.media_opening {
                    trace(out, format!("{what}: local stream already requested"));
                } else {
                    trace(out, format!("{what}: requesting local stream"));
                    out.push(Command::StartMedia);
                }
                Some(State::Starting)
            }
            (_, Event::HangupPressed) => {
                trace(out, "Ending call".into());
                Some(State::Ready)
            }
            (State::Connecting { .. } | State::Connected, Event::MediaChanged) => {
                trace(
                    out,
                    "Configuration changed: local stream requested again when this call ends"
                        .into(),
                );
                self.reopen_after_call = true;
                None
            }
            (_, Event::MediaChanged) => {
                trace(
                    out,
                    "Configuration changed: requesting local stream again".into(),
                );
                out.push(Command::StartMedia);
                Some(State::Starting)
            }
            (State::Connecting { .. } | State::Connected, Event::IceState(ice)) => {
                trace(out, format!("ICE state: {ice}"));
                None
            }
            (State::Connecting { .. }, Event::IceConnected) => {
                if !self.handshake_done && self.handshake_by.is_none() {
                    self.handshake_by = Some(now + HANDSHAKE_STALL);
                }
                None
            }
            (State::Connecting { .. }, Event::PeerConnected) => {
                trace(out, "Peer connections connected".into());
                self.handshake_done = true;
                self.handshake_by = None;
                None
            }
            (State::Connecting { .. }, Event::FirstRemoteFrame) => {
                trace(out, "Remote peer connection received remote stream".into());
                Some(State::Connected)
            }
            (
                State::Connecting { .. } | State::Connected,
                Event::PeerFailed(fault) | Event::OutputFailed(fault) | Event::CodecFailed(fault),
            ) => {
                let failure = match event {
                    Event::PeerFailed(_) => Failure::Peers,
                    Event::OutputFailed(_) => Failure::Output,
                    _ => Failure::Codec,
                };
                failed(out, failure, fault, remedy(fault.kind));
                Some(State::Error(failure))
            }
            (State::Connecting { deadline }, Event::Tick) if now >= deadline => {
                let seconds = self.connect_timeout.as_secs_f64();
                trace(
                    out,
                    format!("No remote video within {seconds:.1} s of Call: giving up"),
                );
                out.push(Command::Failed(format!(
                    "no remote video within {seconds:.1} s of Call ([call] connect_timeout_s); \
                     the log says how far the call got"
                )));
                Some(State::Error(Failure::Peers))
            }
            (State::Connecting { .. }, Event::Tick)
                if self.handshake_by.is_some_and(|by| now >= by) =>
            {
                trace(
                    out,
                    format!(
                        "DTLS handshake not done {:.1} s after ICE connected: connecting again",
                        HANDSHAKE_STALL.as_secs_f64()
                    ),
                );
                out.push(Command::RestartPeers);
                self.handshake_by = None;
                self.handshake_restarts += 1;
                None
            }
            // Late events from connections already closed, and ticks with nothing due.
            _ => None,
        }
    }
}

/// What a user does about a fault camloop does not retry by itself (a failed call never is:
/// the person who pressed Call decides when to try again).
fn remedy(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Transient => "press Call to try again",
        FaultKind::NeedsChange => {
            "not retried: fix it, then press Call or reload the configuration (SIGHUP)"
        }
        FaultKind::Internal => {
            "an internal fault, not retried: press Call to try again, and report it with the log if it persists"
        }
    }
}

/// Traces a failure and tells it to the status, each with what happens next.
fn failed(out: &mut Vec<Command>, failure: Failure, fault: &Fault, remedy: &str) {
    out.push(Command::Trace(format!(
        "{}: {}; {remedy}",
        failure.label(),
        fault.message
    )));
    out.push(Command::Failed(format!("{}; {remedy}", fault.message)));
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
