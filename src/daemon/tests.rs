//! The owner task with a fake camera, microphone and connections: which opens and sessions
//! count, what the status says, what is stopped.

use super::*;
use crate::call::Failure;
use crate::camera::CameraError;
use crate::capture::OnFailure;
use crate::display::screen::Feed;
use crate::fault::Fault;
use crate::rtc::PeerNote;
use crate::session::Notify;
use std::collections::VecDeque;
use std::sync::Mutex;

type Log = Arc<Mutex<Vec<&'static str>>>;

/// Opens that fail as the test says and sessions that write down what is done to them.
#[derive(Default)]
struct Fake {
    /// What each media open gives, in turn; once none is left, opens succeed.
    opens: Mutex<VecDeque<Result<(), MediaError>>>,
    /// The first media open panics, as a device library may.
    open_panics: bool,
    /// What each session start gives, in turn; once none is left, sessions start.
    starts: Mutex<VecDeque<Result<(), SessionError>>>,
    log: Log,
}

struct FakeSession(Log);

impl Media for Fake {
    type Local = ();
    type Session = FakeSession;

    fn open_local(&self, _: &Config, _: OnFailure, _: Option<Feed>) -> Result<(), MediaError> {
        let opens = {
            let mut log = self.log.lock().unwrap();
            log.push("open media");
            log.iter().filter(|l| **l == "open media").count()
        };
        assert!(!(self.open_panics && opens == 1), "a CString with a NUL");
        self.opens.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }

    fn close_local(&self, (): ()) {
        self.log.lock().unwrap().push("close media");
    }

    async fn start_session(
        &self,
        _: &Config,
        (): &(),
        _: UnboundedSender<PeerNote>,
        _: Notify,
        _: Option<&Feed>,
    ) -> Result<FakeSession, SessionError> {
        self.log.lock().unwrap().push("start session");
        let started = self.starts.lock().unwrap().pop_front().unwrap_or(Ok(()));
        started.map(|()| FakeSession(self.log.clone()))
    }
}

impl Session for FakeSession {
    fn ice_connected(&self) {
        self.0.lock().unwrap().push("ice connected");
    }

    fn peers_connected(&self) {
        self.0.lock().unwrap().push("peers connected");
    }

    async fn report(&self) -> CallReport {
        CallReport::default()
    }

    async fn stop(self) -> CallReport {
        self.0.lock().unwrap().push("stop session");
        CallReport {
            duration_s: 1.5,
            ..CallReport::default()
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// A daemon on `fake`, with no report file and no screen.
fn daemon(fake: Fake) -> (DaemonHandle, Log) {
    let log = fake.log.clone();
    let mut config = Config::default();
    config.stats.report = None;
    (spawn_with(config, None, fake), log)
}

async fn reach(daemon: &mut DaemonHandle, wanted: State) -> Status {
    let reached = daemon.wait_for(WAIT, |s| s == wanted).await;
    assert_eq!(reached, Ok(wanted));
    daemon.status().await.unwrap()
}

fn send(daemon: &DaemonHandle, input: Input) {
    daemon.inputs.send(input).unwrap();
}

#[tokio::test]
async fn a_media_fault_that_needs_a_change_is_told_and_call_opens_the_media_again() {
    let fake = Fake::default();
    let denied = CameraError::PermissionDenied {
        device: "/dev/video0".into(),
    };
    fake.opens.lock().unwrap().push_back(Err(denied.into()));
    let (mut daemon, log) = daemon(fake);
    let status = reach(&mut daemon, State::Error(Failure::Media)).await;
    let why = status.last_error.unwrap();
    assert!(
        why.contains("permission denied") && why.contains("not retried"),
        "{why}"
    );
    daemon.press(Event::CallPressed);
    let status = reach(&mut daemon, State::Ready).await;
    assert_eq!(status.last_error, None, "what failed has worked since");
    assert_eq!(*log.lock().unwrap(), ["open media", "open media"]);
}

#[tokio::test]
async fn a_call_runs_one_session_and_hangup_stops_it_and_keeps_its_report() {
    let (mut daemon, log) = daemon(Fake::default());
    reach(&mut daemon, State::Ready).await;
    daemon.press(Event::CallPressed);
    send(&daemon, Input::Peer(1, PeerNote::IceConnected));
    send(&daemon, Input::Peer(1, PeerNote::Connected));
    send(&daemon, Input::Session(1, SessionNote::FirstRemoteFrame));
    reach(&mut daemon, State::Connected).await;
    daemon.press(Event::HangupPressed);
    let status = reach(&mut daemon, State::Ready).await;
    assert_eq!(status.calls, 1);
    assert_eq!(status.last_call.map(|r| r.duration_s), Some(1.5));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "open media",
            "start session",
            "ice connected",
            "peers connected",
            "stop session"
        ]
    );
}

#[tokio::test]
async fn notes_of_a_call_that_has_ended_are_not_taken_for_the_next_ones() {
    let (mut daemon, log) = daemon(Fake::default());
    reach(&mut daemon, State::Ready).await;
    daemon.press(Event::CallPressed);
    daemon.press(Event::HangupPressed);
    daemon.press(Event::CallPressed);
    let connecting = daemon
        .wait_for(WAIT, |s| matches!(s, State::Connecting { .. }))
        .await;
    assert!(connecting.is_ok(), "{connecting:?}");
    // The first call's connections report late: nothing of it counts.
    send(&daemon, Input::Peer(1, PeerNote::Connected));
    send(&daemon, Input::Session(1, SessionNote::FirstRemoteFrame));
    let status = daemon.status().await.unwrap();
    assert_eq!((status.state, status.calls), ("connecting", 2));
    send(&daemon, Input::Session(2, SessionNote::FirstRemoteFrame));
    reach(&mut daemon, State::Connected).await;
    let log = log.lock().unwrap();
    assert!(!log.contains(&"peers connected"), "{log:?}");
    assert_eq!(log.iter().filter(|l| **l == "start session").count(), 2);
}

#[tokio::test]
async fn a_call_whose_outputs_cannot_open_ends_in_error_with_the_reason() {
    let fake = Fake::default();
    let busy = Fault::transient("audio hw:1,0: open: Device or resource busy");
    fake.starts
        .lock()
        .unwrap()
        .push_back(Err(SessionError::Output(busy)));
    let (mut daemon, _) = daemon(fake);
    reach(&mut daemon, State::Ready).await;
    daemon.press(Event::CallPressed);
    let status = reach(&mut daemon, State::Error(Failure::Output)).await;
    assert_eq!(
        status.last_error.as_deref(),
        Some("audio hw:1,0: open: Device or resource busy; press Call to try again")
    );
    daemon.press(Event::CallPressed);
    send(&daemon, Input::Session(2, SessionNote::FirstRemoteFrame));
    reach(&mut daemon, State::Connected).await;
}

#[tokio::test]
async fn an_output_that_fails_mid_call_stays_the_error_named_when_the_report_fails_after_it() {
    let log = Log::default();
    let fake = Fake {
        log: log.clone(),
        ..Fake::default()
    };
    let mut config = Config::default();
    // A folder that is not there: the report cannot be written, as on a full disk.
    config.stats.report = Some("/nonexistent-camloop-folder/stats.json".into());
    let mut daemon = spawn_with(config, None, fake);
    reach(&mut daemon, State::Ready).await;
    daemon.press(Event::CallPressed);
    send(&daemon, Input::Session(1, SessionNote::FirstRemoteFrame));
    reach(&mut daemon, State::Connected).await;
    let full = Fault::transient("remote.y4m: No space left on device (os error 28)");
    send(&daemon, Input::Session(1, SessionNote::OutputFailed(full)));
    let status = reach(&mut daemon, State::Error(Failure::Output)).await;
    let why = status.last_error.unwrap();
    assert!(
        why.starts_with("remote.y4m: No space left on device")
            && why.contains("(then: cannot write the stats report /nonexistent-camloop-folder"),
        "{why}"
    );
    assert!(log.lock().unwrap().contains(&"stop session"));
}

#[tokio::test]
async fn a_panic_while_opening_the_media_is_an_internal_fault_not_a_start_for_ever() {
    let fake = Fake {
        open_panics: true,
        ..Fake::default()
    };
    let (mut daemon, log) = daemon(fake);
    let status = reach(&mut daemon, State::Error(Failure::Media)).await;
    let why = status.last_error.unwrap();
    assert!(
        why.contains("a CString with a NUL") && why.contains("an internal fault, not retried"),
        "{why}"
    );
    daemon.press(Event::CallPressed);
    reach(&mut daemon, State::Ready).await;
    assert_eq!(*log.lock().unwrap(), ["open media", "open media"]);
}
