//! camloop: the WebRTC loopback sample as a board's firmware. Camera and microphone go through
//! two peer connections in one process and come back to the display and speaker.

pub mod audio;
pub mod bench;
pub mod buttons;
pub mod call;
pub mod camera;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod display;
pub mod files;
pub mod fuzzing;
pub mod gpio;
pub mod led;
pub mod media;
pub mod probe;
pub mod rtc;
pub mod service;
pub mod session;
pub mod signals;
pub mod stats;
pub mod trace;

/// "a, b, c", or "none": lists in messages that say what is there.
pub(crate) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
