//! A session as the session list shows it: its addresses, flags, ages and buffers as
//! `CLIENT LIST` fields, at the time of the list.

use super::profile::ClientProfile;
use super::session::{Link, Session};
use crate::session::ClientInfo;

/// The client's own `ip:port`.
pub fn peer_address(profile: &ClientProfile, s: &Session) -> String {
    format!("{}:{}", profile.hosts[s.host as usize].ip, s.port)
}

/// The session as the session list shows it at `at_ms`.
pub fn render(profile: &ClientProfile, s: &Session, at_ms: i64) -> ClientInfo {
    let peer = peer_address(profile, s);
    let addr = match &profile.internal_ip {
        // Without pass-through every session seems to come from the load balancer.
        Some(internal) => format!("{internal}:{}", 1024 + (s.id % 64_000)),
        None => peer.clone(),
    };
    let mut flags = String::new();
    match s.link {
        Some(Link::Replica) => flags.push('S'),
        Some(Link::Master) => flags.push('M'),
        None => {}
    }
    if s.monitor {
        flags.push('O');
    }
    if s.sub > 0 || s.psub > 0 {
        flags.push('P');
    }
    if s.blocked {
        flags.push('b');
    }
    if s.multi >= 0 {
        flags.push('x');
    }
    if s.tracking {
        flags.push('t');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (obl, oll) = if s.omem == 0 {
        (0, 0)
    } else {
        (0, (s.omem / 16_384).max(1) as i64)
    };
    ClientInfo {
        id: Some(s.id.to_string()),
        addr: Some(addr),
        fd: Some(s.fd.to_string()),
        name: Some(s.name.to_string()),
        cmd: Some(s.cmd.to_string()),
        age: Some(((at_ms - s.connected_ms).max(0)) / 1000),
        idle: Some(((at_ms - s.last_command_ms).max(0)) / 1000),
        db: Some(s.db.to_string()),
        flags: Some(flags),
        sub: Some(i64::from(s.sub)),
        psub: Some(i64::from(s.psub)),
        multi: Some(i64::from(s.multi)),
        qbuf: Some(i64::from(s.qbuf)),
        qbuf_free: Some(
            if s.qbuf == 0 {
                0
            } else {
                32_768 - i64::from(s.qbuf)
            }
            .max(0),
        ),
        obl: Some(obl),
        oll: Some(oll),
        omem: Some(s.omem as i64),
        events: Some("r".to_string()),
        network: Some("vpc".to_string()),
        peer: Some(peer),
        user: Some(s.user.to_string()),
    }
}
