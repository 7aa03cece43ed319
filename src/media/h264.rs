//! H.264 with OpenH264: a baseline, real-time encoder with real rate control; a decoder; and
//! the reassembly of access units from RTP (timestamp + marker bit), done here rather than with
//! a sample builder so that no frame waits for the next one.

use super::frame::Frame;
use bytes::Bytes;
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    #[error("H.264 encoder: {0}")]
    Encoder(openh264::Error),
    #[error("H.264 decoder: {0}")]
    Decoder(openh264::Error),
}

pub struct EncoderSettings {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval_s: u32,
}

/// One encoded picture: an Annex-B access unit.
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

pub struct H264Encoder {
    encoder: Encoder,
}

struct I420<'a>(&'a Frame);

impl YUVSource for I420<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width, self.0.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.0.width, self.0.width / 2, self.0.width / 2)
    }
    fn y(&self) -> &[u8] {
        self.0.y()
    }
    fn u(&self) -> &[u8] {
        self.0.u()
    }
    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

impl H264Encoder {
    pub fn new(settings: &EncoderSettings) -> Result<Self, H264Error> {
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            // Real rate control: the encoder may skip a frame to hold the bitrate.
            .skip_frames(true)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                settings.fps * settings.keyframe_interval_s,
            ));
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(H264Error::Encoder)?;
        Ok(H264Encoder { encoder })
    }

    /// Encodes one frame; `None` when rate control skipped it.
    pub fn encode(&mut self, frame: &Frame) -> Result<Option<EncodedFrame>, H264Error> {
        let stream = self
            .encoder
            .encode(&I420(frame))
            .map_err(H264Error::Encoder)?;
        let keyframe = match stream.frame_type() {
            FrameType::Skip | FrameType::Invalid => return Ok(None),
            FrameType::IDR | FrameType::I => true,
            FrameType::P | FrameType::IPMixed => false,
        };
        Ok(Some(EncodedFrame {
            data: stream.to_vec(),
            keyframe,
        }))
    }

    /// The next frame will be an IDR: the answer to a PLI or FIR.
    pub fn force_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }
}

pub struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self, H264Error> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(H264Error::Decoder)?;
        Ok(H264Decoder { decoder })
    }

    /// Decodes one access unit into a tightly packed I420 picture `(width, height, data)`;
    /// `None` when the decoder has no picture yet (e.g. parameter sets only).
    pub fn decode(
        &mut self,
        access_unit: &[u8],
    ) -> Result<Option<(usize, usize, Vec<u8>)>, H264Error> {
        let Some(yuv) = self
            .decoder
            .decode(access_unit)
            .map_err(H264Error::Decoder)?
        else {
            return Ok(None);
        };
        let (width, height) = yuv.dimensions();
        let (y_stride, u_stride, v_stride) = yuv.strides();
        let mut data = Vec::with_capacity(Frame::i420_len(width, height));
        for row in yuv.y().chunks(y_stride).take(height) {
            data.extend_from_slice(&row[..width]);
        }
        for (plane, stride) in [(yuv.u(), u_stride), (yuv.v(), v_stride)] {
            for row in plane.chunks(stride).take(height / 2) {
                data.extend_from_slice(&row[..width / 2]);
            }
        }
        Ok(Some((width, height, data)))
    }
}

/// What the assembler makes of one RTP packet.
#[derive(Debug, PartialEq)]
pub enum Assembled {
    /// Still collecting the current access unit.
    Pending,
    /// A whole access unit, Annex-B.
    Complete(Vec<u8>),
    /// An access unit was lost or damaged (a sequence gap, a bad payload): ask for a keyframe.
    Broken,
}

/// Reassembles H.264 access units from RTP packets of one SSRC: all packets with the same
/// timestamp, up to the one with the marker bit, with no sequence gap between them.
#[derive(Default)]
pub struct AccessUnitAssembler {
    depacketizer: H264Packet,
    timestamp: Option<u32>,
    next_sequence: Option<u16>,
    buffer: Vec<u8>,
    damaged: bool,
}

impl AccessUnitAssembler {
    pub fn push(
        &mut self,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: &Bytes,
    ) -> Assembled {
        let gap = self
            .next_sequence
            .is_some_and(|expected| expected != sequence);
        self.next_sequence = Some(sequence.wrapping_add(1));
        let mut verdict = Assembled::Pending;
        if self.timestamp != Some(timestamp) {
            // A new access unit began before the last one ended: the last one lost its tail.
            if self.timestamp.is_some() && !self.buffer.is_empty() {
                verdict = Assembled::Broken;
            }
            self.start(timestamp);
        }
        if gap {
            self.damaged = true;
        }
        if !stap_a_lengths_fit(payload) {
            self.damaged = true;
        } else {
            match self.depacketizer.depacketize(payload) {
                Ok(nal) => self.buffer.extend_from_slice(&nal),
                Err(_) => self.damaged = true,
            }
        }
        if marker {
            let complete = std::mem::take(&mut self.buffer);
            let damaged = std::mem::replace(&mut self.damaged, false);
            self.timestamp = None;
            self.depacketizer = H264Packet::default();
            return if damaged || complete.is_empty() {
                Assembled::Broken
            } else {
                Assembled::Complete(complete)
            };
        }
        verdict
    }

    fn start(&mut self, timestamp: u32) {
        self.timestamp = Some(timestamp);
        self.buffer.clear();
        self.damaged = false;
        self.depacketizer = H264Packet::default();
    }
}

const SEQUENCE_PARAMETERS: u8 = 7;
const STAP_A: u8 = 24;

/// Whether a packet carries a sequence parameter set, alone or aggregated: a keyframe and the
/// start from which a stream can be decoded.
pub fn carries_sequence_parameters(payload: &[u8]) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(SEQUENCE_PARAMETERS) => true,
        Some(STAP_A) => stap_a_units(&payload[1..]).is_some_and(|units| {
            units
                .iter()
                .any(|u| u.first().is_some_and(|b| b & 0x1f == SEQUENCE_PARAMETERS))
        }),
        _ => false,
    }
}

/// Whether an aggregation packet (STAP-A, NAL type 24) ends exactly after its last unit. The
/// depacketizer indexes past the end of one with a stray byte after its units (found by the
/// `rtp_video` fuzz target): such a packet is damaged, like any other malformed one.
fn stap_a_lengths_fit(payload: &[u8]) -> bool {
    payload.first().is_none_or(|b| b & 0x1f != STAP_A) || stap_a_units(&payload[1..]).is_some()
}

/// The units of an aggregation packet's body (each after its 16-bit length), or None when the
/// lengths do not add up to the body.
fn stap_a_units(mut rest: &[u8]) -> Option<Vec<&[u8]>> {
    let mut units = Vec::new();
    while !rest.is_empty() {
        let [high, low, after_length @ ..] = rest else {
            return None;
        };
        let length = usize::from(u16::from_be_bytes([*high, *low]));
        units.push(after_length.get(..length)?);
        rest = &after_length[length..];
    }
    Some(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(id: u32, width: usize, height: usize) -> Frame {
        let mut data = vec![128u8; Frame::i420_len(width, height)];
        for (i, px) in data[..width * height].iter_mut().enumerate() {
            *px = ((i % width) * 255 / width) as u8 ^ (id as u8);
        }
        Frame {
            id,
            captured: Instant::now(),
            width,
            height,
            data,
        }
    }

    /// A 64x48@15 encoder with a keyframe every `keyframe_interval_s`.
    fn small_encoder(keyframe_interval_s: u32) -> H264Encoder {
        H264Encoder::new(&EncoderSettings {
            width: 64,
            height: 48,
            fps: 15,
            bitrate_kbps: 500,
            keyframe_interval_s,
        })
        .unwrap()
    }

    #[test]
    fn encode_then_decode_gives_the_picture_back() {
        let mut encoder = small_encoder(2);
        let mut decoder = H264Decoder::new().unwrap();
        let source = frame(0, 64, 48);
        let encoded = encoder
            .encode(&source)
            .unwrap()
            .expect("first frame is not skipped");
        assert!(encoded.keyframe);
        let (w, h, data) = decoder.decode(&encoded.data).unwrap().expect("a picture");
        assert_eq!((w, h), (64, 48));
        assert!(super::super::frame::psnr(&source.data, &data) > 30.0);
    }

    #[test]
    fn a_forced_keyframe_follows_a_request() {
        let mut encoder = small_encoder(60);
        encoder.encode(&frame(0, 64, 48)).unwrap();
        let p = encoder.encode(&frame(1, 64, 48)).unwrap().unwrap();
        assert!(!p.keyframe);
        encoder.force_keyframe();
        let k = encoder.encode(&frame(2, 64, 48)).unwrap().unwrap();
        assert!(k.keyframe);
    }

    #[test]
    fn a_keyframe_starts_with_its_sequence_parameters_and_a_later_picture_does_not() {
        use rtc::rtp::codec::h264::H264Payloader;
        use rtc::rtp::packetizer::Payloader;
        let mut encoder = small_encoder(60);
        let mut payloader = H264Payloader::default();
        let mut packets = |id| {
            let encoded = encoder.encode(&frame(id, 64, 48)).unwrap().unwrap();
            payloader.payload(1200, &Bytes::from(encoded.data)).unwrap()
        };
        let keyframe = packets(0);
        assert!(carries_sequence_parameters(&keyframe[0]));
        assert!(!keyframe[1..].iter().any(|p| carries_sequence_parameters(p)));
        assert!(!packets(1).iter().any(|p| carries_sequence_parameters(p)));
        assert!(carries_sequence_parameters(&[0x67, 0x42]));
        assert!(!carries_sequence_parameters(&[0x18, 0x00, 0x05, 0x67]));
    }

    fn single_nal(byte: u8) -> Bytes {
        // A non-IDR slice NAL unit (type 1) with a one-byte body.
        Bytes::from(vec![0x41, byte, byte])
    }

    #[test]
    fn packets_up_to_the_marker_make_one_access_unit() {
        let mut a = AccessUnitAssembler::default();
        assert_eq!(a.push(10, 900, false, &single_nal(1)), Assembled::Pending);
        match a.push(11, 900, true, &single_nal(2)) {
            Assembled::Complete(au) => {
                assert_eq!(au, [0, 0, 0, 1, 0x41, 1, 1, 0, 0, 0, 1, 0x41, 2, 2]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sequence_gap_breaks_the_access_unit_and_the_next_one_is_whole() {
        let mut a = AccessUnitAssembler::default();
        a.push(10, 900, false, &single_nal(1));
        assert_eq!(a.push(12, 900, true, &single_nal(2)), Assembled::Broken);
        assert!(matches!(
            a.push(13, 1800, true, &single_nal(3)),
            Assembled::Complete(_)
        ));
    }

    #[test]
    fn a_lost_marker_breaks_the_access_unit() {
        let mut a = AccessUnitAssembler::default();
        a.push(10, 900, false, &single_nal(1));
        assert_eq!(a.push(11, 1800, false, &single_nal(2)), Assembled::Broken);
        assert!(matches!(
            a.push(12, 1800, true, &single_nal(3)),
            Assembled::Complete(_)
        ));
    }

    #[test]
    fn an_aggregation_packet_with_a_stray_byte_is_damaged_not_a_panic() {
        let mut assembler = AccessUnitAssembler::default();
        // STAP-A: one unit of 2 bytes, then a single byte where a length should be.
        let stray = Bytes::from_static(&[0x18, 0x00, 0x02, 0x67, 0x42, 0x00]);
        assert!(matches!(
            assembler.push(1, 9, true, &stray),
            Assembled::Broken
        ));
        let whole = Bytes::from_static(&[0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]);
        assert!(matches!(
            assembler.push(2, 10, true, &whole),
            Assembled::Complete(_)
        ));
    }

    #[test]
    fn a_malformed_payload_is_reported_not_panicked_on() {
        let mut a = AccessUnitAssembler::default();
        assert_eq!(
            a.push(1, 900, true, &Bytes::from_static(&[0x7c])),
            Assembled::Broken
        );
        assert_eq!(
            a.push(2, 1800, true, &Bytes::from_static(&[0x18, 0xff, 0xff])),
            Assembled::Broken
        );
    }
}
