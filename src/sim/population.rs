//! The live sessions of one simulated node: generated from a seed with realistic skews, and
//! churned as time passes (sessions come and go, idle time grows, buffers fill and drain).
//!
//! The files beside this one hold the parts: the client machines (`profile`), a session and its
//! roles (`session`), the random draws of its fields (`draws`), how the session list shows it
//! (`listing`). An instance's keys, which DCS's analyses read, are generated beside them (`keys`,
//! `key_names`).

mod draws;
mod key_names;
mod keys;
mod listing;
mod profile;
mod session;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use draws::{DAY, HOT_COMMANDS, HOUR, MINUTE, SECOND, exponential, log_uniform, output_memory};
use session::{Activity, FIRST_LINK_ID};

pub use keys::{
    BIG_COLLECTIONS_KEPT, BIG_STRINGS_KEPT, Family, FoundKey, HOT_KEPT, KeyType, Keyspace,
    KeyspaceReport, KeyspaceShape,
};
pub use listing::{peer_address, render};
pub use profile::{ClientHost, ClientProfile};
pub use session::{Link, Session};

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
        let port = self.take_port(host);
        let rng = &mut self.rng;
        // The draws in the order they have always been made: a seed gives the same sessions.
        let subscriber = rng.random_bool(0.03);
        let activity = draws::activity(rng, subscriber);
        let idle = draws::idle(rng, activity);
        let connected = connected_ms
            .unwrap_or_else(|| now_ms - (idle + log_uniform(rng, SECOND, 30.0 * DAY)) as i64);
        let last_command = (now_ms - idle as i64).max(connected);
        let host_info = &self.profile.hosts[host as usize];
        let (sub, psub, cmd) = draws::subscriptions(rng, subscriber, activity);
        let db = draws::db(rng);
        let (user, name) = draws::user_and_name(rng, host_info);
        let mut session = Session {
            id: self.next_id,
            host,
            port,
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
            multi: draws::multi(rng),
            qbuf: draws::qbuf(rng),
            omem: draws::omem(rng, subscriber),
            blocked: false,
            link: None,
            monitor: false,
            tracking: false,
        };
        session.take_role_by_id(subscriber);
        self.next_id += 1;
        self.next_fd = if self.next_fd >= 65_000 {
            8
        } else {
            self.next_fd + 1
        };
        session
    }

    /// The next ephemeral port of a host, wrapping around as a kernel's do.
    fn take_port(&mut self, host: u32) -> u16 {
        let port = &mut self.next_port[host as usize];
        let this_port = *port;
        *port = if *port == u16::MAX {
            FIRST_EPHEMERAL_PORT
        } else {
            *port + 1
        };
        this_port
    }
}
