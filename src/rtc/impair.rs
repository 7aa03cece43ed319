//! A bad network between pc1 and pc2, made here for tests and the bench: what happens to each
//! packet, drawn on a seeded schedule. The relay (`relay.rs`) carries it out.

use rand::RngExt;
use rand::rngs::StdRng;
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

impl Impairment {
    /// How long after it was sent a packet sent `since_start` into the call arrives; `None`
    /// if it is lost.
    pub(super) fn fate(&self, rng: &mut StdRng, since_start: Duration) -> Option<Duration> {
        if let Some((start, length)) = self.blackout
            && since_start >= start
            && since_start < start + length
        {
            return None;
        }
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
    use rand::SeedableRng;

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

    #[test]
    fn the_schedule_drops_about_the_loss_rate_delays_within_the_jitter_and_blacks_out() {
        let spec: Impairment = "loss=10,delay=30,jitter=10,blackout=5+2".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let fates: Vec<_> = (0..10_000)
            .map(|_| spec.fate(&mut rng, Duration::from_secs(1)))
            .collect();
        let lost = fates.iter().filter(|f| f.is_none()).count();
        assert!((800..1200).contains(&lost), "{lost} of 10000 lost at 10 %");
        assert!(
            fates
                .iter()
                .flatten()
                .all(|d| (20..=40).contains(&d.as_millis()))
        );
        let mut rng = StdRng::seed_from_u64(spec.seed);
        assert!((0..100).all(|_| spec.fate(&mut rng, Duration::from_secs(6)).is_none()));
        // The same seed, the same schedule.
        let mut again = StdRng::seed_from_u64(spec.seed);
        let replay: Vec<_> = (0..10_000)
            .map(|_| spec.fate(&mut again, Duration::from_secs(1)))
            .collect();
        assert_eq!(fates, replay);
    }
}
