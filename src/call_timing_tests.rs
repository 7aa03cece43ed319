//! Time in the call: the connect deadline, the failures told to the status, and the media
//! retries with their schedule.

use super::*;

#[test]
fn connecting_gives_up_at_its_deadline_and_not_before() {
    let mut call = in_state(State::Ready);
    call.handle(NOW, CallPressed);
    assert_eq!(call.deadline(), Some(NOW + TIMEOUT));
    call.handle(NOW + TIMEOUT - Duration::from_millis(1), Tick);
    assert!(matches!(call.state(), State::Connecting { .. }));
    let out = without_traces(call.handle(NOW + TIMEOUT, Tick));
    assert_eq!(call.state(), PEER_ERR);
    assert_eq!(out, vec![ClosePeers, SetLed(Led::DoubleBlink)]);
    assert_eq!(call.deadline(), None);
}

#[test]
fn a_handshake_stalled_after_ice_connected_is_started_again_once_within_the_call_deadline() {
    let mut call = in_state(State::Ready);
    call.handle(NOW, CallPressed);
    let ice = NOW + Duration::from_millis(10);
    call.handle(ice, IceConnected);
    assert_eq!(call.deadline(), Some(ice + HANDSHAKE_STALL));
    // A second side's report does not push the deadline back.
    call.handle(ice + Duration::from_secs(1), IceConnected);
    assert_eq!(call.deadline(), Some(ice + HANDSHAKE_STALL));
    assert!(
        call.handle(ice + HANDSHAKE_STALL - Duration::from_millis(1), Tick)
            .is_empty()
    );
    let out = without_traces(call.handle(ice + HANDSHAKE_STALL, Tick));
    assert_eq!(out, vec![RestartPeers]);
    assert!(matches!(call.state(), State::Connecting { .. }));
    assert_eq!(call.handshake_restarts(), 1);
    // The new connections have the rest of the call's deadline, and their own handshake time.
    assert_eq!(call.deadline(), Some(NOW + TIMEOUT));
    let again = ice + HANDSHAKE_STALL + Duration::from_millis(10);
    call.handle(again, IceConnected);
    call.handle(again + Duration::from_millis(5), PeerConnected);
    assert_eq!(call.deadline(), Some(NOW + TIMEOUT));
    call.handle(again + Duration::from_millis(6), IceConnected);
    assert_eq!(
        call.deadline(),
        Some(NOW + TIMEOUT),
        "a late ICE report after the handshake"
    );
    call.handle(again + Duration::from_millis(20), FirstRemoteFrame);
    assert_eq!(call.state(), State::Connected);
    assert_eq!(call.handshake_restarts(), 1);
}

#[test]
fn the_call_deadline_wins_over_a_handshake_due_after_it() {
    let mut call = in_state(State::Ready);
    call.handle(NOW, CallPressed);
    call.handle(NOW + TIMEOUT - Duration::from_secs(1), IceConnected);
    assert_eq!(call.deadline(), Some(NOW + TIMEOUT));
    let out = without_traces(call.handle(NOW + TIMEOUT, Tick));
    assert_eq!(out, vec![ClosePeers, SetLed(Led::DoubleBlink)]);
    assert_eq!(call.handshake_restarts(), 0);
}

/// The failures each event tells the daemon's status, from the states it is one in.
fn failures(state: State, now: Duration, event: Event) -> Vec<String> {
    failures_in(in_state(state).handle(now, event))
}

#[test]
fn each_failure_tells_the_status_why_and_a_timeout_names_its_setting() {
    let peer_fail = || PeerFailed(Fault::transient("DTLS handshake failed"));
    assert_eq!(
        failures(
            State::Ready,
            NOW,
            MediaFailed(Fault::transient("camera gone"))
        ),
        ["camera gone; retrying every 2 s"]
    );
    assert_eq!(
        failures(CONNECTING, NOW, peer_fail()),
        ["DTLS handshake failed; press Call to try again"]
    );
    assert_eq!(
        failures(
            State::Connected,
            NOW,
            OutputFailed(Fault::needs_change("speaker hw:9: no such card"))
        ),
        [
            "speaker hw:9: no such card; not retried: fix it, then press Call or reload the configuration (SIGHUP)"
        ]
    );
    assert_eq!(
        failures(
            CONNECTING,
            NOW,
            CodecFailed(Fault::internal("H.264 encoder: cannot start"))
        ),
        [
            "H.264 encoder: cannot start; an internal fault, not retried: press Call to try again, and report it with the log if it persists"
        ]
    );
    let timeout = failures(CONNECTING, Duration::from_secs(105), Tick);
    assert_eq!(timeout.len(), 1);
    assert!(
        timeout[0].contains("10.0 s") && timeout[0].contains("[call] connect_timeout_s"),
        "{timeout:?}"
    );
    // A late report from connections already closed is no failure of the state the daemon is in.
    assert!(failures(State::Ready, NOW, peer_fail()).is_empty());
    assert!(failures(CONNECTING, NOW, Tick).is_empty());
}

#[test]
fn a_media_failure_retries_every_retry_interval_until_the_media_is_back() {
    let mut call = in_state(State::Ready);
    call.handle(
        NOW,
        MediaFailed(Fault::transient("camera /dev/video0: gone")),
    );
    assert_eq!(call.state(), MEDIA_ERR);
    assert_eq!(call.deadline(), Some(NOW + RETRY));
    assert_eq!(
        without_traces(call.handle(NOW + RETRY - Duration::from_millis(1), Tick)),
        vec![]
    );
    let retry = call.handle(NOW + RETRY, Tick);
    assert_eq!(without_traces(retry), vec![StartMedia]);
    assert_eq!(call.state(), MEDIA_ERR, "the LED keeps its double blink");
    assert_eq!(call.deadline(), None, "one retry at a time");
    // Still missing: the next retry is armed from this failure.
    let later = NOW + RETRY + Duration::from_millis(30);
    let out = call.handle(
        later,
        MediaFailed(Fault::transient("camera /dev/video0: gone")),
    );
    assert_eq!(
        out,
        vec![
            Trace("Media error: camera /dev/video0: gone; retrying every 2 s".into()),
            Failed("camera /dev/video0: gone; retrying every 2 s".into())
        ]
    );
    assert_eq!(call.deadline(), Some(later + RETRY));
    // Back: Ready, and nothing more is due.
    let out = without_traces(call.handle(later + RETRY, MediaReady));
    assert_eq!(call.state(), State::Ready);
    assert_eq!(out, vec![SetLed(Led::SlowHeartbeat)]);
    assert_eq!(call.deadline(), None);
}

#[test]
fn call_in_a_media_error_retries_at_once_and_cancels_the_timed_retry() {
    let mut call = in_state(State::Ready);
    call.handle(NOW, MediaFailed(Fault::transient("gone")));
    let out = without_traces(call.handle(NOW + Duration::from_millis(500), CallPressed));
    assert_eq!(out, vec![StartMedia, SetLed(Led::FastBlink)]);
    assert_eq!(call.state(), State::Starting);
    assert_eq!(call.deadline(), None);
}

#[test]
fn a_press_while_a_timed_retry_is_under_way_does_not_open_the_media_twice() {
    let mut call = in_state(State::Ready);
    call.handle(NOW, MediaFailed(Fault::transient("gone")));
    assert_eq!(
        without_traces(call.handle(NOW + RETRY, Tick)),
        vec![StartMedia]
    );
    let out = call.handle(NOW + RETRY, CallPressed);
    assert_eq!(
        out,
        vec![
            Trace("Retrying: local stream already requested".into()),
            SetLed(Led::FastBlink)
        ]
    );
    assert_eq!(call.state(), State::Starting);
}

/// Which media faults camloop retries by itself, and which wait for a person.
#[test]
fn only_a_transient_media_fault_is_retried_and_the_others_wait_for_call_hangup_or_sighup() {
    let far = NOW + 100 * RETRY;
    for (kind, retried) in [
        (FaultKind::Transient, true),
        (FaultKind::NeedsChange, false),
        (FaultKind::Internal, false),
    ] {
        let fault = Fault::new(kind, "camera /dev/video0: permission denied");
        let mut call = in_state(State::Ready);
        let out = call.handle(NOW, MediaFailed(fault.clone()));
        assert_eq!(call.state(), MEDIA_ERR, "{kind:?}");
        let told = failures_in(out);
        let says_retrying = told[0].contains("retrying every 2 s");
        assert_eq!(says_retrying, retried, "{kind:?}: {told:?}");
        assert_eq!(
            !told[0].contains("not retried"),
            retried,
            "{kind:?}: {told:?}"
        );
        if retried {
            assert_eq!(call.deadline(), Some(NOW + RETRY));
            continue;
        }
        assert_eq!(call.deadline(), None, "{kind:?}: nothing is due");
        assert!(
            without_traces(call.handle(far, Tick)).is_empty(),
            "{kind:?}"
        );
        assert_eq!(call.state(), MEDIA_ERR, "{kind:?}");
        // Each of the three opens the media again at once.
        for press in [CallPressed, HangupPressed, MediaChanged] {
            let mut waiting = in_state(State::Ready);
            waiting.handle(NOW, MediaFailed(fault.clone()));
            let out = without_traces(waiting.handle(far, press.clone()));
            assert_eq!(
                out,
                vec![StartMedia, SetLed(Led::FastBlink)],
                "{kind:?} {press:?}"
            );
            assert_eq!(waiting.state(), State::Starting, "{kind:?} {press:?}");
        }
    }
}

fn failures_in(commands: Vec<Command>) -> Vec<String> {
    commands
        .into_iter()
        .filter_map(|c| match c {
            Failed(why) => Some(why),
            _ => None,
        })
        .collect()
}
