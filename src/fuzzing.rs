//! What camloop takes from outside, as a fuzzer hands it over: bytes. The fuzz targets in
//! `fuzz/` call these, and `tests/fuzz_corpus.rs` feeds them every input the fuzzers kept, on
//! stable. Each checks what must hold whatever the input, beyond not panicking.

use crate::config::{Config, HEIGHTS, WIDTHS};
use crate::control::parse_request;
use crate::media::h264::{AccessUnitAssembler, Assembled, carries_sequence_parameters};
use crate::media::reorder::Reorder;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// A config file's text: refused with a message, or a config within camloop's ranges.
pub fn config_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            let camera = &config.camera;
            assert!(WIDTHS.contains(&camera.width) && camera.width % 2 == 0);
            assert!(HEIGHTS.contains(&camera.height) && camera.height % 2 == 0);
            assert!(config.control_socket.as_os_str().len() < 108);
        }
        Err(e) => assert!(e.to_string().starts_with("config error: ")),
    }
}

/// A control request line: understood, or an error reply that stays short however long the
/// line (at most [`crate::control::MAX_REQUEST`] bytes reach the parser).
pub fn control_line(data: &[u8]) {
    let line = &data[..data.len().min(crate::control::MAX_REQUEST)];
    if let Err(message) = parse_request(line) {
        assert!(
            message.len() < 400,
            "an error reply of {} bytes",
            message.len()
        );
    }
}

/// What `camloop ctl` reads from a socket: whatever it is, nothing printed holds a control
/// character, and an answer is the JSON it was sent.
pub fn ctl_reply(data: &[u8]) {
    use crate::control::{MAX_REPLY, Reply, reply};
    match reply(data) {
        Reply::Answer(printed) => {
            assert!(!printed.contains(char::is_control), "{printed:?}");
            let sent: serde_json::Value = serde_json::from_slice(data).unwrap();
            let shown: serde_json::Value = serde_json::from_str(&printed).unwrap();
            assert_eq!(sent, shown);
        }
        Reply::Refused(printed) | Reply::Busy(printed) => {
            assert!(!printed.contains(char::is_control), "{printed:?}");
        }
        Reply::TooLong => assert!(data.len() > MAX_REPLY),
    }
}

/// A video packet as the fuzzer makes it: sequence number, timestamp, marker, payload.
type VideoPacket = (u16, u32, bool, Bytes);

/// A stream of video RTP packets, each `[sequence (2 bytes), timestamp, flags, length,
/// payload…]`, arriving 1 ms apart (flags bit 0: marker; bits 1–7: extra milliseconds),
/// through pc2's reorder buffer and access-unit assembler, then a second of nothing. An access
/// unit is never empty, and never much larger than the payloads it was made of (start codes go
/// before each NAL unit). Returns how many whole access units came out.
pub fn rtp_video(data: &[u8]) -> usize {
    let mut whole = 0;
    let mut reorder = Reorder::new(Duration::from_millis(250), 64, |p: &VideoPacket| {
        carries_sequence_parameters(&p.3)
    });
    let mut assembler = AccessUnitAssembler::default();
    let mut assemble = |in_order: &mut Vec<VideoPacket>| {
        for (sequence, timestamp, marker, payload) in in_order.drain(..) {
            if let Assembled::Complete(unit) = assembler.push(sequence, timestamp, marker, &payload)
            {
                assert!(!unit.is_empty());
                assert!(
                    unit.len() <= 3 * data.len(),
                    "{} bytes from {}",
                    unit.len(),
                    data.len()
                );
                whole += 1;
            }
        }
    };
    let mut now = Instant::now();
    let mut in_order = Vec::new();
    let mut rest = data;
    while let [s0, s1, timestamp, flags, length, tail @ ..] = rest {
        let length = (*length as usize).min(tail.len());
        let (payload, after) = tail.split_at(length);
        rest = after;
        now += Duration::from_millis(1 + u64::from(flags >> 1));
        let sequence = u16::from_be_bytes([*s0, *s1]);
        let packet = (
            sequence,
            u32::from(*timestamp),
            flags & 1 == 1,
            Bytes::copy_from_slice(payload),
        );
        reorder.expire(now, &mut in_order);
        reorder.push(sequence, now, packet, &mut in_order);
        assemble(&mut in_order);
    }
    reorder.expire(now + Duration::from_secs(1), &mut in_order);
    assemble(&mut in_order);
    whole
}
