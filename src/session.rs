//! One call's media path, from Call to Hangup:
//!
//! ```text
//! camera queue → encoder thread (OpenH264) → pc1 video ─┐
//! mic queue    → encoder thread (Opus)     → pc1 audio ─┤ RTP/SRTP over UDP 127.0.0.1
//!                 display ← decoder thread (H.264) ← pc2 ┤
//!                 speaker ← decoder thread (Opus)  ← pc2 ┘
//! ```
//!
//! Each frame's capture instant goes into a ledger keyed by the frame id (the test pattern
//! draws it into the picture) or the RTP timestamp (audio), so the loop latency of every frame
//! is exact. Everything the session starts, it stops and joins in [`CallSession::stop`].

use crate::audio::AudioSink;
use crate::audio::wav::WavSink;
use crate::capture::LocalStream;
use crate::config::{AudioOutput, Config, VideoOutput};
use crate::display::VideoSink;
use crate::display::y4m::Y4mSink;
use crate::media::frame::{Frame, SAMPLES_PER_BLOCK, psnr};
use crate::media::h264::{
    AccessUnitAssembler, Assembled, EncoderSettings, H264Decoder, H264Encoder,
};
use crate::media::opus::{OpusDecoder, OpusEncoder};
use crate::media::queue::QueueCounts;
use crate::rtc::{Inbound, LoopbackPeers, PeerNote, RtpPacket};
use crate::stats::{CallMeter, CallReport, OutsideCounts};
use crate::trace;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

/// How often idle media threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How often the encoders look whether media may flow yet.
const WAITING_POLL: Duration = Duration::from_millis(2);
/// Packets pc2 may hold for a decoder that is behind before it drops them.
const INBOUND_QUEUE: usize = 1024;
/// A receiver asks for at most one keyframe per this interval.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

/// What a session tells the daemon besides what the peer connections report.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionNote {
    FirstRemoteFrame,
    Failed(String),
}

pub type Notify = Arc<dyn Fn(SessionNote) + Send + Sync>;

/// Capture instants by key, for the last `SLOTS` keys: bounded, and O(1) both ways.
struct Ledger {
    step: u32,
    slots: Mutex<Vec<Option<(u32, Instant)>>>,
}

const SLOTS: usize = 512;

impl Ledger {
    fn new(step: u32) -> Self {
        Ledger {
            step,
            slots: Mutex::new(vec![None; SLOTS]),
        }
    }

    fn slot(&self, key: u32) -> usize {
        (key / self.step) as usize % SLOTS
    }

    fn insert(&self, key: u32, at: Instant) {
        let slot = self.slot(key);
        self.slots.lock().unwrap_or_else(|e| e.into_inner())[slot] = Some((key, at));
    }

    fn take(&self, key: u32) -> Option<Instant> {
        let slot = self.slot(key);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots[slot] {
            Some((k, at)) if k == key => {
                slots[slot] = None;
                Some(at)
            }
            _ => None,
        }
    }
}

pub struct CallSession {
    peers: Arc<LoopbackPeers>,
    meter: Arc<CallMeter>,
    flowing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    video_counts: QueueCounts,
    audio_counts: Option<QueueCounts>,
    local: LocalQueues,
}

#[derive(Clone)]
struct LocalQueues {
    video: Arc<crate::media::queue::DropOldest<Frame>>,
    audio: Option<Arc<crate::media::queue::DropOldest<crate::media::frame::AudioBlock>>>,
}

/// Everything the media threads of one call share.
#[derive(Clone)]
struct Shared {
    peers: Arc<LoopbackPeers>,
    meter: Arc<CallMeter>,
    flowing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    notify: Notify,
    runtime: Handle,
}

impl Shared {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}

impl CallSession {
    /// Opens the outputs, creates both peer connections and starts the media threads. Media
    /// flows once [`CallSession::peers_connected`] is called.
    pub async fn start(
        config: &Config,
        local: &LocalStream,
        notes: UnboundedSender<PeerNote>,
        notify: Notify,
    ) -> Result<CallSession, String> {
        let started = Instant::now();
        let video_sink: Option<Box<dyn VideoSink>> = match &config.output.video {
            VideoOutput::Y4m(path) => Some(Box::new(
                Y4mSink::create(path, local.fps).map_err(|e| e.to_string())?,
            )),
            VideoOutput::None => None,
        };
        let audio_sink: Option<Box<dyn AudioSink>> = match &config.output.audio {
            AudioOutput::Wav(path) => {
                Some(Box::new(WavSink::create(path).map_err(|e| e.to_string())?))
            }
            AudioOutput::None => None,
        };
        trace::info(&format!("Using {}", local.description));

        let (video_in, video_rx) = sync_channel(INBOUND_QUEUE);
        let (audio_in, audio_rx) = sync_channel(INBOUND_QUEUE);
        let inbound = Inbound {
            video: video_in,
            audio: audio_in,
        };
        let peers = Arc::new(
            LoopbackPeers::connect(notes, inbound, &local.description)
                .await
                .map_err(|e| e.to_string())?,
        );
        let shared = Shared {
            peers: peers.clone(),
            meter: Arc::new(CallMeter::new(started)),
            flowing: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            notify,
            runtime: Handle::current(),
        };
        local.video.clear();
        if let Some(audio) = &local.audio {
            audio.clear();
        }
        let video_ledger = Arc::new(Ledger::new(1));
        let audio_ledger = Arc::new(Ledger::new(SAMPLES_PER_BLOCK as u32));
        let encoder_settings = EncoderSettings {
            width: config.camera.width as usize,
            height: config.camera.height as usize,
            fps: config.camera.fps,
            bitrate_kbps: config.video.bitrate_kbps,
            keyframe_interval_s: config.video.keyframe_interval_s,
        };

        let mut threads = Vec::new();
        let spawn_all = || -> Result<(), String> {
            let (s, q, l) = (shared.clone(), local.video.clone(), video_ledger.clone());
            threads.push(spawn("video encoder", move || {
                encode_video(s, q, l, encoder_settings)
            })?);
            let (s, l, reference) = (shared.clone(), video_ledger.clone(), local.reference);
            threads.push(spawn("video decoder", move || {
                decode_video(s, video_rx, l, reference, video_sink)
            })?);
            if let Some(queue) = &local.audio {
                let (s, q, l) = (shared.clone(), queue.clone(), audio_ledger.clone());
                threads.push(spawn("audio encoder", move || encode_audio(s, q, l))?);
            }
            let (s, l) = (shared.clone(), audio_ledger.clone());
            threads.push(spawn("audio decoder", move || {
                decode_audio(s, audio_rx, l, audio_sink)
            })?);
            Ok(())
        };
        let spawned = spawn_all();
        let session = CallSession {
            peers,
            meter: shared.meter.clone(),
            flowing: shared.flowing.clone(),
            stop: shared.stop.clone(),
            threads,
            video_counts: local.video.counts(),
            audio_counts: local.audio.as_ref().map(|a| a.counts()),
            local: LocalQueues {
                video: local.video.clone(),
                audio: local.audio.clone(),
            },
        };
        match spawned {
            Ok(()) => Ok(session),
            Err(e) => {
                session.stop().await;
                Err(e)
            }
        }
    }

    pub fn ice_connected(&self) {
        self.meter.ice_connected(Instant::now());
    }

    /// Both connections are up: the encoders start, beginning with a keyframe.
    pub fn peers_connected(&self) {
        self.meter.peer_connected(Instant::now());
        self.flowing.store(true, Ordering::Relaxed);
    }

    /// The report so far, with the wire's figures.
    pub async fn report(&self) -> CallReport {
        let wire = self.peers.wire_stats().await;
        let counted = |now: QueueCounts, then: QueueCounts| {
            (now.pushed - then.pushed, now.dropped - then.dropped)
        };
        let (video_captured, video_dropped) = counted(self.local.video.counts(), self.video_counts);
        let audio_captured = match (&self.local.audio, self.audio_counts) {
            (Some(queue), Some(then)) => counted(queue.counts(), then).0,
            _ => 0,
        };
        self.meter.report(
            Instant::now(),
            OutsideCounts {
                video_captured,
                video_dropped,
                audio_captured,
                wire,
            },
        )
    }

    /// Stops the media threads, closes both connections and returns the call's report.
    pub async fn stop(mut self) -> CallReport {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        // After the threads, so the report counts every frame they handled.
        let report = self.report().await;
        self.peers.close().await;
        report
    }
}

fn encode_video(
    shared: Shared,
    frames: Arc<crate::media::queue::DropOldest<Frame>>,
    ledger: Arc<Ledger>,
    settings: EncoderSettings,
) {
    let mut encoder: Option<H264Encoder> = None;
    let mut previous: Option<Instant> = None;
    let frame_interval = Duration::from_secs(1) / settings.fps;
    // Until media flows, keep the newest frame in hand, and look often: the first frame goes
    // out the moment the connections are up instead of waiting for the camera's next one.
    let mut held: Option<Frame> = None;
    while shared.running() {
        if !shared.flowing.load(Ordering::Relaxed) {
            held = frames.pop(WAITING_POLL).or(held);
            continue;
        }
        let Some(frame) = held.take().or_else(|| frames.pop(POLL)) else {
            continue;
        };
        // Made when media starts to flow, so the first frame on the wire is a keyframe.
        let encoder = match &mut encoder {
            Some(e) => e,
            None => match H264Encoder::new(&settings) {
                Ok(e) => encoder.insert(e),
                Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
            },
        };
        if shared.peers.take_keyframe_request() {
            encoder.force_keyframe();
        }
        let began = Instant::now();
        let encoded = match encoder.encode(&frame) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
        };
        shared.meter.encoded(began.elapsed(), encoded.keyframe);
        ledger.insert(frame.id, frame.captured);
        let duration = previous.map_or(frame_interval, |p| {
            frame.captured.saturating_duration_since(p)
        });
        previous = Some(frame.captured);
        let sent = shared
            .runtime
            .block_on(shared.peers.send_video(Bytes::from(encoded.data), duration));
        match sent {
            Ok(()) => shared.meter.video_sent(),
            Err(e) => log::debug!("{e}"),
        }
    }
}

fn encode_audio(
    shared: Shared,
    blocks: Arc<crate::media::queue::DropOldest<crate::media::frame::AudioBlock>>,
    ledger: Arc<Ledger>,
) {
    let mut encoder = match OpusEncoder::new() {
        Ok(e) => e,
        Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
    };
    let base: u32 = rand::random();
    while shared.running() {
        if !shared.flowing.load(Ordering::Relaxed) {
            // Sound from before the call is stale: drop it.
            blocks.pop(WAITING_POLL);
            continue;
        }
        let Some(block) = blocks.pop(POLL) else {
            continue;
        };
        let packet = match encoder.encode(&block.samples) {
            Ok(p) => p,
            Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
        };
        let timestamp = base.wrapping_add(block.id.wrapping_mul(SAMPLES_PER_BLOCK as u32));
        ledger.insert(timestamp, block.captured);
        match shared
            .runtime
            .block_on(shared.peers.send_audio(Bytes::from(packet), timestamp))
        {
            Ok(()) => shared.meter.audio_sent(),
            Err(e) => log::debug!("{e}"),
        }
    }
}

/// Receives packets until the session stops or pc2 goes away.
fn receive(shared: &Shared, packets: &Receiver<RtpPacket>) -> Option<RtpPacket> {
    while shared.running() {
        match packets.recv_timeout(POLL) {
            Ok(packet) => return Some(packet),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
    None
}

fn decode_video(
    shared: Shared,
    packets: Receiver<RtpPacket>,
    ledger: Arc<Ledger>,
    reference: Option<crate::camera::pattern::Pattern>,
    mut sink: Option<Box<dyn VideoSink>>,
) {
    let mut decoder = match H264Decoder::new() {
        Ok(d) => d,
        Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
    };
    let mut assembler = AccessUnitAssembler::default();
    let mut last_request: Option<Instant> = None;
    let mut request_keyframe = |why: &str| {
        if last_request.is_some_and(|t| t.elapsed() < KEYFRAME_REQUEST_INTERVAL) {
            return;
        }
        last_request = Some(Instant::now());
        log::debug!("pc2 asks for a keyframe: {why}");
        let peers = shared.peers.clone();
        shared.runtime.spawn(async move {
            if let Err(e) = peers.request_keyframe().await {
                log::debug!("{e}");
            }
        });
    };
    while let Some(packet) = receive(&shared, &packets) {
        let h = &packet.header;
        let access_unit =
            match assembler.push(h.sequence_number, h.timestamp, h.marker, &packet.payload) {
                Assembled::Pending => continue,
                Assembled::Broken => {
                    request_keyframe("a picture was lost");
                    continue;
                }
                Assembled::Complete(au) => au,
            };
        let began = Instant::now();
        let (width, height, picture) = match decoder.decode(&access_unit) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => continue,
            Err(e) => {
                request_keyframe(&e.to_string());
                continue;
            }
        };
        let decoded_at = Instant::now();
        let id = reference.and_then(|p| p.read_id(&picture[..width * height]));
        let latency = id
            .and_then(|id| ledger.take(id))
            .map(|t| decoded_at.duration_since(t));
        let quality = match (reference, id) {
            (Some(pattern), Some(id)) if (pattern.width, pattern.height) == (width, height) => {
                Some(psnr(&pattern.render(id), &picture))
            }
            _ => None,
        };
        if let Some(out) = &mut sink
            && let Err(e) = out.show(width, height, &picture)
        {
            (shared.notify)(SessionNote::Failed(e.to_string()));
            sink = None;
        }
        if shared
            .meter
            .decoded(decoded_at, decoded_at - began, latency, quality)
        {
            (shared.notify)(SessionNote::FirstRemoteFrame);
        }
    }
    if let Some(mut sink) = sink
        && let Err(e) = sink.finish()
    {
        log::warn!("{e}");
    }
}

fn decode_audio(
    shared: Shared,
    packets: Receiver<RtpPacket>,
    ledger: Arc<Ledger>,
    mut sink: Option<Box<dyn AudioSink>>,
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => return (shared.notify)(SessionNote::Failed(e.to_string())),
    };
    while let Some(packet) = receive(&shared, &packets) {
        let latency = ledger.take(packet.header.timestamp).map(|t| t.elapsed());
        let pcm = match decoder.decode(&packet.payload) {
            Ok(pcm) => pcm,
            Err(e) => {
                log::debug!("dropping an audio packet: {e}");
                continue;
            }
        };
        shared.meter.audio_received(latency);
        if let Some(out) = &mut sink {
            match out.write(&pcm) {
                Ok(()) => shared.meter.audio_played(),
                Err(e) => {
                    (shared.notify)(SessionNote::Failed(e.to_string()));
                    sink = None;
                }
            }
        }
    }
    if let Some(mut sink) = sink
        && let Err(e) = sink.finish()
    {
        log::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_returns_each_instant_once_and_forgets_overwritten_keys() {
        let ledger = Ledger::new(960);
        let t = Instant::now();
        ledger.insert(960 * 7, t);
        assert_eq!(ledger.take(960 * 7), Some(t));
        assert_eq!(ledger.take(960 * 7), None);
        ledger.insert(960 * 3, t);
        ledger.insert(960 * (3 + SLOTS as u32), t);
        assert_eq!(ledger.take(960 * 3), None);
    }
}
