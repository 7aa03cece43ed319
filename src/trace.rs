//! The sample's `trace()`: every step logged with the seconds since start, three decimals.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Fixes time zero; the first trace does it if nothing called this before.
pub fn start() -> Instant {
    *START.get_or_init(Instant::now)
}

pub fn since_start() -> Duration {
    start().elapsed()
}

/// Seconds with three decimals, as the sample prints them; with `micro`, six, so that the
/// steps of a call setup (a few milliseconds each) can be told apart.
pub fn format(at: Duration, text: &str, micro: bool) -> String {
    match micro {
        true => format!("{:.6}: {text}", at.as_secs_f64()),
        false => format!("{:.3}: {text}", at.as_secs_f64()),
    }
}

/// Whether traces carry microseconds: when debug output is on.
pub fn micro() -> bool {
    log::log_enabled!(target: "camloop::trace", log::Level::Debug)
}

/// A call milestone or state change, at info.
pub fn info(text: &str) {
    log::info!(target: "camloop::trace", "{}", format(since_start(), text, micro()));
}

/// Detail such as SDP and candidates, at debug.
pub fn debug(text: &str) {
    log::debug!(target: "camloop::trace", "{}", format(since_start(), text, true));
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_have_three_decimals_or_six() {
        assert_eq!(
            super::format(
                std::time::Duration::from_millis(12_345),
                "Starting call",
                false
            ),
            "12.345: Starting call"
        );
        assert_eq!(
            super::format(std::time::Duration::from_micros(12_345_678), "ICE", true),
            "12.345678: ICE"
        );
    }
}
