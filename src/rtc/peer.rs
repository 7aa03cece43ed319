//! One peer connection as the loopback needs it — codecs, settings, the event handler — and the
//! sample's in-process signaling between two of them.

use super::feedback::{FeedbackCounts, KeyframeRequestForwarder, RetransmissionCounter};
use super::relay::{self, Relay};
use super::{Inbound, PeerError, PeerNote, Side, peer_error};
use crate::trace;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Slot};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCIceConnectionState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    Registry, SettingEngineBuilder, configure_rtcp_reports, configure_simulcast_extension_headers,
    configure_twcc_receiver_only,
};

pub(super) const H264_PAYLOAD_TYPE: u8 = 102;
pub(super) const OPUS_PAYLOAD_TYPE: u8 = 111;

pub(super) fn h264_codec() -> RTCRtpCodec {
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

pub(super) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(2);
const ICE_CHECKS_PER_PAIR: u16 = 500;

/// ICE calls a path that has been silent this long "disconnected"; a call rides that out.
const ICE_DISCONNECTED: Duration = Duration::from_secs(5);
/// ICE measures silence from the last STUN packet it received, not the last media packet, and
/// looks at its clock once per keepalive: at its default 2 s, a 6 s `network_timeout` ended a
/// call after 5.06 s of silence. Consent checks this often (a few 100-byte packets a second),
/// with the interval added to the wait, end it within half a second after (6.27 s).
const ICE_KEEPALIVE: Duration = Duration::from_millis(250);

/// `network_timeout`: how long the path may be silent before ICE gives up ("failed").
pub(super) async fn build_peer(
    side: Side,
    handler: Arc<Handler>,
    network_timeout: Duration,
    feedback: &Arc<FeedbackCounts>,
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
    // webrtc's defaults but for the NACK generator: unlimited, it asks again every 100 ms for
    // each missing packet, and after a blackout pc1 would resend thousands of stale packets.
    // Two asks fit in the time pc2 waits for a packet (REORDER_WAIT, 250 ms).
    configure_simulcast_extension_headers(&mut media_engine)
        .map_err(|e| PeerError(format!("interceptors: {e}")))?;
    let registry = configure_twcc_receiver_only(Registry::new(), &mut media_engine)
        .map_err(|e| PeerError(format!("interceptors: {e}")))?;
    let registry = configure_rtcp_reports(registry)
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(2)
                .build(),
        );
    // Last in the chain, so the NACK and report interceptors see all RTCP first; the counter
    // between the pacer (3_000) and the NACK responder (4_000), which its resent packets pass.
    let registry = registry
        .with(
            Slot::from(14_000),
            KeyframeRequestForwarder::new(feedback.clone()),
        )
        .with(
            Slot::from(3_500),
            RetransmissionCounter::new(feedback.clone()),
        );
    // The ICE check interval paces more than the checks: the first is sent one interval after
    // checking starts, and the DTLS ClientHello made when ICE connects waits in the driver for
    // the next tick. At the default 200 ms setup takes ~400 ms on loopback, at 20 ms ~50 ms;
    // 2 ms makes both waits negligible, and after connecting the agent ticks at its keepalive
    // interval instead. As many attempts per pair as at 20 ms would leave only 14 ms for an
    // answer on a loaded board: this keeps a second's worth.
    // pc1's first check can reach pc2 before pc1's candidate does: pc2 then knows pc1 only
    // as a peer-reflexive candidate, which ICE by default accepts after a second's wait. On
    // loopback it is the very same address, so it is taken at once.
    // No mDNS: it would open port 5353 on every interface.
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_CHECKS_PER_PAIR))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED),
            Some(network_timeout.saturating_sub(ICE_DISCONNECTED) + ICE_KEEPALIVE),
            Some(ICE_KEEPALIVE),
        )
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

pub(super) struct Handler {
    pub(super) side: Side,
    pub(super) candidates: UnboundedSender<(Side, RTCIceCandidateInit)>,
    pub(super) notes: UnboundedSender<PeerNote>,
    pub(super) connected: Arc<Mutex<[bool; 2]>>,
    /// pc2 only: where received media goes.
    pub(super) inbound: Option<Inbound>,
    /// pc2 only: the received video track, for keyframe requests.
    pub(super) video_track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
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
            // Disconnected is a silent path, which may come back: only Failed ends the call.
            RTCPeerConnectionState::Failed => {
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
            _ => match inbound.audio {
                Some(audio) => audio,
                None => return,
            },
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

pub(super) async fn offer_answer(
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
/// With a relay, the other connection gets the relay's stand-in for the candidate's address.
pub(super) async fn hand_over_candidates(
    pc1: Arc<dyn PeerConnection>,
    pc2: Arc<dyn PeerConnection>,
    mut candidates: UnboundedReceiver<(Side, RTCIceCandidateInit)>,
    relay: Option<Arc<Relay>>,
) {
    while let Some((from, mut candidate)) = candidates.recv().await {
        if let Some(relay) = &relay
            && let Some(real) = relay::candidate_address(&candidate.candidate)
        {
            match relay.stand_in(real, from).await {
                Ok(stand_in) => {
                    candidate.candidate = relay::with_address(&candidate.candidate, stand_in)
                }
                Err(e) => trace::info(&format!("relay for {from} {real}: {e}")),
            }
        }
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
