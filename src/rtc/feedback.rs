//! What pc2 asks of pc1 and what pc1 does about it, as two interceptors of pc1's chain.
//!
//! Inbound RTCP stops at the end of webrtc's interceptor chain unless an interceptor marks it
//! for the application; without [`KeyframeRequestForwarder`], the sender would never hear that
//! the receiver lost a picture and the call would stay frozen until the next periodic keyframe.
//! It also counts the NACKs and keyframe requests, which webrtc's statistics leave at zero, and
//! reads the audio loss pc2's receiver reports give, for the Opus encoder's in-band FEC.
//! [`RetransmissionCounter`], below the NACK responder, counts the packets resent.

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

/// Feedback pc1 received, and what it resent.
#[derive(Debug, Default)]
pub struct FeedbackCounts {
    /// NACK messages, and the packets they name.
    pub nack: AtomicU64,
    pub nacked_packets: AtomicU64,
    /// PLI and FIR messages.
    pub pli: AtomicU64,
    /// RTP packets sent again (by the NACK responder).
    pub retransmitted: AtomicU64,
    /// The share of pc1's audio packets lost, in percent, as pc2's latest report says.
    pub audio_loss_percent: AtomicU8,
}

/// Passes PLI and FIR on to the application, marked for delivery; drops other inbound RTCP,
/// which the interceptors before it have already acted on. Place it last in the chain.
pub struct KeyframeRequestForwarder {
    counts: Arc<FeedbackCounts>,
    /// pc1's audio stream, whose reception reports give the loss.
    audio_ssrc: Option<u32>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl KeyframeRequestForwarder {
    pub fn new(counts: Arc<FeedbackCounts>) -> Self {
        KeyframeRequestForwarder {
            counts,
            audio_ssrc: None,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }
}

impl KeyframeRequestForwarder {
    /// The audio loss a receiver or sender report gives for pc1's audio stream.
    fn note_loss(&self, packet: &dyn rtc::rtcp::Packet) {
        let any = packet.as_any();
        let reports: &[ReceptionReport] = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            &rr.reports
        } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
            &sr.reports
        } else {
            return;
        };
        for report in reports {
            if Some(report.ssrc) == self.audio_ssrc {
                // The fraction lost is in 256ths.
                let percent = (u16::from(report.fraction_lost) * 100 / 256) as u8;
                self.counts
                    .audio_loss_percent
                    .store(percent, Ordering::Relaxed);
            }
        }
    }
}

pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                if let Some(nack) = packet.as_any().downcast_ref::<TransportLayerNack>() {
                    let named: usize = nack.nacks.iter().map(|n| n.packet_list().len()).sum();
                    self.counts.nack.fetch_add(1, Ordering::Relaxed);
                    self.counts
                        .nacked_packets
                        .fetch_add(named as u64, Ordering::Relaxed);
                } else if is_keyframe_request(packet.as_ref()) {
                    self.counts.pli.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.note_loss(packet.as_ref());
                }
            }
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.payload_type == super::OPUS_PAYLOAD_TYPE {
            self.audio_ssrc = Some(info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Counts RTP packets written with a sequence number already sent on their SSRC: the NACK
/// responder's retransmissions. Place it below the responder, where its output passes.
pub struct RetransmissionCounter {
    counts: Arc<FeedbackCounts>,
    /// The newest sequence number sent on each SSRC.
    newest: HashMap<u32, u16>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl RetransmissionCounter {
    pub fn new(counts: Arc<FeedbackCounts>) -> Self {
        RetransmissionCounter {
            counts,
            newest: HashMap::new(),
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RetransmissionCounter {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            let sequence = packet.header.sequence_number;
            match self.newest.get_mut(&packet.header.ssrc) {
                // Not newer (in wrapping order) than the newest: sent before.
                Some(newest) if (sequence.wrapping_sub(*newest) as i16) <= 0 => {
                    self.counts.retransmitted.fetch_add(1, Ordering::Relaxed);
                }
                Some(newest) => *newest = sequence,
                None => {
                    self.newest.insert(packet.header.ssrc, sequence);
                }
            }
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for RetransmissionCounter {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_loss_comes_from_the_reports_on_pc1s_audio_stream_only() {
        let counts = Arc::new(FeedbackCounts::default());
        let mut forwarder = KeyframeRequestForwarder::new(counts.clone());
        for (ssrc, payload_type) in [(7, super::super::OPUS_PAYLOAD_TYPE), (9, 102)] {
            forwarder.bind_local_stream(&StreamInfo {
                ssrc,
                payload_type,
                ..StreamInfo::default()
            });
        }
        let report = |ssrc, fraction_lost| ReceptionReport {
            ssrc,
            fraction_lost,
            ..ReceptionReport::default()
        };
        // A quarter of the audio lost; the video's own figure is not the audio's.
        forwarder.note_loss(&ReceiverReport {
            reports: vec![report(9, 200), report(7, 64)],
            ..ReceiverReport::default()
        });
        assert_eq!(counts.audio_loss_percent.load(Ordering::Relaxed), 25);
        forwarder.note_loss(&SenderReport {
            reports: vec![report(7, 0)],
            ..SenderReport::default()
        });
        assert_eq!(counts.audio_loss_percent.load(Ordering::Relaxed), 0);
    }
}
