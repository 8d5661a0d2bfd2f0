//! A client's address as sessions give it, `ip:port`: what the exporter counts by is the host.

/// `ip` of `ip:port`, `[v6]:port` or a bare address.
#[inline]
pub fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(ip, _)| ip);
    }
    // Bytes, not chars: an address is short, and a search's set-up would cost more than it.
    let bytes = addr.as_bytes();
    let port_digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let colon = bytes.len() - port_digits;
    match colon.checked_sub(1) {
        // A bare IPv6 address has more than one colon and no port.
        Some(at) if bytes[at] == b':' && !bytes[..at].contains(&b':') => &addr[..at],
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("10.0.0.1:6379"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:6379"), "::1");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
        assert_eq!(strip_port("/tmp/redis.sock:0"), "/tmp/redis.sock");
        assert_eq!(strip_port("10.0.0.1:"), "10.0.0.1");
        assert_eq!(strip_port(":6379"), "");
        assert_eq!(strip_port("host:port"), "host:port");
        assert_eq!(strip_port("a:b:6379"), "a:b:6379");
        assert_eq!(strip_port(""), "");
    }
}
