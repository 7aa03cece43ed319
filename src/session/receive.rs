//! The receiving half of a call: what pc2 gets, decoded and shown or played.

use super::{KEYFRAME_REQUEST_INTERVAL, Ledger, POLL, SessionNote, Shared};
use crate::audio::AudioSink;
use crate::camera::pattern::Pattern;
use crate::display::VideoSink;
use crate::fault::Fault;
use crate::media::frame::psnr;
use crate::media::h264::{
    AccessUnitAssembler, Assembled, H264Decoder, carries_sequence_parameters,
};
use crate::media::opus::OpusDecoder;
use crate::media::queue::DropOldest;
use crate::media::reorder::{Reorder, ReorderCounts};
use crate::rtc::RtpPacket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

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
                    (shared.notify)(SessionNote::OutputFailed(e.fault()));
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
