//! Real loopback calls: real UDP on 127.0.0.1, real DTLS-SRTP, real OpenH264 and Opus. A small
//! picture (320x240 at 15 fps) keeps them fast under emulation; the bounds are generous and the
//! calls run one at a time.

// Each test has a runtime of its own: the lock below serializes whole tests, not tasks, so
// holding it across their awaits is the point.
#![allow(clippy::await_holding_lock)]

mod common;

use common::{ONE_CALL_AT_A_TIME, out_dir, small_config};

use camloop::audio::tone::estimate_frequency;
use camloop::audio::wav::read_samples;
use camloop::call::{Event, State};
use camloop::daemon::{self, DaemonHandle};
use camloop::stats::CallReport;
use std::time::{Duration, Instant};

const READY: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(30);

async fn call(daemon: &mut DaemonHandle, media: Duration) -> CallReport {
    daemon
        .wait_for(READY, |s| s == State::Ready)
        .await
        .expect("media ready");
    let calls_before = daemon.status().await.unwrap().calls;
    daemon.press(Event::CallPressed);
    daemon
        .wait_for(CONNECT, |s| s == State::Connected)
        .await
        .expect("connected");
    tokio::time::sleep(media).await;
    daemon.press(Event::HangupPressed);
    daemon
        .wait_for(READY, |s| s == State::Ready)
        .await
        .expect("back to ready");
    let status = daemon.status().await.unwrap();
    assert_eq!(status.calls, calls_before + 1);
    status.last_call.expect("a report after hangup")
}

/// Local addresses of the UDP sockets this process holds.
fn udp_sockets() -> Vec<String> {
    camloop::rtc::sockets::udp_sockets()
        .into_iter()
        .map(|s| s.local.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_call_brings_back_the_picture_and_the_tone_over_loopback_only() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("five");
    let mut daemon = daemon::spawn(small_config(&dir));
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    assert!(
        udp_sockets().is_empty(),
        "no sockets before Call: {:?}",
        udp_sockets()
    );

    daemon.press(Event::CallPressed);
    daemon
        .wait_for(CONNECT, |s| s == State::Connected)
        .await
        .expect("connected");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = udp_sockets();
    daemon.press(Event::HangupPressed);
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    let after = udp_sockets();
    let report = daemon.status().await.unwrap().last_call.unwrap();
    daemon.press(Event::Shutdown);
    daemon.done.await.unwrap();

    assert!(!during.is_empty(), "the call used UDP sockets");
    assert!(
        during.iter().all(|a| a.starts_with("127.0.0.1:")),
        "only 127.0.0.1 during the call: {during:?}"
    );
    assert!(after.is_empty(), "no sockets left after hangup: {after:?}");

    let video = &report.video;
    assert!(
        video.sent >= 60,
        "5 s at 15 fps sends at least 60 frames: {video:?}"
    );
    assert!(
        video.decoded as f64 >= 0.9 * video.sent as f64,
        "decoded ≥ 90 % of sent: {video:?}"
    );
    assert!(
        video.psnr_db.unwrap() >= 30.0,
        "mean PSNR ≥ 30 dB: {video:?}"
    );
    // Measured beside the decoder, which may skip pictures when it is behind, not most.
    assert!(
        video.psnr_frames as f64 >= 0.5 * video.decoded as f64,
        "half the pictures measured at least: {video:?}"
    );
    assert!(
        video.latency_ms.p50.is_some()
            && video.encode_ms_p50.is_some()
            && video.decode_ms_p50.is_some()
    );
    assert!(report.setup_ms.ice_connected.is_some() && report.setup_ms.peer_connected.is_some());
    assert!(report.setup_ms.first_frame.is_some());
    assert!(
        report.audio.played as f64 >= 0.9 * report.audio.sent as f64,
        "{:?}",
        report.audio
    );

    let samples = read_samples(&dir.join("remote.wav")).unwrap();
    assert!(
        samples.len() >= 48_000 * 4,
        "at least 4 s of sound: {}",
        samples.len()
    );
    let hz = estimate_frequency(&samples).expect("a tone");
    assert!(
        (hz - 440.0).abs() <= 440.0 * 0.02,
        "the tone comes back at 440 Hz ± 2 %: {hz}"
    );

    let y4m = std::fs::read(dir.join("remote.y4m")).unwrap();
    assert!(y4m.starts_with(b"YUV4MPEG2 W320 H240 F15:1"));
    let frames = y4m.windows(6).filter(|w| w == b"FRAME\n").count() as u64;
    assert_eq!(frames, video.decoded, "every decoded frame is in the file");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("stats.json")).unwrap()).unwrap();
    assert_eq!(written["video"]["decoded"], video.decoded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_calls_in_a_row_each_build_and_release_their_connections() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("three");
    let mut daemon = daemon::spawn(small_config(&dir));
    for n in 1..=3 {
        let report = call(&mut daemon, Duration::from_millis(1500)).await;
        assert!(
            report.video.decoded > 0,
            "call {n} decoded video: {:?}",
            report.video
        );
        assert!(
            report.audio.received > 0,
            "call {n} received audio: {:?}",
            report.audio
        );
        assert!(udp_sockets().is_empty(), "call {n} left sockets behind");
    }
    daemon.press(Event::Shutdown);
    daemon.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_audio_disabled_the_call_is_video_only_and_with_quality_off_unmeasured() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("video-only");
    let mut config = small_config(&dir);
    config.audio.enabled = false;
    config.stats.quality = false;
    let mut daemon = daemon::spawn(config);
    let report = call(&mut daemon, Duration::from_millis(1500)).await;
    daemon.press(Event::Shutdown);
    daemon.done.await.unwrap();
    assert!(
        report.video.decoded > 0,
        "video arrived: {:?}",
        report.video
    );
    assert_eq!(
        (
            report.audio.sent,
            report.audio.received,
            report.audio.played
        ),
        (0, 0, 0),
        "no audio track: {:?}",
        report.audio
    );
    assert_eq!(
        (report.video.psnr_db, report.video.psnr_frames),
        (None, 0),
        "{:?}",
        report.video
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_while_connecting_returns_to_ready_and_the_next_call_works() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("early");
    let mut daemon = daemon::spawn(small_config(&dir));
    daemon.wait_for(READY, |s| s == State::Ready).await.unwrap();
    daemon.press(Event::CallPressed);
    daemon.press(Event::HangupPressed);
    // Inputs are handled in order: this answer comes once the Call and the Hangup are done.
    // (Waiting for Ready would not do: Ready before the Call counts too.)
    let status = daemon.status().await.unwrap();
    assert_eq!((status.state, status.calls), ("ready", 1), "{status:?}");
    let left = udp_sockets();
    assert!(left.is_empty(), "sockets left after the hangup: {left:?}");
    let report = call(&mut daemon, Duration::from_millis(1000)).await;
    assert!(report.video.decoded > 0);
    daemon.press(Event::Shutdown);
    daemon.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyframe_request_from_pc2_reaches_pc1() {
    use camloop::camera::pattern::Pattern;
    use camloop::config::Picture;
    use camloop::media::h264::{EncoderSettings, H264Encoder};
    use camloop::rtc::{Inbound, LoopbackPeers, Network, PeerNote};

    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (notes, mut noted) = tokio::sync::mpsc::unbounded_channel();
    let (video, video_in) = std::sync::mpsc::sync_channel(1024);
    let (audio, _audio_in) = std::sync::mpsc::sync_channel(1024);
    let peers = LoopbackPeers::connect(
        notes,
        Inbound {
            video,
            audio: Some(audio),
        },
        "test pattern",
        &Network {
            timeout: Duration::from_secs(15),
            impairment: None,
        },
    )
    .await
    .unwrap();
    let connected = tokio::time::timeout(CONNECT, async {
        while let Some(note) = noted.recv().await {
            if note == PeerNote::Connected {
                return true;
            }
        }
        false
    });
    assert!(connected.await.unwrap(), "both connections connect");

    // pc2 learns of the video track from its first packets; then it can ask for a keyframe.
    let settings = EncoderSettings {
        width: 160,
        height: 120,
        fps: 15,
        bitrate_kbps: 200,
        keyframe_interval_s: 60,
    };
    let mut encoder = H264Encoder::new(&settings).unwrap();
    let pattern = Pattern::new(Picture::Bars, 160, 120);
    let until = Instant::now() + CONNECT;
    let mut id = 0;
    while video_in.try_recv().is_err() {
        assert!(Instant::now() < until, "video reaches pc2");
        let frame = pattern.frame(id);
        if let Some(encoded) = encoder.encode(&frame).unwrap() {
            peers
                .send_video(encoded.data.into(), id * 6000)
                .await
                .unwrap();
        }
        id += 1;
        tokio::time::sleep(Duration::from_millis(66)).await;
    }
    assert!(!peers.take_keyframe_request(), "no request before pc2 asks");
    peers.request_keyframe().await.unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !peers.take_keyframe_request() {
        assert!(Instant::now() < until, "the PLI reaches pc1 within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(peers.wire_stats().await.pli, 1, "the request is counted");
    peers.close().await;
    assert!(udp_sockets().is_empty());
}
