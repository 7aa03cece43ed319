//! What the display thread is handed: one slot for the newest local picture, one for the newest
//! remote picture and one for the status line. A hand-over replaces what the slot held (the
//! older picture is dropped and counted) and never waits for the display, so the camera and the
//! decoder never slow down for it.

use super::status::StatusLine;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// An I420 picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub i420: Vec<u8>,
}

/// What arrived since the display last looked.
#[derive(Debug, Default)]
pub struct Delivery {
    pub local: Option<Picture>,
    pub remote: Option<Picture>,
    pub status: Option<StatusLine>,
}

#[derive(Default)]
struct Slots {
    waiting: Delivery,
    /// Pictures replaced before the display took them.
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
pub struct Inbox {
    slots: Mutex<Slots>,
    arrived: Condvar,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, fill: impl FnOnce(&mut Delivery) -> bool) {
        let mut slots = self.lock();
        if fill(&mut slots.waiting) {
            slots.dropped += 1;
        }
        self.arrived.notify_one();
    }

    pub fn local(&self, picture: Picture) {
        self.put(|d| d.local.replace(picture).is_some());
    }

    pub fn remote(&self, picture: Picture) {
        self.put(|d| d.remote.replace(picture).is_some());
    }

    pub fn status(&self, status: StatusLine) {
        self.put(|d| {
            d.status = Some(status);
            false
        });
    }

    /// Everything waiting, once something is or `timeout` has passed (then empty); None once
    /// closed.
    pub fn take(&self, timeout: Duration) -> Option<Delivery> {
        let slots = self.lock();
        let empty = |s: &mut Slots| {
            !s.closed
                && s.waiting.local.is_none()
                && s.waiting.remote.is_none()
                && s.waiting.status.is_none()
        };
        let (mut slots, _) = self
            .arrived
            .wait_timeout_while(slots, timeout, empty)
            .unwrap_or_else(|e| e.into_inner());
        if slots.closed {
            return None;
        }
        Some(std::mem::take(&mut slots.waiting))
    }

    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{thread_id, wait_until_asleep};
    use std::sync::Arc;
    use std::time::Instant;

    fn picture(id: u8) -> Picture {
        Picture {
            width: 2,
            height: 2,
            i420: vec![id; 6],
        }
    }

    #[test]
    fn the_newest_picture_of_each_kind_is_taken_and_the_older_ones_counted_as_dropped() {
        let inbox = Inbox::default();
        inbox.local(picture(1));
        inbox.local(picture(2));
        inbox.remote(picture(3));
        let delivery = inbox.take(Duration::ZERO).unwrap();
        assert_eq!(delivery.local, Some(picture(2)));
        assert_eq!(delivery.remote, Some(picture(3)));
        assert_eq!(inbox.dropped(), 1);
        let next = inbox.take(Duration::ZERO).unwrap();
        assert!(next.local.is_none() && next.remote.is_none(), "taken twice");
    }

    #[test]
    fn a_hand_over_never_waits_for_the_display() {
        // Nobody takes: a hand-over that waited for the display would hang here.
        let inbox = Inbox::default();
        for id in 0..1000 {
            inbox.remote(picture(id as u8));
        }
        assert_eq!(inbox.dropped(), 999);
    }

    #[test]
    fn take_wakes_on_a_picture_and_ends_on_close() {
        // Without the wake-up, take would return at its own timeout, not before.
        const TIMEOUT: Duration = Duration::from_secs(60);
        let inbox = Arc::new(Inbox::default());
        let taker = inbox.clone();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            tid_tx.send(thread_id()).unwrap();
            let began = Instant::now();
            (taker.take(TIMEOUT).unwrap(), began.elapsed())
        });
        wait_until_asleep(tid_rx.recv().unwrap(), TIMEOUT);
        inbox.local(picture(7));
        let (delivery, waited) = thread.join().unwrap();
        assert_eq!(delivery.local, Some(picture(7)));
        assert!(
            waited < TIMEOUT,
            "take ran to its timeout: the picture woke nobody"
        );
        let empty = inbox.take(Duration::from_millis(10)).unwrap();
        assert!(empty.local.is_none(), "a timeout delivers nothing");
        inbox.close();
        assert!(inbox.take(Duration::from_secs(10)).is_none());
    }
}
