//! Calls across a bad network, made by camloop's relay between pc1 and pc2 (`[network]
//! impair`): reordering undone, losses repaired by NACK or a keyframe, outages ridden out, and
//! counters that agree with what the relay did. At 320x240@15 with generous bounds: the
//! figures that matter are the bench's (`camloop bench --impair`).

#![allow(clippy::await_holding_lock)]

mod common;

use camloop::call::{Event, HANDSHAKE_STALL, State};
use camloop::config::{AudioOutput, Config, VideoOutput};
use camloop::daemon::{self, DaemonHandle};
use camloop::stats::CallReport;
use common::{ONE_CALL_AT_A_TIME, out_dir, small_config};
use std::time::Duration;

const READY: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(30);

/// A small call with no outputs across the relay doing `impair`. A lost DTLS flight is sent
/// again only after a second, then two: under emulation on a busy machine the default 10 s to
/// connect is not always enough, so the call may take as long as the test waits.
fn impaired(name: &str, impair: &str) -> Config {
    let mut config = small_config(&out_dir(name));
    config.output.video = VideoOutput::None;
    config.output.audio = AudioOutput::None;
    config.impairment = Some(impair.parse().unwrap());
    config.call.connect_timeout = CONNECT;
    config
}

/// A daemon on `config` with its call connected, at one press of Call: a handshake that lost
/// its last flight is started again by camloop itself (see the stalled-handshake test).
async fn connected(config: Config) -> DaemonHandle {
    let mut daemon = daemon::spawn(config);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    daemon.press(Event::CallPressed);
    let settled = daemon
        .wait_for(CONNECT, |s| matches!(s, State::Connected | State::Error(_)))
        .await;
    if settled != Ok(State::Connected) {
        let status = daemon.status().await;
        panic!("not connected ({settled:?}): {status:?}");
    }
    daemon
}

/// A call on `config` (from [`impaired`]) that must stay connected for `media`; its report.
async fn impaired_call(config: Config, media: Duration) -> CallReport {
    let impair = config
        .impairment
        .as_ref()
        .map_or(String::new(), |i| format!("{i:?}"));
    let mut daemon = connected(config).await;
    let ended = daemon.wait_for(media, |s| s != State::Connected).await;
    let status = daemon.status().await.unwrap();
    assert!(ended.is_err(), "{impair}: the call ended: {status:?}");
    daemon.press(Event::HangupPressed);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    let report = daemon.status().await.unwrap().last_call.unwrap();
    daemon.press(Event::Shutdown);
    let _ = daemon.done.await;
    println!(
        "{impair}: {}",
        serde_json::to_string(&report.video).unwrap()
    );
    println!(
        "{impair}: {}",
        serde_json::to_string(&report.network).unwrap()
    );
    report
}

/// rtc-dtls 0.21.1 drops its retransmit timer when the peer repeats a flight it already
/// answered: when the DTLS client's last flight (5) is lost once, the server's repeat of its own
/// flight cancels the client's timer, the client never sends it again, and the handshake stalls
/// until the server gives up. A compliant stack would send it again a second later. camloop
/// starts a handshake that is not done `HANDSHAKE_STALL` after ICE connected again on new
/// connections, within the call's connect deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_lost_the_clients_last_flight_stalls_and_camloop_starts_it_again() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = impaired("stall", "stall_dtls=1");
    let mut daemon = daemon::spawn(config);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    let pressed = std::time::Instant::now();
    daemon.press(Event::CallPressed);
    let settled = daemon
        .wait_for(CONNECT, |s| matches!(s, State::Connected | State::Error(_)))
        .await;
    let took = pressed.elapsed();
    let status = daemon.status().await.unwrap();
    assert_eq!(settled, Ok(State::Connected), "{status:?}");
    println!(
        "one client flight lost: connected {took:.1?} after Call, handshakes started again: {}",
        status.handshake_restarts
    );
    // Not done within HANDSHAKE_STALL although only one datagram was lost: the flight was
    // never sent again.
    assert_eq!(status.handshake_restarts, 1, "{status:?}");
    assert!(took >= HANDSHAKE_STALL, "connected after {took:?}");
    daemon.press(Event::HangupPressed);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    let report = daemon.status().await.unwrap().last_call.unwrap();
    assert!(report.video.decoded > 0, "{report:?}");
    assert_eq!(status.calls, 1);
    daemon.press(Event::Shutdown);
    let _ = daemon.done.await;
}

fn decoded_share(report: &CallReport) -> f64 {
    report.video.decoded as f64 / report.video.sent.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_that_reorders_packets_loses_no_picture() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Only a keyframe's packets are sent close enough together for ±10 ms to swap them (a
    // 320x240 P-frame of the bars is one packet, 67 ms after the last): one keyframe a second
    // makes a call without a swap all but impossible.
    let mut config = impaired("jitter", "delay=30,jitter=10");
    config.video.keyframe_interval_s = 1;
    let report = impaired_call(config, Duration::from_secs(6)).await;
    assert!(
        report.video.packets_reordered > 0,
        "the relay reordered nothing"
    );
    assert_eq!(report.network.unwrap().to_pc2_dropped, 0);
    assert_eq!(
        report.video.packets_lost, 0,
        "a reordered packet was given up"
    );
    assert_eq!(
        report.video.frames_lost, 0,
        "a picture was lost, the first keyframe's included"
    );
    assert!(
        decoded_share(&report) >= 0.9,
        "{:.2}",
        decoded_share(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_packets_are_asked_for_again_resent_and_counted() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Each stream's Nth packet meets the same fate in every run (src/rtc/impair.rs): seed 7
    // drops video packets 7, 12, 38, 42, 64, 66, … in the order sent, so any call that sends
    // video for a second loses some, however slow the machine. (A schedule drawn in arrival
    // order across all streams dropped only audio and STUN in one slow run.)
    let report = impaired_call(
        impaired("loss", "loss=5,delay=30,jitter=10,seed=7"),
        Duration::from_secs(8),
    )
    .await;
    let dropped = report.network.unwrap().to_pc2_dropped_video;
    let video = &report.video;
    assert!(
        dropped > 0,
        "the relay dropped none of {} video frames sent: {report:?}",
        video.sent
    );
    // Each dropped video packet is asked for, but for a few: one dropped just before Hangup, or
    // whose NACKs were dropped too. Some more are (overtaken ones, or resent ones lost again),
    // each at most twice.
    assert!(
        video.nacked_packets >= dropped.saturating_sub(dropped / 5 + 2)
            && video.nacked_packets <= 2 * (dropped + video.packets_reordered),
        "NACKs name {} packets for {dropped} dropped",
        video.nacked_packets
    );
    assert!(
        video.retransmitted >= dropped / 2,
        "resent {}",
        video.retransmitted
    );
    assert!(
        decoded_share(&report) >= 0.75,
        "{:.2}",
        decoded_share(&report)
    );
    assert!(
        video.freeze_max_ms.unwrap() < 2000.0,
        "{:?}",
        video.freeze_max_ms
    );
    // Audio, lost on its own schedule: each lost packet recovered from the next one's in-band
    // FEC or concealed, no run of concealment longer than a block.
    let audio = &report.audio;
    println!("audio: {}", serde_json::to_string(audio).unwrap());
    let lost = audio.sent - audio.received;
    assert!(lost > 0, "no audio lost");
    assert!(
        audio.fec_recovered * 2 >= lost,
        "FEC recovered {} of {lost} lost",
        audio.fec_recovered
    );
    assert!(audio.max_gap_ms <= 20.0, "{}", audio.max_gap_ms);
    assert!(
        audio.concealed_ms <= 0.06 * audio.sent as f64 * 20.0,
        "{} ms concealed of {} blocks",
        audio.concealed_ms,
        audio.sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_ice_disconnected_is_ridden_out_and_the_video_comes_back() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 7 s of nothing, from 1 s into the call: ICE says disconnected after 5 s.
    let report = impaired_call(
        impaired("blackout", "blackout=1+7"),
        Duration::from_secs(12),
    )
    .await;
    let freeze = report.video.freeze_max_ms.unwrap();
    assert!(freeze >= 6000.0, "no outage seen: {freeze} ms");
    assert!(
        freeze < 7000.0 + 3000.0,
        "video back {} ms after the network",
        freeze - 7000.0
    );
    assert!(
        report.video.pli >= 1,
        "no keyframe asked for after the outage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_never_comes_back_fails_the_call_after_the_network_timeout() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = impaired("gone", "blackout=1+3600");
    config.call.network_timeout = Duration::from_secs(6);
    let mut daemon = connected(config).await;
    let began = std::time::Instant::now();
    let failed = daemon
        .wait_for(Duration::from_secs(20), |s| s != State::Connected)
        .await;
    let after = began.elapsed();
    let status = daemon.status().await.unwrap();
    println!("failed after {after:?}: {:?}", status.last_error);
    assert!(matches!(failed, Ok(State::Error(_))), "{status:?}");
    // The silence the connections saw when the call ended: the timeout, not less (ICE counts
    // from its last STUN packet, which can precede the last media packet), and not much more.
    let quiet = status.last_call.as_ref().unwrap().network.unwrap().quiet_ms;
    println!("ended after {quiet:.0} ms of silence");
    assert!(
        (6000.0..7000.0).contains(&quiet),
        "ended after {quiet:.0} ms of silence, for a 6 s network_timeout"
    );
    assert!(status.last_error.unwrap().contains("failed"));
    daemon.press(Event::Shutdown);
    let _ = daemon.done.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_never_connects_gives_up_at_its_timeout_and_says_which_setting() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = impaired("never", "blackout=0+3600");
    config.call.connect_timeout = Duration::from_secs(2);
    let mut daemon = daemon::spawn(config);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    daemon.press(Event::CallPressed);
    let gave_up = daemon
        .wait_for(Duration::from_secs(20), |s| matches!(s, State::Error(_)))
        .await;
    let status = daemon.status().await.unwrap();
    println!("gave up: {:?}", status.last_error);
    assert!(gave_up.is_ok(), "{status:?}");
    let why = status.last_error.unwrap_or_default();
    assert!(
        why.contains("2.0 s") && why.contains("[call] connect_timeout_s"),
        "{why}"
    );
    daemon.press(Event::Shutdown);
    let _ = daemon.done.await;
}
