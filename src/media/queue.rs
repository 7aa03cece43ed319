//! The bounded hand-over between a producer that must never wait (a camera, a microphone) and
//! its consumer: when full, the oldest item is dropped and counted.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub struct DropOldest<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
    capacity: usize,
}

struct Inner<T> {
    items: VecDeque<T>,
    pushed: u64,
    dropped: u64,
    closed: bool,
}

/// Counters since the queue was made: items pushed, and of those, dropped unread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub pushed: u64,
    pub dropped: u64,
}

impl<T> DropOldest<T> {
    pub fn new(capacity: usize) -> Self {
        DropOldest {
            inner: Mutex::new(Inner {
                items: VecDeque::with_capacity(capacity),
                pushed: 0,
                dropped: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // A panicking holder cannot leave the queue inconsistent: every update is one step.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, item: T) {
        let mut inner = self.lock();
        if inner.items.len() == self.capacity {
            inner.items.pop_front();
            inner.dropped += 1;
        }
        inner.items.push_back(item);
        inner.pushed += 1;
        drop(inner);
        self.ready.notify_one();
    }

    /// The oldest item, waiting up to `timeout`; `None` on timeout or once closed and empty.
    pub fn pop(&self, timeout: Duration) -> Option<T> {
        let inner = self.lock();
        let (mut inner, _) = self
            .ready
            .wait_timeout_while(inner, timeout, |i| i.items.is_empty() && !i.closed)
            .unwrap_or_else(|e| e.into_inner());
        inner.items.pop_front()
    }

    /// Drops whatever is waiting (counted as dropped): a new consumer starts from fresh items.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.dropped += inner.items.len() as u64;
        inner.items.clear();
    }

    /// Wakes every waiting consumer; later pops return what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn counts(&self) -> QueueCounts {
        let inner = self.lock();
        QueueCounts {
            pushed: inner.pushed,
            dropped: inner.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let q = DropOldest::new(2);
        q.push(1);
        q.push(2);
        q.push(3);
        assert_eq!(
            q.counts(),
            QueueCounts {
                pushed: 3,
                dropped: 1
            }
        );
        assert_eq!(q.pop(Duration::ZERO), Some(2));
        assert_eq!(q.pop(Duration::ZERO), Some(3));
        assert_eq!(q.pop(Duration::from_millis(1)), None);
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        use crate::testing::{thread_id, wait_until_asleep};
        // Without the wake-up, pop would return at its own timeout, not before.
        const TIMEOUT: Duration = Duration::from_secs(60);
        let q = std::sync::Arc::new(DropOldest::<u8>::new(1));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                tid_tx.send(thread_id()).unwrap();
                let began = std::time::Instant::now();
                (q.pop(TIMEOUT), began.elapsed())
            })
        };
        wait_until_asleep(tid_rx.recv().unwrap(), TIMEOUT);
        q.close();
        let (popped, waited) = waiter.join().unwrap();
        assert_eq!(popped, None);
        assert!(
            waited < TIMEOUT,
            "pop ran to its timeout: close woke nobody"
        );
    }
}
