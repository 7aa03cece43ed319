//! The UDP sockets a process holds, read from `/proc`: how a hangup makes sure the connections
//! it closed have released theirs, and how tests check that a call binds only 127.0.0.1.

use procfs::process::{FDTarget, Process};
use std::collections::HashSet;
use std::net::SocketAddr;

/// One UDP socket: its inode (its identity) and local address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UdpSocket {
    pub inode: u64,
    pub local: SocketAddr,
}

/// The UDP sockets this process holds; empty where `/proc` is unreadable.
pub fn udp_sockets() -> Vec<UdpSocket> {
    let Ok(me) = Process::myself() else {
        return Vec::new();
    };
    let inodes: HashSet<u64> = me
        .fd()
        .into_iter()
        .flatten()
        .filter_map(|fd| match fd.ok()?.target {
            FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
        .collect();
    [me.udp(), me.udp6()]
        .into_iter()
        .flat_map(Result::unwrap_or_default)
        .filter(|entry| inodes.contains(&entry.inode))
        .map(|entry| UdpSocket {
            inode: entry.inode,
            local: entry.local_address,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_socket_is_seen_and_gone_once_closed() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        assert!(udp_sockets().iter().any(|s| s.local == local));
        drop(socket);
        assert!(!udp_sockets().iter().any(|s| s.local == local));
    }
}
