//! pc2's audio jitter buffer: Opus packets go in as they arrive, in any order; each time the
//! speaker needs its next 20 ms, out comes what to play — the packet, its recovery from the next
//! packet's in-band FEC, or Opus's concealment — and whether to play it a little shorter or
//! longer ([`super::stretch`]), so that the time packets wait follows the network's jitter.
//!
//! The delay adapts from what is seen at playout: a packet that came after its turn (and was
//! concealed) grows the delay by its lateness, 2.5 ms a block; once packets are lost, the delay
//! grows until the packet after the next turn is there too (its FEC recovers a loss); when every
//! packet of the last two seconds waited more than it had to, the delay shrinks 2.5 ms, at most
//! every quarter second.
//! Pure logic: the clock is the caller's.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// One block of playout.
pub const BLOCK: Duration = Duration::from_millis(20);
/// How much a block is shortened or lengthened to move the delay: small enough to be heard as
/// nothing once cross-faded.
pub const STEP: Duration = Duration::from_micros(2500);
/// The delay never grows past this: a network worse than that is a network that loses packets.
pub const MAX_DELAY: Duration = Duration::from_millis(200);
/// Headroom kept above the slack packets actually had, before the delay is shrunk.
const HEADROOM: Duration = Duration::from_millis(5);
/// The delay shrinks at most this often: 10 ms a second given back, and few stretches heard.
const SHRINK_EVERY: Duration = Duration::from_millis(250);
/// For this long after a loss, packets are held a block longer: the next one is there to
/// recover the next loss from its FEC. Without losses the block is given back.
const LOSS_MEMORY: Duration = Duration::from_secs(10);
/// Playout decisions the shrink looks back over: two seconds.
const WINDOW: usize = 100;
/// A packet this many turns behind or ahead of playout is not of this playout: the sender
/// paused or jumped, and playout starts again from it.
const RESYNC_PACKETS: u64 = 25;
/// Packets held at most (two seconds): a flood cannot grow the buffer.
const CAPACITY: usize = 100;

/// What to play for one block.
#[derive(Clone, Debug, PartialEq)]
pub enum Block<T> {
    /// Nothing yet: playout has not started.
    Wait,
    /// This block's packet.
    Packet(T),
    /// This block's packet was lost; the next one, which came, carries it in its in-band FEC.
    Fec(T),
    /// Lost: Opus's packet-loss concealment.
    Conceal,
}

/// How long to make the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stretch {
    Keep,
    /// [`STEP`] shorter: the delay shrinks.
    Shorter,
    /// [`STEP`] longer: the delay grows.
    Longer,
}

/// What to do for the block the speaker needs next.
#[derive(Clone, Debug, PartialEq)]
pub struct Playout<T> {
    pub block: Block<T>,
    pub stretch: Stretch,
    /// How long the packet played waited in the buffer.
    pub waited: Option<Duration>,
}

/// What happened to a packet pushed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Held,
    /// After its turn: it was recovered or concealed already.
    Late,
    Duplicate,
}

/// What the buffer did, for the call's report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JitterCounts {
    pub played: u64,
    pub fec_recovered: u64,
    pub concealed: u64,
    pub late: u64,
    /// The longest run of concealed blocks.
    pub longest_concealment: u64,
}

pub struct JitterBuffer<T> {
    /// Packets waiting, by extended sequence number, with their arrival instants.
    waiting: BTreeMap<u64, (T, Instant)>,
    /// The last sequence number seen, extended past 16 bits.
    last_seq: Option<u64>,
    /// The next sequence number to play; `None` until playout starts.
    next: Option<u64>,
    /// How long each packet played in the last `WINDOW` blocks had waited (the slack it had).
    slack: VecDeque<Duration>,
    /// The turns of the last packets that were not there when their turn came, and when it
    /// came: how late each is, should it come after all.
    missed: VecDeque<(u64, Instant)>,
    /// Delay still to add, a `STEP` a block.
    owed: Duration,
    /// The delay added on top of the first packet's arrival.
    delay: Duration,
    concealed_run: u64,
    /// When the last packet was missing at its turn.
    lost_at: Option<Instant>,
    /// When the delay last shrank.
    shrunk_at: Option<Instant>,
    counts: JitterCounts,
}

impl<T: Clone> Default for JitterBuffer<T> {
    fn default() -> Self {
        JitterBuffer::new()
    }
}

impl<T: Clone> JitterBuffer<T> {
    pub fn new() -> JitterBuffer<T> {
        JitterBuffer {
            waiting: BTreeMap::new(),
            last_seq: None,
            next: None,
            slack: VecDeque::new(),
            missed: VecDeque::new(),
            owed: Duration::ZERO,
            delay: Duration::ZERO,
            concealed_run: 0,
            lost_at: None,
            shrunk_at: None,
            counts: JitterCounts::default(),
        }
    }

    pub fn counts(&self) -> JitterCounts {
        self.counts
    }

    /// The delay added for the jitter seen, beyond the wait the first packet had.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// A packet of sequence number `seq`, arrived `now`.
    pub fn push(&mut self, seq: u16, payload: T, now: Instant) -> Arrival {
        let seq = self.extend(seq);
        if let Some(next) = self.next {
            if seq + RESYNC_PACKETS < next || seq > next + RESYNC_PACKETS {
                self.restart();
            } else if seq < next {
                self.counts.late += 1;
                // It would have been in time with this much more delay.
                if let Some(&(_, turn)) = self.missed.iter().find(|(missed, _)| *missed == seq) {
                    let late = now.saturating_duration_since(turn).max(STEP);
                    self.owed = self
                        .owed
                        .max(late)
                        .min(MAX_DELAY.saturating_sub(self.delay));
                }
                return Arrival::Late;
            }
        }
        if self.waiting.contains_key(&seq) {
            return Arrival::Duplicate;
        }
        if self.waiting.len() >= CAPACITY {
            self.waiting.pop_first();
        }
        self.waiting.insert(seq, (payload, now));
        Arrival::Held
    }

    /// What to play for the block the speaker needs `now`.
    pub fn pull(&mut self, now: Instant) -> Playout<T> {
        let next = match self.next {
            Some(next) => next,
            None => match self.waiting.first_key_value() {
                Some((&first, _)) => first,
                None => {
                    return Playout {
                        block: Block::Wait,
                        stretch: Stretch::Keep,
                        waited: None,
                    };
                }
            },
        };
        self.next = Some(next + 1);
        let mut waited = None;
        let block = match self.waiting.remove(&next) {
            Some((payload, arrived)) => {
                self.counts.played += 1;
                let slack = now.saturating_duration_since(arrived);
                self.note_slack(slack);
                waited = Some(slack);
                Block::Packet(payload)
            }
            None => {
                if self.missed.len() == RESYNC_PACKETS as usize {
                    self.missed.pop_front();
                }
                self.missed.push_back((next, now));
                self.lost_at = Some(now);
                // Hold packets a block longer, so that the next loss finds its FEC.
                let least = self.slack.iter().min().copied().unwrap_or_default();
                let wanted = (BLOCK + HEADROOM).saturating_sub(least);
                self.owed = self
                    .owed
                    .max(wanted)
                    .min(MAX_DELAY.saturating_sub(self.delay));
                match self.waiting.get(&(next + 1)) {
                    Some((payload, _)) => {
                        self.counts.fec_recovered += 1;
                        Block::Fec(payload.clone())
                    }
                    None => Block::Conceal,
                }
            }
        };
        if matches!(block, Block::Conceal) {
            self.counts.concealed += 1;
            self.concealed_run += 1;
            self.counts.longest_concealment =
                self.counts.longest_concealment.max(self.concealed_run);
        } else {
            self.concealed_run = 0;
        }
        Playout {
            block,
            stretch: self.stretch(now),
            waited,
        }
    }

    fn stretch(&mut self, now: Instant) -> Stretch {
        if !self.owed.is_zero() && self.delay + STEP <= MAX_DELAY {
            self.owed = self.owed.saturating_sub(STEP);
            self.delay += STEP;
            // Every packet now waits a step longer.
            for slack in &mut self.slack {
                *slack += STEP;
            }
            return Stretch::Longer;
        }
        self.owed = Duration::ZERO;
        let least = self.slack.iter().min().copied();
        let losing = self
            .lost_at
            .is_some_and(|at| now.saturating_duration_since(at) < LOSS_MEMORY);
        let keep = if losing { BLOCK + HEADROOM } else { HEADROOM };
        let rested = self
            .shrunk_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SHRINK_EVERY);
        if rested && self.slack.len() == WINDOW && least.is_some_and(|least| least >= keep + STEP) {
            self.delay = self.delay.saturating_sub(STEP);
            self.shrunk_at = Some(now);
            for slack in &mut self.slack {
                *slack -= STEP;
            }
            return Stretch::Shorter;
        }
        Stretch::Keep
    }

    fn note_slack(&mut self, slack: Duration) {
        if self.slack.len() == WINDOW {
            self.slack.pop_front();
        }
        self.slack.push_back(slack);
    }

    fn restart(&mut self) {
        self.waiting.clear();
        self.next = None;
        self.slack.clear();
        self.missed.clear();
    }

    /// `seq` extended past 16 bits, as the nearest to the last one seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let extended = match self.last_seq {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let delta = seq.wrapping_sub(last as u16) as i16;
                (last as i64 + i64::from(delta)).max(0) as u64
            }
        };
        self.last_seq = Some(self.last_seq.map_or(extended, |last| last.max(extended)));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn packet(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    /// Plays `blocks` blocks, 20 ms apart from `start` plus what the stretches added; packets
    /// arrive as `arrives(seq)` says (an offset from `start`, or lost). Returns what was
    /// played, each block's stretch, and the buffer.
    fn play(
        blocks: u16,
        arrives: impl Fn(u16) -> Option<Duration>,
    ) -> (Vec<Block<Bytes>>, Vec<Stretch>, JitterBuffer<Bytes>) {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new();
        let mut arrivals: Vec<(Duration, u16)> = (0..blocks + 40)
            .filter_map(|seq| Some((arrives(seq)?, seq)))
            .collect();
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        let (mut played, mut stretches) = (Vec::new(), Vec::new());
        // Playout begins a block after the first packet's send instant.
        let mut due = BLOCK;
        while played.len() < usize::from(blocks) {
            while let Some(&(at, seq)) = arrivals.peek() {
                if at > due {
                    break;
                }
                buffer.push(seq.wrapping_add(65_000), packet(seq as u8), start + at);
                arrivals.next();
            }
            let Playout { block, stretch, .. } = buffer.pull(start + due);
            due += match stretch {
                Stretch::Keep => BLOCK,
                Stretch::Shorter => BLOCK - STEP,
                Stretch::Longer => BLOCK + STEP,
            };
            played.push(block);
            stretches.push(stretch);
        }
        (played, stretches, buffer)
    }

    fn sent(seq: u16) -> Duration {
        BLOCK * u32::from(seq)
    }

    #[test]
    fn a_clean_network_plays_every_packet_in_order_and_the_first_wait_shrinks_to_the_headroom() {
        let (played, stretches, buffer) =
            play(500, |seq| Some(sent(seq) + Duration::from_millis(1)));
        assert!(
            played
                .iter()
                .enumerate()
                .all(|(i, b)| *b == Block::Packet(packet(i as u8)))
        );
        assert!(!stretches.contains(&Stretch::Longer));
        // 19 ms of wait at first (the first packet came 1 ms after its send, its turn 20 ms
        // after): shrunk a step at a time to the headroom.
        let shrunk = stretches.iter().filter(|s| **s == Stretch::Shorter).count();
        assert_eq!(shrunk, 5, "{stretches:?}");
        assert_eq!(buffer.counts().played, 500);
    }

    #[test]
    fn a_lost_packet_is_recovered_from_the_next_ones_fec_and_two_in_a_row_are_concealed_once() {
        // Packets arrive 1 ms after their send: at first the next one is not there yet when a
        // turn comes, so the first loss is concealed; then packets are held a block longer.
        let (played, stretches, buffer) = play(60, |seq| {
            (![5, 30, 40, 41].contains(&seq)).then(|| sent(seq) + Duration::from_millis(1))
        });
        assert_eq!(played[5], Block::Conceal);
        assert!(stretches[5..15].contains(&Stretch::Longer));
        assert_eq!(played[30], Block::Fec(packet(31)));
        assert_eq!(played[31], Block::Packet(packet(31)));
        assert_eq!(played[40], Block::Conceal);
        assert_eq!(played[41], Block::Fec(packet(42)));
        let counts = buffer.counts();
        assert_eq!(
            (
                counts.fec_recovered,
                counts.concealed,
                counts.longest_concealment
            ),
            (2, 2, 1)
        );
    }

    #[test]
    fn the_block_held_for_losses_is_given_back_once_they_stop() {
        let (_, stretches, buffer) = play(1000, |seq| {
            (seq != 10).then(|| sent(seq) + Duration::from_millis(1))
        });
        assert!(stretches.contains(&Stretch::Longer));
        let waits = buffer.slack.iter().max().unwrap();
        assert!(*waits < HEADROOM + STEP, "{waits:?}");
    }

    #[test]
    fn jitter_grows_the_delay_until_packets_come_in_time_and_it_never_passes_the_maximum() {
        // Every fifth packet 30 ms late: the rest on time.
        let (played, _, buffer) = play(500, |seq| {
            Some(sent(seq) + Duration::from_millis(if seq % 5 == 0 { 30 } else { 0 }))
        });
        let late_at_the_end = played[400..]
            .iter()
            .filter(|b| !matches!(b, Block::Packet(_)))
            .count();
        assert_eq!(late_at_the_end, 0, "delay {:?}", buffer.delay());
        assert!(
            buffer.delay() >= Duration::from_millis(10),
            "{:?}",
            buffer.delay()
        );
        assert!(
            buffer.delay() <= Duration::from_millis(40),
            "{:?}",
            buffer.delay()
        );
        // A path that holds packets for ever cannot make the delay grow without bound.
        let (_, _, stuck) = play(300, |seq| Some(sent(seq) + BLOCK * u32::from(seq % 7) * 3));
        assert!(stuck.delay() <= MAX_DELAY, "{:?}", stuck.delay());
    }

    #[test]
    fn the_delay_shrinks_back_once_the_jitter_is_gone() {
        // Late packets in the first second, then a clean network for fourteen (the block held
        // for losses is given back ten seconds after the last).
        let (_, stretches, buffer) = play(750, |seq| {
            Some(sent(seq) + Duration::from_millis(if seq < 50 && seq % 5 == 0 { 40 } else { 0 }))
        });
        assert!(stretches.contains(&Stretch::Longer));
        assert!(stretches.contains(&Stretch::Shorter));
        // Packets wait no more than the headroom asks.
        let waits = buffer.slack.iter().max().unwrap();
        assert!(*waits < HEADROOM + STEP, "{waits:?}");
    }

    #[test]
    fn after_an_outage_sound_comes_back_with_the_first_packet_and_a_paused_sender_restarts_playout()
    {
        // Nothing from 1 s to 3 s.
        let (played, _, _) = play(200, |seq| (!(50..150).contains(&seq)).then(|| sent(seq)));
        assert!(
            played[50..150]
                .iter()
                .all(|b| *b == Block::Conceal || matches!(b, Block::Fec(_)))
        );
        assert_eq!(played[150], Block::Packet(packet(150)));
        // A sender that stopped for 2 s and went on where it was.
        let (played, _, _) = play(200, |seq| {
            Some(if seq < 50 {
                sent(seq)
            } else {
                sent(seq) + Duration::from_secs(2)
            })
        });
        assert!(
            played[150..].iter().all(|b| matches!(b, Block::Packet(_))),
            "{:?}",
            &played[150..]
        );
    }

    #[test]
    fn duplicates_and_sequence_wrap_are_handled() {
        let mut buffer = JitterBuffer::new();
        let now = Instant::now();
        assert_eq!(buffer.push(65_535, packet(1), now), Arrival::Held);
        assert_eq!(buffer.push(65_535, packet(1), now), Arrival::Duplicate);
        assert_eq!(buffer.push(0, packet(2), now), Arrival::Held);
        assert_eq!(buffer.pull(now).block, Block::Packet(packet(1)));
        assert_eq!(buffer.pull(now).block, Block::Packet(packet(2)));
        assert_eq!(buffer.push(65_535, packet(1), now), Arrival::Late);
    }
}
