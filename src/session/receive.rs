//! The receiving half of a call: what pc2 gets, decoded and shown or played.

use super::{KEYFRAME_REQUEST_INTERVAL, Ledger, POLL, SessionNote, Shared};
use crate::audio::AudioSink;
use crate::camera::pattern::Pattern;
use crate::display::VideoSink;
use crate::media::frame::psnr;
use crate::media::h264::{AccessUnitAssembler, Assembled, H264Decoder};
use crate::media::opus::OpusDecoder;
use crate::rtc::RtpPacket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

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

pub(super) fn decode_video(
    shared: Shared,
    packets: Receiver<RtpPacket>,
    ledger: Arc<Ledger>,
    reference: Option<Pattern>,
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
        // The access unit's timestamp: pc1 derived it from the frame's capture instant.
        let timestamp = h.timestamp;
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
        let latency = ledger.take(timestamp).map(|t| decoded_at.duration_since(t));
        let quality = match (reference, id) {
            (Some(pattern), Some(id)) if (pattern.width, pattern.height) == (width, height) => {
                Some(psnr(&pattern.render(id), &picture))
            }
            _ => None,
        };
        if let Some(out) = &mut sink
            && let Err(e) = out.show(width, height, &picture)
        {
            (shared.notify)(SessionNote::OutputFailed(e.to_string()));
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

pub(super) fn decode_audio(
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
                    (shared.notify)(SessionNote::OutputFailed(e.to_string()));
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
