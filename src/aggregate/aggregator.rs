//! The streaming aggregator: one node's sessions in, a [`NodeAggregate`] out.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use super::bounds::BucketBounds;
use super::histogram::Histogram;
use super::intern::{Interner, fold_counts};
use super::kinds::SessionKind;
use super::labels::{OTHER, OTHER_NAME, UNKNOWN, UNNAMED};
use super::node::{ClientCount, NodeAggregate};
use super::settings::{AggregateSettings, ClientAddrField};
use super::top::TopN;
use crate::session::{ClientInfo, ClientRef, PageSink, strip_port};

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

    fn histogram(settings: &AggregateSettings, bounds: &BucketBounds) -> Histogram {
        Histogram::new(bounds.clone()).with_native(settings.native_histograms)
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

    fn accept(&mut self, client: &ClientRef<'_>) {
        self.observe(client);
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
