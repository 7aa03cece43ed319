//! Capture instants by frame id or RTP timestamp: how each frame's loop latency is exact.

use std::sync::Mutex;
use std::time::Instant;

/// Capture instants by key, for the last `SLOTS` keys: bounded, and O(1) both ways.
pub(super) struct Ledger {
    step: u32,
    slots: Mutex<Vec<Option<(u32, Instant)>>>,
}

const SLOTS: usize = 512;

impl Ledger {
    pub(super) fn new(step: u32) -> Self {
        Ledger {
            step,
            slots: Mutex::new(vec![None; SLOTS]),
        }
    }

    fn slot(&self, key: u32) -> usize {
        (key / self.step) as usize % SLOTS
    }

    pub(super) fn insert(&self, key: u32, at: Instant) {
        let slot = self.slot(key);
        self.slots.lock().unwrap_or_else(|e| e.into_inner())[slot] = Some((key, at));
    }

    pub(super) fn take(&self, key: u32) -> Option<Instant> {
        let slot = self.slot(key);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots[slot] {
            Some((k, at)) if k == key => {
                slots[slot] = None;
                Some(at)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_returns_each_instant_once_and_forgets_overwritten_keys() {
        let ledger = Ledger::new(960);
        let t = Instant::now();
        ledger.insert(960 * 7, t);
        assert_eq!(ledger.take(960 * 7), Some(t));
        assert_eq!(ledger.take(960 * 7), None);
        ledger.insert(960 * 3, t);
        ledger.insert(960 * (3 + SLOTS as u32), t);
        assert_eq!(ledger.take(960 * 3), None);
    }
}
