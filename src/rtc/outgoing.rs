//! pc1's outgoing tracks, written packet by packet.

use super::RtpPacket;
use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::sync::{Arc, Mutex};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

fn rand_ssrc() -> u32 {
    rand::random::<u32>() | 1
}

/// One of pc1's tracks, written packet by packet: camloop sets each RTP timestamp from the
/// capture instant, so pc2 can match what it decodes to when it was captured.
pub(super) struct Outgoing {
    pub(super) track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    /// Video marks the last packet of each frame; audio (one packet a frame) marks none.
    marks_frames: bool,
    last_sequence: Mutex<u16>,
}

impl Outgoing {
    pub(super) fn new(kind: RtpCodecKind, codec: RTCRtpCodec, payload_type: u8) -> Outgoing {
        let ssrc = rand_ssrc();
        Outgoing {
            track: Arc::new(TrackLocalStaticRTP::new(media_track(kind, ssrc, codec))),
            ssrc,
            payload_type,
            marks_frames: kind == RtpCodecKind::Video,
            last_sequence: Mutex::new(rand::random()),
        }
    }

    /// Sends the payloads of one frame.
    pub(super) async fn send(
        &self,
        payloads: Vec<Bytes>,
        timestamp: u32,
    ) -> Result<(), webrtc::error::Error> {
        let first = {
            let mut last = self.last_sequence.lock().unwrap_or_else(|e| e.into_inner());
            let first = last.wrapping_add(1);
            *last = last.wrapping_add(payloads.len() as u16);
            first
        };
        let count = payloads.len();
        for (i, payload) in payloads.into_iter().enumerate() {
            let header = rtc::rtp::header::Header {
                version: 2,
                marker: self.marks_frames && i + 1 == count,
                payload_type: self.payload_type,
                sequence_number: first.wrapping_add(i as u16),
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            };
            self.track.write_rtp(RtpPacket { header, payload }).await?;
        }
        Ok(())
    }
}

fn media_track(kind: RtpCodecKind, ssrc: u32, codec: RTCRtpCodec) -> MediaStreamTrack {
    MediaStreamTrack::new(
        "camloop".into(),
        format!("camloop-{kind}"),
        format!("camloop {kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )
}
