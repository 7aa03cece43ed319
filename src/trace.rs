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

pub fn format(at: Duration, text: &str) -> String {
    format!("{:.3}: {text}", at.as_secs_f64())
}

/// A call milestone or state change, at info.
pub fn info(text: &str) {
    log::info!(target: "camloop::trace", "{}", format(since_start(), text));
}

/// Detail such as SDP and candidates, at debug.
pub fn debug(text: &str) {
    log::debug!(target: "camloop::trace", "{}", format(since_start(), text));
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_have_three_decimals() {
        assert_eq!(
            super::format(std::time::Duration::from_millis(12_345), "Starting call"),
            "12.345: Starting call"
        );
    }
}
