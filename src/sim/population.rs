//! The live sessions of one simulated node: generated from a seed with realistic skews, and
//! churned as time passes (sessions come and go, idle time grows, buffers fill and drain).

use std::collections::HashSet;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::session::ClientInfo;

/// How often a session sends commands, which shapes its idle time and lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activity {
    /// Busy pooled connections: idle a second or two.
    Hot,
    /// Occasional use: idle seconds to hours.
    Warm,
    /// Forgotten or leaked connections: idle hours to days.
    Cold,
}

const USERS: [&str; 5] = ["default", "app", "reporting", "admin", "readonly"];
const APPS: [&str; 8] = [
    "orders-api",
    "checkout-worker",
    "session-store",
    "celery",
    "inventory-sync",
    "rate-limiter",
    "reporting-job",
    "notifier",
];
const HOT_COMMANDS: [&str; 10] = [
    "get", "set", "hget", "hset", "mget", "incr", "expire", "evalsha", "zadd", "lpush",
];
const IDLE_COMMANDS: [&str; 5] = ["ping", "select", "auth", "client|setname", "info"];

/// A machine that clients connect from.
#[derive(Clone, Debug)]
pub struct ClientHost {
    pub ip: String,
    /// Relative share of the sessions.
    pub weight: f64,
    pub app: &'static str,
    pub user: &'static str,
}

/// Where a node's sessions come from.
#[derive(Clone, Debug)]
pub struct ClientProfile {
    pub hosts: Vec<ClientHost>,
    /// `None` with IP pass-through; otherwise the internal address `addr` shows.
    pub internal_ip: Option<String>,
}

impl ClientProfile {
    /// `count` hosts with Zipf-like weights: a few machines hold most sessions.
    pub fn generate(rng: &mut StdRng, count: u32, internal_ip: Option<String>) -> Self {
        let subnet: u8 = rng.random_range(0..=200);
        let hosts = (0..count)
            .map(|i| ClientHost {
                ip: format!("10.{}.{}.{}", subnet, (i / 250) as u8, (i % 250) as u8 + 2),
                weight: 1.0 / f64::from(i + 1),
                app: APPS[rng.random_range(0..APPS.len())],
                user: USERS[usize::from(rng.random_bool(0.4))],
            })
            .collect();
        Self { hosts, internal_ip }
    }
}

/// A replication link among the sessions: on a master, a replica's connection (flag `S`); on a
/// replica, its master's (flag `M`). Never idle for long, never closed by a kill-all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Replica,
    Master,
}

/// Ids of replication links, apart from those of clients.
const FIRST_LINK_ID: u64 = 1_000_000_000;

/// One session, compact; rendered as a [`ClientInfo`] when a page is read.
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
    activity: Activity,
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

/// The live sessions of one node.
pub struct Population {
    rng: StdRng,
    profile: Arc<ClientProfile>,
    cumulative_weights: Vec<f64>,
    sessions: Vec<Session>,
    target: u32,
    next_id: u64,
    next_fd: u32,
    next_port: Vec<u16>,
    now_ms: i64,
    /// The instance's `timeout`: idle sessions past it are closed (not pub/sub ones, as Redis
    /// spares them); `None` never.
    idle_timeout_ms: Option<i64>,
    /// Replication links among the sessions.
    links: usize,
    /// Links made since the start, reconnections included: the next link's id.
    links_made: u64,
}

const FIRST_EPHEMERAL_PORT: u16 = 32768;
const SECOND: f64 = 1000.0;
const MINUTE: f64 = 60.0 * SECOND;
const HOUR: f64 = 60.0 * MINUTE;
const DAY: f64 = 24.0 * HOUR;
/// The time an emptied node takes to fill up again.
const RECONNECT_RAMP: f64 = 5.0 * MINUTE;

impl Population {
    /// A node with about `target` sessions at `now_ms`, with a history behind them.
    pub fn new(seed: u64, profile: Arc<ClientProfile>, target: u32, now_ms: i64) -> Self {
        let mut total = 0.0;
        let cumulative_weights = profile
            .hosts
            .iter()
            .map(|h| {
                total += h.weight;
                total
            })
            .collect();
        let mut population = Self {
            rng: StdRng::seed_from_u64(seed),
            next_port: vec![FIRST_EPHEMERAL_PORT; profile.hosts.len()],
            profile,
            cumulative_weights,
            sessions: Vec::with_capacity(target as usize),
            target,
            next_id: 1,
            next_fd: 8,
            now_ms,
            idle_timeout_ms: None,
            links: 0,
            links_made: 0,
        };
        for _ in 0..target {
            let session = population.new_session(now_ms, None);
            population.sessions.push(session);
        }
        population
    }

    /// Closes sessions idle for more than `seconds` from now on, as a node whose `timeout`
    /// parameter is set does (0: never).
    pub fn with_idle_timeout(mut self, seconds: u32) -> Self {
        self.idle_timeout_ms = (seconds > 0).then_some(i64::from(seconds) * 1000);
        self.reap_idle();
        self
    }

    /// Adds the replication link of a replica or master at `ip` (connected since the node
    /// began). Its address is kept as a host no new session comes from.
    pub fn with_link(mut self, ip: &str, link: Link) -> Self {
        let mut profile = (*self.profile).clone();
        profile.hosts.push(ClientHost {
            ip: ip.to_string(),
            weight: 0.0,
            app: "",
            user: "default",
        });
        self.profile = Arc::new(profile);
        self.next_port.push(FIRST_EPHEMERAL_PORT);
        let since = self.now_ms - 30 * DAY as i64;
        self.sessions.push(Session {
            id: FIRST_LINK_ID + self.links_made,
            host: (self.profile.hosts.len() - 1) as u32,
            port: match link {
                Link::Replica => FIRST_EPHEMERAL_PORT + 7,
                Link::Master => 6380,
            },
            fd: 7,
            db: 0,
            user: "default",
            name: "",
            cmd: match link {
                Link::Replica => "replconf",
                Link::Master => "ping",
            },
            activity: Activity::Hot,
            connected_ms: since,
            last_command_ms: self.now_ms,
            sub: 0,
            psub: 0,
            multi: -1,
            blocked: false,
            qbuf: 0,
            omem: 0,
            link: Some(link),
            monitor: false,
            tracking: false,
        });
        self.links += 1;
        self.links_made += 1;
        self
    }

    /// A link that was ended connects again at once: a new session, new id and port.
    fn reconnect(&mut self, index: usize) {
        let s = &mut self.sessions[index];
        s.id = FIRST_LINK_ID + self.links_made;
        s.port = s.port.wrapping_add(1).max(FIRST_EPHEMERAL_PORT);
        s.connected_ms = self.now_ms;
        s.last_command_ms = self.now_ms;
        self.links_made += 1;
    }

    fn reap_idle(&mut self) {
        if let Some(timeout) = self.idle_timeout_ms {
            let now = self.now_ms;
            self.sessions.retain(|s| {
                // As Redis does: subscribers, blocked clients, replicas and monitors are spared.
                s.sub > 0
                    || s.psub > 0
                    || s.blocked
                    || s.monitor
                    || s.link.is_some()
                    || now - s.last_command_ms <= timeout
            });
        }
    }

    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    pub fn profile(&self) -> &ClientProfile {
        &self.profile
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Lets time pass: sessions leave, others arrive, idle times grow, busy sessions run
    /// commands, output buffers fill and drain.
    pub fn advance_to(&mut self, now_ms: i64) {
        let elapsed = (now_ms - self.now_ms) as f64;
        if elapsed <= 0.0 {
            return;
        }
        self.now_ms = now_ms;
        let leave = |activity: Activity| {
            let mean_lifetime = match activity {
                Activity::Hot => 2.0 * HOUR,
                Activity::Warm => 6.0 * HOUR,
                Activity::Cold => 3.0 * DAY,
            };
            1.0 - (-elapsed / mean_lifetime).exp()
        };
        let (p_leave_hot, p_leave_warm, p_leave_cold) = (
            leave(Activity::Hot),
            leave(Activity::Warm),
            leave(Activity::Cold),
        );
        let p_warm_active = 1.0 - (-elapsed / (10.0 * MINUTE)).exp();
        let rng = &mut self.rng;
        self.sessions.retain_mut(|s| {
            // A replication link acknowledges every second; it draws nothing, so the others'
            // random stream is as without it.
            if s.link.is_some() {
                s.last_command_ms = now_ms - now_ms % 1000;
                return true;
            }
            let p_leave = match s.activity {
                Activity::Hot => p_leave_hot,
                Activity::Warm => p_leave_warm,
                Activity::Cold => p_leave_cold,
            };
            if rng.random_bool(p_leave) {
                return false;
            }
            // A blocked consumer keeps waiting: no command, idle time grows. The draws below
            // are made all the same, so the random stream stays as it was.
            let waiting = (s.blocked || s.monitor).then_some((s.last_command_ms, s.cmd));
            match s.activity {
                Activity::Hot => {
                    s.last_command_ms = now_ms - exponential(rng, 1.5 * SECOND) as i64;
                    s.cmd = HOT_COMMANDS[rng.random_range(0..HOT_COMMANDS.len())];
                }
                Activity::Warm if rng.random_bool(p_warm_active) => {
                    let back = rng.random_range(0.0..elapsed.min(MINUTE));
                    s.last_command_ms = now_ms - back as i64;
                }
                _ => {}
            }
            if let Some((last_command_ms, cmd)) = waiting {
                (s.last_command_ms, s.cmd) = (last_command_ms, cmd);
            }
            s.last_command_ms = s.last_command_ms.max(s.connected_ms);
            // Slow consumers: a buffer now and then fills up, and full ones drain.
            if s.omem > 0 && rng.random_bool(0.5) {
                s.omem = 0;
            } else if rng.random_bool(0.002) {
                s.omem = output_memory(rng, s.sub > 0);
            }
            true
        });
        // Arrivals keep the node near its usual load, give or take a few percent; after a mass
        // kill, clients reconnect over minutes rather than at once.
        let wanted = f64::from(self.target) * self.rng.random_range(0.97..1.03);
        let clients = self.sessions.len() - self.links;
        let deficit = (wanted.round() as usize).saturating_sub(clients);
        let reconnect_cap = (f64::from(self.target) * elapsed / RECONNECT_RAMP).floor() as usize;
        let arrivals = deficit.min(reconnect_cap);
        for _ in 0..arrivals {
            let connected = now_ms - self.rng.random_range(0.0..elapsed) as i64;
            let session = self.new_session(now_ms, Some(connected));
            self.sessions.push(session);
        }
        self.reap_idle();
    }

    /// Ends every session; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.sessions.len();
        self.sessions.retain(|s| s.link.is_some());
        for i in 0..self.sessions.len() {
            self.reconnect(i);
        }
        n
    }

    /// Ends the sessions whose `peer` is one of `peers`; returns how many.
    pub fn remove_peers(&mut self, peers: &HashSet<String>) -> usize {
        let before = self.sessions.len();
        let profile = Arc::clone(&self.profile);
        let ended = |s: &Session| peers.contains(&peer_address(&profile, s));
        // A replication link comes back at once.
        let relinked: HashSet<u64> = self
            .sessions
            .iter()
            .filter(|s| s.link.is_some() && ended(s))
            .map(|s| s.id)
            .collect();
        self.sessions.retain(|s| s.link.is_some() || !ended(s));
        for i in 0..self.sessions.len() {
            if relinked.contains(&self.sessions[i].id) {
                self.reconnect(i);
            }
        }
        before - self.sessions.len() + relinked.len()
    }

    fn pick_host(&mut self) -> u32 {
        let total = *self.cumulative_weights.last().unwrap_or(&1.0);
        let x = self.rng.random_range(0.0..total);
        self.cumulative_weights.partition_point(|w| *w <= x) as u32
    }

    /// A new session; `connected_ms` None means one from the node's past.
    fn new_session(&mut self, now_ms: i64, connected_ms: Option<i64>) -> Session {
        let host = self.pick_host().min(self.profile.hosts.len() as u32 - 1);
        let rng = &mut self.rng;
        let port = &mut self.next_port[host as usize];
        let this_port = *port;
        *port = if *port == u16::MAX {
            FIRST_EPHEMERAL_PORT
        } else {
            *port + 1
        };
        let subscriber = rng.random_bool(0.03);
        let activity = if subscriber {
            Activity::Cold
        } else {
            match rng.random_range(0..100) {
                0..55 => Activity::Hot,
                55..90 => Activity::Warm,
                _ => Activity::Cold,
            }
        };
        let idle = match activity {
            Activity::Hot => exponential(rng, 1.5 * SECOND),
            Activity::Warm => log_uniform(rng, 5.0 * SECOND, 2.0 * HOUR),
            Activity::Cold => log_uniform(rng, 2.0 * HOUR, 10.0 * DAY),
        };
        let connected = connected_ms
            .unwrap_or_else(|| now_ms - (idle + log_uniform(rng, SECOND, 30.0 * DAY)) as i64);
        let last_command = (now_ms - idle as i64).max(connected);
        let host_info = &self.profile.hosts[host as usize];
        let (sub, psub, cmd) = if subscriber {
            if rng.random_bool(0.3) {
                (0, rng.random_range(1..=4), "psubscribe")
            } else {
                (rng.random_range(1..=20), 0, "subscribe")
            }
        } else if activity == Activity::Hot {
            (0, 0, HOT_COMMANDS[rng.random_range(0..HOT_COMMANDS.len())])
        } else {
            (
                0,
                0,
                IDLE_COMMANDS[rng.random_range(0..IDLE_COMMANDS.len())],
            )
        };
        let db = if rng.random_bool(0.7) {
            0
        } else {
            // Geometric: db 1 is common, db 15 rare.
            let mut db = 1;
            while db < 15 && rng.random_bool(0.5) {
                db += 1;
            }
            db
        };
        let user = if rng.random_bool(0.85) {
            host_info.user
        } else {
            USERS[rng.random_range(0..USERS.len())]
        };
        let name = if rng.random_bool(0.8) {
            host_info.app
        } else {
            ""
        };
        let session = Session {
            id: self.next_id,
            host,
            port: this_port,
            fd: self.next_fd,
            db,
            user,
            name,
            cmd,
            activity,
            connected_ms: connected,
            last_command_ms: last_command,
            sub,
            psub,
            multi: if rng.random_bool(0.01) {
                rng.random_range(1..=5)
            } else {
                -1
            },
            qbuf: if rng.random_bool(0.1) {
                log_uniform(rng, 26.0, 32768.0) as u32
            } else {
                0
            },
            omem: if rng.random_bool(if subscriber { 0.1 } else { 0.015 }) {
                output_memory(rng, subscriber)
            } else {
                0
            },
            blocked: false,
            link: None,
            monitor: false,
            tracking: false,
        };
        // About one session in 37 is a queue consumer blocked waiting for work (chosen by id,
        // so that the random stream of the other fields stays as it was).
        let mut session = session;
        if !subscriber && session.id % 37 == 5 {
            session.blocked = true;
            session.cmd = if session.id.is_multiple_of(2) {
                "blpop"
            } else {
                "xread"
            };
            session.multi = -1;
        }
        // Now and then someone watches with MONITOR; some clients cache on their side.
        if !subscriber && !session.blocked && session.id % 997 == 7 {
            session.monitor = true;
            session.cmd = "monitor";
            session.multi = -1;
        }
        session.tracking = session.id % 53 == 11;
        self.next_id += 1;
        self.next_fd = if self.next_fd >= 65_000 {
            8
        } else {
            self.next_fd + 1
        };
        session
    }
}

/// A non-zero output buffer: mostly small, now and then many megabytes.
fn output_memory(rng: &mut StdRng, subscriber: bool) -> u64 {
    let large = rng.random_bool(if subscriber { 0.5 } else { 0.3 });
    if large {
        log_uniform(rng, 1024.0 * 1024.0, 64.0 * 1024.0 * 1024.0) as u64
    } else {
        log_uniform(rng, 1024.0, 256.0 * 1024.0) as u64
    }
}

fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random_range(0.0..1.0f64)).ln()
}

fn log_uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    (low.ln() + rng.random_range(0.0..1.0f64) * (high.ln() - low.ln())).exp()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn population(target: u32) -> Population {
        let mut rng = StdRng::seed_from_u64(1);
        let profile = Arc::new(ClientProfile::generate(&mut rng, 6, None));
        Population::new(9, profile, target, 1_800_000_000_000)
    }

    #[test]
    fn a_timeout_closes_idle_sessions_but_not_subscribers_blocked_ones_or_monitors() {
        let idle_past = |p: &Population, seconds: i64| {
            p.sessions()
                .iter()
                .filter(|s| s.sub == 0 && s.psub == 0 && !s.blocked && !s.monitor)
                .filter(|s| p.now_ms - s.last_command_ms > seconds * 1000)
                .count()
        };
        let never = population(3000);
        assert!(idle_past(&never, 3600) > 100, "idle sessions pile up");
        let mut reaped = population(3000).with_idle_timeout(3600);
        assert_eq!(idle_past(&reaped, 3600), 0);
        reaped.advance_to(reaped.now_ms + 2 * 3_600_000);
        assert_eq!(idle_past(&reaped, 3600), 0, "still none after two hours");
        // Blocked consumers wait on, past the timeout, as Redis lets them.
        assert!(
            reaped
                .sessions()
                .iter()
                .any(|s| s.blocked && reaped.now_ms - s.last_command_ms > 3_600_000)
        );
        assert!(
            reaped.len() > 2000,
            "the node keeps its load: {}",
            reaped.len()
        );
    }

    #[test]
    fn replication_links_monitors_and_tracking_in_their_shares() {
        let mut p = population(5000).with_link("192.168.1.11", Link::Replica);
        let at = p.now_ms + 500;
        let infos: Vec<ClientInfo> = p
            .sessions()
            .iter()
            .map(|s| render(p.profile(), s, at))
            .collect();
        let with = |flag: char| {
            infos
                .iter()
                .filter(|c| c.flags.as_deref().unwrap().contains(flag))
                .collect::<Vec<_>>()
        };
        let replicas = with('S');
        assert_eq!(replicas.len(), 1);
        assert!(
            replicas[0]
                .addr
                .as_deref()
                .unwrap()
                .starts_with("192.168.1.11:")
        );
        assert_eq!(replicas[0].cmd.as_deref(), Some("replconf"));
        let monitors = with('O');
        assert!((2..=10).contains(&monitors.len()), "{}", monitors.len());
        assert!(monitors.iter().all(|c| c.cmd.as_deref() == Some("monitor")));
        let tracking = with('t').len();
        assert!((60..=130).contains(&tracking), "{tracking}");
        // A kill-all ends the link, and the replica connects again at once.
        let old = replicas[0].id.clone();
        p.clear();
        assert_eq!(p.sessions().len(), 1);
        let link = render(p.profile(), &p.sessions()[0], at);
        assert_ne!(link.id, old);
        assert_eq!(link.flags.as_deref(), Some("S"));
    }

    #[test]
    fn skewed_and_realistic() {
        let p = population(5000);
        let at = 1_800_000_000_000;
        let infos: Vec<ClientInfo> = p
            .sessions()
            .iter()
            .map(|s| render(p.profile(), s, at))
            .collect();
        let db0 = infos
            .iter()
            .filter(|c| c.db.as_deref() == Some("0"))
            .count();
        assert!((3000..4000).contains(&db0), "db0 {db0}");
        let zero_omem = infos.iter().filter(|c| c.omem == Some(0)).count();
        assert!(zero_omem > 4800, "{zero_omem}");
        assert!(infos.iter().any(|c| c.omem.unwrap() > 1 << 20));
        assert!(infos.iter().any(|c| c.sub.unwrap() > 0));
        let ips: HashSet<_> = infos
            .iter()
            .map(|c| {
                c.addr
                    .as_deref()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(ips.len() <= 6);
        assert!(infos.iter().all(|c| c.age >= c.idle));
        let peers: HashSet<_> = infos.iter().map(|c| c.peer.clone()).collect();
        assert_eq!(peers.len(), infos.len(), "peers are unique");
    }

    #[test]
    fn churn_keeps_the_load_and_ages_sessions() {
        let mut p = population(2000);
        let before: HashSet<u64> = p.sessions().iter().map(|s| s.id).collect();
        p.advance_to(1_800_000_000_000 + 3_600_000);
        let after: HashSet<u64> = p.sessions().iter().map(|s| s.id).collect();
        assert!((1900..=2100).contains(&p.len()), "{}", p.len());
        assert!(before.difference(&after).count() > 50, "some left");
        assert!(after.difference(&before).count() > 50, "some arrived");
        let peer = peer_address(p.profile(), &p.sessions()[0]);
        assert_eq!(p.remove_peers(&HashSet::from([peer])), 1);
        assert!(p.clear() > 0);
        assert!(p.is_empty());
    }
}
