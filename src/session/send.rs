//! The sending half of a call: encoders feeding pc1.

use super::{Ledger, POLL, SessionNote, Shared, WAITING_POLL};
use crate::media::frame::{AudioBlock, Frame, SAMPLES_PER_BLOCK};
use crate::media::h264::{EncoderSettings, H264Encoder};
use crate::media::opus::OpusEncoder;
use crate::media::queue::DropOldest;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(super) fn encode_video(
    shared: Shared,
    frames: Arc<DropOldest<Frame>>,
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

pub(super) fn encode_audio(
    shared: Shared,
    blocks: Arc<DropOldest<AudioBlock>>,
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
