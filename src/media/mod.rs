//! Frame types, the bounded hand-over between media threads, and the codecs.

pub mod frame;
pub mod h264;
pub mod jitter;
pub mod opus;
pub mod pixel;
pub mod queue;
pub mod reorder;
pub mod stretch;
