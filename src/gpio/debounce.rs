//! Button debouncing as pure code, shaped like `call.rs`: time passed in, a deadline out.
//!
//! A contact bounces for a few milliseconds. Each edge comes from the kernel with the instant
//! of its interrupt and the level read just after it; only the level that then holds for the
//! whole settle time counts, and a change to pressed is one press. Deciding on the kernel's
//! instants, not on when camloop gets to run, means a busy board loses no press: a wake-up
//! 200 ms late still sees a 150 ms press as one press, and a 10 ms blip as none.

use std::time::Duration;

#[derive(Debug)]
pub struct Debouncer {
    settle: Duration,
    pressed: bool,
    /// The newest edge not yet settled: its instant and the level after it.
    settling: Option<(Duration, bool)>,
}

impl Debouncer {
    /// A button whose level is `pressed` now.
    pub fn new(settle: Duration, pressed: bool) -> Self {
        Debouncer {
            settle,
            pressed,
            settling: None,
        }
    }

    /// An edge at `at`, after which the button read `pressed`. True when the edge before it
    /// had held long enough to be a new press.
    pub fn edge(&mut self, at: Duration, pressed: bool) -> bool {
        let press = self.settled(at);
        self.settling = Some((at, pressed));
        press
    }

    /// When the newest edge will have held for the settle time, if one is settling.
    pub fn deadline(&self) -> Option<Duration> {
        self.settling.map(|(at, _)| at + self.settle)
    }

    /// No edge came before `now`: true when the newest edge's level has now held for the settle
    /// time and is a new press.
    pub fn settled(&mut self, now: Duration) -> bool {
        match self.settling {
            Some((at, pressed)) if now >= at + self.settle => {
                self.settling = None;
                let was = std::mem::replace(&mut self.pressed, pressed);
                pressed && !was
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SETTLE: Duration = Duration::from_millis(30);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds edges (instant, level after it) to a debouncer as the GPIO task does: it wakes
    /// `late` ms after each deadline, takes every edge the kernel has queued by then, and asks
    /// whether the newest has settled. Returns the presses seen.
    fn presses(edges: &[(u64, bool)], late: u64) -> usize {
        let mut debouncer = Debouncer::new(SETTLE, false);
        let mut queued = edges.iter().peekable();
        let mut count = 0;
        loop {
            let wake = match (debouncer.deadline(), queued.peek()) {
                (Some(deadline), _) => deadline + ms(late),
                (None, Some(&&(at, _))) => ms(at),
                (None, None) => return count,
            };
            while let Some(&(at, pressed)) = queued.next_if(|&&(at, _)| ms(at) <= wake) {
                count += usize::from(debouncer.edge(ms(at), pressed));
            }
            count += usize::from(debouncer.settled(wake));
        }
    }

    #[test]
    fn a_clean_press_and_release_is_one_press() {
        assert_eq!(presses(&[(10, true), (200, false)], 0), 1);
    }

    #[test]
    fn a_press_shorter_than_the_settle_time_is_none() {
        assert_eq!(presses(&[(10, true), (25, false)], 0), 0);
    }

    #[test]
    fn a_wake_up_long_after_the_deadline_decides_as_a_prompt_one() {
        assert_eq!(presses(&[(10, true), (160, false)], 200), 1, "150 ms press");
        assert_eq!(presses(&[(10, true), (20, false)], 200), 0, "10 ms blip");
    }

    #[test]
    fn a_bouncing_press_is_one_press_at_the_end_of_the_bounce() {
        let mut debouncer = Debouncer::new(SETTLE, false);
        for (at, pressed) in [(0, true), (2, false), (3, true), (7, false), (11, true)] {
            assert!(
                !debouncer.edge(ms(at), pressed),
                "no press within the bounce"
            );
        }
        assert_eq!(debouncer.deadline(), Some(ms(41)));
        assert!(!debouncer.settled(ms(40)), "not before the deadline");
        assert!(debouncer.settled(ms(41)));
        assert_eq!(debouncer.deadline(), None);
        assert!(!debouncer.settled(ms(90)), "no edge, no press");
    }

    #[test]
    fn an_edge_that_ends_where_it_began_is_no_press() {
        let mut debouncer = Debouncer::new(SETTLE, true);
        debouncer.edge(ms(0), true);
        assert!(!debouncer.settled(ms(30)), "still held: not a new press");
        debouncer.edge(ms(40), false);
        assert!(!debouncer.settled(ms(70)), "a release is not a press");
        debouncer.edge(ms(80), true);
        assert!(debouncer.settled(ms(110)));
    }

    /// Up to 20 ms of random bounce: edge times as offsets, the level flipping at each, ending
    /// at `final_level`.
    fn bounce(final_level: bool) -> impl Strategy<Value = Vec<(u64, bool)>> {
        proptest::collection::btree_set(0u64..20, 0..12).prop_map(move |offsets| {
            let offsets: Vec<u64> = offsets.into_iter().collect();
            let n = offsets.len();
            offsets
                .into_iter()
                .enumerate()
                // The last edge of the burst leaves the final level; before it, alternate.
                .map(|(i, at)| {
                    (
                        at,
                        if (n - i) % 2 == 1 {
                            final_level
                        } else {
                            !final_level
                        },
                    )
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn any_bounce_up_to_20_ms_around_a_press_is_exactly_one_press(
            down in bounce(true),
            up in bounce(false),
            start in 0u64..50,
            // Held past its own bounce and the settle time.
            held in 60u64..500,
            late in 0u64..300,
        ) {
            let mut edges: Vec<(u64, bool)> = vec![(start, true)];
            edges.extend(down.iter().map(|&(at, level)| (start + 1 + at, level)));
            let release = start + 1 + 20 + held;
            edges.push((release, false));
            edges.extend(up.iter().map(|&(at, level)| (release + 1 + at, level)));
            edges.dedup_by_key(|e| e.0);
            prop_assert_eq!(presses(&edges, late), 1, "edges {:?}", edges);
        }

        #[test]
        fn a_press_shorter_than_the_debounce_with_any_bounce_is_none(
            down in bounce(true),
            start in 0u64..50,
            short in 1u64..9,
            late in 0u64..300,
        ) {
            // Contact for under 30 ms in all, bounce included, then open.
            let mut edges: Vec<(u64, bool)> = vec![(start, true)];
            edges.extend(down.iter().map(|&(at, level)| (start + 1 + at, level)));
            let last = edges.last().map_or(start, |e| e.0);
            edges.push((last + short, false));
            prop_assert_eq!(presses(&edges, late), 0, "edges {:?}", edges);
        }
    }
}
