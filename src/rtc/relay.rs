//! The relay that makes an [`Impairment`] real: UDP sockets on 127.0.0.1 standing in for each
//! connection's candidates. The in-process signaling hands each connection the stand-in for the
//! other's candidate, so every packet — STUN, DTLS, SRTP, RTCP — crosses it, both ways, and
//! is dropped, delayed (jittered, so reordered) or blacked out on the way.

use super::impair::{Impairment, PacketId, Stream};
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What crossed the relay in one direction.
#[derive(Debug, Default)]
pub struct DirectionCounts {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    /// Of those dropped, H.264 RTP packets (read from the SRTP header, which is not encrypted).
    pub dropped_video: AtomicU64,
}

#[derive(Debug)]
pub struct RelayCounts {
    pub to_pc2: DirectionCounts,
    pub to_pc1: DirectionCounts,
    started: Instant,
    /// When the last packet was delivered, either way: microseconds from `started`.
    last_delivered_us: AtomicU64,
}

/// What the relay did, for the call's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct RelayReport {
    pub to_pc2_forwarded: u64,
    pub to_pc2_dropped: u64,
    /// Of those, H.264 RTP packets: what pc2's NACKs should name.
    pub to_pc2_dropped_video: u64,
    pub to_pc1_forwarded: u64,
    pub to_pc1_dropped: u64,
    /// How long nothing had been delivered either way when this report was made: the
    /// silence the connections saw.
    pub quiet_ms: f64,
}

impl RelayCounts {
    fn new(started: Instant) -> RelayCounts {
        RelayCounts {
            to_pc2: DirectionCounts::default(),
            to_pc1: DirectionCounts::default(),
            started,
            last_delivered_us: AtomicU64::new(0),
        }
    }

    fn delivered(&self, at: Instant) {
        let us = at.saturating_duration_since(self.started).as_micros() as u64;
        self.last_delivered_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn report(&self) -> RelayReport {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let last = self.started + Duration::from_micros(read(&self.last_delivered_us));
        RelayReport {
            to_pc2_forwarded: read(&self.to_pc2.forwarded),
            to_pc2_dropped: read(&self.to_pc2.dropped),
            to_pc2_dropped_video: read(&self.to_pc2.dropped_video),
            to_pc1_forwarded: read(&self.to_pc1.forwarded),
            to_pc1_dropped: read(&self.to_pc1.dropped),
            quiet_ms: last.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

/// One packet waiting for its delivery instant.
struct Delivery {
    at: Instant,
    order: u64,
    from: Arc<UdpSocket>,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    /// Reversed: the heap's top is the earliest delivery.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The relay of one call. Stand-ins are made as candidates are handed over.
pub struct Relay {
    impairment: Impairment,
    started: Instant,
    video_payload_type: u8,
    /// For each real address, the relay socket that stands in for it.
    stand_ins: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
    /// How many packets of each stream have crossed towards each side: the next one's index.
    crossed: Mutex<HashMap<(super::Side, Stream), u64>>,
    deliveries: UnboundedSender<Delivery>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub counts: Arc<RelayCounts>,
    /// The DTLS client's last flight has crossed (or was lost) once.
    client_flight_seen: AtomicBool,
    /// The DTLS server's hello has crossed (or was held) once.
    server_hello_seen: AtomicBool,
    /// This relay's handshake is one `stall_dtls` asked for.
    stalling: AtomicBool,
}

impl Relay {
    pub fn start(impairment: Impairment, video_payload_type: u8) -> Arc<Relay> {
        let (deliveries, queue) = unbounded_channel();
        let started = Instant::now();
        let counts = Arc::new(RelayCounts::new(started));
        let relay = Arc::new(Relay {
            impairment,
            started,
            video_payload_type,
            stand_ins: Mutex::new(HashMap::new()),
            crossed: Mutex::new(HashMap::new()),
            deliveries,
            tasks: Mutex::new(Vec::new()),
            counts: counts.clone(),
            client_flight_seen: AtomicBool::new(false),
            server_hello_seen: AtomicBool::new(false),
            stalling: AtomicBool::new(false),
        });
        relay.keep(tokio::spawn(deliver(queue, counts)));
        relay
    }

    fn keep(&self, task: tokio::task::JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// The address to give the other connection in place of `real`, a candidate of `side`.
    pub async fn stand_in(
        self: &Arc<Self>,
        real: SocketAddr,
        side: super::Side,
    ) -> std::io::Result<SocketAddr> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let address = socket.local_addr()?;
        self.stand_ins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(real, socket.clone());
        let relay = Arc::downgrade(self);
        self.keep(tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            while let Ok((length, source)) = socket.recv_from(&mut buffer).await {
                let Some(relay) = relay.upgrade() else { break };
                relay.forward(&buffer[..length], source, real, side);
            }
        }));
        Ok(address)
    }

    /// A packet from `source` (the other side's real address) for `to`, the real address of
    /// `side` that its stand-in received it for.
    fn forward(&self, bytes: &[u8], source: SocketAddr, to: SocketAddr, side: super::Side) {
        let from = match self
            .stand_ins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&source)
        {
            Some(socket) => socket.clone(),
            // Not from a connection of this call.
            None => return,
        };
        let counts = match side {
            super::Side::Pc2 => &self.counts.to_pc2,
            super::Side::Pc1 => &self.counts.to_pc1,
        };
        let stream = Stream::of(bytes);
        let index = {
            let mut crossed = self.crossed.lock().unwrap_or_else(|e| e.into_inner());
            let next = crossed.entry((side, stream)).or_default();
            *next += 1;
            *next - 1
        };
        let id = PacketId {
            towards: side,
            stream,
            index,
        };
        let now = Instant::now();
        let fate = match self.dtls_stall(bytes) {
            Some(fate) => fate,
            None => self.impairment.fate(id, now - self.started),
        };
        match fate {
            Some(delay) => {
                counts.forwarded.fetch_add(1, Ordering::Relaxed);
                let _ = self.deliveries.send(Delivery {
                    at: now + delay,
                    order: counts.forwarded.load(Ordering::Relaxed),
                    from,
                    to,
                    bytes: bytes.to_vec(),
                });
            }
            None => {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                if stream == Stream::Rtp(self.video_payload_type) {
                    counts.dropped_video.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// What `stall_dtls` does to this datagram, if anything: the server's first hello is held
    /// back a little so that the server repeats its flight before the client's own retransmit
    /// timer fires, and the client's first last flight is lost.
    fn dtls_stall(&self, bytes: &[u8]) -> Option<Option<Duration>> {
        match handshake_message(bytes)? {
            SERVER_HELLO if !self.server_hello_seen.swap(true, Ordering::Relaxed) => {
                let stalling = self.impairment.stall_dtls.take();
                self.stalling.store(stalling, Ordering::Relaxed);
                stalling.then_some(Some(SERVER_HELLO_HELD))
            }
            CLIENT_KEY_EXCHANGE
                if !self.client_flight_seen.swap(true, Ordering::Relaxed)
                    && self.stalling.load(Ordering::Relaxed) =>
            {
                Some(None)
            }
            _ => None,
        }
    }

    /// Ends every relay task and releases the relay's sockets.
    pub fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.stand_ins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// DTLS handshake message types that begin the server's flight (4) and mark the client's
/// last (5).
const SERVER_HELLO: u8 = 2;
const CLIENT_KEY_EXCHANGE: u8 = 16;
/// Long enough that the server's first repeat (1 s after its flight) reaches the client before
/// the client's own timer (1 s after its answer) fires.
const SERVER_HELLO_HELD: Duration = Duration::from_millis(200);

/// The first of `SERVER_HELLO` and `CLIENT_KEY_EXCHANGE` a datagram's DTLS handshake records
/// (content type 22, epoch 0: not yet encrypted) carry. DTLS datagrams start with 20..=63
/// (RFC 7983); a datagram may hold several records.
fn handshake_message(bytes: &[u8]) -> Option<u8> {
    if !bytes.first().is_some_and(|b| (20..=63).contains(b)) {
        return None;
    }
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 13) {
        let epoch = u16::from_be_bytes([header[3], header[4]]);
        let length = usize::from(u16::from_be_bytes([header[11], header[12]]));
        if header[0] == 22
            && epoch == 0
            && let Some(&kind) = bytes.get(at + 13)
            && matches!(kind, SERVER_HELLO | CLIENT_KEY_EXCHANGE)
        {
            return Some(kind);
        }
        at += 13 + length;
    }
    None
}

/// Sends each packet at its delivery instant.
async fn deliver(mut queue: UnboundedReceiver<Delivery>, counts: Arc<RelayCounts>) {
    let mut waiting = BinaryHeap::new();
    loop {
        let next = waiting.peek().map(|d: &Delivery| d.at);
        tokio::select! {
            delivery = queue.recv() => match delivery {
                Some(delivery) => waiting.push(delivery),
                None => break,
            },
            () = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                while waiting.peek().is_some_and(|d| d.at <= now) {
                    if let Some(d) = waiting.pop() {
                        let _ = d.from.send_to(&d.bytes, d.to).await;
                        counts.delivered(Instant::now());
                    }
                }
            }
        }
    }
}

/// The address of an ICE candidate line (`candidate:F 1 udp PRIORITY ADDRESS PORT typ host`),
/// or `None` when it is not a UDP candidate with an address.
pub fn candidate_address(text: &str) -> Option<SocketAddr> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if !fields.get(2)?.eq_ignore_ascii_case("udp") {
        return None;
    }
    format!("{}:{}", fields.get(4)?, fields.get(5)?)
        .parse()
        .ok()
}

/// The candidate line with its address and port set to `to`.
pub fn with_address(text: &str, to: SocketAddr) -> String {
    text.split_whitespace()
        .enumerate()
        .map(|(i, field)| match i {
            4 => to.ip().to_string(),
            5 => to.port().to_string(),
            _ => field.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_line_gives_its_address_and_takes_another() {
        let line = "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host";
        assert_eq!(candidate_address(line), "127.0.0.1:40000".parse().ok());
        let moved = with_address(line, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(
            moved,
            "candidate:1 1 udp 2130706431 127.0.0.1 5555 typ host"
        );
        assert_eq!(
            candidate_address("candidate:1 1 tcp 1 127.0.0.1 9 typ host"),
            None
        );
        assert_eq!(candidate_address("garbage"), None);
    }

    #[test]
    fn the_hello_and_key_exchange_are_found_in_any_record_of_a_datagram() {
        let record = |content: u8, epoch: u16, body: &[u8]| {
            let mut r = vec![content, 0xfe, 0xfd];
            r.extend(epoch.to_be_bytes());
            r.extend([0; 6]);
            r.extend((body.len() as u16).to_be_bytes());
            r.extend(body);
            r
        };
        let certificate = record(22, 0, &[11, 0, 0, 3, 1, 2, 3]);
        let key_exchange = record(22, 0, &[16, 0, 0, 1, 9]);
        let hello = record(22, 0, &[2, 0, 0, 1, 9]);
        let finished = record(22, 1, &[16, 7, 7]); // encrypted: its first byte means nothing
        assert_eq!(
            handshake_message(&[certificate.clone(), key_exchange].concat()),
            Some(CLIENT_KEY_EXCHANGE)
        );
        assert_eq!(handshake_message(&hello), Some(SERVER_HELLO));
        assert_eq!(handshake_message(&certificate), None);
        assert_eq!(handshake_message(&finished), None);
        assert_eq!(handshake_message(&[0x80, 102, 0, 1]), None); // RTP
        assert_eq!(handshake_message(&certificate[..8]), None); // cut short
    }
}
