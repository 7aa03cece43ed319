//! One bench call in this process, and the floor beside it.

use super::{BenchRun, ScreenChoice, parse_size};
use crate::call::{Event, State};
use crate::camera::pattern::Pattern;
use crate::config::Picture;
use crate::config::{AudioOutput, Config, VideoOutput};
use crate::daemon;
use crate::display::screen::Screen;
use crate::media::h264::{EncoderSettings, H264Decoder, H264Encoder};
use crate::rtc::impair::Impairment;
use crate::stats::{CallReport, quantile};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(super) async fn one(
    size: &str,
    picture: Picture,
    seconds: u32,
    impairment: Option<Impairment>,
    screen: ScreenChoice,
    quality: bool,
) -> Result<BenchRun, String> {
    let (width, height) =
        parse_size(size).ok_or_else(|| format!("expected WIDTHxHEIGHT, got {size:?}"))?;
    let mut config = codec_config(width, height, picture);
    config.output.video = VideoOutput::None;
    config.output.audio = AudioOutput::None;
    config.impairment = impairment;
    config.stats.quality = quality;
    let screen = screen.open();
    let described = screen.as_ref().map(|s| s.describe().to_string());
    let presented = screen.as_ref().map(Screen::presented);
    let report = call(config.clone(), screen, Duration::from_secs(seconds.into())).await?;
    let screen_fps = presented.map_or(0.0, |p| {
        p.load(Ordering::Relaxed) as f64 / report.duration_s
    });
    let floor_ms = floor(&config, 60, true)?;
    let floor_back_to_back_ms = floor(&config, 60, false)?;
    let need = |v: Option<f64>, what: &str| v.ok_or_else(|| format!("the call measured no {what}"));
    let latency_p50 = need(report.video.latency_ms.p50, "latency")?;
    Ok(BenchRun {
        size: size.into(),
        pattern: picture.name().into(),
        ice_connected_ms: need(report.setup_ms.ice_connected, "ICE setup")?,
        peer_connected_ms: need(report.setup_ms.peer_connected, "connection setup")?,
        first_frame_ms: need(report.setup_ms.first_frame, "first frame")?,
        latency_p50_ms: latency_p50,
        latency_p95_ms: need(report.video.latency_ms.p95, "latency")?,
        latency_p99_ms: need(report.video.latency_ms.p99, "latency")?,
        encode_ms_p50: need(report.video.encode_ms_p50, "encode time")?,
        decode_ms_p50: need(report.video.decode_ms_p50, "decode time")?,
        floor_ms,
        floor_back_to_back_ms,
        latency_over_floor: latency_p50 / floor_ms,
        latency_minus_floor_ms: latency_p50 - floor_ms,
        cpu_s_per_s: report.process.cpu_s / report.duration_s,
        rss_peak_kib: report.process.rss_peak_kib,
        frames_decoded: report.video.decoded,
        psnr_db: report.video.psnr_db,
        psnr_per_s: report.video.psnr_frames as f64 / report.duration_s,
        frames_sent: report.video.sent,
        decoded_percent: 100.0 * report.video.decoded as f64 / report.video.sent.max(1) as f64,
        freeze_max_ms: need(report.video.freeze_max_ms, "picture interval")?,
        frames_lost: report.video.frames_lost,
        nack: report.video.nack,
        nacked_packets: report.video.nacked_packets,
        retransmitted: report.video.retransmitted,
        pli: report.video.pli,
        relay_dropped_video: report.network.map_or(0, |n| n.to_pc2_dropped_video),
        relay_dropped: report
            .network
            .map_or(0, |n| n.to_pc2_dropped + n.to_pc1_dropped),
        audio_lost: report.audio.sent.saturating_sub(report.audio.received),
        audio_fec_recovered: report.audio.fec_recovered,
        audio_concealed_percent: 100.0 * report.audio.concealed_ms
            / (report.audio.sent.max(1) as f64 * 20.0),
        audio_max_gap_ms: report.audio.max_gap_ms,
        screen: described.unwrap_or_default(),
        screen_fps,
    })
}

/// The camera and encoder a bench call has at a size: 30 fps, a bitrate for the size.
pub(super) fn codec_config(width: u32, height: u32, picture: Picture) -> Config {
    let mut config = Config::default();
    config.camera.width = width;
    config.camera.height = height;
    config.camera.fps = 30;
    config.camera.pattern = picture;
    config.video.bitrate_kbps = if width * height > 640 * 480 {
        2500
    } else {
        1500
    };
    config
}

/// The encoder settings of `config`'s camera and video.
pub(super) fn encoder_settings(config: &Config) -> EncoderSettings {
    EncoderSettings {
        width: config.camera.width as usize,
        height: config.camera.height as usize,
        fps: config.camera.fps,
        bitrate_kbps: config.video.bitrate_kbps,
        keyframe_interval_s: config.video.keyframe_interval_s,
    }
}

/// One call through the daemon: Call at Ready, Hangup after `media` of connected time.
async fn call(
    config: Config,
    screen: Option<Screen>,
    media: Duration,
) -> Result<CallReport, String> {
    let mut daemon = daemon::spawn_with_screen(config, screen);
    let ready = daemon
        .wait_for(Duration::from_secs(10), |s| s == State::Ready)
        .await;
    ready.map_err(|s| format!("media not ready ({})", s.name()))?;
    daemon.press(Event::CallPressed);
    let connected = daemon
        .wait_for(Duration::from_secs(15), |s| s == State::Connected)
        .await;
    if let Err(s) = connected {
        daemon.press(Event::Shutdown);
        return Err(format!("the call did not connect ({})", s.name()));
    }
    // Hangup is pressed only on a call still up: one that ended on the way has no figures.
    let ended = daemon.wait_for(media, |s| s != State::Connected).await;
    if let Ok(state) = ended {
        let why = daemon.status().await.and_then(|s| s.last_error);
        daemon.press(Event::Shutdown);
        return Err(format!(
            "the call ended before Hangup ({}): {}",
            state.name(),
            why.unwrap_or_default()
        ));
    }
    daemon.press(Event::HangupPressed);
    daemon.press(Event::Shutdown);
    daemon
        .done
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no report".into())
}

/// Median encode + decode time per frame of `frames` pattern pictures, no transport. `paced`
/// spaces the frames at the call's rate, as in the call; back to back, the codec runs with hot
/// caches that a live call never has.
fn floor(config: &Config, frames: u32, paced: bool) -> Result<f64, String> {
    let settings = encoder_settings(config);
    let mut encoder = H264Encoder::new(&settings).map_err(|e| e.to_string())?;
    let mut decoder = H264Decoder::new().map_err(|e| e.to_string())?;
    let pattern = Pattern::new(config.camera.pattern, settings.width, settings.height);
    let mut times = Vec::new();
    let interval = Duration::from_secs(1) / config.camera.fps;
    for id in 0..frames {
        if paced {
            std::thread::sleep(interval);
        }
        let frame = pattern.frame(id);
        let began = Instant::now();
        let Some(encoded) = encoder.encode(&frame).map_err(|e| e.to_string())? else {
            continue;
        };
        decoder.decode(&encoded.data).map_err(|e| e.to_string())?;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    quantile(&times, 0.5).ok_or_else(|| "the encoder skipped every frame".into())
}
