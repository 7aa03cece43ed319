use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(2);
const NOW: Duration = Duration::from_secs(100);

fn in_state(state: State) -> Call {
    Call {
        state,
        connect_timeout: TIMEOUT,
        media_retry: RETRY,
        // As a media failure at NOW leaves it.
        retry_at: (state == State::Error(Failure::Media)).then_some(NOW + RETRY),
        media_opening: false,
        reopen_after_call: false,
        handshake_by: None,
        handshake_done: false,
        handshake_restarts: 0,
        ignored_presses: 0,
        ignored_traced_at: None,
        ignored_untraced: 0,
    }
}

/// The commands that act: not the traces, nor the failures told to the status (tested apart).
fn without_traces(commands: Vec<Command>) -> Vec<Command> {
    commands
        .into_iter()
        .filter(|c| !matches!(c, Command::Trace(_) | Command::Failed(_)))
        .collect()
}

use Command::*;
use Event::*;
use LedPattern as Led;

const CONNECTING: State = State::Connecting {
    deadline: Duration::from_secs(105),
};
const MEDIA_ERR: State = State::Error(Failure::Media);
const PEER_ERR: State = State::Error(Failure::Peers);
const OUTPUT_ERR: State = State::Error(Failure::Output);
const CODEC_ERR: State = State::Error(Failure::Codec);

/// Every (state, event) pair: the state after it and the commands other than traces.
fn table() -> Vec<(State, Event, State, Vec<Command>)> {
    let fail = || MediaFailed(Fault::transient("camera gone"));
    let peer_fail = || PeerFailed(Fault::transient("dtls"));
    let ice = || IceState("checking".into());
    let out_fail = || OutputFailed(Fault::transient("speaker hw:1,0: busy"));
    let codec_fail = || CodecFailed(Fault::internal("H.264 encoder: cannot start"));
    let after_timeout = State::Connecting {
        deadline: NOW + TIMEOUT,
    };
    vec![
        // Starting
        (
            State::Starting,
            MediaReady,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (
            State::Starting,
            fail(),
            MEDIA_ERR,
            vec![SetLed(Led::DoubleBlink)],
        ),
        (State::Starting, CallPressed, State::Starting, vec![]),
        (State::Starting, HangupPressed, State::Starting, vec![]),
        (State::Starting, ice(), State::Starting, vec![]),
        (State::Starting, IceConnected, State::Starting, vec![]),
        (State::Starting, PeerConnected, State::Starting, vec![]),
        (State::Starting, peer_fail(), State::Starting, vec![]),
        (State::Starting, FirstRemoteFrame, State::Starting, vec![]),
        (State::Starting, Tick, State::Starting, vec![]),
        (
            State::Starting,
            Shutdown,
            State::Stopping,
            vec![SetLed(Led::Off), Exit],
        ),
        // Ready
        (State::Ready, MediaReady, State::Ready, vec![]),
        (
            State::Ready,
            fail(),
            MEDIA_ERR,
            vec![SetLed(Led::DoubleBlink)],
        ),
        (
            State::Ready,
            CallPressed,
            after_timeout,
            vec![ConnectPeers, SetLed(Led::FastBlink)],
        ),
        (State::Ready, HangupPressed, State::Ready, vec![]),
        (State::Ready, ice(), State::Ready, vec![]),
        (State::Ready, IceConnected, State::Ready, vec![]),
        (State::Ready, PeerConnected, State::Ready, vec![]),
        (State::Ready, peer_fail(), State::Ready, vec![]),
        (State::Ready, FirstRemoteFrame, State::Ready, vec![]),
        (State::Ready, Tick, State::Ready, vec![]),
        (
            State::Ready,
            Shutdown,
            State::Stopping,
            vec![SetLed(Led::Off), Exit],
        ),
        // Connecting (deadline 105 s, now 100 s)
        (CONNECTING, MediaReady, CONNECTING, vec![]),
        (
            CONNECTING,
            fail(),
            MEDIA_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (CONNECTING, CallPressed, CONNECTING, vec![]),
        (
            CONNECTING,
            HangupPressed,
            State::Ready,
            vec![ClosePeers, SetLed(Led::SlowHeartbeat)],
        ),
        (CONNECTING, ice(), CONNECTING, vec![]),
        (CONNECTING, IceConnected, CONNECTING, vec![]),
        (CONNECTING, PeerConnected, CONNECTING, vec![]),
        (
            CONNECTING,
            peer_fail(),
            PEER_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (
            CONNECTING,
            FirstRemoteFrame,
            State::Connected,
            vec![SetLed(Led::On)],
        ),
        (CONNECTING, Tick, CONNECTING, vec![]),
        (
            CONNECTING,
            Shutdown,
            State::Stopping,
            vec![ClosePeers, SetLed(Led::Off), Exit],
        ),
        // Connected
        (State::Connected, MediaReady, State::Connected, vec![]),
        (
            State::Connected,
            fail(),
            MEDIA_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (State::Connected, CallPressed, State::Connected, vec![]),
        (
            State::Connected,
            HangupPressed,
            State::Ready,
            vec![ClosePeers, SetLed(Led::SlowHeartbeat)],
        ),
        (State::Connected, ice(), State::Connected, vec![]),
        (State::Connected, IceConnected, State::Connected, vec![]),
        (State::Connected, PeerConnected, State::Connected, vec![]),
        (
            State::Connected,
            peer_fail(),
            PEER_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (State::Connected, FirstRemoteFrame, State::Connected, vec![]),
        (State::Connected, Tick, State::Connected, vec![]),
        (
            State::Connected,
            Shutdown,
            State::Stopping,
            vec![ClosePeers, SetLed(Led::Off), Exit],
        ),
        // Error after a media failure
        (
            MEDIA_ERR,
            MediaReady,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (MEDIA_ERR, fail(), MEDIA_ERR, vec![]),
        (
            MEDIA_ERR,
            CallPressed,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (
            MEDIA_ERR,
            HangupPressed,
            State::Starting,
            vec![StartMedia, SetLed(Led::FastBlink)],
        ),
        (MEDIA_ERR, ice(), MEDIA_ERR, vec![]),
        (MEDIA_ERR, IceConnected, MEDIA_ERR, vec![]),
        (MEDIA_ERR, PeerConnected, MEDIA_ERR, vec![]),
        (MEDIA_ERR, peer_fail(), MEDIA_ERR, vec![]),
        (MEDIA_ERR, FirstRemoteFrame, MEDIA_ERR, vec![]),
        (MEDIA_ERR, Tick, MEDIA_ERR, vec![]),
        (
            MEDIA_ERR,
            Shutdown,
            State::Stopping,
            vec![SetLed(Led::Off), Exit],
        ),
        // Error after a peer failure: media is still open
        (
            PEER_ERR,
            MediaReady,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (PEER_ERR, fail(), MEDIA_ERR, vec![]),
        (
            PEER_ERR,
            CallPressed,
            after_timeout,
            vec![ConnectPeers, SetLed(Led::FastBlink)],
        ),
        (
            PEER_ERR,
            HangupPressed,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (PEER_ERR, ice(), PEER_ERR, vec![]),
        (PEER_ERR, IceConnected, PEER_ERR, vec![]),
        (PEER_ERR, PeerConnected, PEER_ERR, vec![]),
        (PEER_ERR, peer_fail(), PEER_ERR, vec![]),
        (PEER_ERR, FirstRemoteFrame, PEER_ERR, vec![]),
        (PEER_ERR, Tick, PEER_ERR, vec![]),
        (
            PEER_ERR,
            Shutdown,
            State::Stopping,
            vec![SetLed(Led::Off), Exit],
        ),
        // An output that cannot be opened or written ends the call, not the media
        (State::Starting, out_fail(), State::Starting, vec![]),
        (State::Ready, out_fail(), State::Ready, vec![]),
        (
            CONNECTING,
            out_fail(),
            OUTPUT_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (
            State::Connected,
            out_fail(),
            OUTPUT_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (MEDIA_ERR, out_fail(), MEDIA_ERR, vec![]),
        (PEER_ERR, out_fail(), PEER_ERR, vec![]),
        (State::Stopping, out_fail(), State::Stopping, vec![]),
        // Error after an output failure: media is still open, Call tries again
        (
            OUTPUT_ERR,
            MediaReady,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (OUTPUT_ERR, fail(), MEDIA_ERR, vec![]),
        (
            OUTPUT_ERR,
            CallPressed,
            after_timeout,
            vec![ConnectPeers, SetLed(Led::FastBlink)],
        ),
        (
            OUTPUT_ERR,
            HangupPressed,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (OUTPUT_ERR, peer_fail(), OUTPUT_ERR, vec![]),
        (OUTPUT_ERR, out_fail(), OUTPUT_ERR, vec![]),
        (OUTPUT_ERR, FirstRemoteFrame, OUTPUT_ERR, vec![]),
        (OUTPUT_ERR, Tick, OUTPUT_ERR, vec![]),
        (
            OUTPUT_ERR,
            Shutdown,
            State::Stopping,
            vec![SetLed(Led::Off), Exit],
        ),
        // An encoder or decoder that fails ends the call, not the media: it is not the peers'
        (State::Starting, codec_fail(), State::Starting, vec![]),
        (State::Ready, codec_fail(), State::Ready, vec![]),
        (
            CONNECTING,
            codec_fail(),
            CODEC_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (
            State::Connected,
            codec_fail(),
            CODEC_ERR,
            vec![ClosePeers, SetLed(Led::DoubleBlink)],
        ),
        (MEDIA_ERR, codec_fail(), MEDIA_ERR, vec![]),
        (PEER_ERR, codec_fail(), PEER_ERR, vec![]),
        (OUTPUT_ERR, codec_fail(), OUTPUT_ERR, vec![]),
        (State::Stopping, codec_fail(), State::Stopping, vec![]),
        // Error after a codec failure: media is still open, Call tries again
        (
            CODEC_ERR,
            MediaReady,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (CODEC_ERR, fail(), MEDIA_ERR, vec![]),
        (
            CODEC_ERR,
            CallPressed,
            after_timeout,
            vec![ConnectPeers, SetLed(Led::FastBlink)],
        ),
        (
            CODEC_ERR,
            HangupPressed,
            State::Ready,
            vec![SetLed(Led::SlowHeartbeat)],
        ),
        (CODEC_ERR, peer_fail(), CODEC_ERR, vec![]),
        (CODEC_ERR, codec_fail(), CODEC_ERR, vec![]),
        (CODEC_ERR, Tick, CODEC_ERR, vec![]),
        // Stopping ignores everything
        (State::Stopping, MediaReady, State::Stopping, vec![]),
        (State::Stopping, CallPressed, State::Stopping, vec![]),
        (State::Stopping, HangupPressed, State::Stopping, vec![]),
        (State::Stopping, Shutdown, State::Stopping, vec![]),
    ]
}

/// Each (state, event) row leads to its state with its commands other than traces.
fn check(rows: Vec<(State, Event, State, Vec<Command>)>) {
    for (from, event, to, commands) in rows {
        let mut call = in_state(from);
        let got = without_traces(call.handle(NOW, event.clone()));
        assert_eq!(call.state(), to, "{from:?} + {event:?}");
        assert_eq!(got, commands, "{from:?} + {event:?}");
    }
}

#[test]
fn every_state_and_event_does_what_the_table_says() {
    check(table());
}

#[test]
fn a_press_on_a_disabled_button_is_traced() {
    let mut call = in_state(State::Starting);
    let out = call.handle(NOW, CallPressed);
    assert_eq!(
        out,
        vec![Trace("Call pressed while starting: ignored".into())]
    );
}

#[test]
fn a_flood_of_ignored_presses_is_counted_and_traced_at_most_once_a_second() {
    let mut call = in_state(State::Starting);
    let traces = |out: Vec<Command>| out.into_iter().filter(|c| matches!(c, Trace(_))).count();
    let mut traced = 0;
    for ms in 0..1000 {
        traced += traces(call.handle(NOW + Duration::from_millis(ms), CallPressed));
    }
    assert_eq!(traced, 1, "one line for a second of presses");
    assert_eq!(call.ignored_presses(), 1000);
    let out = call.handle(NOW + Duration::from_secs(1), HangupPressed);
    assert_eq!(
        out,
        vec![Trace(
            "Hangup pressed while starting: ignored (999 more ignored presses since the last such line)"
                .into()
        )]
    );
    assert_eq!(call.ignored_presses(), 1001);
}

#[test]
fn start_opens_the_media_with_a_fast_blink() {
    let (call, commands) = Call::start(TIMEOUT, RETRY);
    assert_eq!(call.state(), State::Starting);
    assert_eq!(
        without_traces(commands),
        vec![StartMedia, SetLed(Led::FastBlink)]
    );
}

#[path = "call_proptests.rs"]
mod proptests;

#[path = "call_reload_tests.rs"]
mod reload;

#[path = "call_timing_tests.rs"]
mod timing;

/// The toggle button is resolved by the machine from the state it is in, never from a copy:
/// Call where Call is enabled, else Hangup (ignored, and traced, where neither is).
#[test]
fn the_toggle_button_calls_when_call_is_enabled_and_hangs_up_otherwise() {
    let hangup = |state| {
        let mut call = in_state(state);
        call.handle(NOW, HangupPressed)
    };
    let call_press = |state| {
        let mut call = in_state(state);
        call.handle(NOW, CallPressed)
    };
    for state in [State::Ready, PEER_ERR, MEDIA_ERR] {
        let mut call = in_state(state);
        assert_eq!(
            call.handle(NOW, TogglePressed),
            call_press(state),
            "{state:?}"
        );
    }
    for state in [
        CONNECTING,
        State::Connected,
        State::Starting,
        State::Stopping,
    ] {
        let mut call = in_state(state);
        assert_eq!(call.handle(NOW, TogglePressed), hangup(state), "{state:?}");
    }
    assert_eq!(Button::Toggle.pressed(), TogglePressed);
    assert_eq!(Button::Call.pressed(), CallPressed);
    assert_eq!(Button::Hangup.pressed(), HangupPressed);
}
