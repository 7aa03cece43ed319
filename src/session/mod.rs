//! One call's media path, from Call to Hangup:
//!
//! ```text
//! camera queue → encoder thread (OpenH264) → pc1 video ─┐
//! mic queue    → encoder thread (Opus)     → pc1 audio ─┤ RTP/SRTP over UDP 127.0.0.1
//!                 display ← decoder thread (H.264) ← pc2 ┤
//!                 speaker ← decoder thread (Opus)  ← pc2 ┘
//! ```
//!
//! Each frame's capture instant goes into a ledger keyed by its RTP timestamp, which pc1 derives
//! from that instant, so the loop latency of every frame is exact, whatever the camera. Everything the session starts, it stops and joins in [`CallSession::stop`].

mod ledger;
mod receive;
mod send;

use crate::audio;
use crate::audio::AudioSink;
use crate::capture::LocalStream;
use crate::config::{Config, OutputConfig};
use crate::display;
use crate::display::VideoSink;
use crate::display::screen::Feed;
use crate::fault::Fault;
use crate::media::frame::{AudioBlock, Frame};
use crate::media::h264::EncoderSettings;
use crate::media::queue::{DropOldest, QueueCounts};
use crate::rtc::{Inbound, LoopbackPeers, Network, PeerNote};
use crate::stats::{CallMeter, CallReport, OutsideCounts};
use crate::trace;
use ledger::Ledger;
use receive::{QUALITY_QUEUE, decode_audio, decode_video, measure_quality};
use send::{encode_audio, encode_video};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
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
    /// An encoder or decoder would not start or stopped working.
    CodecFailed(Fault),
    /// The display or the speaker failed.
    OutputFailed(Fault),
}

/// Why a call could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The display or the speaker cannot be opened.
    #[error("{0}")]
    Output(Fault),
    /// The connections or the media threads cannot be set up.
    #[error("{0}")]
    Peers(Fault),
}

pub type Notify = Arc<dyn Fn(SessionNote) + Send + Sync>;

fn network(config: &Config) -> Network {
    Network {
        timeout: config.call.network_timeout,
        impairment: config.impairment.clone(),
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
    /// Microphone overruns before the call, and the speaker's underruns during it.
    xruns_at_start: u64,
    speaker_underruns: Arc<AtomicU64>,
}

#[derive(Clone)]
struct LocalQueues {
    xruns: Arc<AtomicU64>,
    video: Arc<DropOldest<Frame>>,
    audio: Option<Arc<DropOldest<AudioBlock>>>,
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

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Fault> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|e| Fault::internal(format!("cannot start the {name} thread: {e}")))
}

/// How long a call waits for its outputs to open: a file on a disk that hangs (a network mount
/// gone) fails the call, and the owner task goes on.
const OUTPUT_OPEN_DEADLINE: Duration = Duration::from_secs(2);

/// Opens the display and the speaker on a blocking thread, waited for up to
/// `OUTPUT_OPEN_DEADLINE`.
async fn open_outputs(
    output: OutputConfig,
    fps: u32,
    screen: Option<Feed>,
    speaker_underruns: Arc<AtomicU64>,
) -> Result<(Option<Box<dyn VideoSink>>, Option<Box<dyn AudioSink>>), Fault> {
    let open = tokio::task::spawn_blocking(move || {
        let video = display::open(&output.video, fps, screen.as_ref()).map_err(|e| e.fault())?;
        let audio = audio::open_speaker(&output.audio, speaker_underruns).map_err(|e| e.fault())?;
        Ok((video, audio))
    });
    match tokio::time::timeout(OUTPUT_OPEN_DEADLINE, open).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => Err(Fault::internal(format!("opening the outputs: {e}"))),
        Err(_) => Err(Fault::transient(format!(
            "the outputs did not open within {} s: is the disk of [output] answering?",
            OUTPUT_OPEN_DEADLINE.as_secs()
        ))),
    }
}

impl CallSession {
    /// Opens the outputs, creates both peer connections and starts the media threads. Media
    /// flows once [`CallSession::peers_connected`] is called.
    pub async fn start(
        config: &Config,
        local: &LocalStream,
        notes: UnboundedSender<PeerNote>,
        notify: Notify,
        screen: Option<&Feed>,
    ) -> Result<CallSession, SessionError> {
        let started = Instant::now();
        let speaker_underruns = Arc::new(AtomicU64::new(0));
        let (video_sink, audio_sink) = open_outputs(
            config.output.clone(),
            local.format.fps,
            screen.cloned(),
            speaker_underruns.clone(),
        )
        .await
        .map_err(SessionError::Output)?;
        trace::info(&format!("Using {}", local.description));

        let (video_in, video_rx) = sync_channel(INBOUND_QUEUE);
        let (audio_in, audio_rx) = sync_channel(INBOUND_QUEUE);
        let inbound = Inbound {
            video: video_in,
            audio: local.audio.is_some().then_some(audio_in),
        };
        let peers = Arc::new(
            LoopbackPeers::connect(notes, inbound, &local.description, &network(config))
                .await
                .map_err(|e| SessionError::Peers(Fault::transient(e)))?,
        );
        let shared = Shared {
            peers: peers.clone(),
            meter: Arc::new(CallMeter::new(started)),
            flowing: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            notify,
            runtime: Handle::current(),
        };
        // The camera's queue is kept: its newest picture is at most a frame interval old, and
        // sending it the moment the connections are up saves waiting for the next one.
        if let Some(audio) = &local.audio {
            audio.clear();
        }
        let video_ledger = Arc::new(Ledger::default());
        let audio_ledger = Arc::new(Ledger::default());
        let encoder_settings = EncoderSettings {
            width: local.format.width,
            height: local.format.height,
            fps: local.format.fps,
            bitrate_kbps: config.video.bitrate_kbps,
            keyframe_interval_s: config.video.keyframe_interval_s,
        };

        let mut threads = Vec::new();
        let spawn_all = || -> Result<(), Fault> {
            let (s, q, l) = (shared.clone(), local.video.clone(), video_ledger.clone());
            threads.push(spawn("video encoder", move || {
                encode_video(s, q, l, encoder_settings)
            })?);
            let quality = (local.reference.clone())
                .filter(|_| config.stats.quality)
                .map(|pattern| (Arc::new(DropOldest::new(QUALITY_QUEUE)), pattern));
            let (s, l) = (shared.clone(), video_ledger.clone());
            let to_measure = quality.as_ref().map(|(pictures, _)| pictures.clone());
            threads.push(spawn("video decoder", move || {
                decode_video(s, video_rx, l, to_measure, video_sink)
            })?);
            if let Some((pictures, pattern)) = quality {
                let s = shared.clone();
                threads.push(spawn("video quality", move || {
                    measure_quality(s, pictures, pattern)
                })?);
            }
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
            xruns_at_start: local.audio_xruns.load(Ordering::Relaxed),
            speaker_underruns,
            local: LocalQueues {
                xruns: local.audio_xruns.clone(),
                video: local.video.clone(),
                audio: local.audio.clone(),
            },
        };
        match spawned {
            Ok(()) => Ok(session),
            Err(e) => {
                session.stop().await;
                Err(SessionError::Peers(e))
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
                audio_xruns: self.local.xruns.load(Ordering::Relaxed) - self.xruns_at_start,
                audio_underruns: self.speaker_underruns.load(Ordering::Relaxed),
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
