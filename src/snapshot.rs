//! The latest known state of every target, swapped atomically: scans write a new snapshot,
//! scrapes read the current one without waiting for any scan.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use crate::aggregate::NodeAggregate;
use crate::cloud::Operation;
use crate::cloud::dbss::JobBean;
pub use crate::failure::{Failure, Reason, Stage};

/// A read of an instance's context (its details, limits or slow log) that can fail without
/// failing a scan; the `operation` label of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextRead {
    /// A DCS API call (`show_instance`, `list_configurations`, `list_slowlog`).
    Api(Operation),
    /// `CONFIG GET` of a Redis target.
    ConfigGet,
    /// `SLOWLOG GET` of a Redis target.
    SlowlogGet,
    /// A command of a Redis target's key walk.
    KeyScan(crate::redis::keys::KeyCommand),
}

impl ContextRead {
    pub fn as_str(self) -> &'static str {
        match self {
            ContextRead::Api(operation) => operation.as_str(),
            ContextRead::ConfigGet => "config_get",
            ContextRead::SlowlogGet => "slowlog_get",
            ContextRead::KeyScan(command) => command.as_str(),
        }
    }
}

/// By name, so that the exposition lists them in the order of their label values.
impl Ord for ContextRead {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for ContextRead {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A node, as the metrics name it. Shared strings: every update of the snapshot copies its map
/// of nodes, and a copy should not allocate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    pub instance_id: Arc<str>,
    pub node_id: Arc<str>,
}

/// Where a node comes from: typed, so that no name a user gives can pass for another source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `[[cloud]]`, by name.
    Cloud(String),
    /// A direct target (`[[redis]]`): one node, scanned as configured.
    Direct,
}

impl Default for Source {
    fn default() -> Self {
        Source::Cloud(String::new())
    }
}

impl Source {
    /// The cloud's name, for nodes of a cloud.
    pub fn cloud(&self) -> Option<&str> {
        match self {
            Source::Cloud(name) => Some(name),
            Source::Direct => None,
        }
    }
}

/// What is known of a node besides its sessions (labels of `dcs_node_info`, and its limits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub source: Source,
    pub instance_name: String,
    pub node_name: String,
    pub node_role: String,
    pub node_ip: String,
    pub az: String,
    /// The node's Cloud Eye dimension value (`dcs_cluster_redis_node` or
    /// `dcs_cluster_proxy_node`), for joins with Cloud Eye's metrics.
    pub cloud_eye_id: String,
    /// The most sessions the node accepts (`maxclients`), when known.
    pub max_clients: Option<u64>,
    /// Seconds after which idle sessions are closed (`timeout`; 0: never), when known.
    pub idle_timeout: Option<u64>,
}

/// What is known of an instance (the labels of `dcs_instance_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceContext {
    pub cloud: String,
    pub instance_name: String,
    pub engine_version: String,
    pub spec_code: String,
    /// `single`, `ha`, `cluster`, `proxy` or `rw_split`, from the spec code.
    pub architecture: String,
    pub enterprise_project_id: String,
    pub client_ip_pass_through: Option<bool>,
    /// The tags the cloud's `export_tags` lists, by label name (`tag_<key>`), in that order.
    pub tags: Vec<(String, String)>,
    /// Its slow log is read: the cloud's `slow_log` is on, the details do not say it keeps
    /// none, and the service has not refused the read as unsupported.
    pub slow_log: bool,
    /// What the details' `support_slow_log_flag` says, when it says something readable.
    pub slow_log_flag: Option<bool>,
    /// Its `maxmemory-policy` parameter, cleaned; `None` until read (or when the parameters
    /// lack it).
    pub maxmemory_policy: Option<String>,
}

/// How one scan attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub finished: SystemTime,
    pub duration: Duration,
    pub failure: Option<Failure>,
}

/// A node's data from its last successful scan.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeData {
    pub aggregate: NodeAggregate,
    /// The stored list's `time`.
    pub data_time: Option<SystemTime>,
    pub scanned: SystemTime,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeState {
    pub info: NodeInfo,
    pub last_attempt: Option<Attempt>,
    pub data: Option<Arc<NodeData>>,
    /// Failures since start, by stage and reason.
    pub errors: BTreeMap<(Stage, Reason), u64>,
    /// Scans skipped because the one before was still running (waiting for its turn or
    /// scanning) at their tick.
    pub skipped: u64,
    /// The last scan's cycle: from its tick to its end, the wait for a turn included.
    pub last_cycle: Option<Duration>,
}

impl NodeState {
    /// The data, unless older than `stale_after`.
    pub fn fresh_data(&self, now: SystemTime, stale_after: Duration) -> Option<&NodeData> {
        self.data
            .as_deref()
            .filter(|d| now.duration_since(d.scanned).unwrap_or_default() <= stale_after)
    }
}

/// Poll outcome of a DBSS resource.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbssState {
    pub cloud: String,
    pub last_attempt: Option<Attempt>,
    /// Records of the last successful poll.
    pub jobs: Vec<JobBean>,
    pub polled: Option<SystemTime>,
    /// Failed jobs seen since start, each counted once.
    pub seen_failures: HashSet<String>,
    pub failures: BTreeMap<(String, String), u64>,
    pub errors: BTreeMap<Reason, u64>,
}

impl DbssState {
    /// Takes a poll's records: failed jobs not seen before are counted.
    pub fn record_jobs(&mut self, jobs: Vec<JobBean>, at: SystemTime) {
        for job in &jobs {
            if job.status != crate::cloud::dcs::JobStatus::Fail {
                continue;
            }
            let Some(id) = job.job_id.as_ref() else {
                continue;
            };
            if self.seen_failures.insert(id.clone()) {
                let text = |v: &Option<String>| {
                    v.clone()
                        .unwrap_or_else(|| crate::aggregate::UNKNOWN.into())
                };
                // The service chooses both: each keeps a bounded set of values apart.
                let job_type = self.bounded(text(&job.job_type), |(t, _)| t);
                let error_code = self.bounded(text(&job.error_code), |(_, c)| c);
                *self.failures.entry((job_type, error_code)).or_insert(0) += 1;
            }
        }
        self.jobs = jobs;
        self.polled = Some(at);
    }

    /// `value`, or `other` when it is new and the failures already keep
    /// [`crate::reason::MAX_CODES_PER_TARGET`] values of its label apart.
    fn bounded(&self, value: String, label: fn(&(String, String)) -> &String) -> String {
        let seen: HashSet<&String> = self.failures.keys().map(label).collect();
        if seen.contains(&value) || seen.len() < crate::reason::MAX_CODES_PER_TARGET {
            value
        } else {
            crate::reason::Reason::Other.to_string()
        }
    }
}

/// Every map that grows with the fleet (nodes, instances, resources) is persistent
/// (`imbl::OrdMap`): every update copies the snapshot, and a scan's copy must not cost the
/// whole fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub nodes: imbl::OrdMap<NodeKey, Arc<NodeState>>,
    /// By resource id.
    pub dbss: imbl::OrdMap<String, Arc<DbssState>>,
    /// Clouds the scheduler looks up targets of.
    pub expected: BTreeSet<String>,
    /// Clouds whose targets have been looked up successfully at least once.
    pub discovered: BTreeSet<String>,
    /// Each cloud's last look-up: `None` when it succeeded, else why it failed.
    pub last_discovery: BTreeMap<String, Option<String>>,
    /// Each cloud's service clock minus the local clock, in seconds.
    pub clock_offsets: BTreeMap<String, f64>,
    /// Failed look-ups of instances and nodes, by cloud and reason.
    pub discovery_errors: BTreeMap<(String, String), u64>,
    /// Instances of the clouds, by id, from their details.
    pub instances: imbl::OrdMap<String, InstanceContext>,
    /// The scan interval in force.
    pub scan_interval: Option<Duration>,
    /// Sessions idle longer than this (and not waiting by design) count as idle sessions.
    pub idle_session_threshold: Option<Duration>,
    /// Failed reads of instance details, parameters and limits, by instance, operation and
    /// reason: they never fail a scan.
    pub context_errors: imbl::OrdMap<(String, ContextRead, String), u64>,
    /// Instances whose slow-log read the service refused as unsupported, with what their
    /// details' flag said then: their slow log is not read until the flag says otherwise.
    pub slow_log_refused: imbl::OrdMap<String, Option<bool>>,
    /// Slow commands since start, by instance id (DCS instances with a slow log, and direct
    /// targets).
    pub slow_commands: imbl::OrdMap<String, Arc<crate::slowlog::SlowCommands>>,
    /// What DCS's analyses say of each instance's keys, by instance id.
    pub keys: imbl::OrdMap<String, Arc<crate::keys::InstanceKeys>>,
    /// Each running instance's memory and keys, by instance id, from its cloud's statistics.
    pub instance_memory: imbl::OrdMap<String, crate::keys::InstanceMemory>,
    /// What `/metrics` shows, from the configuration in force.
    pub exposition: Arc<crate::config::ExpositionSettings>,
    /// Each cloud's schedule and what its last look-up found, by name: its API budget.
    pub api_plans: imbl::OrdMap<String, crate::capacity::CloudPlan>,
}

impl Snapshot {
    /// Whether a node's source is one the scheduler runs now: a node left by an earlier
    /// configuration does not keep another cloud from scanning it.
    pub fn expected_source(&self, source: &Source) -> bool {
        match source {
            Source::Cloud(name) => self.expected.contains(name),
            Source::Direct => true,
        }
    }

    /// The API calls a scan interval of `cloud` costs: its plan, with the nodes this replica
    /// scans now and the pages of their last lists (one for a node not scanned yet).
    pub fn api_budget(&self, cloud: &str) -> Option<crate::capacity::Budget> {
        let plan = self.api_plans.get(cloud)?;
        let mut fleet = plan.fleet.clone();
        let page_size = plan.schedule.page_size;
        for node in self.nodes.values() {
            if node.info.source.cloud() == Some(cloud) {
                let sessions = node.data.as_ref().map(|d| d.aggregate.sessions);
                fleet.add_node(sessions, page_size);
            }
        }
        Some(crate::capacity::budget(&plan.schedule, &fleet))
    }

    /// Why the exporter is not ready yet, one line a reason; empty when ready.
    pub fn not_ready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        for cloud in self.expected.difference(&self.discovered) {
            match self.last_discovery.get(cloud).and_then(Option::as_deref) {
                Some(failure) => reasons.push(format!(
                    "cloud {cloud}: its targets could not be looked up yet: {failure}"
                )),
                None => reasons.push(format!("cloud {cloud}: looking up its targets")),
            }
        }
        let pending = self
            .nodes
            .values()
            .filter(|n| n.last_attempt.is_none())
            .count()
            + self
                .dbss
                .values()
                .filter(|d| d.last_attempt.is_none())
                .count();
        if pending > 0 {
            reasons.push(format!("{pending} target(s) not scanned yet"));
        }
        reasons
    }
}

/// Keeps the entries `keep` says yes to: the persistent maps have no `retain`. For look-ups and
/// reloads, which drop targets; scans never call it.
pub fn retain<K: Ord + Clone, V: Clone>(
    map: &mut imbl::OrdMap<K, V>,
    mut keep: impl FnMut(&K, &V) -> bool,
) {
    let gone: Vec<K> = map
        .iter()
        .filter(|(k, v)| !keep(k, v))
        .map(|(k, _)| k.clone())
        .collect();
    for key in gone {
        map.remove(&key);
    }
}

/// The current snapshot; writers copy and swap it, readers take an `Arc`.
#[derive(Debug, Default)]
pub struct Store {
    current: Mutex<Arc<Snapshot>>,
    /// Serialises writers, so no update is lost between copy and swap.
    write: Mutex<()>,
    /// Counts updates, so readers can tell whether anything changed.
    generation: std::sync::atomic::AtomicU64,
}

impl Snapshot {
    /// Counts an instance's new slow commands.
    pub fn record_slow_commands(
        &mut self,
        instance_id: &str,
        entries: &[crate::slowlog::SlowEntry],
        caps: &crate::slowlog::SlowCaps,
    ) {
        Arc::make_mut(
            self.slow_commands
                .entry(instance_id.to_string())
                .or_default(),
        )
        .record(entries, caps);
    }

    /// Counts a failed read of an instance's details, limits or slow log. Error codes past
    /// the instance's bound count as `other`.
    pub fn count_context_error(&mut self, instance_id: &str, operation: ContextRead, reason: &str) {
        let counted = self
            .context_errors
            .keys()
            .filter(|(id, _, _)| id == instance_id)
            .map(|(_, _, reason)| reason.as_str());
        let reason = crate::reason::bounded_label(reason, counted).to_string();
        *self
            .context_errors
            .entry((instance_id.to_string(), operation, reason))
            .or_insert(0) += 1;
    }

    /// The service refused an instance's slow-log read as unsupported: counted, and the slow
    /// log no longer read while the details' flag says what it says now.
    pub fn refuse_slow_log(&mut self, instance_id: &str, operation: ContextRead) {
        self.count_context_error(instance_id, operation, Reason::NotSupported.as_str());
        let context = self.instances.get_mut(instance_id);
        let flag = context.as_ref().and_then(|c| c.slow_log_flag);
        if let Some(context) = context {
            context.slow_log = false;
        }
        self.slow_log_refused.insert(instance_id.to_string(), flag);
    }

    /// Counts a failed look-up of a cloud's instances or nodes. Error codes past the cloud's
    /// bound count as `other`.
    pub fn count_discovery_error(&mut self, cloud: &str, reason: &str) {
        let counted = self
            .discovery_errors
            .keys()
            .filter(|(name, _)| name == cloud)
            .map(|(_, reason)| reason.as_str());
        let reason = crate::reason::bounded_label(reason, counted).to_string();
        *self
            .discovery_errors
            .entry((cloud.to_string(), reason))
            .or_insert(0) += 1;
    }
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn load(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.lock())
    }

    /// Applies `f` to a copy of the snapshot (a map of `Arc`s: cheap), then publishes it.
    pub fn update<T>(&self, f: impl FnOnce(&mut Snapshot) -> T) -> T {
        let _writer = self.write.lock();
        let mut next = (*self.load()).clone();
        let result = f(&mut next);
        *self.current.lock() = Arc::new(next);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        result
    }

    /// Marks a change made outside the snapshot (a reload's outcome), so that encodings
    /// cached for scrapes are not reused.
    pub fn touch(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Changes with every update.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Adds a node (or changes it, when it is there).
    pub fn insert_node(&self, key: &NodeKey, f: impl FnOnce(&mut NodeState)) {
        self.update(|s| f(Arc::make_mut(s.nodes.entry(key.clone()).or_default())));
    }

    /// Counts an instance's new slow commands.
    pub fn record_slow_commands(
        &self,
        instance_id: &str,
        entries: &[crate::slowlog::SlowEntry],
        caps: &crate::slowlog::SlowCaps,
    ) {
        self.update(|s| s.record_slow_commands(instance_id, entries, caps));
    }

    /// Counts a failed read of an instance's details, limits or slow log.
    pub fn count_context_error(&self, instance_id: &str, operation: ContextRead, reason: &str) {
        self.update(|s| s.count_context_error(instance_id, operation, reason));
    }

    /// Changes a DBSS resource's state, adding it when new.
    pub fn update_dbss(&self, resource_id: &str, f: impl FnOnce(&mut DbssState)) {
        self.update(|s| {
            f(Arc::make_mut(
                s.dbss.entry(resource_id.to_string()).or_default(),
            ))
        });
    }
}
