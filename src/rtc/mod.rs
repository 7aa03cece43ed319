//! The two peer connections of the loopback sample, in one process.
//!
//! pc1 sends the camera and microphone; pc2 receives them. As in the sample, pc1 offers, pc2
//! answers, and each one's ICE candidates are handed straight to the other: no signaling server,
//! but every message one would carry is traced. ICE runs on 127.0.0.1 only, without mDNS, and
//! the media is DTLS-SRTP over real UDP sockets.

mod feedback;
pub mod impair;
mod outgoing;
pub mod relay;

use feedback::FeedbackCounts;
use impair::Impairment;
use outgoing::Outgoing;
use relay::{Relay, RelayReport};
mod peer;

use peer::{
    H264_PAYLOAD_TYPE, Handler, OPUS_PAYLOAD_TYPE, build_peer, h264_codec, hand_over_candidates,
    offer_answer, opus_codec,
};
pub mod sockets;

use crate::trace;
use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

pub use rtc::rtp::Packet as RtpPacket;

/// The largest RTP packet pc1 sends, as browsers do: well inside any path's MTU.
const RTP_MTU: usize = 1200;
const RTP_HEADER: usize = 12;

/// How long a hangup waits for the connections' sockets to be released.
const SOCKET_RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
#[error("peer connection: {0}")]
pub struct PeerError(String);

fn peer_error(what: &str) -> impl FnOnce(webrtc::error::Error) -> PeerError + '_ {
    move |e| PeerError(format!("{what}: {e}"))
}

/// Which of the two connections: pc1 sends, pc2 receives, as in the sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Pc1,
    Pc2,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Pc1 => "pc1",
            Side::Pc2 => "pc2",
        })
    }
}

/// What the connections report to the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum PeerNote {
    IceState(Side, String),
    IceConnected,
    /// Both connections are connected (DTLS done); media may flow.
    Connected,
    Failed(String),
}

/// Where pc2 delivers what arrives: RTP packets of each kind, never blocking the connection.
#[derive(Clone)]
pub struct Inbound {
    pub video: std::sync::mpsc::SyncSender<RtpPacket>,
    /// `None` for a video-only call: pc1 then adds no audio track, and none is negotiated.
    pub audio: Option<std::sync::mpsc::SyncSender<RtpPacket>>,
}

/// The two connected peer connections of one call, and pc1's outgoing tracks.
pub struct LoopbackPeers {
    pc1: Arc<dyn PeerConnection>,
    pc2: Arc<dyn PeerConnection>,
    video: Outgoing,
    video_payloader: Mutex<H264Payloader>,
    audio: Option<Outgoing>,
    keyframe_wanted: Arc<AtomicBool>,
    remote_video: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    signaling: tokio::task::JoinHandle<()>,
    relay: Option<Arc<Relay>>,
    feedback: Arc<FeedbackCounts>,
    /// The UDP sockets the process held before these connections: the rest are theirs.
    sockets_before: HashSet<u64>,
}

/// The path between pc1 and pc2.
#[derive(Clone, Debug)]
pub struct Network {
    /// How long it may be silent before the call fails.
    pub timeout: Duration,
    pub impairment: Option<Impairment>,
}

/// What the wire says about the video stream pc1 sends.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WireStats {
    pub video_bytes_sent: u64,
    /// NACK messages pc1 received, and the packets they named.
    pub nack: u64,
    pub nacked_packets: u64,
    /// Keyframe requests (PLI, FIR) pc1 received.
    pub pli: u64,
    /// Packets pc1 sent again when asked.
    pub retransmitted: u64,
    /// What the relay did, when the network is impaired.
    pub relay: Option<RelayReport>,
}

impl LoopbackPeers {
    /// Creates both connections, adds pc1's tracks and runs offer/answer. Returns once the
    /// descriptions are set; ICE and DTLS go on and report through `notes`.
    /// With an `impairment`, every packet between them crosses a relay that applies it.
    pub async fn connect(
        notes: UnboundedSender<PeerNote>,
        inbound: Inbound,
        media: &str,
        network: &Network,
    ) -> Result<LoopbackPeers, PeerError> {
        let (candidates_tx, candidates_rx) = unbounded_channel();
        let connected = Arc::new(Mutex::new([false; 2]));
        let remote_video = Arc::new(Mutex::new(None));
        let sockets_before = udp_socket_inodes();
        let handler = |side, inbound| {
            Arc::new(Handler {
                side,
                candidates: candidates_tx.clone(),
                notes: notes.clone(),
                connected: connected.clone(),
                inbound,
                video_track: remote_video.clone(),
            })
        };
        let feedback = Arc::new(FeedbackCounts::default());
        // pc2 is given counts of its own: what it receives is not pc1's feedback.
        let pc1 = build_peer(
            Side::Pc1,
            handler(Side::Pc1, None),
            network.timeout,
            &feedback,
        )
        .await?;
        let with_audio = inbound.audio.is_some();
        let pc2 = build_peer(
            Side::Pc2,
            handler(Side::Pc2, Some(inbound)),
            network.timeout,
            &Arc::default(),
        )
        .await?;

        let video = Outgoing::new(RtpCodecKind::Video, h264_codec(), H264_PAYLOAD_TYPE);
        pc1.add_track(video.track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(peer_error("adding the video track"))?;
        let audio = match with_audio {
            true => {
                let audio = Outgoing::new(RtpCodecKind::Audio, opus_codec(), OPUS_PAYLOAD_TYPE);
                pc1.add_track(audio.track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(peer_error("adding the audio track"))?;
                Some(audio)
            }
            false => None,
        };
        trace::info(&format!("Added local stream to pc1 ({media})"));

        let keyframe_wanted = Arc::new(AtomicBool::new(false));
        offer_answer(&pc1, &pc2).await?;
        let relay = network
            .impairment
            .clone()
            .map(|impairment| Relay::start(impairment, H264_PAYLOAD_TYPE));
        let signaling = tokio::spawn(hand_over_candidates(
            pc1.clone(),
            pc2.clone(),
            candidates_rx,
            relay.clone(),
        ));
        tokio::spawn(watch_keyframe_requests(
            video.track.clone(),
            keyframe_wanted.clone(),
        ));

        Ok(LoopbackPeers {
            pc1,
            pc2,
            video,
            video_payloader: Mutex::new(H264Payloader::default()),
            audio,
            keyframe_wanted,
            remote_video,
            signaling,
            relay,
            feedback,
            sockets_before,
        })
    }

    /// Sends one H.264 access unit (Annex-B) with the given RTP timestamp (90 kHz clock).
    pub async fn send_video(
        &self,
        access_unit: Bytes,
        rtp_timestamp: u32,
    ) -> Result<(), PeerError> {
        let payloads = self
            .video_payloader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .payload(RTP_MTU - RTP_HEADER, &access_unit)
            .map_err(|e| PeerError(format!("packetizing video: {e}")))?;
        self.video
            .send(payloads, rtp_timestamp)
            .await
            .map_err(peer_error("sending video"))
    }

    /// Sends one Opus packet with the given RTP timestamp (48 kHz clock).
    pub async fn send_audio(&self, packet: Bytes, rtp_timestamp: u32) -> Result<(), PeerError> {
        let Some(audio) = &self.audio else {
            return Err(PeerError("this call has no audio track".into()));
        };
        audio
            .send(vec![packet], rtp_timestamp)
            .await
            .map_err(peer_error("sending audio"))
    }

    /// The share of the audio pc2 last reported lost, in percent.
    pub fn audio_loss_percent(&self) -> u8 {
        self.feedback.audio_loss_percent.load(Ordering::Relaxed)
    }

    /// Whether pc2 asked for a keyframe since the last call; clears the request.
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::Relaxed)
    }

    /// pc2 asks pc1 for a keyframe (a PLI), as a receiver does after losing a picture.
    pub async fn request_keyframe(&self) -> Result<(), PeerError> {
        let track = self
            .remote_video
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(track) = track else { return Ok(()) };
        let media_ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            })])
            .await
            .map_err(peer_error("sending a PLI"))
    }

    pub async fn wire_stats(&self) -> WireStats {
        let report = self
            .pc1
            .get_stats(Instant::now(), StatsSelector::None)
            .await;
        let mut stats = WireStats::default();
        for entry in report.iter() {
            if let RTCStatsReportEntry::OutboundRtp(out) = entry
                && out.sent_rtp_stream_stats.rtp_stream_stats.kind == RtpCodecKind::Video
            {
                stats.video_bytes_sent += out.sent_rtp_stream_stats.bytes_sent;
            }
        }
        let read = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        stats.nack = read(&self.feedback.nack);
        stats.nacked_packets = read(&self.feedback.nacked_packets);
        stats.pli = read(&self.feedback.pli);
        stats.retransmitted = read(&self.feedback.retransmitted);
        stats.relay = self.relay.as_ref().map(|r| r.counts.report());
        stats
    }

    /// Closes both connections, as the sample's hangup does, and returns once their sockets
    /// are released, so that the next call starts from a clean slate.
    pub async fn close(&self) {
        self.signaling.abort();
        for (side, pc) in [(Side::Pc1, &self.pc1), (Side::Pc2, &self.pc2)] {
            if let Err(e) = pc.close().await {
                trace::info(&format!("{side} close: {e}"));
            }
        }
        if let Some(relay) = &self.relay {
            relay.stop();
        }
        // The connections' driver tasks drop their sockets shortly after close() returns.
        let until = Instant::now() + SOCKET_RELEASE_TIMEOUT;
        loop {
            let left: Vec<u64> = udp_socket_inodes()
                .difference(&self.sockets_before)
                .copied()
                .collect();
            if left.is_empty() {
                return;
            }
            if Instant::now() > until {
                log::warn!(
                    "{} UDP sockets still open {SOCKET_RELEASE_TIMEOUT:?} after hangup",
                    left.len()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn udp_socket_inodes() -> HashSet<u64> {
    sockets::udp_sockets()
        .into_iter()
        .map(|s| s.inode)
        .collect()
}

/// Raises the flag the encoder reads whenever pc2 asks for a keyframe.
async fn watch_keyframe_requests(track: Arc<TrackLocalStaticRTP>, wanted: Arc<AtomicBool>) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets
            .iter()
            .any(|p| feedback::is_keyframe_request(p.as_ref()))
        {
            wanted.store(true, Ordering::Relaxed);
        }
    }
}
