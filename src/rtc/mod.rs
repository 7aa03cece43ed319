//! The two peer connections of the loopback sample, in one process.
//!
//! pc1 sends the camera and microphone; pc2 receives them. As in the sample, pc1 offers, pc2
//! answers, and each one's ICE candidates are handed straight to the other: no signaling server,
//! but every message one would carry is traced. ICE runs on 127.0.0.1 only, without mDNS, and
//! the media is DTLS-SRTP over real UDP sockets.

mod keyframe;
pub mod sockets;

use crate::trace;
use bytes::Bytes;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCIceConnectionState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCStatsReportEntry, Registry, SettingEngineBuilder, StatsSelector,
    register_default_interceptors,
};

pub use rtc::rtp::Packet as RtpPacket;

#[derive(Debug, thiserror::Error)]
#[error("peer connection: {0}")]
pub struct PeerError(String);

fn peer_error(what: &str) -> impl FnOnce(webrtc::error::Error) -> PeerError + '_ {
    move |e| PeerError(format!("{what}: {e}"))
}

/// Which of the two connections: pc1 sends, pc2 receives, as in the sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    pub audio: std::sync::mpsc::SyncSender<RtpPacket>,
}

const H264_PAYLOAD_TYPE: u8 = 102;
/// How long a hangup waits for the connections' sockets to be released.
const SOCKET_RELEASE_TIMEOUT: Duration = Duration::from_secs(2);
const OPUS_PAYLOAD_TYPE: u8 = 111;

fn h264_codec() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .into(),
        rtcp_feedback: vec![
            feedback("nack", ""),
            feedback("nack", "pli"),
            feedback("ccm", "fir"),
        ],
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

async fn build_peer(
    side: Side,
    handler: Arc<Handler>,
) -> Result<Arc<dyn PeerConnection>, PeerError> {
    let mut media_engine = MediaEngine::default();
    for (codec, payload_type, kind) in [
        (h264_codec(), H264_PAYLOAD_TYPE, RtpCodecKind::Video),
        (opus_codec(), OPUS_PAYLOAD_TYPE, RtpCodecKind::Audio),
    ] {
        let parameters = RTCRtpCodecParameters {
            rtp_codec: codec,
            payload_type,
        };
        media_engine
            .register_codec(parameters, kind)
            .map_err(|e| PeerError(format!("registering a codec: {e}")))?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .map_err(|e| PeerError(format!("interceptors: {e}")))?;
    // Last in the chain, so the NACK and report interceptors see all RTCP first.
    let registry = registry.with(
        Slot::from(14_000),
        keyframe::KeyframeRequestForwarder::default(),
    );
    // The default ICE check interval (200 ms) makes setup take ~400 ms on loopback; 20 ms
    // brings it to tens of milliseconds. No mDNS: it would open port 5353 on every interface.
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(Duration::from_millis(20)), None)
        .with_include_loopback_candidate(true)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .map_err(peer_error("creating the connection"))?;
    trace::info(&format!(
        "Created {} peer connection object {side}",
        match side {
            Side::Pc1 => "local",
            Side::Pc2 => "remote",
        }
    ));
    Ok(Arc::new(pc))
}

struct Handler {
    side: Side,
    candidates: UnboundedSender<(Side, RTCIceCandidateInit)>,
    notes: UnboundedSender<PeerNote>,
    connected: Arc<Mutex<[bool; 2]>>,
    /// pc2 only: where received media goes.
    inbound: Option<Inbound>,
    /// pc2 only: the received video track, for keyframe requests.
    video_track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                trace::debug(&format!("{} ICE candidate: {}", self.side, init.candidate));
                let _ = self.candidates.send((self.side, init));
            }
            Err(e) => trace::info(&format!("{} ICE candidate unusable: {e}", self.side)),
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self
            .notes
            .send(PeerNote::IceState(self.side, state.to_string()));
        if state == RTCIceConnectionState::Connected && self.side == Side::Pc1 {
            let _ = self.notes.send(PeerNote::IceConnected);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        trace::info(&format!("{} connection state: {state}", self.side));
        match state {
            RTCPeerConnectionState::Connected => {
                let both = {
                    let mut connected = self.connected.lock().unwrap_or_else(|e| e.into_inner());
                    connected[self.side as usize] = true;
                    connected[0] && connected[1]
                };
                if both {
                    let _ = self.notes.send(PeerNote::Connected);
                }
            }
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected => {
                let _ = self.notes.send(PeerNote::Failed(format!(
                    "{} connection {state}",
                    self.side
                )));
            }
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(inbound) = self.inbound.clone() else {
            return;
        };
        let kind = track.kind().await;
        trace::info(&format!("{} received remote {kind} track", self.side));
        let forward_to = match kind {
            RtpCodecKind::Video => {
                *self.video_track.lock().unwrap_or_else(|e| e.into_inner()) = Some(track.clone());
                inbound.video
            }
            _ => inbound.audio,
        };
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    // A full hand-over queue means the decoder is behind: drop, never wait.
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        if let Err(std::sync::mpsc::TrySendError::Disconnected(_)) =
                            forward_to.try_send(packet)
                        {
                            break;
                        }
                    }
                    TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                    _ => {}
                }
            }
        });
    }
}

/// The two connected peer connections of one call, and pc1's outgoing tracks.
pub struct LoopbackPeers {
    pc1: Arc<dyn PeerConnection>,
    pc2: Arc<dyn PeerConnection>,
    video: Arc<TrackLocalStaticSample>,
    video_ssrc: u32,
    audio: Arc<TrackLocalStaticRTP>,
    audio_ssrc: u32,
    audio_sequence: Mutex<u16>,
    keyframe_wanted: Arc<AtomicBool>,
    remote_video: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    signaling: tokio::task::JoinHandle<()>,
    /// The UDP sockets the process held before these connections: the rest are theirs.
    sockets_before: HashSet<u64>,
}

/// What the wire says about the video stream pc1 sends.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WireStats {
    pub video_bytes_sent: u64,
    pub nack_count: u32,
    pub pli_count: u32,
}

impl LoopbackPeers {
    /// Creates both connections, adds pc1's tracks and runs offer/answer. Returns once the
    /// descriptions are set; ICE and DTLS go on and report through `notes`.
    pub async fn connect(
        notes: UnboundedSender<PeerNote>,
        inbound: Inbound,
        media: &str,
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
        let pc1 = build_peer(Side::Pc1, handler(Side::Pc1, None)).await?;
        let pc2 = build_peer(Side::Pc2, handler(Side::Pc2, Some(inbound))).await?;

        let video_ssrc = rand_ssrc();
        let video = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                media_track(RtpCodecKind::Video, video_ssrc, h264_codec()),
            )
            .map_err(peer_error("creating the video track"))?,
        );
        pc1.add_track(video.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(peer_error("adding the video track"))?;
        let audio_ssrc = rand_ssrc();
        let audio = Arc::new(TrackLocalStaticRTP::new(media_track(
            RtpCodecKind::Audio,
            audio_ssrc,
            opus_codec(),
        )));
        pc1.add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(peer_error("adding the audio track"))?;
        trace::info(&format!("Added local stream to pc1 ({media})"));

        let keyframe_wanted = Arc::new(AtomicBool::new(false));
        offer_answer(&pc1, &pc2).await?;
        let signaling = tokio::spawn(hand_over_candidates(
            pc1.clone(),
            pc2.clone(),
            candidates_rx,
        ));
        tokio::spawn(watch_keyframe_requests(
            video.clone(),
            keyframe_wanted.clone(),
        ));

        Ok(LoopbackPeers {
            pc1,
            pc2,
            video,
            video_ssrc,
            audio,
            audio_ssrc,
            audio_sequence: Mutex::new(rand::random()),
            keyframe_wanted,
            remote_video,
            signaling,
            sockets_before,
        })
    }

    /// Sends one H.264 access unit (Annex-B) lasting `duration`.
    pub async fn send_video(
        &self,
        access_unit: Bytes,
        duration: Duration,
    ) -> Result<(), PeerError> {
        self.video
            .write_sample(
                self.video_ssrc,
                H264_PAYLOAD_TYPE,
                &Sample {
                    data: access_unit,
                    duration,
                    ..Sample::new(Instant::now())
                },
                &[],
            )
            .await
            .map_err(peer_error("sending video"))
    }

    /// Sends one Opus packet with the given RTP timestamp (48 kHz clock).
    pub async fn send_audio(&self, packet: Bytes, rtp_timestamp: u32) -> Result<(), PeerError> {
        let sequence_number = {
            let mut seq = self
                .audio_sequence
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *seq = seq.wrapping_add(1);
            *seq
        };
        let header = rtc::rtp::header::Header {
            version: 2,
            payload_type: OPUS_PAYLOAD_TYPE,
            sequence_number,
            timestamp: rtp_timestamp,
            ssrc: self.audio_ssrc,
            ..Default::default()
        };
        self.audio
            .write_rtp(RtpPacket {
                header,
                payload: packet,
            })
            .await
            .map_err(peer_error("sending audio"))
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
                stats.nack_count += out.nack_count;
                stats.pli_count += out.pli_count + out.fir_count;
            }
        }
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
    sockets::udp_sockets("self")
        .into_iter()
        .map(|s| s.inode)
        .collect()
}

fn rand_ssrc() -> u32 {
    rand::random::<u32>() | 1
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

async fn offer_answer(
    pc1: &Arc<dyn PeerConnection>,
    pc2: &Arc<dyn PeerConnection>,
) -> Result<(), PeerError> {
    trace::info("pc1 createOffer start");
    let offer = pc1
        .create_offer(None)
        .await
        .map_err(peer_error("pc1 createOffer"))?;
    trace::debug(&format!("Offer from pc1\n{}", offer.sdp));
    trace::info("pc1 setLocalDescription start");
    pc1.set_local_description(offer.clone())
        .await
        .map_err(peer_error("pc1 setLocalDescription"))?;
    trace::info("pc2 setRemoteDescription start");
    pc2.set_remote_description(offer)
        .await
        .map_err(peer_error("pc2 setRemoteDescription"))?;
    trace::info("pc2 createAnswer start");
    let answer = pc2
        .create_answer(None)
        .await
        .map_err(peer_error("pc2 createAnswer"))?;
    trace::debug(&format!("Answer from pc2:\n{}", answer.sdp));
    trace::info("pc2 setLocalDescription start");
    pc2.set_local_description(answer.clone())
        .await
        .map_err(peer_error("pc2 setLocalDescription"))?;
    trace::info("pc1 setRemoteDescription start");
    pc1.set_remote_description(answer)
        .await
        .map_err(peer_error("pc1 setRemoteDescription"))?;
    trace::info("setRemoteDescription complete on both");
    Ok(())
}

/// Hands each candidate to the other connection; both descriptions are set before this runs.
async fn hand_over_candidates(
    pc1: Arc<dyn PeerConnection>,
    pc2: Arc<dyn PeerConnection>,
    mut candidates: UnboundedReceiver<(Side, RTCIceCandidateInit)>,
) {
    while let Some((from, candidate)) = candidates.recv().await {
        let (to, other) = match from {
            Side::Pc1 => (&pc2, Side::Pc2),
            Side::Pc2 => (&pc1, Side::Pc1),
        };
        match to.add_ice_candidate(candidate).await {
            Ok(()) => trace::debug(&format!("{other} addIceCandidate success")),
            Err(e) => trace::info(&format!("{other} failed to add ICE Candidate: {e}")),
        }
    }
}

/// Raises the flag the encoder reads whenever pc2 asks for a keyframe.
async fn watch_keyframe_requests(track: Arc<TrackLocalStaticSample>, wanted: Arc<AtomicBool>) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets
            .iter()
            .any(|p| keyframe::is_keyframe_request(p.as_ref()))
        {
            wanted.store(true, Ordering::Relaxed);
        }
    }
}
