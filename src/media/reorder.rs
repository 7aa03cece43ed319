//! Puts a stream's RTP packets back in sequence order. A packet in order goes straight through,
//! so a clean network adds no delay; after a gap, later packets are held until the missing one
//! arrives (overtaken on the way, or resent after a NACK) or has been waited for long enough,
//! and only then is it given up as lost. After an outage (nothing arrived for longer than the
//! wait) the gap is given up at once: what was sent during it is too old to show.
//!
//! The stream begins at a packet it can be decoded from (a keyframe's first): until one
//! arrives, packets are held, so the first keyframe overtaken by its own tail on the way is
//! still put together whole. With none within the wait, the lowest packet held begins it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the buffer saw, since the call began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReorderCounts {
    /// Packets that arrived after a later one and were put back in place.
    pub reordered: u64,
    /// Packets given up on: never arrived within the wait.
    pub lost: u64,
    /// Copies of a packet already passed on, or packets that came after they were given up.
    pub late: u64,
}

pub struct Reorder<T> {
    wait: Duration,
    capacity: usize,
    /// Whether the stream can be decoded from this packet on.
    opens: fn(&T) -> bool,
    /// Whether a packet has been passed on: until then `next` is the lowest packet held.
    begun: bool,
    /// The extended sequence number to pass on next.
    next: Option<u64>,
    /// Packets after a gap, by extended sequence number, with their arrival instants.
    held: BTreeMap<u64, (Instant, T)>,
    /// When a packet last arrived (in order or not).
    last_arrival: Option<Instant>,
    pub counts: ReorderCounts,
}

impl<T> Reorder<T> {
    /// Holds packets after a gap for up to `wait`, and at most `capacity` of them; the stream
    /// begins at the first packet that `opens` says it can be decoded from.
    pub fn new(wait: Duration, capacity: usize, opens: fn(&T) -> bool) -> Self {
        Reorder {
            wait,
            capacity: capacity.max(1),
            opens,
            begun: false,
            next: None,
            held: BTreeMap::new(),
            last_arrival: None,
            counts: ReorderCounts::default(),
        }
    }

    /// Takes one packet; whatever is now in order is appended to `out`.
    pub fn push(&mut self, sequence: u16, now: Instant, packet: T, out: &mut Vec<T>) {
        let number = self.extend(sequence);
        if !self.begun {
            return self.push_before_beginning(number, now, packet, out);
        }
        let next = *self.next.get_or_insert(number);
        if number < next || self.held.contains_key(&number) {
            self.counts.late += 1;
            return;
        }
        let after_outage = self
            .last_arrival
            .is_some_and(|at| now.saturating_duration_since(at) > self.wait);
        self.last_arrival = Some(now);
        if number == next {
            if !self.held.is_empty() {
                self.counts.reordered += 1;
            }
            out.push(packet);
            self.next = Some(next + 1);
            self.release_in_order(out);
            return;
        }
        self.held.insert(number, (now, packet));
        // Memory stays bounded whatever arrives.
        if after_outage || self.held.len() > self.capacity {
            self.skip_gap(out);
        }
    }

    fn push_before_beginning(&mut self, number: u64, now: Instant, packet: T, out: &mut Vec<T>) {
        if self.held.contains_key(&number) {
            self.counts.late += 1;
            return;
        }
        self.last_arrival = Some(now);
        let opens = (self.opens)(&packet);
        self.held.insert(number, (now, packet));
        self.next = Some(self.next.map_or(number, |lowest| lowest.min(number)));
        if opens {
            // What was sent before it cannot be decoded without an earlier keyframe.
            let from_opening = self.held.split_off(&number);
            self.counts.lost += std::mem::replace(&mut self.held, from_opening).len() as u64;
            self.next = Some(number);
            self.skip_gap(out);
        } else if self.held.len() > self.capacity {
            self.skip_gap(out);
        }
    }

    /// When the oldest gap will have been waited for long enough.
    pub fn deadline(&self) -> Option<Instant> {
        self.held
            .first_key_value()
            .map(|(_, (arrived, _))| *arrived + self.wait)
    }

    /// Gives up on every gap waited for long enough at `now`; appends what follows to `out`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<T>) {
        while self.deadline().is_some_and(|due| due <= now) {
            self.skip_gap(out);
        }
    }

    /// Passes on the held packets after the first gap, counting the gap as lost (before the
    /// beginning, there is no gap: `next` is the lowest held).
    fn skip_gap(&mut self, out: &mut Vec<T>) {
        let (Some(next), Some(&first)) = (self.next, self.held.keys().next()) else {
            return;
        };
        self.begun = true;
        self.counts.lost += first - next;
        self.next = Some(first);
        self.release_in_order(out);
    }

    fn release_in_order(&mut self, out: &mut Vec<T>) {
        while let Some(next) = self.next
            && let Some((_, packet)) = self.held.remove(&next)
        {
            out.push(packet);
            self.next = Some(next + 1);
        }
    }

    /// The 16-bit sequence number as a count that does not wrap: the one nearest the next
    /// expected. Starts high so that a packet just before the first stays positive.
    fn extend(&self, sequence: u16) -> u64 {
        let Some(reference) = self.next else {
            return (1 << 32) + sequence as u64;
        };
        let offset = sequence.wrapping_sub(reference as u16) as i16;
        reference.wrapping_add_signed(offset as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WAIT: Duration = Duration::from_millis(100);

    /// Every packet can begin the stream.
    fn run(arrivals: &[(u16, u64)], until_ms: u64) -> (Vec<u16>, ReorderCounts) {
        run_opening(arrivals, until_ms, |_| true)
    }

    /// The stream's keyframe begins at packet 10.
    fn from_ten(arrivals: &[(u16, u64)], until_ms: u64) -> (Vec<u16>, ReorderCounts) {
        run_opening(arrivals, until_ms, |&sequence| sequence == 10)
    }

    fn run_opening(
        arrivals: &[(u16, u64)],
        until_ms: u64,
        opens: fn(&u16) -> bool,
    ) -> (Vec<u16>, ReorderCounts) {
        let start = Instant::now();
        let mut reorder = Reorder::new(WAIT, 64, opens);
        let mut out = Vec::new();
        for &(sequence, at_ms) in arrivals {
            let now = start + Duration::from_millis(at_ms);
            reorder.expire(now, &mut out);
            reorder.push(sequence, now, sequence, &mut out);
        }
        reorder.expire(start + Duration::from_millis(until_ms), &mut out);
        (out, reorder.counts)
    }

    #[test]
    fn packets_in_order_go_straight_through() {
        let mut reorder = Reorder::new(WAIT, 64, |_| true);
        let mut out = Vec::new();
        for sequence in [65534, 65535, 0, 1] {
            reorder.push(sequence, Instant::now(), sequence, &mut out);
            assert_eq!(out.last(), Some(&sequence), "held back");
        }
        assert_eq!(reorder.deadline(), None);
    }

    #[test]
    fn an_overtaken_packet_is_put_back_in_place() {
        let (out, counts) = run(&[(1, 0), (3, 10), (2, 20), (4, 30)], 1000);
        assert_eq!(out, [1, 2, 3, 4]);
        assert_eq!((counts.reordered, counts.lost), (1, 0));
    }

    #[test]
    fn a_resent_packet_within_the_wait_fills_its_gap_and_a_later_one_is_too_late() {
        let (out, counts) = run(
            &[(1, 0), (3, 10), (4, 20), (2, 90), (6, 100), (5, 250)],
            1000,
        );
        assert_eq!(out, [1, 2, 3, 4, 6]);
        assert_eq!(counts.lost, 1, "5 was waited for from 100 ms to 200 ms");
        assert_eq!(counts.late, 1);
    }

    #[test]
    fn a_gap_is_given_up_once_waited_for_and_not_before() {
        let start = Instant::now();
        let mut reorder = Reorder::new(WAIT, 64, |_| true);
        let mut out = Vec::new();
        reorder.push(1, start, 1, &mut out);
        reorder.push(3, start, 3, &mut out);
        reorder.expire(start + WAIT - Duration::from_millis(1), &mut out);
        assert_eq!(out, [1]);
        assert_eq!(reorder.deadline(), Some(start + WAIT));
        reorder.expire(start + WAIT, &mut out);
        assert_eq!(out, [1, 3]);
        assert_eq!(reorder.counts.lost, 1);
    }

    #[test]
    fn after_an_outage_the_gap_is_given_up_at_once_and_its_resent_packets_are_late() {
        let (out, counts) = run(&[(1, 0), (2, 30), (50, 3000), (51, 3030), (3, 3040)], 3040);
        assert_eq!(out, [1, 2, 50, 51]);
        assert_eq!((counts.lost, counts.late), (47, 1));
    }

    #[test]
    fn a_duplicate_is_passed_on_once() {
        let (out, counts) = run(&[(1, 0), (1, 5), (3, 10), (3, 15), (2, 20)], 1000);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(counts.late, 2);
    }

    #[test]
    fn a_keyframe_overtaken_by_its_tail_begins_the_stream_whole() {
        let (out, counts) = from_ten(&[(11, 0), (12, 5), (10, 20), (13, 30)], 30);
        assert_eq!(out, [10, 11, 12, 13]);
        assert_eq!(counts, ReorderCounts::default());
    }

    #[test]
    fn a_stream_opened_at_once_waits_for_nothing() {
        let start = Instant::now();
        let mut reorder = Reorder::new(WAIT, 64, |&sequence| sequence == 10);
        let mut out = Vec::new();
        reorder.push(10, start, 10, &mut out);
        assert_eq!(out, [10]);
        assert_eq!(reorder.deadline(), None);
    }

    #[test]
    fn packets_sent_before_the_keyframe_are_given_up() {
        let (out, counts) = from_ten(&[(8, 0), (9, 1), (10, 2), (11, 3)], 3);
        assert_eq!(out, [10, 11]);
        assert_eq!(counts.lost, 2);
    }

    #[test]
    fn without_a_keyframe_the_lowest_packet_begins_the_stream_after_the_wait() {
        // Waited for from the arrival of the lowest.
        let arrivals = [(21, 0), (20, 5), (23, 10)];
        let (out, _) = from_ten(&arrivals, 104);
        assert!(out.is_empty(), "released before the wait: {out:?}");
        let (out, counts) = from_ten(&arrivals, 105);
        assert_eq!(out, [20, 21], "23 waits for 22 as after any gap");
        assert_eq!(counts.lost, 0);
    }

    #[test]
    fn a_full_buffer_does_not_wait() {
        let mut arrivals: Vec<(u16, u64)> = vec![(1, 0)];
        arrivals.extend((3..=70).map(|s| (s, 1)));
        let (out, counts) = run(&arrivals, 1);
        assert_eq!(out.len(), 69, "released once 64 were held");
        assert_eq!(counts.lost, 1);
    }

    proptest! {
        /// Whatever the arrival order, duplicates and losses: what comes out is in order,
        /// each packet once, and nothing is held past its wait.
        #[test]
        fn what_comes_out_is_in_order_once_each(
            start in any::<u16>(),
            arrivals in proptest::collection::vec((0u16..200, 0u64..50), 0..300),
        ) {
            let mut sorted = arrivals.clone();
            let mut at = 0;
            for (_, step) in sorted.iter_mut() {
                at += *step;
                *step = at;
            }
            let packets: Vec<(u16, u64)> =
                sorted.iter().map(|&(offset, at)| (start.wrapping_add(offset), at)).collect();
            let (out, counts) = run(&packets, at + 1000);
            let offsets: Vec<u16> = out.iter().map(|s| s.wrapping_sub(start)).collect();
            // Sequence order, relative to the first packet, which may not be the lowest.
            let first = packets.first().map(|p| p.0.wrapping_sub(start));
            if let Some(first) = first {
                let relative: Vec<i32> = offsets.iter().map(|&o| o as i32 - first as i32).collect();
                prop_assert!(relative.windows(2).all(|w| w[0] < w[1]), "{:?}", relative);
            }
            prop_assert_eq!(out.len() as u64 + counts.late, packets.len() as u64);
        }
    }
}
