//! camloop: the WebRTC loopback sample as a board's firmware. Camera and microphone go through
//! two peer connections in one process and come back to the display and speaker.

// System calls that need `unsafe` live in `sys` alone, each behind a safe function.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

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
pub mod fault;
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
#[allow(unsafe_code)]
pub mod sys;
pub mod trace;

/// "a, b, c", or "none": lists in messages that say what is there.
pub(crate) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// What unit tests of hand-overs between threads share.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::{Duration, Instant};

    /// The calling thread's kernel id, for `wait_until_asleep` in another thread.
    pub fn thread_id() -> i32 {
        nix::unistd::gettid().as_raw()
    }

    /// Returns once thread `tid` of this process sleeps in the kernel (a condition variable's
    /// wait, in these tests), so what the test does next happens while it waits. Panics after
    /// `deadline`, which only a thread that never gets to its wait reaches.
    pub fn wait_until_asleep(tid: i32, deadline: Duration) {
        let until = Instant::now() + deadline;
        loop {
            let state = procfs::process::Process::myself()
                .and_then(|me| me.task_from_tid(tid)?.stat())
                .map(|stat| stat.state);
            if matches!(state, Ok('S')) {
                return;
            }
            assert!(
                Instant::now() < until,
                "thread {tid} never waited: {state:?}"
            );
            std::thread::yield_now();
        }
    }
}
