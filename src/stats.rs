//! What a call measured: counters and samples gathered by the media threads, turned into the
//! one-line summary and the JSON report. Video counts frames, audio counts 20 ms blocks.

use crate::media::reorder::ReorderCounts;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
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

/// Durations in microseconds at three significant digits: a record costs the same at any
/// count, and the histogram grows only with the range of values seen, so an hour's call takes
/// the memory of a second's and a report reads it in microseconds.
struct Durations(Histogram<u32>);

/// Longer durations are recorded as an hour: the histogram stays a few tens of KiB.
const LONGEST_US: u64 = 3_600_000_000;

impl Default for Durations {
    fn default() -> Self {
        Durations(Histogram::new(3).expect("three significant digits are within 0..=5"))
    }
}

impl Durations {
    fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // Resizing up to an hour cannot fail, so neither can the record.
        let _ = self.0.record(micros.clamp(1, LONGEST_US));
    }

    fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| round(self.0.value_at_quantile(q) as f64 / 1000.0, 3))
    }
}

/// What pc1's video encoder thread records.
#[derive(Default)]
struct VideoSending {
    encoded: u64,
    sent: u64,
    keyframes: u64,
    encode: Durations,
}

/// What pc2's video decoder thread records.
#[derive(Default)]
struct VideoReceiving {
    first_frame: Option<Instant>,
    decoded: u64,
    last_decoded: Option<Instant>,
    freeze_max: Duration,
    frames_lost: u64,
    reorder: ReorderCounts,
    decode: Durations,
    latency: Durations,
}

/// Picture quality against the test pattern, from the quality thread.
#[derive(Default)]
struct Quality {
    psnr_sum: f64,
    frames: u64,
}

/// What pc2's audio decoder thread records.
#[derive(Default)]
struct AudioReceiving {
    received: u64,
    played: u64,
    latency: Durations,
}

/// Where the threads of one call record what happens. Each thread writes a part of its own,
/// so no media thread waits on another's update, and a report holds each part only while it
/// reads a few counters and histograms.
pub struct CallMeter {
    started: Instant,
    cpu_at_start: f64,
    ice_connected: OnceLock<Instant>,
    peer_connected: OnceLock<Instant>,
    video_sending: Mutex<VideoSending>,
    video_receiving: Mutex<VideoReceiving>,
    quality: Mutex<Quality>,
    audio_sent: AtomicU64,
    audio_receiving: Mutex<AudioReceiving>,
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

/// Every update is one step, so a holder that panicked left the part consistent.
fn lock<T>(part: &Mutex<T>) -> MutexGuard<'_, T> {
    part.lock().unwrap_or_else(|e| e.into_inner())
}

impl CallMeter {
    pub fn new(started: Instant) -> Self {
        CallMeter {
            started,
            cpu_at_start: process_cpu_s(),
            ice_connected: OnceLock::new(),
            peer_connected: OnceLock::new(),
            video_sending: Mutex::default(),
            video_receiving: Mutex::default(),
            quality: Mutex::default(),
            audio_sent: AtomicU64::new(0),
            audio_receiving: Mutex::default(),
        }
    }

    pub fn ice_connected(&self, at: Instant) {
        let _ = self.ice_connected.set(at);
    }

    pub fn peer_connected(&self, at: Instant) {
        let _ = self.peer_connected.set(at);
    }

    pub fn encoded(&self, took: Duration, keyframe: bool) {
        let mut sending = lock(&self.video_sending);
        sending.encoded += 1;
        sending.keyframes += u64::from(keyframe);
        sending.encode.record(took);
    }

    pub fn video_sent(&self) {
        lock(&self.video_sending).sent += 1;
    }

    /// A decoded picture, captured at `captured` if known; returns true if it was the first
    /// of the call. Its latency counts only if it was captured once media flowed: the first
    /// picture is the camera's newest when the connections came up, and its wait for them is
    /// part of the setup (`setup_ms.first_frame`), not of the media path.
    pub fn decoded(&self, at: Instant, took: Duration, captured: Option<Instant>) -> bool {
        let flowing = self.peer_connected.get().copied();
        let mut receiving = lock(&self.video_receiving);
        receiving.decoded += 1;
        if let Some(last) = receiving.last_decoded {
            receiving.freeze_max = receiving.freeze_max.max(at.saturating_duration_since(last));
        }
        receiving.last_decoded = Some(at);
        receiving.decode.record(took);
        if let Some(captured) = captured
            && flowing.is_some_and(|flowing| captured >= flowing)
        {
            receiving
                .latency
                .record(at.saturating_duration_since(captured));
        }
        let first = receiving.first_frame.is_none();
        receiving.first_frame.get_or_insert(at);
        first
    }

    /// A decoded picture's quality against the picture that was sent.
    pub fn quality(&self, psnr_db: f64) {
        let mut quality = lock(&self.quality);
        quality.psnr_sum += psnr_db;
        quality.frames += 1;
    }

    /// A picture pc2 could not decode.
    pub fn frame_lost(&self) {
        lock(&self.video_receiving).frames_lost += 1;
    }

    /// What pc2's reorder buffer has counted so far.
    pub fn reordering(&self, counts: ReorderCounts) {
        lock(&self.video_receiving).reorder = counts;
    }

    pub fn audio_sent(&self) {
        self.audio_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn audio_received(&self, latency: Option<Duration>) {
        let mut receiving = lock(&self.audio_receiving);
        receiving.received += 1;
        if let Some(latency) = latency {
            receiving.latency.record(latency);
        }
    }

    pub fn audio_played(&self) {
        lock(&self.audio_receiving).played += 1;
    }

    /// The report so far; `outside` carries what others counted.
    pub fn report(&self, now: Instant, outside: OutsideCounts) -> CallReport {
        let since_call = |at: Option<&Instant>| at.map(|t| ms(t.duration_since(self.started)));
        let duration = now.duration_since(self.started).as_secs_f64();
        // Rates over the time media actually flowed, not the setup before it: pictures from
        // the first decoded, bytes from when the encoders began.
        let since = |at: Option<Instant>| at.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        let rate = |n: f64, over: f64| if over > 0.0 { n / over } else { 0.0 };
        let video = {
            let sending = lock(&self.video_sending);
            let receiving = lock(&self.video_receiving);
            let quality = lock(&self.quality);
            let freeze = receiving.last_decoded.map(|last| {
                receiving
                    .freeze_max
                    .max(now.saturating_duration_since(last))
            });
            let latency = &receiving.latency;
            VideoReport {
                captured: outside.video_captured,
                encoded: sending.encoded,
                sent: sending.sent,
                decoded: receiving.decoded,
                dropped: outside.video_dropped,
                fps: round(
                    rate(
                        receiving.decoded.saturating_sub(1) as f64,
                        since(receiving.first_frame),
                    ),
                    2,
                ),
                bitrate_kbps: round(
                    rate(
                        outside.wire.video_bytes_sent as f64 * 8.0 / 1000.0,
                        since(self.peer_connected.get().copied()),
                    ),
                    1,
                ),
                keyframes: sending.keyframes,
                pli: outside.wire.pli,
                nack: outside.wire.nack,
                nacked_packets: outside.wire.nacked_packets,
                retransmitted: outside.wire.retransmitted,
                packets_reordered: receiving.reorder.reordered,
                packets_lost: receiving.reorder.lost,
                packets_late: receiving.reorder.late,
                frames_lost: receiving.frames_lost,
                freeze_max_ms: freeze.map(ms),
                latency_ms: Percentiles {
                    p50: latency.quantile_ms(0.50),
                    p95: latency.quantile_ms(0.95),
                    p99: latency.quantile_ms(0.99),
                    max: latency.quantile_ms(1.0),
                },
                latency_method: LATENCY_METHOD,
                encode_ms_p50: sending.encode.quantile_ms(0.5),
                decode_ms_p50: receiving.decode.quantile_ms(0.5),
                psnr_db: (quality.frames > 0)
                    .then(|| round(quality.psnr_sum / quality.frames as f64, 2)),
                psnr_frames: quality.frames,
            }
        };
        let first_frame = lock(&self.video_receiving).first_frame;
        let audio = lock(&self.audio_receiving);
        CallReport {
            duration_s: round(duration, 3),
            setup_ms: SetupMs {
                ice_connected: since_call(self.ice_connected.get()),
                peer_connected: since_call(self.peer_connected.get()),
                first_frame: since_call(first_frame.as_ref()),
            },
            video,
            audio: AudioReport {
                captured: outside.audio_captured,
                sent: self.audio_sent.load(Ordering::Relaxed),
                received: audio.received,
                played: audio.played,
                xruns: outside.audio_xruns,
                underruns: outside.audio_underruns,
                latency_ms: AudioLatency {
                    p50: audio.latency.quantile_ms(0.50),
                    p95: audio.latency.quantile_ms(0.95),
                },
            },
            process: ProcessReport {
                cpu_s: round(process_cpu_s() - self.cpu_at_start, 3),
                rss_peak_kib: process_rss_peak_kib(),
            },
            network: outside.wire.relay,
        }
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
