//! The one owner task: it alone holds the call state machine, the local stream and the current
//! call's session. Buttons, the control socket, the peer connections, the media threads and
//! signals all send it [`Input`]s; it feeds them to [`Call`] and carries out the commands.

mod handle;
mod media;
mod reload;
#[cfg(test)]
mod tests;

pub use handle::{DaemonHandle, Status, ask_status};
pub use media::{Devices, Media, Session};

use crate::call::{Call, Command, Event, LedPattern, State};
use crate::capture::MediaError;
use crate::config::Config;
use crate::display::{
    self,
    screen::Screen,
    status::{Figures, StatusLine},
};
use crate::fault::Fault;
use crate::rtc::PeerNote;
use crate::session::{SessionError, SessionNote};
use crate::stats::CallReport;
use crate::trace;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::SendError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{oneshot, watch};

/// What the owner task receives.
#[derive(Debug)]
pub enum Input {
    /// A button, the control socket, a signal.
    Event(Event),
    /// Asks for the state and the last call's report.
    Status(oneshot::Sender<Status>),
    /// A configuration read again (SIGHUP), for the next call.
    Reload(Box<Config>),
    /// Calls are numbered; notes from a call that has ended are stale and ignored.
    Peer(u64, PeerNote),
    Session(u64, SessionNote),
    /// Media opens are numbered too: a failure from a stream since replaced is stale.
    MediaLost(u64, MediaError),
    /// `debug-stall`: the owner task stops answering, as a hung one would.
    Stall,
}

/// Starts the owner task on the current runtime, with the screen `[output] video` names.
pub fn spawn(config: Config) -> DaemonHandle {
    let screen = display::open_screen(&config.output.video);
    spawn_with_screen(config, screen)
}

/// Starts the owner task with a screen of the caller's (the bench's, in memory).
pub fn spawn_with_screen(config: Config, screen: Option<Screen>) -> DaemonHandle {
    spawn_with(config, screen, Devices)
}

/// Starts the owner task with the devices and connections `media` makes.
fn spawn_with<M: Media>(config: Config, screen: Option<Screen>, media: M) -> DaemonHandle {
    let (inputs, rx) = unbounded_channel();
    let (opened_tx, opened) = unbounded_channel();
    let (state_tx, state) = watch::channel(State::Starting);
    let (led_tx, led) = watch::channel(State::Starting.led());
    let daemon = Daemon {
        media: Arc::new(media),
        opened: opened_tx,
        screen,
        figures: None,
        config,
        inputs: inputs.clone(),
        state: state_tx,
        led: led_tx,
        local: None,
        media_opens: 0,
        session: None,
        report_path: None,
        calls: 0,
        connections: 0,
        last_report: None,
        last_error: None,
        next_summary: Instant::now(),
    };
    let done = tokio::spawn(daemon.run(rx, opened));
    DaemonHandle {
        inputs,
        state,
        led,
        done,
    }
}

/// A media open's result, numbered like the opens.
type Opened<M> = (u64, Result<<M as Media>::Local, MediaError>);

struct Daemon<M: Media> {
    media: Arc<M>,
    /// Where media opens, on their blocking threads, hand back what they opened.
    opened: UnboundedSender<Opened<M>>,
    config: Config,
    /// The board's screen, if `[output] video` names one camloop could have.
    screen: Option<Screen>,
    /// The call's figures at its last summary, for the screen's status line.
    figures: Option<Figures>,
    inputs: UnboundedSender<Input>,
    state: watch::Sender<State>,
    led: watch::Sender<LedPattern>,
    local: Option<M::Local>,
    /// Media opens started since start; the newest is the one that counts.
    media_opens: u64,
    session: Option<M::Session>,
    /// Where the current call's report goes: the path configured when it started.
    report_path: Option<std::path::PathBuf>,
    /// Calls started since start.
    calls: u64,
    /// Connections made since start (a call whose handshake stalled makes more than one); the
    /// newest are the ones whose notes count.
    connections: u64,
    last_report: Option<CallReport>,
    last_error: Option<String>,
    /// When the next one-line summary is due while connected.
    next_summary: Instant,
}

impl<M: Media> Daemon<M> {
    async fn run(
        mut self,
        mut rx: UnboundedReceiver<Input>,
        mut opened: UnboundedReceiver<Opened<M>>,
    ) -> Option<CallReport> {
        let started = trace::start();
        let (mut call, commands) =
            Call::start(self.config.call.connect_timeout, self.config.camera.retry);
        self.execute(commands).await;
        loop {
            let deadline = call.deadline().map(|d| started + d);
            let summary_due = (call.state() == State::Connected).then_some(self.next_summary);
            let wake = deadline.into_iter().chain(summary_due).min();
            let input = tokio::select! {
                input = rx.recv() => input,
                Some((n, result)) = opened.recv() => match self.media_opened(n, result) {
                    Some(event) => Some(Input::Event(event)),
                    None => continue,
                },
                () = sleep_until(wake) => Some(Input::Event(Event::Tick)),
            };
            let Some(input) = input else { break };
            let now = Instant::now();
            let event = match input {
                Input::Event(event) => event,
                Input::Status(reply) => {
                    let _ = reply.send(self.status(&call));
                    continue;
                }
                Input::Stall => {
                    log::warn!("debug-stall: the owner task hangs now; only a restart ends it");
                    // Blocking, not awaiting: nothing of the owner's runs again.
                    std::thread::sleep(Duration::from_secs(u64::from(u32::MAX)));
                    continue;
                }
                Input::Reload(config) => match self.reload(*config, &mut call) {
                    Some(event) => event,
                    None => continue,
                },
                Input::MediaLost(n, why) if n == self.media_opens => {
                    Event::MediaFailed(why.fault())
                }
                Input::MediaLost(..) => continue,
                Input::Peer(n, note) if n == self.connections => match self.peer_note(note) {
                    Some(event) => event,
                    None => continue,
                },
                Input::Session(n, note) if n == self.connections && self.session.is_some() => {
                    match note {
                        SessionNote::FirstRemoteFrame => Event::FirstRemoteFrame,
                        SessionNote::CodecFailed(fault) => Event::CodecFailed(fault),
                        SessionNote::OutputFailed(fault) => Event::OutputFailed(fault),
                    }
                }
                Input::Peer(..) | Input::Session(..) => continue,
            };
            if call.state() == State::Connected && Instant::now() >= self.next_summary {
                if let Some(session) = &self.session {
                    let report = session.report().await;
                    trace::info(&report.summary());
                    self.figures = Some(Figures::of(&report));
                }
                self.next_summary = Instant::now() + self.config.stats.interval;
            }
            // What failed has worked since: the error is history, not the state.
            if matches!(event, Event::MediaReady | Event::PeerConnected) {
                self.last_error = None;
            }
            let commands = call.handle(now.duration_since(started), event);
            let exit = self.execute(commands).await;
            // Published once the commands are carried out: whoever sees Ready may rely on the
            // last call's connections being closed and its report written.
            self.state.send_replace(call.state());
            self.show_status(call.state());
            if exit {
                break;
            }
        }
        if let Some(local) = self.local.take() {
            let media = self.media.clone();
            let _ = tokio::task::spawn_blocking(move || media.close_local(local)).await;
        }
        self.last_report
    }

    /// The newest open's result is the local stream; an older one's is closed unused.
    fn media_opened(&mut self, n: u64, result: Result<M::Local, MediaError>) -> Option<Event> {
        match result {
            Ok(local) if n == self.media_opens => {
                self.local = Some(local);
                Some(Event::MediaReady)
            }
            Err(why) if n == self.media_opens => Some(Event::MediaFailed(why.fault())),
            Ok(stale) => {
                let media = self.media.clone();
                tokio::task::spawn_blocking(move || media.close_local(stale));
                None
            }
            Err(_) => None,
        }
    }

    fn show_status(&mut self, state: State) {
        if state != State::Connected {
            self.figures = None;
        }
        if let Some(screen) = &self.screen {
            screen.feed().status(StatusLine {
                state: state.name(),
                figures: self.figures,
                last_error: self.last_error.clone(),
            });
        }
    }

    fn peer_note(&mut self, note: PeerNote) -> Option<Event> {
        let session = self.session.as_ref()?;
        match note {
            PeerNote::IceState(side, state) => Some(Event::IceState(format!("{side} {state}"))),
            PeerNote::IceConnected => {
                session.ice_connected();
                Some(Event::IceConnected)
            }
            PeerNote::Connected => {
                session.peers_connected();
                Some(Event::PeerConnected)
            }
            // ICE or DTLS gave up: the network's doing, which the next Call may find better.
            PeerNote::Failed(why) => Some(Event::PeerFailed(Fault::transient(why))),
        }
    }

    fn status(&self, call: &Call) -> Status {
        let state = call.state();
        Status {
            state: state.name(),
            call_enabled: state.call_enabled(),
            hangup_enabled: state.hangup_enabled(),
            led: state.led(),
            calls: self.calls,
            handshake_restarts: call.handshake_restarts(),
            ignored_presses: call.ignored_presses(),
            last_error: self.last_error.clone(),
            last_call: self.last_report.clone(),
        }
    }

    /// Carries out the commands; true when the daemon should exit.
    async fn execute(&mut self, commands: Vec<Command>) -> bool {
        let mut exit = false;
        for command in commands {
            match command {
                Command::Trace(text) => trace::info(&text),
                Command::Failed(why) => self.last_error = Some(why),
                Command::SetLed(pattern) => {
                    self.led.send_replace(pattern);
                }
                Command::StartMedia => self.start_media(),
                Command::ConnectPeers => {
                    self.calls += 1;
                    self.connect_peers().await
                }
                Command::RestartPeers => {
                    // The stalled connections' report is not the call's: it goes on.
                    if let Some(session) = self.session.take() {
                        session.stop().await;
                    }
                    self.connect_peers().await
                }
                Command::ClosePeers => self.close_peers().await,
                Command::Exit => exit = true,
            }
        }
        exit
    }

    /// Closes the local stream and opens it again, off the owner task: a camera may take its
    /// time to open, and status, Hangup and quit must still be answered meanwhile.
    fn start_media(&mut self) {
        self.media_opens += 1;
        let n = self.media_opens;
        let old = self.local.take();
        let config = self.config.clone();
        let lost = self.inputs.clone();
        let opened = self.opened.clone();
        let media = self.media.clone();
        let screen = self.screen.as_ref().map(Screen::feed);
        tokio::task::spawn_blocking(move || {
            if let Some(old) = old {
                media.close_local(old);
            }
            let on_failure = Arc::new(move |why: MediaError| {
                let _ = lost.send(Input::MediaLost(n, why));
            });
            // A panic in a device library must not leave camloop starting for ever.
            let open = || media.open_local(&config, on_failure, screen);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open))
                .unwrap_or_else(|panic| Err(MediaError::Panicked(panic_message(&*panic))));
            // The daemon has exited: nobody will close this stream but us.
            if let Err(SendError((_, Ok(orphan)))) = opened.send((n, result)) {
                media.close_local(orphan);
            }
        });
    }

    /// New connections for the call, numbered so that the notes of earlier ones are ignored.
    async fn connect_peers(&mut self) {
        self.connections += 1;
        let n = self.connections;
        let Some(local) = &self.local else {
            let _ = self
                .inputs
                .send(Input::Event(Event::PeerFailed(Fault::internal(
                    "no local stream",
                ))));
            return;
        };
        let (notes_tx, mut notes_rx) = unbounded_channel();
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            while let Some(note) = notes_rx.recv().await {
                if inputs.send(Input::Peer(n, note)).is_err() {
                    break;
                }
            }
        });
        let inputs = self.inputs.clone();
        let notify = Arc::new(move |note| {
            let _ = inputs.send(Input::Session(n, note));
        });
        let screen = self.screen.as_ref().map(Screen::feed);
        let started = (self.media)
            .start_session(&self.config, local, notes_tx, notify, screen.as_ref())
            .await;
        match started {
            Ok(session) => {
                self.session = Some(session);
                self.report_path = self.config.stats.report.clone();
                self.next_summary = Instant::now() + self.config.stats.interval;
            }
            // Reported as an input so the state machine sees it in order.
            Err(SessionError::Output(fault)) => {
                let _ = self.inputs.send(Input::Event(Event::OutputFailed(fault)));
            }
            Err(SessionError::Peers(fault)) => {
                let _ = self.inputs.send(Input::Event(Event::PeerFailed(fault)));
            }
        }
    }

    async fn close_peers(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let report = session.stop().await;
        trace::info(&format!("Call ended: {}", report.summary()));
        if let Some(path) = self.report_path.take()
            && let Err(why) = write_report(path, &report).await
        {
            log::error!("{why}");
            // What ended the call comes first: a full disk fails the recording, then the report.
            self.last_error = Some(match self.last_error.take() {
                Some(first) => format!("{first} (then: {why})"),
                None => why,
            });
        }
        self.last_report = Some(report);
    }
}

/// How long the owner task waits for the report to be written: a disk that hangs (a network
/// mount gone) is said in the status, and calls go on.
const REPORT_DEADLINE: Duration = Duration::from_secs(2);

/// Writes the report on a blocking thread, waited for up to `REPORT_DEADLINE`: whoever sees
/// Ready after a call may rely on its report being there, and the owner task's own thread
/// never waits on the disk.
async fn write_report(path: std::path::PathBuf, report: &CallReport) -> Result<(), String> {
    let json = serde_json::to_string_pretty(report).map_err(|e| format!("stats report: {e}"))?;
    let shown = path.display().to_string();
    let write = tokio::task::spawn_blocking(move || {
        crate::files::write_atomically(&path, (json + "\n").as_bytes())
    });
    match tokio::time::timeout(REPORT_DEADLINE, write).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("cannot write the stats report {shown}: {e}")),
        Ok(Err(e)) => Err(format!("writing the stats report {shown}: {e}")),
        Err(_) => Err(format!(
            "the stats report {shown} was not written within {} s: is its disk answering?",
            REPORT_DEADLINE.as_secs()
        )),
    }
}

/// What a panic said, where it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
