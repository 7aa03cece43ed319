//! The board's buttons and status LED on GPIO lines.

pub mod debounce;
