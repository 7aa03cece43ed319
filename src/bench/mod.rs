//! `camloop bench`: real loopback calls on the test pattern at 640x480 and 1280x720, 30 fps,
//! each run in a process of its own so that peak memory is that size's alone. Next to each
//! call it measures the floor: encode + decode of the same pictures with no transport, so the
//! latency can be read as a ratio to what the codec alone costs. Beside each call runs one
//! that also shows it on a screen, so what the display costs is a ratio of neighbours. Figures
//! are medians over runs.

use crate::call::{Event, State};
use crate::camera::pattern::Pattern;
use crate::config::{AudioOutput, Config, VideoOutput};
use crate::daemon;
use crate::display::{
    self,
    screen::{MemorySurface, Screen},
};
use crate::media::frame::Frame;
use crate::media::h264::{EncoderSettings, H264Decoder, H264Encoder};
use crate::rtc::impair::Impairment;
use crate::stats::{CallReport, quantile};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod table;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds of media per call.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3600))]
    seconds: u32,
    /// Calls per size; the table shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// Sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "640x480,1280x720", value_parser = picture_size)]
    sizes: Vec<String>,
    /// Run one call at one size in this process and print its figures (used by the parent).
    #[arg(long, hide = true, value_parser = picture_size)]
    one: Option<String>,
    /// A bad network between pc1 and pc2, e.g. loss=5,delay=30,jitter=10,blackout=5+2
    /// (percent, ms, ms, start s + length s; seed=N picks another schedule).
    #[arg(long, value_parser = impairment)]
    impair: Option<String>,
    /// Beside each call, one that also shows both pictures and the status line on a screen:
    /// auto is a DRM screen if camloop can have one, else one in memory; off is none.
    #[arg(long, value_enum, default_value_t = ScreenChoice::Auto)]
    screen: ScreenChoice,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScreenChoice {
    Auto,
    Memory,
    Off,
}

impl ScreenChoice {
    fn name(self) -> &'static str {
        match self {
            ScreenChoice::Auto => "auto",
            ScreenChoice::Memory => "memory",
            ScreenChoice::Off => "off",
        }
    }

    fn open(self) -> Option<Screen> {
        let memory = || Screen::start(Box::new(MemorySurface::new(1280, 720)));
        match self {
            ScreenChoice::Off => None,
            ScreenChoice::Memory => Some(memory()),
            ScreenChoice::Auto => {
                display::open_screen(&VideoOutput::Drm(None)).or_else(|| Some(memory()))
            }
        }
    }
}

fn impairment(text: &str) -> Result<String, String> {
    text.parse::<Impairment>().map(|_| text.to_string())
}

/// The figures of one call.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BenchRun {
    pub size: String,
    pub ice_connected_ms: f64,
    pub peer_connected_ms: f64,
    pub first_frame_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub encode_ms_p50: f64,
    pub decode_ms_p50: f64,
    /// Encode + decode of the same pictures without transport, median per frame.
    pub floor_ms: f64,
    /// The same, back to back with hot caches: a floor no live call reaches, shown for contrast.
    pub floor_back_to_back_ms: f64,
    pub latency_over_floor: f64,
    pub latency_minus_floor_ms: f64,
    pub cpu_s_per_s: f64,
    pub rss_peak_kib: u64,
    pub frames_decoded: u64,
    pub psnr_db: f64,
    /// On an impaired network (`--impair`): what got through, and what it took.
    pub frames_sent: u64,
    pub decoded_percent: f64,
    pub freeze_max_ms: f64,
    pub frames_lost: u64,
    pub nack: u64,
    pub nacked_packets: u64,
    pub retransmitted: u64,
    pub pli: u64,
    pub relay_dropped_video: u64,
    pub relay_dropped: u64,
    /// The screen the call was shown on (empty: none), and the pictures it showed a second.
    pub screen: String,
    pub screen_fps: f64,
}

/// `WIDTHxHEIGHT` as a camera takes it: even, from 16x16 to 3840x2160.
fn picture_size(text: &str) -> Result<String, String> {
    parse_size(text).map(|_| text.to_string()).ok_or_else(|| {
        let (w, h) = (crate::config::WIDTHS, crate::config::HEIGHTS);
        format!(
            "{text:?}: expected WIDTHxHEIGHT, even, from {}x{} to {}x{}",
            w.start(),
            h.start(),
            w.end(),
            h.end()
        )
    })
}

fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    let fits = crate::config::WIDTHS.contains(&w) && crate::config::HEIGHTS.contains(&h);
    (fits && w % 2 == 0 && h % 2 == 0).then_some((w, h))
}

pub async fn run(args: BenchArgs) -> ExitCode {
    let impairment = args.impair.as_deref().and_then(|spec| spec.parse().ok());
    if let Some(size) = &args.one {
        return match one(size, args.seconds, impairment, args.screen).await {
            Ok(run) => {
                println!("{}", serde_json::to_string(&run).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("camloop bench: {size}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("camloop bench: cannot find its own executable");
        return ExitCode::FAILURE;
    };
    let mut sizes = Vec::new();
    for size in &args.sizes {
        let (mut runs, mut shown) = (Vec::new(), Vec::new());
        for n in 1..=args.runs {
            eprintln!("bench {size}: call {n} of {}", args.runs);
            runs.extend(child(&exe, size, &args, ScreenChoice::Off).await);
            if args.screen != ScreenChoice::Off {
                eprintln!("bench {size}: call {n} of {} on a screen", args.runs);
                shown.extend(child(&exe, size, &args, args.screen).await);
            }
        }
        if runs.is_empty() {
            eprintln!("camloop bench: no call at {size} gave figures; see the errors above");
            return ExitCode::FAILURE;
        }
        sizes.push((runs, shown));
    }
    let rows: Vec<_> = sizes
        .iter()
        .map(|(runs, shown)| {
            let median = |runs: &[BenchRun]| (!runs.is_empty()).then(|| table::median_run(runs));
            (median(runs).unwrap_or_default(), median(shown), runs.len())
        })
        .collect();
    let json: Vec<_> = rows
        .iter()
        .zip(&sizes)
        .map(|((m, on_screen, _), (runs, shown))| {
            serde_json::json!({ "size": m.size, "median": m, "runs": runs,
                "screen": { "median": on_screen, "runs": shown } })
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&json).unwrap_or_default()
    );
    println!();
    let plain: Vec<_> = rows.iter().map(|(m, _, n)| (m.clone(), *n)).collect();
    table::print(&plain);
    if let Some(spec) = &args.impair {
        println!("\nnetwork: {spec}");
        table::print_network(&plain);
    }
    let shown: Vec<_> = rows
        .iter()
        .filter_map(|(m, on_screen, _)| Some((m, on_screen.as_ref()?)))
        .collect();
    if !shown.is_empty() {
        println!();
        table::print_screen(&shown);
    }
    ExitCode::SUCCESS
}

/// One call in a process of its own: its figures, or None (said on stderr).
async fn child(
    exe: &std::path::Path,
    size: &str,
    args: &BenchArgs,
    screen: ScreenChoice,
) -> Option<BenchRun> {
    let mut command = tokio::process::Command::new(exe);
    let seconds = args.seconds.to_string();
    command.args(["bench", "--one", size, "--seconds", &seconds]);
    command.args(["--screen", screen.name()]);
    if let Some(spec) = &args.impair {
        command.args(["--impair", spec]);
    }
    match command.output().await {
        Ok(o) if o.status.success() => match serde_json::from_slice::<BenchRun>(&o.stdout) {
            Ok(run) => Some(run),
            Err(e) => {
                eprintln!("bench {size}: unreadable figures: {e}");
                None
            }
        },
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            eprintln!("bench {size}: call failed: {}", why.trim());
            None
        }
        Err(e) => {
            eprintln!("bench {size}: cannot start a call process: {e}");
            None
        }
    }
}

async fn one(
    size: &str,
    seconds: u32,
    impairment: Option<Impairment>,
    screen: ScreenChoice,
) -> Result<BenchRun, String> {
    let (width, height) =
        parse_size(size).ok_or_else(|| format!("expected WIDTHxHEIGHT, got {size:?}"))?;
    let mut config = Config::default();
    config.camera.width = width;
    config.camera.height = height;
    config.camera.fps = 30;
    config.video.bitrate_kbps = if width * height > 640 * 480 {
        2500
    } else {
        1500
    };
    config.output.video = VideoOutput::None;
    config.output.audio = AudioOutput::None;
    config.impairment = impairment;
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
        psnr_db: report.video.psnr_db.unwrap_or(f64::NAN),
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
        screen: described.unwrap_or_default(),
        screen_fps,
    })
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
    let (width, height) = (config.camera.width as usize, config.camera.height as usize);
    let settings = EncoderSettings {
        width,
        height,
        fps: config.camera.fps,
        bitrate_kbps: config.video.bitrate_kbps,
        keyframe_interval_s: config.video.keyframe_interval_s,
    };
    let mut encoder = H264Encoder::new(&settings).map_err(|e| e.to_string())?;
    let mut decoder = H264Decoder::new().map_err(|e| e.to_string())?;
    let pattern = Pattern { width, height };
    let mut times = Vec::new();
    let interval = Duration::from_secs(1) / config.camera.fps;
    for id in 0..frames {
        if paced {
            std::thread::sleep(interval);
        }
        let frame = Frame {
            id,
            captured: Instant::now(),
            width,
            height,
            data: pattern.render(id),
        };
        let began = Instant::now();
        let Some(encoded) = encoder.encode(&frame).map_err(|e| e.to_string())? else {
            continue;
        };
        decoder.decode(&encoded.data).map_err(|e| e.to_string())?;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    quantile(&times, 0.5).ok_or_else(|| "the encoder skipped every frame".into())
}
