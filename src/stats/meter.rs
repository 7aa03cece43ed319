//! The call meter: where one call's threads record what happens, and the report it makes.

use super::{
    AudioLatency, AudioReport, CallReport, LATENCY_METHOD, Percentiles, PlayoutDelay,
    ProcessReport, SetupMs, VideoReport, ms, process_cpu_s, process_rss_peak_kib, round,
};
use crate::media::jitter::{self, JitterCounts};
use crate::media::reorder::ReorderCounts;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

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
    latency: Durations,
    /// How long each packet played waited in the jitter buffer.
    waited: Durations,
    playout: JitterCounts,
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

    pub fn audio_received(&self) {
        lock(&self.audio_receiving).received += 1;
    }

    /// A block played: the jitter buffer's counts so far, how long its packet waited in the
    /// buffer and its capture-to-playout latency, when it was a packet.
    pub fn audio_playout(
        &self,
        counts: JitterCounts,
        waited: Option<Duration>,
        latency: Option<Duration>,
    ) {
        let mut receiving = lock(&self.audio_receiving);
        receiving.playout = counts;
        if let Some(waited) = waited {
            receiving.waited.record(waited);
        }
        if let Some(latency) = latency {
            receiving.latency.record(latency);
        }
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
        let block_ms = jitter::BLOCK.as_secs_f64() * 1000.0;
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
                played: audio.playout.played,
                fec_recovered: audio.playout.fec_recovered,
                concealed_ms: round(audio.playout.concealed as f64 * block_ms, 1),
                late: audio.playout.late,
                max_gap_ms: round(audio.playout.longest_concealment as f64 * block_ms, 1),
                playout_delay_ms: PlayoutDelay {
                    p50: audio.waited.quantile_ms(0.50),
                    max: audio.waited.quantile_ms(1.0),
                },
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
