//! What a call measured: counters and samples gathered by the media threads, turned into the
//! one-line summary and the JSON report. Video counts frames, audio counts 20 ms blocks.

use nix::sys::resource::{Usage, UsageWho, getrusage};
use nix::sys::time::TimeVal;
use serde::Serialize;
use std::time::Duration;

mod meter;
pub use meter::{CallMeter, OutsideCounts};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SetupMs {
    /// Call → pc1's ICE connected.
    pub ice_connected: Option<f64>,
    /// Call → both peer connections connected (DTLS done).
    pub peer_connected: Option<f64>,
    /// Call → first picture decoded at pc2.
    pub first_frame: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// pc1 derives each frame's RTP timestamp from the camera's capture instant (the V4L2 buffer
/// timestamp, or when the test pattern was drawn); pc2 looks the timestamp of each decoded
/// picture up to find that instant.
const LATENCY_METHOD: &str =
    "camera capture instant to decoded picture at pc2, matched by RTP timestamp";

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VideoReport {
    pub captured: u64,
    pub encoded: u64,
    pub sent: u64,
    pub decoded: u64,
    pub dropped: u64,
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub keyframes: u64,
    /// Keyframe requests (PLI, FIR) pc1 received.
    pub pli: u64,
    /// NACK messages pc1 received, the packets they named, and the packets it resent.
    pub nack: u64,
    pub nacked_packets: u64,
    pub retransmitted: u64,
    /// At pc2: packets put back in order, given up as lost, and come too late or twice.
    pub packets_reordered: u64,
    pub packets_lost: u64,
    pub packets_late: u64,
    /// Pictures pc2 could not decode (a packet of theirs lost, or a reference missing).
    pub frames_lost: u64,
    /// The longest time between two decoded pictures (or from the last to the report).
    pub freeze_max_ms: Option<f64>,
    pub latency_ms: Percentiles,
    /// How `latency_ms` is measured, for whoever reads the report.
    pub latency_method: &'static str,
    pub encode_ms_p50: Option<f64>,
    pub decode_ms_p50: Option<f64>,
    /// Mean over the decoded pictures measured, where the source picture is known (the test
    /// pattern) and `[stats] quality` is on; measured beside the decoder, so a busy machine
    /// measures fewer (`psnr_frames`) rather than slowing the call.
    pub psnr_db: Option<f64>,
    pub psnr_frames: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AudioLatency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AudioReport {
    pub captured: u64,
    pub sent: u64,
    pub received: u64,
    pub played: u64,
    /// Microphone overruns (capture not read in time), recovered.
    pub xruns: u64,
    /// Speaker underruns (pc2's audio late), recovered.
    pub underruns: u64,
    pub latency_ms: AudioLatency,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessReport {
    /// CPU time (user + system) the process used during the call.
    pub cpu_s: f64,
    /// Peak resident set size of the process so far.
    pub rss_peak_kib: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallReport {
    /// Call → Hangup.
    pub duration_s: f64,
    pub setup_ms: SetupMs,
    pub video: VideoReport,
    pub audio: AudioReport,
    pub process: ProcessReport,
    /// What the relay did to the packets, on an impaired network (`[network] impair`).
    pub network: Option<crate::rtc::relay::RelayReport>,
}

/// Value at quantile `q` (0..=1) of unsorted samples, nearest-rank; `None` when empty.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 3)
}

impl CallReport {
    /// The periodic one-line summary.
    pub fn summary(&self) -> String {
        let or_dash = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        format!(
            "video {} sent, {} decoded, {:.1} fps, {:.0} kbit/s, latency p50 {} ms, PSNR {} dB; audio {} sent, {} received, {} played; cpu {:.2} s",
            self.video.sent,
            self.video.decoded,
            self.video.fps,
            self.video.bitrate_kbps,
            or_dash(self.video.latency_ms.p50),
            or_dash(self.video.psnr_db),
            self.audio.sent,
            self.audio.received,
            self.audio.played,
            self.process.cpu_s,
        )
    }
}

/// This process's resource usage; getrusage(2) of RUSAGE_SELF fails only on a bad pointer,
/// which nix does not pass, so a failure reads as nothing used.
fn rusage() -> Option<Usage> {
    getrusage(UsageWho::RUSAGE_SELF).ok()
}

/// User + system CPU seconds of this process so far.
pub fn process_cpu_s() -> f64 {
    let secs = |t: TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    rusage().map_or(0.0, |u| secs(u.user_time()) + secs(u.system_time()))
}

/// Peak resident set size of this process, in KiB (Linux reports `ru_maxrss` in KiB).
pub fn process_rss_peak_kib() -> u64 {
    rusage().map_or(0, |u| u.max_rss().max(0) as u64)
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
