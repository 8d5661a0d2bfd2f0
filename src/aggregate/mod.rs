//! Streaming aggregation of one node's sessions into bounded label sets: page by page, never
//! holding the raw sessions.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::session::{ClientInfo, ClientRef, PageSink, strip_port};

/// The label value of addresses folded together past the `max_client_addrs` largest.
pub use native::NativeBuckets;

pub mod native;

pub const OTHER: &str = "other";
/// The label value of a field a session did not have.
pub const UNKNOWN: &str = "unknown";
/// The client name of sessions without one: parenthesised, so that no application's own name
/// can be taken for it.
pub const UNNAMED: &str = "(unnamed)";
/// The client name of the names past `max_client_names`: parenthesised, unlike `other`, so
/// that no application's own name can be taken for it.
pub const OTHER_NAME: &str = "(other)";

/// What a session is, from its flags: a closed set, a metric label. The first five are
/// exclusive (each session is exactly one of them, so they sum to the node's sessions); the
/// last four are states that overlap them (a blocked normal session counts under `normal`
/// and under `blocked`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionKind {
    /// None of the others: an ordinary client.
    Normal,
    /// Subscribed to channels or patterns (flag `P`, or `sub`/`psub` above 0).
    PubSub,
    /// A replica connected to this node (flag `S`).
    Replica,
    /// This node's master, on a replica (flag `M`).
    Master,
    /// In `MONITOR` (flag `O`).
    Monitor,
    /// Blocked in a command (`BLPOP`, `XREAD BLOCK`, `WAIT`, ...; flag `b`).
    Blocked,
    /// Inside `MULTI` (flag `x`, or `multi` at 0 or more).
    Transaction,
    /// With client-side caching on (flag `t`).
    Tracking,
    /// Connected through a unix socket (flag `U`).
    UnixSocket,
}

impl SessionKind {
    pub const ALL: [SessionKind; 9] = [
        SessionKind::Normal,
        SessionKind::PubSub,
        SessionKind::Replica,
        SessionKind::Master,
        SessionKind::Monitor,
        SessionKind::Blocked,
        SessionKind::Transaction,
        SessionKind::Tracking,
        SessionKind::UnixSocket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Normal => "normal",
            SessionKind::PubSub => "pubsub",
            SessionKind::Replica => "replica",
            SessionKind::Master => "master",
            SessionKind::Monitor => "monitor",
            SessionKind::Blocked => "blocked",
            SessionKind::Transaction => "transaction",
            SessionKind::Tracking => "tracking",
            SessionKind::UnixSocket => "unix_socket",
        }
    }

    /// Whether each session is exactly one of the exclusive kinds.
    pub fn is_exclusive(self) -> bool {
        (self as usize) < 5
    }

    /// The exclusive kind of a session, and the states it is in, by their flags.
    pub fn of(
        flags: &str,
        sub: Option<i64>,
        psub: Option<i64>,
        multi: Option<i64>,
    ) -> (Self, [bool; 4]) {
        let has = |f: char| flags.contains(f);
        let exclusive = if has('S') {
            SessionKind::Replica
        } else if has('M') {
            SessionKind::Master
        } else if has('O') {
            SessionKind::Monitor
        } else if has('P') || sub.unwrap_or(0) > 0 || psub.unwrap_or(0) > 0 {
            SessionKind::PubSub
        } else {
            SessionKind::Normal
        };
        let states = [
            has('b'),
            has('x') || multi.is_some_and(|m| m >= 0),
            has('t'),
            has('U'),
        ];
        (exclusive, states)
    }
}

/// Which session field names the client in `client_addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAddrField {
    /// The address the node sees (internal 198.19.x.x without IP pass-through).
    #[default]
    Addr,
    /// The client's own address.
    Peer,
}

/// Default histogram bounds for idle time and connection age, in seconds: from a second to a
/// week, dense where alerts usually sit (minutes to hours).
pub const DEFAULT_SECONDS_BUCKETS: [f64; 12] = [
    1.0, 5.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 604800.0,
];

/// Default histogram bounds for buffer sizes, in bytes: 0 first, as most buffers are empty,
/// then 1 KiB to 256 MiB (Redis' default hard limit for pub/sub clients is 32 MiB).
pub const DEFAULT_BYTES_BUCKETS: [f64; 10] = [
    0.0,
    1024.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
];

#[derive(Clone, Debug, PartialEq)]
pub struct AggregateSettings {
    pub max_client_addrs: usize,
    /// Client names with a series of their own; the rest fold into [`OTHER_NAME`].
    pub max_client_names: usize,
    /// Last commands with a series of their own; the rest fold into [`OTHER`].
    pub max_client_commands: usize,
    /// Sessions idle longer than this many seconds, and not waiting by design, are counted by
    /// address in [`NodeAggregate::idle_clients`].
    pub idle_threshold_seconds: i64,
    pub top_clients: usize,
    pub client_addr_field: ClientAddrField,
    pub idle_buckets: Arc<[f64]>,
    pub age_buckets: Arc<[f64]>,
    pub bytes_buckets: Arc<[f64]>,
    /// Keep native buckets of every session histogram.
    pub native_histograms: bool,
}

/// A histogram with fixed bounds: per-bucket (not cumulative) counts, the last for `+Inf`; and,
/// when asked for, native buckets of the same values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: Arc<[f64]>,
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    native: Option<NativeBuckets>,
}

impl Histogram {
    pub fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
            bounds,
            sum: 0.0,
            count: 0,
            native: None,
        }
    }

    /// Keeps native buckets too (when `on`).
    pub fn with_native(mut self, on: bool) -> Self {
        self.native = on.then(NativeBuckets::default);
        self
    }

    pub fn observe(&mut self, value: f64) {
        // `le` buckets: the first bound at or above the value.
        let i = self.bounds.partition_point(|b| *b < value);
        self.counts[i] += 1;
        self.sum += value;
        self.count += 1;
        if let Some(native) = &mut self.native {
            native.observe(value);
        }
    }

    /// The native buckets, when kept.
    pub fn native(&self) -> Option<&NativeBuckets> {
        self.native.as_ref()
    }

    /// Readies the native buckets for encoding, once no more values come.
    pub fn seal(&mut self) {
        if let Some(native) = &mut self.native {
            native.seal();
        }
    }

    /// The classic bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The count of each classic bucket (not cumulative), `+Inf`'s last.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// `(upper bound, count in bucket)` pairs, `+Inf` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().copied())
            .collect()
    }
}

/// Sessions with one client address, db and user.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCount {
    /// The address, db and user one after another: one allocation, so that a scrape, which
    /// reads them together for tens of thousands of rows, reaches memory once a row.
    labels: Box<str>,
    addr_end: u32,
    db_end: u32,
    pub sessions: u64,
}

impl ClientCount {
    pub fn new(client_addr: &str, db: &str, user: &str, sessions: u64) -> Self {
        let mut labels = String::with_capacity(client_addr.len() + db.len() + user.len());
        labels.push_str(client_addr);
        labels.push_str(db);
        labels.push_str(user);
        Self {
            labels: labels.into_boxed_str(),
            addr_end: client_addr.len() as u32,
            db_end: (client_addr.len() + db.len()) as u32,
            sessions,
        }
    }

    pub fn client_addr(&self) -> &str {
        &self.labels[..self.addr_end as usize]
    }

    pub fn db(&self) -> &str {
        &self.labels[self.addr_end as usize..self.db_end as usize]
    }

    pub fn user(&self) -> &str {
        &self.labels[self.db_end as usize..]
    }

    fn key(&self) -> (&str, &str, &str, u64) {
        (self.client_addr(), self.db(), self.user(), self.sessions)
    }
}

/// By address, db, user, then sessions.
impl Ord for ClientCount {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for ClientCount {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for ClientCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCount")
            .field("client_addr", &self.client_addr())
            .field("db", &self.db())
            .field("user", &self.user())
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// One of a node's worst sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopClient {
    /// The session's id: the last tie-break, as addresses may repeat (unix sockets).
    pub id: String,
    /// `ip:port` of the configured address field.
    pub client_addr: String,
    pub client_name: String,
    pub user: String,
    pub db: String,
    pub cmd: String,
    pub value: i64,
}

/// Everything the metrics need from one scan of one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeAggregate {
    pub sessions: u64,
    /// Sorted by address, db, user; `other` holds the addresses past `max_client_addrs`.
    pub clients: Vec<ClientCount>,
    pub idle: Histogram,
    /// Idle time of the sessions that wait by design (blocked in a command, or subscribed):
    /// their idleness is no leak.
    pub idle_waiting: Histogram,
    pub age: Histogram,
    pub output_memory: Histogram,
    pub query_buffer: Histogram,
    pub output_memory_max: u64,
    pub channel_subscriptions: u64,
    pub pattern_subscriptions: u64,
    /// Most idle first.
    pub top_idle: Vec<TopClient>,
    /// Largest output buffer first; only sessions with one.
    pub top_output_memory: Vec<TopClient>,
    /// Sessions by client name, most first: the `max_client_names` names, then
    /// [`OTHER_NAME`]; sessions without a name under [`UNNAMED`].
    pub by_name: Vec<(String, u64)>,
    /// Sessions by last command, most first: the `max_client_commands` commands, then `other`.
    pub by_command: Vec<(String, u64)>,
    /// Sessions of each kind, in [`SessionKind::ALL`] order.
    pub by_kind: [u64; 9],
    /// Sessions idle past the threshold and not waiting by design, by client address (folded
    /// as in `clients`), addresses that have some only, sorted by address.
    pub idle_clients: Vec<(String, u64)>,
}

/// `counts` by interned string, most first (ties by text): the first `keep`, then the rest
/// summed under `folded` when there is any.
fn fold_counts(
    interner: &Interner,
    counts: &[u64],
    keep: usize,
    folded: &str,
) -> Vec<(String, u64)> {
    let mut ranked: Vec<(&str, u64)> = interner
        .names
        .iter()
        .map(String::as_str)
        .zip(counts.iter().copied())
        .filter(|(_, n)| *n > 0)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let rest: u64 = ranked.iter().skip(keep).map(|(_, n)| n).sum();
    let mut out: Vec<(String, u64)> = ranked
        .into_iter()
        .take(keep)
        .map(|(name, n)| (name.to_string(), n))
        .collect();
    if rest > 0 {
        // A kept name equal to the fold's (a command literally called "other") joins it.
        match out.iter_mut().find(|(name, _)| name == folded) {
            Some(entry) => entry.1 += rest,
            None => out.push((folded.to_string(), rest)),
        }
    }
    out
}

/// Strings seen often (dbs, users, addresses) stored once and counted by number. The keys are
/// short and come from the node itself, so a fast non-keyed hash serves.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(s.to_string(), id);
        self.names.push(s.to_string());
        id
    }
}

/// A top-N candidate ordered so the heap's top is the first to go: the smallest value, and
/// among equal values the largest address (so the result does not depend on page order).
#[derive(PartialEq, Eq)]
struct Ranked(TopClient);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .value
            .cmp(&self.0.value)
            .then_with(|| self.0.client_addr.cmp(&other.0.client_addr))
            .then_with(|| self.0.id.cmp(&other.0.id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The N largest by value, kept while streaming.
struct TopN {
    limit: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopN {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// Whether a candidate beats the worst kept one, by the same order as [`Ranked`], without
    /// building it.
    fn would_keep(&self, value: i64, addr: &str, id: &str) -> bool {
        if self.limit == 0 {
            return false;
        }
        match self.heap.peek() {
            _ if self.heap.len() < self.limit => true,
            Some(Ranked(worst)) => {
                (value, std::cmp::Reverse(addr), std::cmp::Reverse(id))
                    > (
                        worst.value,
                        std::cmp::Reverse(worst.client_addr.as_str()),
                        std::cmp::Reverse(worst.id.as_str()),
                    )
            }
            None => true,
        }
    }

    fn offer(&mut self, client: &ClientRef<'_>, addr: &str, value: i64) {
        if !self.would_keep(value, addr, client.id.as_deref().unwrap_or_default()) {
            return;
        }
        let text =
            |v: &Option<Cow<'_, str>>, absent: &str| v.as_deref().unwrap_or(absent).to_string();
        self.heap.push(Ranked(TopClient {
            id: text(&client.id, ""),
            client_addr: addr.to_string(),
            client_name: text(&client.name, ""),
            user: text(&client.user, UNKNOWN),
            db: text(&client.db, UNKNOWN),
            cmd: text(&client.cmd, ""),
            value,
        }));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<TopClient> {
        // Ranked orders best last: ascending order of Ranked is best first.
        let mut v: Vec<Ranked> = self.heap.into_vec();
        v.sort();
        // Sessions that would show the same labels (several unix-socket clients, say) are one
        // series: the largest value stands for them.
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .map(|r| r.0)
            .filter(|c| {
                seen.insert((
                    c.client_addr.clone(),
                    c.client_name.clone(),
                    c.user.clone(),
                    c.db.clone(),
                    c.cmd.clone(),
                ))
            })
            .collect()
    }
}

/// Takes a node's session pages one at a time and keeps only aggregates.
pub struct Aggregator {
    settings: Arc<AggregateSettings>,
    addrs: Interner,
    dbs: Interner,
    users: Interner,
    counts: HashMap<(u32, u32, u32), u64>,
    sessions: u64,
    idle: Histogram,
    idle_waiting: Histogram,
    age: Histogram,
    output_memory: Histogram,
    query_buffer: Histogram,
    output_memory_max: u64,
    channel_subscriptions: u64,
    pattern_subscriptions: u64,
    top_idle: TopN,
    top_output_memory: TopN,
    names: Interner,
    name_counts: Vec<u64>,
    commands: Interner,
    command_counts: Vec<u64>,
    kinds: [u64; 9],
    /// Idle sessions (past the threshold, not waiting) by interned address.
    idle_by_addr: HashMap<u32, u64>,
}

impl Aggregator {
    pub fn new(settings: Arc<AggregateSettings>) -> Self {
        Self {
            idle: Self::histogram(&settings, &settings.idle_buckets),
            idle_waiting: Self::histogram(&settings, &settings.idle_buckets),
            age: Self::histogram(&settings, &settings.age_buckets),
            output_memory: Self::histogram(&settings, &settings.bytes_buckets),
            query_buffer: Self::histogram(&settings, &settings.bytes_buckets),
            top_idle: TopN::new(settings.top_clients),
            top_output_memory: TopN::new(settings.top_clients),
            settings,
            addrs: Interner::default(),
            dbs: Interner::default(),
            users: Interner::default(),
            counts: HashMap::default(),
            sessions: 0,
            output_memory_max: 0,
            channel_subscriptions: 0,
            pattern_subscriptions: 0,
            names: Interner::default(),
            name_counts: Vec::new(),
            commands: Interner::default(),
            command_counts: Vec::new(),
            kinds: [0; 9],
            idle_by_addr: HashMap::default(),
        }
    }

    fn histogram(settings: &AggregateSettings, bounds: &Arc<[f64]>) -> Histogram {
        Histogram::new(Arc::clone(bounds)).with_native(settings.native_histograms)
    }

    fn count(interner: &mut Interner, counts: &mut Vec<u64>, key: &str) {
        let id = interner.id(key) as usize;
        if id == counts.len() {
            counts.push(0);
        }
        counts[id] += 1;
    }

    pub fn observe(&mut self, c: &ClientRef<'_>) {
        self.sessions += 1;
        let full_addr = match self.settings.client_addr_field {
            ClientAddrField::Addr => c.addr.as_deref(),
            ClientAddrField::Peer => c.peer.as_deref(),
        }
        .filter(|a| !a.is_empty())
        .unwrap_or(UNKNOWN);
        let addr = self.addrs.id(strip_port(full_addr));
        let key = (
            addr,
            self.dbs.id(c.db.as_deref().unwrap_or(UNKNOWN)),
            self.users.id(c.user.as_deref().unwrap_or(UNKNOWN)),
        );
        *self.counts.entry(key).or_insert(0) += 1;
        if let Some(idle) = c.idle {
            self.idle.observe(idle as f64);
            self.top_idle.offer(c, full_addr, idle);
        }
        if let Some(age) = c.age {
            self.age.observe(age as f64);
        }
        if let Some(omem) = c.omem {
            self.output_memory.observe(omem as f64);
            let omem_bytes = omem.max(0) as u64;
            self.output_memory_max = self.output_memory_max.max(omem_bytes);
            if omem > 0 {
                self.top_output_memory.offer(c, full_addr, omem);
            }
        }
        if let Some(qbuf) = c.qbuf {
            self.query_buffer.observe(qbuf as f64);
        }
        self.channel_subscriptions += c.sub.unwrap_or(0).max(0) as u64;
        self.pattern_subscriptions += c.psub.unwrap_or(0).max(0) as u64;
        let name = c
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(UNNAMED);
        Self::count(&mut self.names, &mut self.name_counts, name);
        let cmd = c
            .cmd
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(UNKNOWN);
        Self::count(&mut self.commands, &mut self.command_counts, cmd);
        let (kind, states) =
            SessionKind::of(c.flags.as_deref().unwrap_or(""), c.sub, c.psub, c.multi);
        self.kinds[kind as usize] += 1;
        for (i, on) in states.into_iter().enumerate() {
            self.kinds[5 + i] += u64::from(on);
        }
        let waiting = kind == SessionKind::PubSub || states[0];
        match (waiting, c.idle) {
            (true, Some(idle)) => self.idle_waiting.observe(idle as f64),
            (false, Some(idle)) if idle > self.settings.idle_threshold_seconds => {
                *self.idle_by_addr.entry(addr).or_insert(0) += 1;
            }
            _ => {}
        }
    }

    /// The node's aggregate, for the snapshot.
    pub fn finish(self) -> NodeAggregate {
        // Copied whole before it is published: the parts made while pages were read lie
        // among those pages' memory, and every encoding of `/metrics` reads every node's
        // parts; copied in one go, a node's parts mostly lie together, and an encoding of
        // 1,000 nodes reads memory less (the ingest bench's encodings: about 15% faster).
        self.assemble().clone()
    }

    fn assemble(mut self) -> NodeAggregate {
        for h in [
            &mut self.idle,
            &mut self.idle_waiting,
            &mut self.age,
            &mut self.output_memory,
            &mut self.query_buffer,
        ] {
            h.seal();
        }
        // Sessions per address decide which addresses keep a label of their own.
        let mut per_addr: HashMap<u32, u64> = HashMap::default();
        for (&(addr, _, _), &n) in &self.counts {
            *per_addr.entry(addr).or_insert(0) += n;
        }
        let mut ranked: Vec<(u32, u64)> = per_addr.into_iter().collect();
        let names = &self.addrs.names;
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| names[a.0 as usize].cmp(&names[b.0 as usize]))
        });
        let kept: std::collections::HashSet<u32> = ranked
            .iter()
            .take(self.settings.max_client_addrs)
            .map(|(addr, _)| *addr)
            .collect();
        let mut folded: HashMap<(&str, u32, u32), u64> = HashMap::default();
        for (&(addr, db, user), &n) in &self.counts {
            let label = if kept.contains(&addr) {
                names[addr as usize].as_str()
            } else {
                OTHER
            };
            *folded.entry((label, db, user)).or_insert(0) += n;
        }
        let mut rows: Vec<(&str, &str, &str, u64)> = folded
            .into_iter()
            .map(|((addr, db, user), sessions)| {
                let (db, user) = (
                    &self.dbs.names[db as usize],
                    &self.users.names[user as usize],
                );
                (addr, db.as_str(), user.as_str(), sessions)
            })
            .collect();
        // Sorted before the rows are made, so that they are allocated in the order scrapes
        // read them.
        rows.sort_unstable();
        let clients: Vec<ClientCount> = rows
            .into_iter()
            .map(|(addr, db, user, sessions)| ClientCount::new(addr, db, user, sessions))
            .collect();
        let mut idle_folded: BTreeMap<&str, u64> = BTreeMap::new();
        for (&addr, &n) in &self.idle_by_addr {
            let label = if kept.contains(&addr) {
                names[addr as usize].as_str()
            } else {
                OTHER
            };
            *idle_folded.entry(label).or_insert(0) += n;
        }
        let idle_clients = idle_folded
            .into_iter()
            .map(|(addr, n)| (addr.to_string(), n))
            .collect();
        NodeAggregate {
            idle_clients,
            sessions: self.sessions,
            clients,
            idle: self.idle,
            idle_waiting: self.idle_waiting,
            age: self.age,
            output_memory: self.output_memory,
            query_buffer: self.query_buffer,
            output_memory_max: self.output_memory_max,
            channel_subscriptions: self.channel_subscriptions,
            pattern_subscriptions: self.pattern_subscriptions,
            top_idle: self.top_idle.into_sorted(),
            top_output_memory: self.top_output_memory.into_sorted(),
            by_name: fold_counts(
                &self.names,
                &self.name_counts,
                self.settings.max_client_names,
                OTHER_NAME,
            ),
            by_command: fold_counts(
                &self.commands,
                &self.command_counts,
                self.settings.max_client_commands,
                OTHER,
            ),
            by_kind: self.kinds,
        }
    }
}

impl PageSink for Aggregator {
    fn restart(&mut self) {
        *self = Aggregator::new(Arc::clone(&self.settings));
    }

    fn accept(&mut self, client: ClientRef<'_>) {
        self.observe(&client);
    }
}

/// Aggregates sessions held in memory (tests, the direct path of small lists).
pub fn aggregate(settings: Arc<AggregateSettings>, clients: &[ClientInfo]) -> NodeAggregate {
    let mut a = Aggregator::new(settings);
    for c in clients {
        a.observe(&c.view());
    }
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_client_addrs: usize, top_clients: usize) -> Arc<AggregateSettings> {
        Arc::new(AggregateSettings {
            max_client_addrs,
            max_client_names: 20,
            max_client_commands: 20,
            idle_threshold_seconds: 3600,
            native_histograms: false,
            top_clients,
            client_addr_field: ClientAddrField::Addr,
            idle_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
            age_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
            bytes_buckets: DEFAULT_BYTES_BUCKETS.to_vec().into(),
        })
    }

    fn session(addr: &str, db: &str, idle: i64, omem: i64) -> ClientInfo {
        ClientInfo {
            addr: Some(addr.into()),
            db: Some(db.into()),
            user: Some("default".into()),
            idle: Some(idle),
            age: Some(idle + 10),
            omem: Some(omem),
            qbuf: Some(0),
            sub: Some(1),
            psub: Some(0),
            name: Some("app".into()),
            cmd: Some("get".into()),
            ..Default::default()
        }
    }

    #[test]
    fn counts_fold_and_tops() {
        let sessions = vec![
            session("10.0.0.1:1", "0", 5, 0),
            session("10.0.0.1:2", "0", 700, 2048),
            session("10.0.0.1:3", "1", 3, 0),
            session("10.0.0.2:1", "0", 90_000, 0),
            session("10.0.0.2:2", "0", 1, 5_000_000),
            session("10.0.0.3:1", "0", 0, 0),
        ];
        let a = aggregate(settings(1, 2), &sessions);
        assert_eq!(a.sessions, 6);
        let counts: Vec<(&str, &str, u64)> = a
            .clients
            .iter()
            .map(|c| (c.client_addr(), c.db(), c.sessions))
            .collect();
        assert_eq!(
            counts,
            [
                ("10.0.0.1", "0", 2),
                ("10.0.0.1", "1", 1),
                ("other", "0", 3)
            ]
        );
        assert_eq!(a.idle.count, 6);
        assert_eq!(a.idle.buckets()[0], (1.0, 2), "idle 0 and 1 are <= 1");
        assert_eq!(
            a.output_memory.buckets()[0],
            (0.0, 4),
            "le=0 holds empty buffers"
        );
        assert_eq!(a.output_memory_max, 5_000_000);
        assert_eq!(a.channel_subscriptions, 6);
        let idle: Vec<i64> = a.top_idle.iter().map(|t| t.value).collect();
        assert_eq!(idle, [90_000, 700]);
        assert_eq!(a.top_idle[0].client_addr, "10.0.0.2:1");
        let omem: Vec<i64> = a.top_output_memory.iter().map(|t| t.value).collect();
        assert_eq!(omem, [5_000_000, 2048]);
        // Page order does not change the result.
        let mut reversed = sessions.clone();
        reversed.reverse();
        assert_eq!(aggregate(settings(1, 2), &reversed), a);
        // top_clients = 0 turns the top lists off.
        assert!(aggregate(settings(50, 0), &sessions).top_idle.is_empty());
    }

    #[test]
    fn top_lists_never_repeat_a_label_set() {
        let socket = |id: &str, idle: i64| ClientInfo {
            id: Some(id.into()),
            ..session("/var/run/redis.sock:0", "0", idle, 0)
        };
        let sessions = vec![
            socket("1", 50),
            socket("2", 90),
            socket("3", 70),
            session("10.0.0.1:1", "0", 60, 0),
        ];
        let a = aggregate(settings(50, 3), &sessions);
        let tops: Vec<(&str, i64)> = a
            .top_idle
            .iter()
            .map(|t| (t.client_addr.as_str(), t.value))
            .collect();
        assert_eq!(tops, [("/var/run/redis.sock:0", 90), ("10.0.0.1:1", 60)]);
    }

    #[test]
    fn restart_forgets() {
        let mut a = Aggregator::new(settings(50, 5));
        a.accept(session("10.0.0.1:1", "0", 5, 0).view());
        a.restart();
        a.accept(session("10.0.0.9:1", "2", 5, 0).view());
        let r = a.finish();
        assert_eq!(r.sessions, 1);
        assert_eq!(r.clients[0].client_addr(), "10.0.0.9");
    }
}
