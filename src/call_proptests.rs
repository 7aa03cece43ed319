//! The call state machine's invariants over random event sequences.

use super::*;
use proptest::prelude::*;

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(MediaReady),
        Just(MediaFailed(Fault::transient("gone"))),
        Just(MediaFailed(Fault::needs_change("permission denied"))),
        Just(MediaFailed(Fault::internal("thread"))),
        Just(CallPressed),
        Just(HangupPressed),
        Just(TogglePressed),
        Just(IceState("checking".into())),
        Just(IceConnected),
        Just(PeerConnected),
        Just(PeerFailed(Fault::transient("dtls"))),
        Just(OutputFailed(Fault::transient("speaker busy"))),
        Just(CodecFailed(Fault::internal("encoder"))),
        Just(FirstRemoteFrame),
        Just(MediaChanged),
        Just(Tick),
        Just(Shutdown),
    ]
}

proptest! {
    #[test]
    fn invariants_hold_over_random_event_sequences(
        steps in proptest::collection::vec((any_event(), 0u64..4_000), 1..200)
    ) {
        let (mut call, commands) = Call::start(TIMEOUT, RETRY);
        let mut led = Led::Off;
        let mut media_starts_since_failure = 0;
        let mut peers_open = false;
        let mut connecting_since: Option<Duration> = None;
        let mut last_media_fault = FaultKind::Transient;
        let mut now = Duration::ZERO;
        let apply = |commands: Vec<Command>, led: &mut Led, starts: &mut i32, peers: &mut bool| {
            for command in commands {
                match command {
                    SetLed(p) => *led = p,
                    StartMedia => *starts += 1,
                    ConnectPeers => { prop_assert!(!*peers, "peers connected twice"); *peers = true }
                    ClosePeers => { prop_assert!(*peers, "closed peers that were not open"); *peers = false }
                    RestartPeers => prop_assert!(*peers, "restarted peers that were not open"),
                    _ => {}
                }
            }
            Ok(())
        };
        apply(commands, &mut led, &mut media_starts_since_failure, &mut peers_open)?;
        for (event, step_ms) in steps {
            now += Duration::from_millis(step_ms);
            // The daemon ticks at every deadline it is given, so deliver one if it is due.
            if call.deadline().is_some_and(|d| now >= d) {
                let restarts = call.handshake_restarts();
                let out = call.handle(now, Tick);
                apply(out, &mut led, &mut media_starts_since_failure, &mut peers_open)?;
                if matches!(call.state(), State::Connecting { .. }) {
                    prop_assert_eq!(call.handshake_restarts(), restarts + 1, "a due deadline ends Connecting or starts its handshake again");
                } else {
                    connecting_since = None;
                }
            }
            let before = call.state();
            // The media is opened again only after a failure or a change of its configuration.
            if matches!(event, MediaFailed(_) | MediaChanged) {
                media_starts_since_failure = 0;
            }
            let out = call.handle(now, event.clone());
            apply(out, &mut led, &mut media_starts_since_failure, &mut peers_open)?;
            let after = call.state();

            prop_assert!(media_starts_since_failure <= 1, "two StartMedia without a failure or change between");
            prop_assert_eq!(led, after.led(), "LED does not match {:?}", after);
            prop_assert_eq!(peers_open, matches!(after, State::Connecting { .. } | State::Connected));
            if before == State::Ready && event == HangupPressed {
                prop_assert_eq!(after, State::Ready);
            }
            if let MediaFailed(fault) = &event {
                last_media_fault = fault.kind;
            }
            // A transient media error always has a retry coming: armed, or under way. Any
            // other waits for a person: nothing is due, and no time alone opens the media.
            if after == MEDIA_ERR && media_starts_since_failure == 0 {
                if last_media_fault == FaultKind::Transient {
                    prop_assert!(
                        call.deadline().is_some_and(|d| d <= now + RETRY),
                        "a transient media error with no retry due"
                    );
                } else {
                    prop_assert_eq!(call.deadline(), None, "a retry armed for a {:?} fault", last_media_fault);
                }
            }
            match after {
                State::Connecting { .. } => {
                    let since = *connecting_since.get_or_insert(now);
                    prop_assert!(now <= since + TIMEOUT, "Connecting outlived its timeout");
                }
                _ => connecting_since = None,
            }
        }
    }
}
