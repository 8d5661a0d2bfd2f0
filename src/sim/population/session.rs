//! One session, compact: the fields `CLIENT LIST` shows are derived from it when a page is
//! read. And the roles a session can have: replication link, blocked consumer, monitor.

/// How often a session sends commands, which shapes its idle time and lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Activity {
    /// Busy pooled connections: idle a second or two.
    Hot,
    /// Occasional use: idle seconds to hours.
    Warm,
    /// Forgotten or leaked connections: idle hours to days.
    Cold,
}

/// A replication link among the sessions: on a master, a replica's connection (flag `S`); on a
/// replica, its master's (flag `M`). Never idle for long, never closed by a kill-all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Replica,
    Master,
}

/// Ids of replication links, apart from those of clients.
pub(super) const FIRST_LINK_ID: u64 = 1_000_000_000;

/// One session, compact; rendered as a [`ClientInfo`](crate::session::ClientInfo) when a page
/// is read.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: u64,
    pub host: u32,
    pub port: u16,
    pub fd: u32,
    pub db: u8,
    pub user: &'static str,
    pub name: &'static str,
    pub cmd: &'static str,
    pub(super) activity: Activity,
    /// Milliseconds since the epoch.
    pub connected_ms: i64,
    pub last_command_ms: i64,
    pub sub: u16,
    pub psub: u16,
    pub multi: i16,
    /// Waiting in `BLPOP` or `XREAD BLOCK` for work: idle by design.
    pub blocked: bool,
    pub qbuf: u32,
    pub omem: u64,
    pub link: Option<Link>,
    /// A `MONITOR` session (flag `O`).
    pub monitor: bool,
    /// Client-side caching on (flag `t`).
    pub tracking: bool,
}

impl Session {
    /// Gives a new client session its role by its id rather than by a draw, so that the random
    /// stream of the other fields stays as it was.
    pub(super) fn take_role_by_id(&mut self, subscriber: bool) {
        // About one session in 37 is a queue consumer blocked waiting for work.
        if !subscriber && self.id % 37 == 5 {
            self.blocked = true;
            self.cmd = if self.id.is_multiple_of(2) {
                "blpop"
            } else {
                "xread"
            };
            self.multi = -1;
        }
        // Now and then someone watches with MONITOR; some clients cache on their side.
        if !subscriber && !self.blocked && self.id % 997 == 7 {
            self.monitor = true;
            self.cmd = "monitor";
            self.multi = -1;
        }
        self.tracking = self.id % 53 == 11;
    }
}
