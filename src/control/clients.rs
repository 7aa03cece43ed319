//! Who the control socket serves: slots shared fairly between users, and the clients turned
//! away or dropped, counted by reason and logged at most once a second per reason.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// Clients of one user served at once: a flood from one user leaves room for the others.
pub const MAX_PER_USER: usize = 4;
/// A reason is logged at most this often; the lines between are counted into the next.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Why a client was turned away or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Every slot taken.
    Busy,
    /// Its user's slots taken.
    UserBusy,
    /// Sent no whole line within the deadline.
    Idle,
    /// Did not take its answer within the deadline.
    Unread,
    /// Sent a line longer than the limit.
    TooLong,
}

impl Dropped {
    fn why(self) -> String {
        match self {
            Dropped::Busy => format!("turned away: all {MAX_CLIENTS} slots taken"),
            Dropped::UserBusy => {
                format!("turned away: its user already has {MAX_PER_USER} connections")
            }
            Dropped::Idle => "dropped: sent no whole line in time".into(),
            Dropped::Unread => "dropped: did not read its answer in time".into(),
            Dropped::TooLong => "dropped: sent a line too long".into(),
        }
    }
}

/// Clients turned away or dropped since start, by reason, as the status shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DroppedCounts {
    pub busy: u64,
    pub user_busy: u64,
    pub idle: u64,
    pub unread: u64,
    pub too_long: u64,
}

impl DroppedCounts {
    fn count(&mut self, reason: Dropped) -> u64 {
        let n = match reason {
            Dropped::Busy => &mut self.busy,
            Dropped::UserBusy => &mut self.user_busy,
            Dropped::Idle => &mut self.idle,
            Dropped::Unread => &mut self.unread,
            Dropped::TooLong => &mut self.too_long,
        };
        *n += 1;
        *n
    }
}

#[derive(Default)]
struct Book {
    served: usize,
    per_user: HashMap<u32, usize>,
    dropped: DroppedCounts,
    /// For each reason: when it was last logged, and how many since went unlogged.
    logged: HashMap<Dropped, (Instant, u64)>,
}

/// The control socket's clients. Cheap to clone: clones share one book.
#[derive(Clone, Default)]
pub struct Clients {
    book: Arc<Mutex<Book>>,
}

/// A client's slot, given back when dropped.
pub struct Slot {
    clients: Clients,
    user: u32,
}

impl Slot {
    pub fn user(&self) -> u32 {
        self.user
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut book = self.clients.lock();
        book.served -= 1;
        if let Some(n) = book.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                book.per_user.remove(&self.user);
            }
        }
    }
}

impl Clients {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a client of `user`, or why there is none (not yet counted: see `drop`).
    pub fn admit(&self, user: u32) -> Result<Slot, Dropped> {
        let mut book = self.lock();
        if book.served >= MAX_CLIENTS {
            return Err(Dropped::Busy);
        }
        let theirs = book.per_user.entry(user).or_default();
        if *theirs >= MAX_PER_USER {
            return Err(Dropped::UserBusy);
        }
        *theirs += 1;
        book.served += 1;
        Ok(Slot {
            clients: self.clone(),
            user,
        })
    }

    /// Counts a client of `user` turned away or dropped for `reason`, and returns the log line
    /// to write, if this reason was not logged in the last second.
    pub fn dropped(&self, reason: Dropped, user: u32, now: Instant) -> Option<String> {
        let mut book = self.lock();
        let total = book.dropped.count(reason);
        match book.logged.get_mut(&reason) {
            Some((at, unlogged)) if now < *at + LOG_EVERY => {
                *unlogged += 1;
                None
            }
            logged => {
                let since = match logged.map(|(_, unlogged)| *unlogged) {
                    Some(n) if n > 0 => format!(", {n} more since the last such line"),
                    _ => String::new(),
                };
                book.logged.insert(reason, (now, 0));
                Some(format!(
                    "control socket: a client of user {user} {} ({total} so far{since})",
                    reason.why()
                ))
            }
        }
    }

    pub fn dropped_counts(&self) -> DroppedCounts {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_its_share_and_the_others_still_get_in() {
        let clients = Clients::default();
        let flood: Vec<Slot> = (0..MAX_PER_USER)
            .map(|_| clients.admit(1000).unwrap())
            .collect();
        assert_eq!(clients.admit(1000).err(), Some(Dropped::UserBusy));
        let others: Vec<Slot> = (0..MAX_CLIENTS - MAX_PER_USER)
            .map(|n| clients.admit(n as u32).unwrap())
            .collect();
        assert_eq!(clients.admit(0).err(), Some(Dropped::Busy));
        drop(others);
        assert!(clients.admit(0).is_ok(), "slots come back when clients go");
        drop(flood);
        let again: Vec<Slot> = (0..MAX_PER_USER)
            .map(|_| clients.admit(1000).unwrap())
            .collect();
        assert_eq!(again.len(), MAX_PER_USER, "and so do a user's");
    }

    #[test]
    fn drops_are_counted_by_reason_and_logged_at_most_once_a_second_per_reason() {
        let clients = Clients::default();
        let start = Instant::now();
        let first = clients.dropped(Dropped::Unread, 1000, start).unwrap();
        assert!(
            first.contains("user 1000") && first.contains("did not read"),
            "{first}"
        );
        for n in 1..100 {
            let at = start + Duration::from_millis(n * 5);
            assert_eq!(clients.dropped(Dropped::Unread, 1000, at), None);
        }
        // Another reason has its own second.
        assert!(clients.dropped(Dropped::Idle, 7, start).is_some());
        let later = clients
            .dropped(Dropped::Unread, 1000, start + LOG_EVERY)
            .unwrap();
        assert!(
            later.contains("101 so far, 99 more since the last such line"),
            "{later}"
        );
        assert_eq!(
            clients.dropped_counts(),
            DroppedCounts {
                unread: 101,
                idle: 1,
                ..DroppedCounts::default()
            }
        );
    }
}
