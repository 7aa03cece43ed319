//! What the LED shows over time for each [`LedPattern`]: a pure function, so the timing is
//! tested without a pin and the LED task only sleeps until the next change.

use crate::call::LedPattern;
use std::time::Duration;

/// (on, how long) steps of each blinking pattern, repeated.
fn steps(pattern: LedPattern) -> &'static [(bool, u64)] {
    match pattern {
        LedPattern::Off => &[(false, 0)],
        LedPattern::On => &[(true, 0)],
        // 5 Hz: busy.
        LedPattern::FastBlink => &[(true, 100), (false, 100)],
        // One short pulse every 2 s: alive and waiting.
        LedPattern::SlowHeartbeat => &[(true, 100), (false, 1900)],
        // Two pulses a second: look at the status.
        LedPattern::DoubleBlink => &[(true, 150), (false, 150), (true, 150), (false, 550)],
    }
}

/// The LED's level `elapsed` into `pattern`, and how long until it changes (`None`: never).
pub fn level(pattern: LedPattern, elapsed: Duration) -> (bool, Option<Duration>) {
    let steps = steps(pattern);
    let period: u64 = steps.iter().map(|&(_, ms)| ms).sum();
    if period == 0 {
        return (steps[0].0, None);
    }
    let mut at = elapsed.as_millis() as u64 % period;
    for &(on, ms) in steps {
        if at < ms {
            return (on, Some(Duration::from_millis(ms - at)));
        }
        at -= ms;
    }
    unreachable!("`at` is below the period")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The pattern's edges over `span`: (instant, level after it).
    fn trace(pattern: LedPattern, span: u64) -> Vec<(u64, bool)> {
        let mut out = Vec::new();
        let mut t = 0;
        while t < span {
            let (on, next) = level(pattern, ms(t));
            out.push((t, on));
            match next {
                Some(d) => t += d.as_millis() as u64,
                None => break,
            }
        }
        out
    }

    #[test]
    fn steady_patterns_never_change() {
        assert_eq!(level(LedPattern::On, ms(12_345)), (true, None));
        assert_eq!(level(LedPattern::Off, ms(0)), (false, None));
    }

    #[test]
    fn each_blinking_pattern_has_its_timing() {
        assert_eq!(
            trace(LedPattern::FastBlink, 400),
            [(0, true), (100, false), (200, true), (300, false)]
        );
        assert_eq!(
            trace(LedPattern::SlowHeartbeat, 4000),
            [(0, true), (100, false), (2000, true), (2100, false)]
        );
        assert_eq!(
            trace(LedPattern::DoubleBlink, 1000),
            [(0, true), (150, false), (300, true), (450, false)]
        );
    }

    #[test]
    fn the_time_to_the_next_change_counts_from_the_instant_asked() {
        assert_eq!(
            level(LedPattern::SlowHeartbeat, ms(50)),
            (true, Some(ms(50)))
        );
        assert_eq!(
            level(LedPattern::SlowHeartbeat, ms(2150)),
            (false, Some(ms(1850)))
        );
        assert_eq!(
            level(LedPattern::DoubleBlink, ms(1999)),
            (false, Some(ms(1)))
        );
    }
}
