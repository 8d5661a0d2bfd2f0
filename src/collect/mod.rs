//! The scheduler: finds each cloud's nodes, scans every node on its own timer with bounded
//! concurrency, polls DBSS resources, and publishes the results to the [`Store`].

mod dbss;
mod dcs;
mod discovery;
mod operations;
mod redis;
mod settings;
mod shard;
mod slowlog;
mod target;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

pub use dcs::{TASK_STATE_CODE, scan_node};
pub use discovery::{NodeTarget, client_nodes};
pub use operations::{COMMAND_TIMEOUT, KillPlan, ListOptions, Listing, TargetError};
pub use settings::ScanSettings;
pub use shard::Shard;
pub use target::{NodeLimits, ScanOutcome, Target, direct_targets};

use crate::accounts::{AccountError, Accounts};
use crate::cloud::ApiClient;
use crate::config::{Cloud, Config, ExporterSettings};
use crate::slowlog::{SlowLogCursor, lookback};
use crate::snapshot::{Attempt, Failure, NodeInfo, NodeKey, Source, Store};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("{message}")]
    Preflight { message: String },
}

struct CloudRuntime {
    config: Cloud,
    api: ApiClient,
}

/// What every scan loop shares.
struct Shared {
    settings: ExporterSettings,
    scan: Arc<ScanSettings>,
    store: Arc<Store>,
    permits: Semaphore,
    /// This replica's share of the targets; all of them when `None`.
    shard: Option<Shard>,
}

pub struct Scheduler {
    shared: Arc<Shared>,
    clouds: Vec<CloudRuntime>,
    /// Direct targets: one node each.
    direct: Vec<Target>,
}

impl Shared {
    fn owns(&self, parts: &[&str]) -> bool {
        self.shard.is_none_or(|s| s.owns(parts))
    }
}

/// A stable offset in `[0, window)` for a target, so its scans keep their place in the cycle.
fn spread(key: &impl Hash, window: Duration) -> Duration {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    let window_ms = window.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % window_ms)
}

impl Scheduler {
    /// A scheduler of `config`'s targets, calling through `accounts` (the clients shared with
    /// the rest of the process).
    pub fn new(
        config: &Config,
        store: Arc<Store>,
        accounts: &Accounts,
    ) -> Result<Self, SchedulerError> {
        let e = &config.exporter;
        let mut clouds = Vec::new();
        for cloud in &config.clouds {
            clouds.push(CloudRuntime {
                config: cloud.clone(),
                api: accounts.client(&cloud.name)?.clone(),
            });
        }
        let direct = direct_targets(config);
        for target in &direct {
            // A missing variable or unreadable file stops the start, rather than every scan.
            target
                .preflight()
                .map_err(|message| SchedulerError::Preflight { message })?;
        }
        let shared = Shared {
            scan: Arc::new(ScanSettings::from_exporter(e)),
            permits: Semaphore::new(e.max_concurrent_scans),
            settings: e.clone(),
            store,
            shard: None,
        };
        Ok(Self {
            shared: Arc::new(shared),
            clouds,
            direct,
        })
    }

    /// Scans only this shard's targets.
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.shard = shard;
        }
        self
    }

    /// Runs until dropped: every task it started ends with it.
    pub async fn run(self) {
        let names: Vec<String> = self.clouds.iter().map(|c| c.config.name.clone()).collect();
        let interval = self.shared.settings.scan_interval;
        self.shared.store.update(|s| {
            s.expected = names.into_iter().collect();
            s.discovered.retain(|c| s.expected.contains(c));
            s.scan_interval = Some(interval);
            s.exposition = Arc::new(self.shared.settings.exposition.clone());
        });
        let mut tasks = JoinSet::new();
        for target in self.direct {
            let Some(node_id) = target.direct_node() else {
                continue;
            };
            if !self.shared.owns(&[target.instance_id(), node_id]) {
                continue;
            }
            let key = register_direct(&self.shared.store, &target);
            let span = tracing::info_span!("scan", instance_id = %target.instance_id(), node_id = %key.node_id);
            tasks.spawn(node_loop(
                Arc::clone(&self.shared),
                Arc::new(target),
                None,
                key,
                span,
            ));
        }
        for cloud in self.clouds {
            let cloud = Arc::new(cloud);
            let owned = cloud
                .config
                .dbss_resources
                .iter()
                .filter(|r| self.shared.owns(&[r.as_str()]));
            for resource in owned {
                let (shared, cloud, resource) = (
                    Arc::clone(&self.shared),
                    Arc::clone(&cloud),
                    resource.clone(),
                );
                tasks.spawn(async move { dbss_loop(shared, cloud, resource).await });
            }
            tasks.spawn(cloud_loop(Arc::clone(&self.shared), cloud));
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a collection task ended");
            }
        }
    }
}

/// The wait after a failed look-up: 2 s, doubling, at most the discovery interval.
fn discovery_retry(failures: u32, interval: Duration) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1 << failures.min(16));
    let ceiling = base.min(interval);
    // Some jitter, so that accounts that failed together do not retry together.
    ceiling.mul_f64(0.8 + 0.2 * rand::random::<f64>())
}

/// Looks up a cloud's nodes every `discovery_interval` (sooner, with backoff, after a failed
/// look-up) and keeps one scan loop per node. A failed look-up keeps the nodes already known.
async fn cloud_loop(shared: Arc<Shared>, cloud: Arc<CloudRuntime>) {
    let mut running: HashMap<NodeKey, AbortHandle> = HashMap::new();
    let mut tasks = JoinSet::new();
    // Slow-log pollers, by instance id.
    let mut polling: HashMap<String, AbortHandle> = HashMap::new();
    let mut pollers = JoinSet::new();
    let mut known = discovery::Known::default();
    let mut failures: u32 = 0;
    // Nodes another cloud scans, already warned about.
    let mut warned_twice: HashSet<NodeKey> = HashSet::new();
    let name = cloud.config.name.as_str();
    loop {
        // Looking up many instances shares the account's rate with the scans: give it a whole
        // interval (at least a minute), not one scan's timeout.
        let budget = shared.settings.scan_interval.max(Duration::from_secs(60));
        let found = discovery::discover(
            &cloud.api,
            &cloud.config,
            &mut known,
            Instant::now() + budget,
        )
        .await;
        for (reason, message) in &found.errors {
            tracing::warn!(cloud = %name, reason, "node discovery: {message}");
        }
        let mut wanted: HashMap<NodeKey, NodeTarget> = found
            .nodes
            .into_iter()
            .filter(|t| shared.owns(&[&t.key.instance_id, &t.key.node_id]))
            .map(|t| (t.key.clone(), t))
            .collect();
        let source = Source::Cloud(name.to_string());
        // Instances whose slow log this replica reads: one replica each.
        let slow_logs: HashSet<String> = found
            .instances
            .iter()
            .filter(|(id, c)| c.slow_log && shared.owns(&[id.as_str()]))
            .map(|(id, _)| id.clone())
            .collect();
        polling.retain(|id, task| {
            let keep = slow_logs.contains(id);
            if !keep {
                task.abort();
            }
            keep
        });
        shared.store.update(|s| {
            // Counters of instances no longer polled by this cloud go with them.
            s.slow_commands.retain(|id, _| {
                slow_logs.contains(id) || s.instances.get(id).is_none_or(|c| c.cloud != name)
            });
            if found.errors.is_empty() {
                s.discovered.insert(name.to_string());
            }
            s.last_discovery.insert(
                name.to_string(),
                found.errors.first().map(|(_, message)| message.clone()),
            );
            for (reason, _) in &found.errors {
                *s.discovery_errors
                    .entry((name.to_string(), reason.clone()))
                    .or_insert(0) += 1;
            }
            for (instance_id, operation, reason) in &found.context_errors {
                *s.context_errors
                    .entry((instance_id.clone(), *operation, reason.clone()))
                    .or_insert(0) += 1;
            }
            s.instances.retain(|_, c| c.cloud != name);
            s.instances.extend(found.instances.iter().cloned());
            // A node that another source already scans (the same instance reached through
            // two clouds) is scanned once, by the first.
            wanted.retain(|key, _| {
                let other = s
                    .nodes
                    .get(key)
                    .map(|n| &n.info.source)
                    .filter(|other| **other != source && s.expected_source(other));
                match other {
                    Some(other) => {
                        if warned_twice.insert(key.clone()) {
                            tracing::warn!(
                                cloud = %name,
                                instance_id = %key.instance_id,
                                node_id = %key.node_id,
                                "this node is also found through {}: it is scanned there only",
                                describe(other)
                            );
                        }
                        false
                    }
                    None => true,
                }
            });
            // Nodes that are gone take their series with them: those this loop scans, and
            // any other of this cloud's (left by a configuration before a reload).
            running.retain(|key, task| {
                let keep = wanted.contains_key(key);
                if !keep {
                    task.abort();
                }
                keep
            });
            s.nodes
                .retain(|key, node| node.info.source != source || wanted.contains_key(key));
            for (key, target) in &wanted {
                let node = std::sync::Arc::make_mut(s.nodes.entry(key.clone()).or_default());
                node.info = target.info.clone();
            }
        });
        for (key, _) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let span = tracing::info_span!("scan", cloud = %name, instance_id = %key.instance_id, node_id = %key.node_id);
            let target = Arc::new(Target::Dcs {
                api: cloud.api.clone(),
                instance_id: key.instance_id.to_string(),
            });
            let task = tasks.spawn(node_loop(
                Arc::clone(&shared),
                target,
                Some(name.to_string()),
                key.clone(),
                span,
            ));
            running.insert(key, task);
        }
        for instance_id in slow_logs {
            if polling.contains_key(&instance_id) {
                continue;
            }
            let task = pollers.spawn(slowlog::slowlog_loop(
                Arc::clone(&shared),
                cloud.api.clone(),
                instance_id.clone(),
            ));
            polling.insert(instance_id, task);
        }
        while let Some(ended) = pollers.try_join_next_with_id() {
            if let Err(e) = ended {
                if e.is_panic() {
                    tracing::error!("a slow-log poller panicked: {e}");
                }
                polling.retain(|_, task| task.id() != e.id());
            }
        }
        // A task that ended (it only ends by panicking) is started again at the next look-up.
        while let Some(ended) = tasks.try_join_next_with_id() {
            if let Err(e) = ended {
                if e.is_panic() {
                    tracing::error!("a node's scan loop panicked: {e}");
                }
                running.retain(|_, task| task.id() != e.id());
            }
        }
        let interval = shared.settings.discovery_interval;
        let wait = if found.errors.is_empty() {
            failures = 0;
            interval
        } else {
            failures += 1;
            discovery_retry(failures - 1, interval)
        };
        tokio::time::sleep(wait).await;
    }
}

/// A node's source, as a log line names it.
fn describe(source: &Source) -> String {
    match source {
        Source::Cloud(name) => format!("cloud {name}"),
        Source::Direct => "a direct target".to_string(),
    }
}

/// Logs a failure when it is new, and repeats of the same failure only at debug level, so a
/// node that keeps failing does not flood the log.
fn log_outcome(last: &mut Option<String>, failure: Option<&Failure>, target: &str) {
    match failure {
        Some(f) => {
            let signature = format!("{}/{}", f.stage.as_str(), f.reason);
            if last.as_deref() == Some(signature.as_str()) {
                tracing::debug!(stage = f.stage.as_str(), reason = %f.reason, "{target} failed again: {}", f.message);
            } else {
                tracing::warn!(stage = f.stage.as_str(), reason = %f.reason, "{target} failed: {}", f.message);
            }
            *last = Some(signature);
        }
        None => {
            if last.take().is_some() {
                tracing::info!("{target} recovered");
            }
        }
    }
}

/// Scans one target on its own timer, forever, and publishes each outcome.
async fn scan_loop<F, Fut>(shared: Arc<Shared>, key: NodeKey, span: tracing::Span, scan: F)
where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = Result<ScanOutcome, Failure>>,
{
    let settings = &shared.settings;
    tokio::time::sleep(spread(&key, settings.first_scan_spread)).await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_failure = None;
    let mut overran = false;
    let mut slow_cursor = SlowLogCursor::new(lookback(settings.scan_interval));
    let caps = settings.slow_caps();
    loop {
        let due = ticker.tick().await;
        let Ok(_permit) = shared.permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        let mut result = scan(started + settings.scan_timeout)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        // Ticks that came due while this one waited and ran: each is a scan skipped.
        let cycle = due.elapsed();
        let skipped = (cycle.as_nanos() / settings.scan_interval.as_nanos().max(1)) as u64;
        {
            let _entered = span.enter();
            // Said when it starts and when it ends, not at every scan.
            if (skipped > 0) != overran {
                overran = skipped > 0;
                if overran {
                    tracing::warn!(
                        cycle_ms = cycle.as_millis() as u64,
                        skipped,
                        "scans overrun the interval: raise scan_interval or max_concurrent_scans"
                    );
                } else {
                    tracing::info!("scans fit the interval again");
                }
            }
            if let Ok(outcome) = &result {
                tracing::debug!(
                    sessions = outcome.data.aggregate.sessions,
                    duration_ms = duration.as_millis() as u64,
                    "scanned"
                );
            }
            log_outcome(&mut last_failure, result.as_ref().err(), "scan");
        }
        if let Ok(ScanOutcome {
            limits_error: Some((operation, reason)),
            ..
        }) = &result
        {
            shared
                .store
                .count_context_error(&key.instance_id, operation, reason);
        }
        let slow_log = match &mut result {
            Ok(outcome) => outcome.slow_log.take(),
            Err(_) => None,
        };
        match slow_log {
            Some(Ok((entries, now))) => {
                let new = slow_cursor.take_new(entries, now);
                shared
                    .store
                    .record_slow_commands(&key.instance_id, &new, &caps);
            }
            Some(Err(reason)) => {
                shared
                    .store
                    .count_context_error(&key.instance_id, "slowlog_get", &reason);
            }
            None => {}
        }
        shared.store.update_node(&key, |node| {
            let failure = result.as_ref().err().cloned();
            if let Some(f) = &failure {
                *node.errors.entry((f.stage, f.reason.clone())).or_insert(0) += 1;
            }
            node.last_attempt = Some(Attempt {
                finished: SystemTime::now(),
                duration,
                failure,
            });
            node.skipped += skipped;
            node.last_cycle = Some(cycle);
            if let Ok(outcome) = result {
                node.data = Some(Arc::new(outcome.data));
                if let Some(role) = outcome.role {
                    node.info.node_role = role;
                }
                if let Some(limits) = outcome.limits {
                    node.info.max_clients = limits.max_clients;
                    node.info.idle_timeout = limits.idle_timeout;
                }
            }
        });
    }
}

/// Scans one node of `target` on its own timer, forever. `cloud` names a DCS target's
/// account, whose clock offset the scans keep up to date.
async fn node_loop(
    shared: Arc<Shared>,
    target: Arc<Target>,
    cloud: Option<String>,
    key: NodeKey,
    span: tracing::Span,
) {
    // The node's scan job that outlived an earlier scan, waited on by the next.
    let pending: Arc<tokio::sync::Mutex<Option<String>>> = Arc::default();
    let scan = {
        let (shared, key) = (Arc::clone(&shared), key.clone());
        move |deadline| {
            let (shared, target, key, pending, cloud) = (
                Arc::clone(&shared),
                Arc::clone(&target),
                key.clone(),
                Arc::clone(&pending),
                cloud.clone(),
            );
            async move {
                let mut pending = pending.lock().await;
                // The client field of this instance: by its pass-through, with "auto".
                let settings = match target.as_ref() {
                    Target::Dcs { instance_id, .. } => {
                        let pass_through = shared
                            .store
                            .load()
                            .instances
                            .get(instance_id)
                            .and_then(|c| c.client_ip_pass_through);
                        shared.scan.for_instance(pass_through)
                    }
                    Target::Redis(_) => Arc::clone(&shared.scan),
                };
                let result = target
                    .scan(&key.node_id, &settings, &mut pending, deadline)
                    .await;
                if let (Target::Dcs { api, .. }, Some(cloud)) = (target.as_ref(), &cloud) {
                    record_clock_offset(&shared.store, cloud, api);
                }
                result
            }
        }
    };
    scan_loop(shared, key, span, scan).await;
}

/// Publishes an account's clock offset when it moved by more than the error of its estimate.
fn record_clock_offset(store: &Store, name: &str, api: &ApiClient) {
    let Some(offset) = api.service_clock().offset_seconds() else {
        return;
    };
    let known = store.load().clock_offsets.get(name).copied();
    if known.is_none_or(|k| (k - offset).abs() > 1.0) {
        store.update(|s| {
            s.clock_offsets.insert(name.to_string(), offset);
        });
    }
}

/// Puts a direct target's node in the store before its first scan, so readiness waits for it.
fn register_direct(store: &Store, target: &Target) -> NodeKey {
    let node_id = target.direct_node().unwrap_or_default();
    let key = NodeKey {
        instance_id: target.instance_id().into(),
        node_id: node_id.into(),
    };
    let host = node_id
        .rsplit_once(':')
        .map_or(node_id, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    store.insert_node(&key, |n| {
        n.info = NodeInfo {
            source: Source::Direct,
            instance_name: target.instance_id().to_string(),
            node_name: node_id.to_string(),
            node_role: String::new(),
            node_ip: host,
            ..NodeInfo::default()
        };
    });
    key
}

async fn dbss_loop(shared: Arc<Shared>, cloud: Arc<CloudRuntime>, resource: String) {
    let settings = &shared.settings;
    shared
        .store
        .update_dbss(&resource, |d| d.cloud = cloud.config.name.clone());
    tokio::time::sleep(spread(&resource, settings.first_scan_spread)).await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_failure = None;
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let span =
            tracing::info_span!("dbss_poll", cloud = %cloud.config.name, resource_id = %resource);
        let result = dbss::poll(&cloud.api, &resource, started + settings.scan_timeout)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        let failure = result.as_ref().err().cloned();
        {
            let _entered = span.enter();
            log_outcome(&mut last_failure, failure.as_ref(), "DBSS poll");
        }
        shared.store.update_dbss(&resource, |d| {
            if let Some(f) = &failure {
                *d.errors.entry(f.reason.clone()).or_insert(0) += 1;
            }
            d.last_attempt = Some(Attempt {
                finished: SystemTime::now(),
                duration,
                failure,
            });
            if let Ok(jobs) = result {
                d.record_jobs(jobs, SystemTime::now());
            }
        });
    }
}
