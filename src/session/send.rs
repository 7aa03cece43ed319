//! The sending half of a call: encoders feeding pc1.

use super::ledger::{Ledger, RtpClock};
use super::{POLL, SessionNote, Shared, WAITING_POLL};
use crate::fault::Fault;
use crate::media::frame::{AudioBlock, Frame, SAMPLES_PER_BLOCK};
use crate::media::h264::{EncoderSettings, H264Encoder};
use crate::media::opus::OpusEncoder;
use crate::media::queue::DropOldest;
use crate::trace;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// H.264's RTP clock (RFC 6184).
const VIDEO_CLOCK_RATE: u32 = 90_000;

pub(super) fn encode_video(
    shared: Shared,
    frames: Arc<DropOldest<Frame>>,
    ledger: Arc<Ledger>,
    settings: EncoderSettings,
) {
    let mut encoder: Option<H264Encoder> = None;
    let mut clock = RtpClock::new(Instant::now(), rand::random(), VIDEO_CLOCK_RATE);
    // Until media flows, keep the newest frame in hand, and look often: the first frame goes
    // out the moment the connections are up instead of waiting for the camera's next one.
    // One older than two frame intervals is a camera that stalled, not its current picture.
    let mut held: Option<Frame> = None;
    let max_age = 2 * Duration::from_secs(1) / settings.fps.max(1);
    let mut first = true;
    while shared.running() {
        if !shared.flowing.load(Ordering::Relaxed) {
            held = frames.pop(WAITING_POLL).or(held);
            continue;
        }
        let current = held.take().filter(|f| f.captured.elapsed() <= max_age);
        let Some(frame) = current.or_else(|| frames.pop(POLL)) else {
            continue;
        };
        // Made when media starts to flow, so the first frame on the wire is a keyframe.
        let encoder = match &mut encoder {
            Some(e) => e,
            None => match H264Encoder::new(&settings) {
                Ok(e) => encoder.insert(e),
                Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
            },
        };
        if shared.peers.take_keyframe_request() {
            encoder.force_keyframe();
        }
        let began = Instant::now();
        let encoded = match encoder.encode(&frame) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
        };
        shared.meter.encoded(began.elapsed(), encoded.keyframe);
        if first {
            first = false;
            trace::debug(&format!(
                "pc1 first frame encoded: {} bytes, keyframe {}, in {:.3} ms, {:.3} ms after capture",
                encoded.data.len(),
                encoded.keyframe,
                began.elapsed().as_secs_f64() * 1000.0,
                frame.captured.elapsed().as_secs_f64() * 1000.0,
            ));
        }
        let timestamp = clock.timestamp(frame.captured);
        ledger.insert(timestamp, frame.captured);
        let sent = shared.runtime.block_on(
            shared
                .peers
                .send_video(Bytes::from(encoded.data), timestamp),
        );
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
        Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
    };
    let base: u32 = rand::random();
    // What the encoder was last told the network loses; until a report comes, its default.
    let mut loss_told = None;
    while shared.running() {
        let loss = shared.peers.audio_loss_percent();
        if loss_told != Some(loss) && (loss > 0 || loss_told.is_some()) {
            if let Err(e) = encoder.expect_loss(loss) {
                log::debug!("{e}");
            }
            loss_told = Some(loss);
        }
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
            Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
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
