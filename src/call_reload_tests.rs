//! A reloaded configuration (SIGHUP): new media applies at once with no call up, after the
//! call otherwise; new timeouts from the next call and retry.

use super::*;

#[test]
fn a_new_media_configuration_reopens_the_media_at_once_when_no_call_is_up() {
    check(vec![
        (
            State::Starting,
            MediaChanged,
            State::Starting,
            vec![StartMedia],
        ),
        (
            State::Ready,
            MediaChanged,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (CONNECTING, MediaChanged, CONNECTING, vec![]),
        (State::Connected, MediaChanged, State::Connected, vec![]),
        (
            MEDIA_ERR,
            MediaChanged,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (
            PEER_ERR,
            MediaChanged,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (
            State::Error(Failure::Codec),
            MediaChanged,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (State::Stopping, MediaChanged, State::Stopping, vec![]),
    ]);
}

#[test]
fn a_media_change_during_a_call_reopens_the_media_once_the_call_ends() {
    for (ending, after) in [
        (
            HangupPressed,
            vec![ClosePeers, StartMedia, SetLed(Led::FastBlink)],
        ),
        (
            PeerFailed(Fault::transient("dtls")),
            vec![ClosePeers, StartMedia, SetLed(Led::FastBlink)],
        ),
        // Its own retry will open the media with the new configuration.
        (
            MediaFailed(Fault::transient("gone")),
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        // No retry would: the new configuration may be the change the fault waits for.
        (
            MediaFailed(Fault::needs_change("permission denied")),
            vec![ClosePeers, StartMedia, SetLed(Led::FastBlink)],
        ),
        (Shutdown, vec![ClosePeers, SetLed(Led::Off), Exit]),
    ] {
        let mut call = in_state(State::Connected);
        assert_eq!(without_traces(call.handle(NOW, MediaChanged)), vec![]);
        let got = without_traces(call.handle(NOW, ending.clone()));
        assert_eq!(got, after, "{ending:?}");
        // Once only: the next call ends in Ready as usual.
        if call.state() == State::Starting {
            call.handle(NOW, MediaReady);
            call.handle(NOW, CallPressed);
            call.handle(NOW, FirstRemoteFrame);
            call.handle(NOW, HangupPressed);
            assert_eq!(call.state(), State::Ready, "{ending:?}");
        }
    }
}

#[test]
fn retimed_timeouts_apply_to_the_next_call_and_the_next_retry() {
    let mut call = in_state(State::Ready);
    call.retime(Duration::from_secs(3), Duration::from_secs(7));
    call.handle(NOW, CallPressed);
    assert_eq!(call.deadline(), Some(NOW + Duration::from_secs(3)));
    call.handle(NOW, MediaFailed(Fault::transient("gone")));
    assert_eq!(call.deadline(), Some(NOW + Duration::from_secs(7)));
}
