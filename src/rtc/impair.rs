//! A bad network between pc1 and pc2, made here for tests and the bench: what happens to each
//! packet, drawn on a seeded schedule. The relay (`relay.rs`) carries it out.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// What the relay does to each packet, both ways: `loss=5,delay=30,jitter=10,blackout=5+2,seed=1`;
/// `stall_dtls=N` makes the first N handshakes lose the DTLS client's last flight once, the
/// server's hello held back 200 ms before it (`relay.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct Impairment {
    /// Chance of dropping each packet, in percent.
    pub loss_percent: f64,
    /// One-way delay added to each packet.
    pub delay: Duration,
    /// Each packet's delay is `delay` ± up to this, drawn uniformly: packets overtake each other.
    pub jitter: Duration,
    /// Everything dropped from this long after the call starts, for this long.
    pub blackout: Option<(Duration, Duration)>,
    pub seed: u64,
    pub stall_dtls: DtlsStalls,
}

/// Handshakes whose DTLS client loses the first sending of its last flight (5), counted over
/// every relay made from one impairment (its clones share the count): the connections a call
/// makes again after a stall get through.
#[derive(Clone, Debug, Default)]
pub struct DtlsStalls {
    asked: u32,
    left: Arc<AtomicU32>,
}

impl DtlsStalls {
    pub fn new(handshakes: u32) -> DtlsStalls {
        DtlsStalls {
            asked: handshakes,
            left: Arc::new(AtomicU32::new(handshakes)),
        }
    }

    /// True, once for each handshake asked for: this one is to lose its flight.
    pub(super) fn take(&self) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl PartialEq for DtlsStalls {
    fn eq(&self, other: &Self) -> bool {
        self.asked == other.asked
    }
}

const MAX_MS: f64 = 10_000.0;
const MAX_BLACKOUT_S: f64 = 3600.0;

impl std::str::FromStr for Impairment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut impairment = Impairment {
            loss_percent: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            blackout: None,
            seed: 1,
            stall_dtls: DtlsStalls::default(),
        };
        let allowed = "expected comma-separated loss=PERCENT, delay=MS, jitter=MS, \
                       blackout=START_S+LENGTH_S, seed=N, stall_dtls=HANDSHAKES \
                       (e.g. loss=5,delay=30,jitter=10)";
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: {allowed}"))?;
            let number = |max: f64| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=max).contains(v))
                    .ok_or_else(|| format!("{key} = {value:?}: expected a number from 0 to {max}"))
            };
            let ms = |max| number(max).map(|v| Duration::from_secs_f64(v / 1000.0));
            match key {
                "loss" => impairment.loss_percent = number(100.0)?,
                "delay" => impairment.delay = ms(MAX_MS)?,
                "jitter" => impairment.jitter = ms(MAX_MS)?,
                "blackout" => {
                    let window = value.split_once('+').and_then(|(start, length)| {
                        let seconds = |s: &str| {
                            s.parse::<f64>()
                                .ok()
                                .filter(|v| (0.0..=MAX_BLACKOUT_S).contains(v))
                                .map(Duration::from_secs_f64)
                        };
                        Some((seconds(start)?, seconds(length)?))
                    });
                    impairment.blackout = Some(window.ok_or_else(|| {
                        format!(
                            "blackout = {value:?}: expected START_S+LENGTH_S, each from 0 to {MAX_BLACKOUT_S}"
                        )
                    })?);
                }
                "stall_dtls" => {
                    impairment.stall_dtls = DtlsStalls::new(
                        value.parse().ok().filter(|n| *n <= 100).ok_or_else(|| {
                            format!("stall_dtls = {value:?}: expected a whole number from 0 to 100")
                        })?,
                    )
                }
                "seed" => {
                    impairment.seed = value
                        .parse()
                        .map_err(|_| format!("seed = {value:?}: expected a whole number"))?
                }
                _ => return Err(format!("{key:?}: unknown; {allowed}")),
            }
        }
        Ok(impairment)
    }
}

/// The packet a fate is drawn for: the `index`th (from 0) of its `stream` that crossed the relay
/// towards one side. A fate depends on nothing else, so a seed drops the same packets of each
/// stream in every run, however the streams interleave: drawn in arrival order from one
/// sequence, which video packets a seed dropped changed with the machine's speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct PacketId {
    pub towards: super::Side,
    pub stream: Stream,
    pub index: u64,
}

/// What a datagram carries, from its first bytes (RFC 7983): each is a stream of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Stream {
    Stun,
    Dtls,
    /// RTP of this payload type (marker bit masked off).
    Rtp(u8),
    Rtcp,
    Other,
}

impl Stream {
    pub fn of(bytes: &[u8]) -> Stream {
        match bytes {
            [0..=3, ..] => Stream::Stun,
            [20..=63, ..] => Stream::Dtls,
            // RTCP's packet types 192..=223 read as payload types 64..=95 (RFC 5761).
            [128..=191, second, ..] if (64..=95).contains(&(second & 0x7f)) => Stream::Rtcp,
            [128..=191, second, ..] => Stream::Rtp(second & 0x7f),
            _ => Stream::Other,
        }
    }

    fn code(self) -> u64 {
        match self {
            Stream::Stun => 1000,
            Stream::Dtls => 1001,
            Stream::Rtp(payload_type) => u64::from(payload_type),
            Stream::Rtcp => 1002,
            Stream::Other => 1003,
        }
    }
}

impl Impairment {
    /// How long after it was sent the packet `id`, sent `since_start` into the call, arrives;
    /// `None` if it is lost.
    pub(super) fn fate(&self, id: PacketId, since_start: Duration) -> Option<Duration> {
        if let Some((start, length)) = self.blackout
            && since_start >= start
            && since_start < start + length
        {
            return None;
        }
        // seed_from_u64 spreads neighbouring keys over unrelated sequences.
        let key = (self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            ^ ((id.towards as u64) << 62)
            ^ (id.stream.code() << 48)
            ^ id.index;
        let mut rng = StdRng::seed_from_u64(key);
        if self.loss_percent > 0.0 && rng.random_bool(self.loss_percent / 100.0) {
            return None;
        }
        let jitter = self.jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        Some(Duration::from_secs_f64(
            (self.delay.as_secs_f64() + offset).max(0.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_into_its_parts_and_bad_parts_are_named() {
        let spec: Impairment = "loss=5, delay=30,jitter=10,blackout=5+2.5,seed=9"
            .parse()
            .unwrap();
        assert_eq!(spec.loss_percent, 5.0);
        assert_eq!(spec.delay, Duration::from_millis(30));
        assert_eq!(spec.jitter, Duration::from_millis(10));
        assert_eq!(
            spec.blackout,
            Some((Duration::from_secs(5), Duration::from_millis(2500)))
        );
        assert_eq!(spec.seed, 9);
        assert_eq!(spec.stall_dtls, DtlsStalls::new(0));
        let stalls: Impairment = "stall_dtls=2".parse().unwrap();
        let copy = stalls.clone();
        assert!(stalls.stall_dtls.take() && copy.stall_dtls.take());
        assert!(!stalls.stall_dtls.take(), "clones share the count");
        for (bad, named) in [
            ("loss=101", "loss"),
            ("loss=-1", "loss"),
            ("delay=nan", "delay"),
            ("jitter=1e9", "jitter"),
            ("blackout=5", "blackout"),
            ("blackout=5+inf", "blackout"),
            ("seed=x", "seed"),
            ("stall_dtls=-1", "stall_dtls"),
            ("stall_dtls=101", "stall_dtls"),
            ("rate=5", "rate"),
            ("loss", "loss"),
        ] {
            let error = bad.parse::<Impairment>().unwrap_err();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }

    fn video(index: u64) -> PacketId {
        PacketId {
            towards: crate::rtc::Side::Pc2,
            stream: Stream::Rtp(102),
            index,
        }
    }

    #[test]
    fn the_schedule_drops_about_the_loss_rate_delays_within_the_jitter_and_blacks_out() {
        let spec: Impairment = "loss=10,delay=30,jitter=10,blackout=5+2".parse().unwrap();
        let fates: Vec<_> = (0..10_000)
            .map(|i| spec.fate(video(i), Duration::from_secs(1)))
            .collect();
        let lost = fates.iter().filter(|f| f.is_none()).count();
        assert!((800..1200).contains(&lost), "{lost} of 10000 lost at 10 %");
        assert!(
            fates
                .iter()
                .flatten()
                .all(|d| (20..=40).contains(&d.as_millis()))
        );
        assert!((0..100).all(|i| spec.fate(video(i), Duration::from_secs(6)).is_none()));
    }

    #[test]
    fn a_packet_meets_the_fate_its_stream_and_index_give_whatever_else_crosses() {
        let spec: Impairment = "loss=20,jitter=10,seed=3".parse().unwrap();
        let at = Duration::from_secs(1);
        let first: Vec<_> = (0..1000).map(|i| spec.fate(video(i), at)).collect();
        let again: Vec<_> = (0..1000).map(|i| spec.fate(video(i), at)).collect();
        assert_eq!(first, again, "the same seed, the same schedule");
        let lost: Vec<u64> = (0..1000).filter(|&i| first[i as usize].is_none()).collect();
        // Other streams, and the other direction, are schedules of their own.
        for other in [
            PacketId {
                stream: Stream::Rtp(111),
                ..video(0)
            },
            PacketId {
                towards: crate::rtc::Side::Pc1,
                ..video(0)
            },
            PacketId {
                stream: Stream::Stun,
                ..video(0)
            },
        ] {
            let theirs: Vec<u64> = (0..1000)
                .filter(|&index| spec.fate(PacketId { index, ..other }, at).is_none())
                .collect();
            assert_ne!(lost, theirs, "{other:?}");
        }
        let reseeded = Impairment {
            seed: 4,
            ..spec.clone()
        };
        assert_ne!(
            first,
            (0..1000)
                .map(|i| reseeded.fate(video(i), at))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_datagram_is_put_in_its_stream_by_its_first_bytes() {
        assert_eq!(Stream::of(&[0, 1, 0, 0]), Stream::Stun);
        assert_eq!(Stream::of(&[22, 0xfe, 0xfd]), Stream::Dtls);
        assert_eq!(Stream::of(&[0x80, 102]), Stream::Rtp(102));
        assert_eq!(Stream::of(&[0x80, 102 | 0x80]), Stream::Rtp(102));
        assert_eq!(Stream::of(&[0x80, 200]), Stream::Rtcp);
        assert_eq!(Stream::of(&[0x81, 205]), Stream::Rtcp);
        assert_eq!(Stream::of(&[0x80]), Stream::Other);
        assert_eq!(Stream::of(&[]), Stream::Other);
        assert_eq!(Stream::of(&[255, 1]), Stream::Other);
    }
}
