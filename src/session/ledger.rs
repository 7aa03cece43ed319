//! Capture instants by RTP timestamp: how each frame's loop latency is exact whatever the
//! camera. pc1 stamps each frame from its capture instant ([`RtpClock`]) and notes the instant
//! here; pc2 takes it back by the timestamp of what it decoded.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// Frames in flight are a handful; a frame not decoded within this many later ones was lost.
const CAPACITY: usize = 512;

/// Capture instants of the last [`CAPACITY`] frames sent, oldest first.
#[derive(Default)]
pub(super) struct Ledger {
    entries: Mutex<VecDeque<(u32, Instant)>>,
}

impl Ledger {
    pub(super) fn insert(&self, timestamp: u32, at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back((timestamp, at));
    }

    /// The instant noted for `timestamp`, once; entries older than it are dropped with it.
    pub(super) fn take(&self, timestamp: u32) -> Option<Instant> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let at = entries.iter().position(|&(t, _)| t == timestamp)?;
        let (_, instant) = entries.drain(..=at).next_back()?;
        Some(instant)
    }
}

/// An RTP clock started at a random value: each frame's timestamp is its capture instant, in
/// `rate` ticks, strictly increasing.
pub(super) struct RtpClock {
    epoch: Instant,
    base: u32,
    rate: u64,
    last: Option<u32>,
}

impl RtpClock {
    pub(super) fn new(epoch: Instant, base: u32, rate: u32) -> Self {
        RtpClock {
            epoch,
            base,
            rate: rate.into(),
            last: None,
        }
    }

    pub(super) fn timestamp(&mut self, captured: Instant) -> u32 {
        let since = captured.saturating_duration_since(self.epoch);
        let ticks = (since.as_nanos() * u128::from(self.rate) / 1_000_000_000) as u32;
        let mut timestamp = self.base.wrapping_add(ticks);
        if let Some(last) = self.last
            && timestamp.wrapping_sub(last).wrapping_sub(1) >= u32::MAX / 2
        {
            // Not after the last one (two frames stamped in one tick, or out of order).
            timestamp = last.wrapping_add(1);
        }
        self.last = Some(timestamp);
        timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_instant_is_returned_once_and_older_ones_go_with_it() {
        let ledger = Ledger::default();
        let t = Instant::now();
        for (ts, ms) in [(100, 0), (3100, 33), (6100, 66)] {
            ledger.insert(ts, t + Duration::from_millis(ms));
        }
        assert_eq!(ledger.take(3100), Some(t + Duration::from_millis(33)));
        assert_eq!(ledger.take(3100), None);
        assert_eq!(ledger.take(100), None, "older than a frame already decoded");
        assert_eq!(ledger.take(6100), Some(t + Duration::from_millis(66)));
        assert_eq!(ledger.take(42), None);
    }

    #[test]
    fn the_ledger_keeps_only_the_newest_entries() {
        let ledger = Ledger::default();
        let t = Instant::now();
        for ts in 0..CAPACITY as u32 + 10 {
            ledger.insert(ts, t);
        }
        assert_eq!(ledger.take(5), None);
        assert_eq!(ledger.take(10), Some(t));
    }

    #[test]
    fn timestamps_follow_the_capture_instants_across_the_wrap() {
        let epoch = Instant::now();
        let mut clock = RtpClock::new(epoch, u32::MAX - 1000, 90_000);
        assert_eq!(clock.timestamp(epoch), u32::MAX - 1000);
        let later = clock.timestamp(epoch + Duration::from_millis(100));
        assert_eq!(later, (u32::MAX - 1000).wrapping_add(9000));
        // Same tick, and an instant before the last: still strictly after it.
        assert_eq!(
            clock.timestamp(epoch + Duration::from_millis(100)),
            later.wrapping_add(1)
        );
        assert_eq!(
            clock.timestamp(epoch + Duration::from_millis(50)),
            later.wrapping_add(2)
        );
    }
}
