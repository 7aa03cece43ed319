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

/// How long pc2's audio packets waited in its jitter buffer before they were played.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlayoutDelay {
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AudioReport {
    pub captured: u64,
    pub sent: u64,
    pub received: u64,
    /// Packets played in their turn.
    pub played: u64,
    /// Lost packets played from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Lost packets, without FEC, played as Opus's concealment.
    pub concealed_ms: f64,
    /// Packets that came after their turn (recovered or concealed already), dropped.
    pub late: u64,
    /// The longest run of concealment: sound that was not the source's.
    pub max_gap_ms: f64,
    pub playout_delay_ms: PlayoutDelay,
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
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn quantiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50.0));
        assert_eq!(quantile(&samples, 0.95), Some(95.0));
        assert_eq!(quantile(&samples, 1.0), Some(100.0));
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_report_adds_up_what_was_recorded() {
        let start = Instant::now();
        let meter = CallMeter::new(start);
        meter.ice_connected(start + Duration::from_millis(30));
        meter.encoded(Duration::from_millis(4), true);
        meter.encoded(Duration::from_millis(2), false);
        meter.video_sent();
        meter.video_sent();
        let first = start + Duration::from_millis(80);
        // Media began flowing 80 ms in: bytes count from there, pictures from the first one.
        meter.peer_connected(first);
        meter.frame_lost();
        // The first picture was captured before media flowed: its 25 ms are setup, not latency.
        let ms = Duration::from_millis;
        let picture = |at: Instant, latency: u64| meter.decoded(at, ms(1), Some(at - ms(latency)));
        assert!(picture(first, 25));
        assert!(!picture(first + ms(500), 20));
        assert!(!picture(first + ms(1000), 30));
        for psnr in [40.0, 41.0, 42.0] {
            meter.quality(psnr);
        }
        let outside = OutsideCounts {
            video_captured: 3,
            video_dropped: 1,
            audio_captured: 0,
            audio_xruns: 2,
            audio_underruns: 1,
            wire: crate::rtc::WireStats {
                video_bytes_sent: 12_500,
                nack: 2,
                pli: 1,
                ..Default::default()
            },
        };
        let report = meter.report(first + Duration::from_secs(1), outside);
        assert_eq!((report.audio.xruns, report.audio.underruns), (2, 1));
        assert_eq!(report.setup_ms.ice_connected, Some(30.0));
        assert_eq!(report.setup_ms.first_frame, Some(80.0));
        assert_eq!(report.setup_ms.peer_connected, Some(80.0));
        assert_eq!(
            (
                report.video.encoded,
                report.video.sent,
                report.video.decoded
            ),
            (2, 2, 3)
        );
        assert_eq!(
            (
                report.video.captured,
                report.video.dropped,
                report.video.keyframes
            ),
            (3, 1, 1)
        );
        assert_eq!((report.video.pli, report.video.nack), (1, 2));
        assert_eq!(report.video.frames_lost, 1);
        assert_eq!(report.video.freeze_max_ms, Some(500.0));
        assert_eq!(report.video.fps, 2.0);
        assert_eq!(report.video.bitrate_kbps, 100.0);
        // Durations are kept to three significant digits.
        let near = |value: Option<f64>, expected: f64| {
            value.is_some_and(|v| (v - expected).abs() <= expected / 1000.0)
        };
        assert!(near(report.video.latency_ms.p50, 20.0), "{report:?}");
        assert!(near(report.video.latency_ms.max, 30.0), "{report:?}");
        assert!(near(report.video.encode_ms_p50, 2.0), "{report:?}");
        assert_eq!(report.video.decode_ms_p50, Some(1.0));
        assert_eq!(report.video.psnr_db, Some(41.0));
        assert_eq!(report.video.psnr_frames, 3);
        assert!(report.process.rss_peak_kib > 0);
    }

    #[test]
    fn rates_count_bytes_from_when_media_began_not_from_the_first_picture() {
        // The first picture came 2 s after media began (a lost keyframe): the bitrate is over
        // the 3 s bytes flowed, not the 1 s since that picture.
        let start = Instant::now();
        let meter = CallMeter::new(start);
        meter.peer_connected(start);
        meter.decoded(start + Duration::from_secs(2), Duration::ZERO, None);
        let outside = OutsideCounts {
            wire: crate::rtc::WireStats {
                video_bytes_sent: 375_000,
                ..Default::default()
            },
            ..Default::default()
        };
        let report = meter.report(start + Duration::from_secs(3), outside);
        assert_eq!(report.video.bitrate_kbps, 1000.0);
        assert_eq!(
            report.video.freeze_max_ms,
            Some(1000.0),
            "still frozen at report time"
        );
    }
}
