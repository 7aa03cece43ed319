//! What the LED shows over time for each [`LedPattern`]: a pure function, so the timing is
//! tested without a pin, and the task that drives an `embedded-hal` pin from the daemon's
//! pattern, sleeping until each change.

use crate::call::LedPattern;
use embedded_hal::digital::OutputPin;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// Shows each pattern the daemon publishes on `pin` until the daemon is gone, then turns the
/// LED off: every way out of camloop passes here.
pub async fn drive<P: OutputPin>(mut pin: P, mut patterns: watch::Receiver<LedPattern>) {
    let mut set = |on: bool| {
        let result = if on { pin.set_high() } else { pin.set_low() };
        if let Err(e) = result {
            log::warn!("LED: {e:?}");
        }
    };
    loop {
        let pattern = *patterns.borrow_and_update();
        let started = Instant::now();
        loop {
            let (on, next) = level(pattern, started.elapsed());
            set(on);
            let until_next = async {
                match next {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = patterns.changed() => match changed {
                    Ok(()) => break,
                    Err(_) => {
                        set(false);
                        return;
                    }
                },
                () = until_next => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A pin that notes each level with the (paused) time it was set.
    #[derive(Clone, Default)]
    struct FakePin(Arc<Mutex<Vec<(u64, bool)>>>);

    impl embedded_hal::digital::ErrorType for FakePin {
        type Error = std::convert::Infallible;
    }

    impl OutputPin for FakePin {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            self.note(false);
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Self::Error> {
            self.note(true);
            Ok(())
        }
    }

    impl FakePin {
        fn note(&self, on: bool) {
            let t = START
                .with(|s| s.get())
                .map_or(0, |s| s.elapsed().as_millis() as u64);
            let mut levels = self.0.lock().unwrap();
            if levels.last().is_none_or(|&(_, last)| last != on) {
                levels.push((t, on));
            }
        }
        fn levels(&self) -> Vec<(u64, bool)> {
            self.0.lock().unwrap().clone()
        }
    }

    thread_local! {
        static START: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }

    #[tokio::test(start_paused = true)]
    async fn the_led_task_shows_each_pattern_and_goes_dark_when_the_daemon_ends() {
        START.with(|s| s.set(Some(Instant::now())));
        let pin = FakePin::default();
        let (patterns, rx) = watch::channel(LedPattern::SlowHeartbeat);
        let task = tokio::spawn(drive(pin.clone(), rx));
        tokio::time::sleep(Duration::from_millis(4050)).await;
        assert_eq!(
            pin.levels(),
            [
                (0, true),
                (100, false),
                (2000, true),
                (2100, false),
                (4000, true)
            ]
        );
        patterns.send_replace(LedPattern::On);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        patterns.send_replace(LedPattern::FastBlink);
        tokio::time::sleep(Duration::from_millis(250)).await;
        drop(patterns);
        task.await.unwrap();
        assert_eq!(
            pin.levels()[5..],
            [(5150, false), (5250, true), (5300, false)]
        );
    }

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
