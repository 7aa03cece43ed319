//! What pc2 asks of pc1 and what pc1 does about it, as two interceptors of pc1's chain.
//!
//! Inbound RTCP stops at the end of webrtc's interceptor chain unless an interceptor marks it
//! for the application; without [`KeyframeRequestForwarder`], the sender would never hear that
//! the receiver lost a picture and the call would stay frozen until the next periodic keyframe.
//! It also counts the NACKs and keyframe requests, which webrtc's statistics leave at zero.
//! [`RetransmissionCounter`], below the NACK responder, counts the packets resent.

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

/// Passes PLI and FIR on to the application, marked for delivery; drops other inbound RTCP,
/// which the interceptors before it have already acted on. Place it last in the chain.
pub struct KeyframeRequestForwarder {
    counts: Arc<FeedbackCounts>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl KeyframeRequestForwarder {
    pub fn new(counts: Arc<FeedbackCounts>) -> Self {
        KeyframeRequestForwarder {
            counts,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
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
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
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
