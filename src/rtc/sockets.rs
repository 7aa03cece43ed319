//! The UDP sockets a process holds, read from `/proc`: how a hangup makes sure the connections
//! it closed have released theirs, and how tests check that a call binds only 127.0.0.1.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One UDP socket: its inode (its identity) and local address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UdpSocket {
    pub inode: u64,
    pub local: SocketAddr,
}

/// The UDP sockets process `pid` ("self" for this one) holds; empty where `/proc` is unreadable.
pub fn udp_sockets(pid: &str) -> Vec<UdpSocket> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<u64> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let mut sockets = Vec::new();
    for table in ["udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        sockets.extend(
            text.lines()
                .skip(1)
                .filter_map(parse_line)
                .filter(|s| inodes.contains(&s.inode)),
        );
    }
    sockets
}

/// A line of `/proc/net/udp{,6}`: field 1 is the local address, field 9 the inode.
fn parse_line(line: &str) -> Option<UdpSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (ip, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address as a number in host byte order.
    let mut bytes = Vec::with_capacity(16);
    for i in 0..ip.len() / 8 {
        let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(UdpSocket {
        inode: fields.get(9)?.parse().ok()?,
        local: SocketAddr::new(ip, port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_parse_to_addresses() {
        let v4 = "  123: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 19301 2 0000 0";
        assert_eq!(
            parse_line(v4),
            Some(UdpSocket {
                inode: 19301,
                local: "127.0.0.1:8080".parse().unwrap()
            })
        );
        let v6 = "  5: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 777 2 0 0";
        assert_eq!(
            parse_line(v6).unwrap().local,
            "[::1]:53".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn a_bound_socket_is_seen_and_gone_once_closed() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        assert!(udp_sockets("self").iter().any(|s| s.local == local));
        drop(socket);
        assert!(!udp_sockets("self").iter().any(|s| s.local == local));
    }
}
