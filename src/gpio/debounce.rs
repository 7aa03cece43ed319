//! Button debouncing as pure code, shaped like `call.rs`: time passed in, a deadline out.
//!
//! A contact bounces for a few milliseconds, and the GPIO event stream then merges edges and
//! mislabels their direction (the kernel reads the level after the interrupt), so edges are
//! never counted: any edge only means "something changed" and restarts a settle timer. When the
//! timer fires, the level read then decides; a change to pressed is one press.

use std::time::Duration;

#[derive(Debug)]
pub struct Debouncer {
    settle: Duration,
    pressed: bool,
    deadline: Option<Duration>,
}

impl Debouncer {
    /// A button whose level is `pressed` now.
    pub fn new(settle: Duration, pressed: bool) -> Self {
        Debouncer {
            settle,
            pressed,
            deadline: None,
        }
    }

    /// An edge was seen at `now`, whatever its type.
    pub fn edge(&mut self, now: Duration) {
        self.deadline = Some(now + self.settle);
    }

    /// When the level must be read, if an edge is settling.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The deadline has passed and the button reads `pressed`: true when that is a new press.
    pub fn settled(&mut self, now: Duration, pressed: bool) -> bool {
        if self.deadline.is_none_or(|at| now < at) {
            return false;
        }
        self.deadline = None;
        let was = std::mem::replace(&mut self.pressed, pressed);
        pressed && !was
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

    /// Feeds edges at the given instants (with the button's level after each) to a debouncer,
    /// firing its timer whenever it is due, as the GPIO task does; returns the presses seen.
    fn presses(edges: &[(u64, bool)], end: u64) -> usize {
        let mut debouncer = Debouncer::new(SETTLE, false);
        let mut level = false;
        let mut count = 0;
        let mut next = edges.iter().peekable();
        let mut now = 0;
        while now <= end {
            while let Some(&&(at, after)) = next.peek() {
                if at != now {
                    break;
                }
                level = after;
                debouncer.edge(ms(at));
                next.next();
            }
            if debouncer.deadline().is_some_and(|d| ms(now) >= d) {
                count += usize::from(debouncer.settled(ms(now), level));
            }
            now += 1;
        }
        count
    }

    #[test]
    fn a_clean_press_and_release_is_one_press() {
        assert_eq!(presses(&[(10, true), (200, false)], 400), 1);
    }

    #[test]
    fn a_press_shorter_than_the_settle_time_is_none() {
        assert_eq!(presses(&[(10, true), (25, false)], 400), 0);
    }

    #[test]
    fn a_bouncing_press_is_one_press_at_the_end_of_the_bounce() {
        let mut debouncer = Debouncer::new(SETTLE, false);
        for at in [0, 2, 3, 7, 11] {
            debouncer.edge(ms(at));
        }
        assert_eq!(debouncer.deadline(), Some(ms(41)));
        assert!(!debouncer.settled(ms(40), true), "not before the deadline");
        assert!(debouncer.settled(ms(41), true));
        assert_eq!(debouncer.deadline(), None);
        assert!(!debouncer.settled(ms(90), true), "no deadline, no press");
    }

    #[test]
    fn an_edge_that_ends_where_it_began_is_no_press() {
        let mut debouncer = Debouncer::new(SETTLE, true);
        debouncer.edge(ms(0));
        assert!(
            !debouncer.settled(ms(30), true),
            "still held: not a new press"
        );
        debouncer.edge(ms(40));
        assert!(
            !debouncer.settled(ms(70), false),
            "a release is not a press"
        );
        debouncer.edge(ms(80));
        assert!(debouncer.settled(ms(110), true));
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
        ) {
            let mut edges: Vec<(u64, bool)> = vec![(start, true)];
            edges.extend(down.iter().map(|&(at, level)| (start + 1 + at, level)));
            let release = start + 1 + 20 + held;
            edges.push((release, false));
            edges.extend(up.iter().map(|&(at, level)| (release + 1 + at, level)));
            edges.dedup_by_key(|e| e.0);
            prop_assert_eq!(presses(&edges, release + 200), 1, "edges {:?}", edges);
        }

        #[test]
        fn a_press_shorter_than_the_debounce_with_any_bounce_is_none(
            down in bounce(true),
            start in 0u64..50,
            short in 1u64..9,
        ) {
            // Contact for under 30 ms in all, bounce included, then open.
            let mut edges: Vec<(u64, bool)> = vec![(start, true)];
            edges.extend(down.iter().map(|&(at, level)| (start + 1 + at, level)));
            let last = edges.last().map_or(start, |e| e.0);
            edges.push((last + short, false));
            prop_assert_eq!(presses(&edges, last + 200), 0, "edges {:?}", edges);
        }
    }
}
