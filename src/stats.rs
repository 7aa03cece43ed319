//! What a call measured: counters and samples gathered by the media threads, turned into the
//! one-line summary and the JSON report. Video counts frames, audio counts 20 ms blocks.

use crate::media::reorder::ReorderCounts;
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Mean over decoded frames, where the source picture is known (the test pattern).
    pub psnr_db: Option<f64>,
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

/// Keeps at most this many samples of each kind (an hour at 30 fps), so a long call's
/// memory stays bounded; counters keep counting.
const MAX_SAMPLES: usize = 108_000;

fn record(samples: &mut Vec<f64>, value: f64) {
    if samples.len() < MAX_SAMPLES {
        samples.push(value);
    }
}

#[derive(Default)]
struct Counts {
    ice_connected: Option<Instant>,
    peer_connected: Option<Instant>,
    first_frame: Option<Instant>,
    encoded: u64,
    sent: u64,
    keyframes: u64,
    decoded: u64,
    last_decoded: Option<Instant>,
    freeze_max: Duration,
    frames_lost: u64,
    reorder: ReorderCounts,
    encode_ms: Vec<f64>,
    decode_ms: Vec<f64>,
    latency_ms: Vec<f64>,
    psnr_sum: f64,
    psnr_frames: u64,
    audio_sent: u64,
    audio_received: u64,
    audio_played: u64,
    audio_latency_ms: Vec<f64>,
}

/// Where the threads of one call record what happens. Cheap to lock: one short update each.
pub struct CallMeter {
    started: Instant,
    cpu_at_start: f64,
    counts: Mutex<Counts>,
}

/// What the capture queues counted during the call, and what the wire said.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutsideCounts {
    pub video_captured: u64,
    pub video_dropped: u64,
    pub audio_captured: u64,
    pub audio_xruns: u64,
    pub audio_underruns: u64,
    pub wire: crate::rtc::WireStats,
}

impl CallMeter {
    pub fn new(started: Instant) -> Self {
        CallMeter {
            started,
            cpu_at_start: process_cpu_s(),
            counts: Mutex::default(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counts) -> R) -> R {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn ice_connected(&self, at: Instant) {
        self.with(|c| {
            c.ice_connected.get_or_insert(at);
        });
    }

    pub fn peer_connected(&self, at: Instant) {
        self.with(|c| {
            c.peer_connected.get_or_insert(at);
        });
    }

    pub fn encoded(&self, took: Duration, keyframe: bool) {
        self.with(|c| {
            c.encoded += 1;
            c.keyframes += u64::from(keyframe);
            record(&mut c.encode_ms, ms(took));
        });
    }

    pub fn video_sent(&self) {
        self.with(|c| c.sent += 1);
    }

    /// A decoded picture, captured at `captured` if known; returns true if it was the first
    /// of the call. Its latency counts only if it was captured once media flowed: the first
    /// picture is the camera's newest when the connections came up, and its wait for them is
    /// part of the setup (`setup_ms.first_frame`), not of the media path.
    pub fn decoded(
        &self,
        at: Instant,
        took: Duration,
        captured: Option<Instant>,
        psnr_db: Option<f64>,
    ) -> bool {
        self.with(|c| {
            c.decoded += 1;
            if let Some(last) = c.last_decoded {
                c.freeze_max = c.freeze_max.max(at.saturating_duration_since(last));
            }
            c.last_decoded = Some(at);
            record(&mut c.decode_ms, ms(took));
            if let Some(captured) = captured
                && c.peer_connected.is_some_and(|flowing| captured >= flowing)
            {
                record(
                    &mut c.latency_ms,
                    ms(at.saturating_duration_since(captured)),
                );
            }
            if let Some(p) = psnr_db {
                c.psnr_sum += p;
                c.psnr_frames += 1;
            }
            let first = c.first_frame.is_none();
            c.first_frame.get_or_insert(at);
            first
        })
    }

    /// A picture pc2 could not decode.
    pub fn frame_lost(&self) {
        self.with(|c| c.frames_lost += 1);
    }

    /// What pc2's reorder buffer has counted so far.
    pub fn reordering(&self, counts: ReorderCounts) {
        self.with(|c| c.reorder = counts);
    }

    pub fn audio_sent(&self) {
        self.with(|c| c.audio_sent += 1);
    }

    pub fn audio_received(&self, latency: Option<Duration>) {
        self.with(|c| {
            c.audio_received += 1;
            if let Some(latency) = latency {
                record(&mut c.audio_latency_ms, ms(latency));
            }
        });
    }

    pub fn audio_played(&self) {
        self.with(|c| c.audio_played += 1);
    }

    /// The report so far; `outside` carries what others counted.
    pub fn report(&self, now: Instant, outside: OutsideCounts) -> CallReport {
        let since_call = |at: Option<Instant>| at.map(|t| ms(t.duration_since(self.started)));
        let duration = now.duration_since(self.started).as_secs_f64();
        self.with(|c| {
            // Rates over the time media actually flowed, not the setup before it: pictures
            // from the first decoded, bytes from when the encoders began.
            let since =
                |at: Option<Instant>| at.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            let rate = |n: f64, over: f64| if over > 0.0 { n / over } else { 0.0 };
            let freeze = c
                .last_decoded
                .map(|last| c.freeze_max.max(now.saturating_duration_since(last)));
            CallReport {
                duration_s: round(duration, 3),
                setup_ms: SetupMs {
                    ice_connected: since_call(c.ice_connected),
                    peer_connected: since_call(c.peer_connected),
                    first_frame: since_call(c.first_frame),
                },
                video: VideoReport {
                    captured: outside.video_captured,
                    encoded: c.encoded,
                    sent: c.sent,
                    decoded: c.decoded,
                    dropped: outside.video_dropped,
                    fps: round(
                        rate(c.decoded.saturating_sub(1) as f64, since(c.first_frame)),
                        2,
                    ),
                    bitrate_kbps: round(
                        rate(
                            outside.wire.video_bytes_sent as f64 * 8.0 / 1000.0,
                            since(c.peer_connected),
                        ),
                        1,
                    ),
                    keyframes: c.keyframes,
                    pli: outside.wire.pli,
                    nack: outside.wire.nack,
                    nacked_packets: outside.wire.nacked_packets,
                    retransmitted: outside.wire.retransmitted,
                    packets_reordered: c.reorder.reordered,
                    packets_lost: c.reorder.lost,
                    packets_late: c.reorder.late,
                    frames_lost: c.frames_lost,
                    freeze_max_ms: freeze.map(ms),
                    latency_ms: Percentiles {
                        p50: quantile(&c.latency_ms, 0.50),
                        p95: quantile(&c.latency_ms, 0.95),
                        p99: quantile(&c.latency_ms, 0.99),
                        max: quantile(&c.latency_ms, 1.0),
                    },
                    latency_method: LATENCY_METHOD,
                    encode_ms_p50: quantile(&c.encode_ms, 0.5),
                    decode_ms_p50: quantile(&c.decode_ms, 0.5),
                    psnr_db: (c.psnr_frames > 0)
                        .then(|| round(c.psnr_sum / c.psnr_frames as f64, 2)),
                },
                audio: AudioReport {
                    captured: outside.audio_captured,
                    sent: c.audio_sent,
                    received: c.audio_received,
                    played: c.audio_played,
                    xruns: outside.audio_xruns,
                    underruns: outside.audio_underruns,
                    latency_ms: AudioLatency {
                        p50: quantile(&c.audio_latency_ms, 0.50),
                        p95: quantile(&c.audio_latency_ms, 0.95),
                    },
                },
                process: ProcessReport {
                    cpu_s: round(process_cpu_s() - self.cpu_at_start, 3),
                    rss_peak_kib: process_rss_peak_kib(),
                },
                network: outside.wire.relay,
            }
        })
    }
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

fn rusage() -> libc::rusage {
    // SAFETY: getrusage only writes into the struct we pass; zeroed is a valid rusage.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

/// User + system CPU seconds of this process so far.
pub fn process_cpu_s() -> f64 {
    let u = rusage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Peak resident set size of this process, in KiB (Linux reports `ru_maxrss` in KiB).
pub fn process_rss_peak_kib() -> u64 {
    rusage().ru_maxrss.max(0) as u64
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
