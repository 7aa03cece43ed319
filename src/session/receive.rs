//! The receiving half of a call: what pc2 gets, decoded and shown or played.

use super::{KEYFRAME_REQUEST_INTERVAL, Ledger, POLL, SessionNote, Shared};
use crate::audio::AudioSink;
use crate::camera::pattern::Pattern;
use crate::display::VideoSink;
use crate::fault::Fault;
use crate::media::frame::psnr;
use crate::media::frame::{SAMPLE_RATE, SAMPLES_PER_BLOCK};
use crate::media::h264::{
    AccessUnitAssembler, Assembled, H264Decoder, carries_sequence_parameters,
};
use crate::media::jitter::{self, Block, JitterBuffer};
use crate::media::opus::OpusDecoder;
use crate::media::queue::DropOldest;
use crate::media::reorder::{Reorder, ReorderCounts};
use crate::media::stretch::stretch;
use crate::rtc::RtpPacket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long pc2 holds the packets after a gap for the missing one: long enough for a NACK
/// (sent within 100 ms of the gap) to bring it back across a path of a few tens of ms each way.
const REORDER_WAIT: Duration = Duration::from_millis(250);
/// Packets held after a gap at most: a quarter of a second of 2 Mbit/s video.
const REORDER_CAPACITY: usize = 512;

pub(super) fn decode_video(
    shared: Shared,
    packets: Receiver<RtpPacket>,
    ledger: Arc<Ledger>,
    quality: Option<Arc<DropOldest<Picture>>>,
    sink: Option<Box<dyn VideoSink>>,
) {
    let decoder = match H264Decoder::new() {
        Ok(d) => d,
        Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
    };
    let mut receiver = VideoReceiver {
        shared: shared.clone(),
        ledger,
        quality,
        sink,
        decoder,
        assembler: AccessUnitAssembler::default(),
        last_request: None,
    };
    let mut reorder = Reorder::new(REORDER_WAIT, REORDER_CAPACITY, |p: &RtpPacket| {
        carries_sequence_parameters(&p.payload)
    });
    let mut in_order = Vec::new();
    let mut reported = ReorderCounts::default();
    while shared.running() {
        let wait = reorder.deadline().map_or(POLL, |due| {
            due.saturating_duration_since(Instant::now()).min(POLL)
        });
        match packets.recv_timeout(wait) {
            Ok(packet) => {
                let sequence = packet.header.sequence_number;
                reorder.push(sequence, Instant::now(), packet, &mut in_order);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        reorder.expire(Instant::now(), &mut in_order);
        for packet in in_order.drain(..) {
            receiver.packet(packet);
        }
        if reorder.counts != reported {
            reported = reorder.counts;
            shared.meter.reordering(reported);
        }
    }
    if let Some(mut sink) = receiver.sink
        && let Err(e) = sink.finish()
    {
        log::warn!("{e}");
    }
}

/// pc2's video, from packets in sequence order to pictures shown and measured.
struct VideoReceiver {
    shared: Shared,
    ledger: Arc<Ledger>,
    /// Where decoded pictures go to be measured, if they are (`[stats] quality`).
    quality: Option<Arc<DropOldest<Picture>>>,
    sink: Option<Box<dyn VideoSink>>,
    decoder: H264Decoder,
    assembler: AccessUnitAssembler,
    last_request: Option<Instant>,
}

impl VideoReceiver {
    fn packet(&mut self, packet: RtpPacket) {
        let h = &packet.header;
        // The access unit's timestamp: pc1 derived it from the frame's capture instant.
        let timestamp = h.timestamp;
        let access_unit =
            match self
                .assembler
                .push(h.sequence_number, h.timestamp, h.marker, &packet.payload)
            {
                Assembled::Pending => return,
                Assembled::Broken => return self.lost("a picture was lost"),
                Assembled::Complete(au) => au,
            };
        let began = Instant::now();
        let (width, height, picture) = match self.decoder.decode(&access_unit) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return,
            Err(e) => return self.lost(&e.to_string()),
        };
        let decoded_at = Instant::now();
        let captured = self.ledger.take(timestamp);
        if let Some(out) = &mut self.sink
            && let Err(e) = out.show(width, height, &picture)
        {
            (self.shared.notify)(SessionNote::OutputFailed(e.fault()));
            self.sink = None;
        }
        if self
            .shared
            .meter
            .decoded(decoded_at, decoded_at - began, captured)
        {
            (self.shared.notify)(SessionNote::FirstRemoteFrame);
        }
        if let Some(quality) = &self.quality {
            quality.push(Picture {
                width,
                height,
                data: picture,
            });
        }
    }

    /// A picture that cannot be shown: counted, and pc1 asked for a keyframe (at most one
    /// request per interval, as the following pictures depend on the lost one too).
    fn lost(&mut self, why: &str) {
        self.shared.meter.frame_lost();
        if self
            .last_request
            .is_some_and(|t| t.elapsed() < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        self.last_request = Some(Instant::now());
        log::debug!("pc2 asks for a keyframe: {why}");
        let peers = self.shared.peers.clone();
        self.shared.runtime.spawn(async move {
            if let Err(e) = peers.request_keyframe().await {
                log::debug!("{e}");
            }
        });
    }
}

/// A picture pc2 decoded, on its way to be measured.
pub(super) struct Picture {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

/// Pictures the quality thread may be behind by: when it is busier than the decoder, it
/// measures the newest and the others go unmeasured, so measuring never slows the call.
pub(super) const QUALITY_QUEUE: usize = 1;

/// Measures pc2's pictures against the test pattern they were drawn from, off the decoder's
/// thread: reads the frame id drawn into each, draws that frame again and compares.
pub(super) fn measure_quality(
    shared: Shared,
    pictures: Arc<DropOldest<Picture>>,
    pattern: Pattern,
) {
    while shared.running() {
        let Some(picture) = pictures.pop(POLL) else {
            continue;
        };
        let (width, height) = (picture.width, picture.height);
        if (pattern.width, pattern.height) != (width, height) {
            continue;
        }
        if let Some(id) = pattern.read_id(&picture.data[..width * height]) {
            shared
                .meter
                .quality(psnr(&pattern.render(id), &picture.data));
        }
    }
}

/// pc2's audio: each packet into the jitter buffer as it comes; each 20 ms, on the playout
/// clock, the block it says — decoded, recovered from the next packet's FEC, or concealed, and
/// made a step shorter or longer as the delay follows the jitter — to the speaker.
pub(super) fn decode_audio(
    shared: Shared,
    packets: Receiver<RtpPacket>,
    ledger: Arc<Ledger>,
    mut sink: Option<Box<dyn AudioSink>>,
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => return (shared.notify)(SessionNote::CodecFailed(Fault::internal(e))),
    };
    let mut buffer = JitterBuffer::new();
    // When the next block is due; none until the first packet came.
    let mut due: Option<Instant> = None;
    while shared.running() {
        let now = Instant::now();
        let wait = due.map_or(POLL, |at| at.saturating_duration_since(now).min(POLL));
        if !wait.is_zero() {
            match packets.recv_timeout(wait) {
                Ok(packet) => {
                    shared.meter.audio_received();
                    let now = Instant::now();
                    buffer.push(packet.header.sequence_number, packet, now);
                    // The first packet's turn comes a block after it: room for its followers.
                    due.get_or_insert(now + jitter::BLOCK);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            continue;
        }
        let Some(at) = due else { continue };
        let playout = buffer.pull(now);
        let decoded = match &playout.block {
            // Nothing to play until a packet comes, which sets the clock again.
            Block::Wait => {
                due = None;
                continue;
            }
            Block::Packet(packet) => decoder.decode(&packet.payload),
            Block::Fec(next) => decoder.recover(&next.payload),
            Block::Conceal => decoder.conceal(),
        };
        let pcm = match decoded {
            Ok(pcm) => stretch(pcm, playout.stretch),
            Err(e) => {
                log::debug!("dropping an audio packet: {e}");
                vec![0; SAMPLES_PER_BLOCK]
            }
        };
        // The playout clock runs on what was played; a block late by more than one is not
        // made up for, so a stall does not become a burst.
        let played = Duration::from_secs_f64(pcm.len() as f64 / f64::from(SAMPLE_RATE));
        due = Some((at + played).max(now));
        let latency = match &playout.block {
            Block::Packet(packet) => ledger.take(packet.header.timestamp).map(|t| t.elapsed()),
            _ => None,
        };
        shared
            .meter
            .audio_playout(buffer.counts(), playout.waited, latency);
        if let Some(out) = &mut sink
            && let Err(e) = out.write(&pcm)
        {
            (shared.notify)(SessionNote::OutputFailed(e.fault()));
            sink = None;
        }
    }
    if let Some(mut sink) = sink
        && let Err(e) = sink.finish()
    {
        log::warn!("{e}");
    }
}
