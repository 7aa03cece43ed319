//! `camloop bench`: real loopback calls on the test pattern at 640x480 and 1280x720, 30 fps,
//! each run in a process of its own so that peak memory is that size's alone. Next to each
//! call it measures the floor: encode + decode of the same pictures with no transport, so the
//! latency can be read as a ratio to what the codec alone costs. The plain call measures no
//! picture quality; beside it run one that measures PSNR and one that also shows it on a
//! screen, so what each costs is a ratio of neighbours. Figures are medians over runs. Each size is measured on both test pictures: the colour bars, and the
//! scene, whose encode time, bitrate and quality are those of a camera's view.

use crate::config::Picture;
use crate::config::VideoOutput;
use crate::display::{
    self,
    screen::{MemorySurface, Screen},
};
use crate::rtc::impair::Impairment;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

mod call;
mod codec;
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
    /// Test pictures to measure each size on: bars, scene.
    #[arg(long, value_delimiter = ',', default_value = "bars,scene", value_parser = picture)]
    patterns: Vec<Picture>,
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
    /// Measure each picture's PSNR in this call (used by the parent).
    #[arg(long, hide = true)]
    quality: bool,
    /// No call: render, encode and decode --frames pictures of each size on this thread and
    /// print each stage's median time a frame; a stage given stops after it.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "decode")]
    codec: Option<Stage>,
    /// Pictures per size for --codec.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    frames: u32,
}

/// The last stage `--codec` runs: each includes those before it.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    Render,
    Encode,
    Decode,
}

impl BenchArgs {
    /// `--codec`: the codec alone, on this thread, with no runtime around it.
    pub fn codec_only(&self) -> Option<ExitCode> {
        let last = self.codec?;
        Some(codec::run(&self.sizes, &self.patterns, self.frames, last))
    }
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

fn picture(text: &str) -> Result<Picture, String> {
    let names = Picture::NAMES;
    let found = names.iter().find(|(name, _)| *name == text);
    found.map(|(_, p)| *p).ok_or_else(|| {
        let known: Vec<_> = names.iter().map(|(name, _)| *name).collect();
        format!("{text:?}: expected one of {}", known.join(", "))
    })
}

fn impairment(text: &str) -> Result<String, String> {
    text.parse::<Impairment>().map(|_| text.to_string())
}

/// The figures of one call.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BenchRun {
    pub size: String,
    /// The test picture: bars or scene.
    pub pattern: String,
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
    /// With quality measured: the mean PSNR, and the pictures measured a second.
    pub psnr_db: Option<f64>,
    pub psnr_per_s: f64,
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
    /// The audio packets lost, those played from the next one's FEC, the share of the sound
    /// concealed and its longest run.
    pub audio_lost: u64,
    pub audio_fec_recovered: u64,
    pub audio_concealed_percent: f64,
    pub audio_max_gap_ms: f64,
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
        let picture = args.patterns.first().copied().unwrap_or(Picture::Bars);
        let call = call::one(
            size,
            picture,
            args.seconds,
            impairment,
            args.screen,
            args.quality,
        );
        return match call.await {
            Ok(run) => {
                println!("{}", serde_json::to_string(&run).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("camloop bench: {size} {}: {e}", picture.name());
                ExitCode::FAILURE
            }
        };
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("camloop bench: cannot find its own executable");
        return ExitCode::FAILURE;
    };
    let mut cases = Vec::new();
    for size in &args.sizes {
        for &picture in &args.patterns {
            let case = format!("{size} {}", picture.name());
            let (mut runs, mut measured, mut shown) = (Vec::new(), Vec::new(), Vec::new());
            for n in 1..=args.runs {
                let beside =
                    |what: &str| eprintln!("bench {case}: call {n} of {}{what}", args.runs);
                beside("");
                runs.extend(child(&exe, size, picture, &args, ScreenChoice::Off, false).await);
                beside(" measuring quality");
                measured.extend(child(&exe, size, picture, &args, ScreenChoice::Off, true).await);
                if args.screen != ScreenChoice::Off {
                    beside(" on a screen");
                    shown.extend(child(&exe, size, picture, &args, args.screen, false).await);
                }
            }
            if runs.is_empty() {
                eprintln!("camloop bench: no call at {case} gave figures; see the errors above");
                return ExitCode::FAILURE;
            }
            cases.push([runs, measured, shown]);
        }
    }
    let median = |runs: &[BenchRun]| (!runs.is_empty()).then(|| table::median_run(runs));
    let rows: Vec<_> = cases
        .iter()
        .map(|[runs, measured, shown]| Row {
            plain: median(runs).unwrap_or_default(),
            measured: median(measured),
            shown: median(shown),
            runs: runs.len(),
        })
        .collect();
    let json: Vec<_> = rows
        .iter()
        .zip(&cases)
        .map(|(row, [runs, measured, shown])| {
            serde_json::json!({ "size": row.plain.size, "pattern": row.plain.pattern,
                "median": row.plain, "runs": runs,
                "quality": { "median": row.measured, "runs": measured },
                "screen": { "median": row.shown, "runs": shown } })
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&json).unwrap_or_default()
    );
    println!();
    let plain: Vec<_> = rows.iter().map(|r| (r.plain.clone(), r.runs)).collect();
    table::print(&plain);
    if let Some(spec) = &args.impair {
        println!("\nnetwork: {spec}");
        table::print_network(&plain);
    }
    let measured: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((&r.plain, r.measured.as_ref()?)))
        .collect();
    if !measured.is_empty() {
        println!();
        table::print_quality(&measured);
    }
    let shown: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((&r.plain, r.shown.as_ref()?)))
        .collect();
    if !shown.is_empty() {
        println!();
        table::print_screen(&shown);
    }
    ExitCode::SUCCESS
}

/// A size and picture's medians: the plain calls, and those beside them that measured quality
/// or showed the call on a screen.
struct Row {
    plain: BenchRun,
    measured: Option<BenchRun>,
    shown: Option<BenchRun>,
    runs: usize,
}

/// One call in a process of its own: its figures, or None (said on stderr).
async fn child(
    exe: &std::path::Path,
    size: &str,
    picture: Picture,
    args: &BenchArgs,
    screen: ScreenChoice,
    quality: bool,
) -> Option<BenchRun> {
    let mut command = tokio::process::Command::new(exe);
    let seconds = args.seconds.to_string();
    command.args(["bench", "--one", size, "--seconds", &seconds]);
    command.args(["--patterns", picture.name(), "--screen", screen.name()]);
    if let Some(spec) = &args.impair {
        command.args(["--impair", spec]);
    }
    if quality {
        command.arg("--quality");
    }
    let case = format!("{size} {}", picture.name());
    match command.output().await {
        Ok(o) if o.status.success() => match serde_json::from_slice::<BenchRun>(&o.stdout) {
            Ok(run) => Some(run),
            Err(e) => {
                eprintln!("bench {case}: unreadable figures: {e}");
                None
            }
        },
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            eprintln!("bench {case}: call failed: {}", why.trim());
            None
        }
        Err(e) => {
            eprintln!("bench {case}: cannot start a call process: {e}");
            None
        }
    }
}
