//! One cloud account: its nodes looked up every discovery interval, a scan loop kept per node
//! and a slow-log poller per instance, and what the look-up learned published.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::discovery::{self, NodeTarget};
use super::keys;
use super::node_loop::node_loop;
use super::runtime::{CloudRuntime, Shared, describe};
use super::slowlog;
use super::target::Target;
use crate::capacity::{CloudPlan, Fleet, Schedule};
use crate::snapshot::{NodeKey, Source};
use crate::supervisor::{Task, supervise};

/// The wait after a failed look-up: 2 s, doubling, at most the discovery interval.
fn discovery_retry(failures: u32, interval: Duration) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1 << failures.min(16));
    let ceiling = base.min(interval);
    // Some jitter, so that accounts that failed together do not retry together.
    ceiling.mul_f64(0.8 + 0.2 * rand::random::<f64>())
}

/// Looks up a cloud's nodes every `discovery_interval` (sooner, with backoff, after a failed
/// look-up, and at once when the account's credentials recover) and keeps one scan loop per
/// node. A failed look-up keeps the nodes already known.
pub(super) async fn cloud_loop(shared: Arc<Shared>, cloud: Arc<CloudRuntime>) {
    let mut state = CloudLoop {
        shared,
        cloud,
        running: HashMap::new(),
        tasks: JoinSet::new(),
        polling: HashMap::new(),
        pollers: JoinSet::new(),
        key_pollers: keys::KeyPollers::default(),
        known: discovery::Known::default(),
        failures: 0,
        warned_twice: HashSet::new(),
    };
    let mut recoveries = state.cloud.api.credentials().recoveries();
    loop {
        // A recovery before this look-up is no reason for another.
        recoveries.mark_seen();
        let wait = state.round().await;
        // A failed look-up is retried as soon as the account's credentials recover.
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = recoveries.next(), if state.failures > 0 => {}
        }
    }
}

/// What one cloud's loop keeps between look-ups.
struct CloudLoop {
    shared: Arc<Shared>,
    cloud: Arc<CloudRuntime>,
    /// Scan loops, by node.
    running: HashMap<NodeKey, AbortHandle>,
    tasks: JoinSet<()>,
    /// Slow-log pollers, by instance id.
    polling: HashMap<String, AbortHandle>,
    pollers: JoinSet<()>,
    /// Key-analysis pollers, by instance id.
    key_pollers: keys::KeyPollers,
    known: discovery::Known,
    /// Failed look-ups in a row.
    failures: u32,
    /// Nodes another cloud scans, already warned about.
    warned_twice: HashSet<NodeKey>,
}

impl CloudLoop {
    /// One look-up and what follows from it; returns the wait until the next.
    async fn round(&mut self) -> Duration {
        let shared = Arc::clone(&self.shared);
        let name = self.cloud.config.name.clone();
        // Looking up many instances shares the account's rate with the scans: give it a whole
        // interval (at least a minute), not one scan's timeout.
        let budget = shared.settings.scan_interval.max(Duration::from_secs(60));
        let mut found = discovery::discover(
            &self.cloud.api,
            &self.cloud.config,
            &mut self.known,
            Instant::now() + budget,
        )
        .await;
        for (reason, message) in &found.errors {
            tracing::warn!(cloud = %name, reason, "node discovery: {message}");
        }
        let retried = slow_log_refusals(&mut found.instances, &shared.store.load());
        let wanted: HashMap<NodeKey, NodeTarget> = std::mem::take(&mut found.nodes)
            .into_iter()
            .filter(|t| shared.owns(&[&t.key.instance_id, &t.key.node_id]))
            .map(|t| (t.key.clone(), t))
            .collect();
        // Instances whose slow log this replica reads: one replica each.
        let slow_logs: HashSet<String> = found
            .instances
            .iter()
            .filter(|(id, c)| c.slow_log && shared.owns(&[id.as_str()]))
            .map(|(id, _)| id.clone())
            .collect();
        retain_tasks(&mut self.polling, |id| {
            slow_logs.contains(id) && !retried.contains(id)
        });
        // Instances whose key analyses this replica reads: one replica each, as slow logs.
        let analysed: HashSet<String> = match &self.cloud.config.key_analysis {
            Some(_) => found
                .instances
                .iter()
                .filter(|(id, _)| shared.owns(&[id.as_str()]))
                .map(|(id, _)| id.clone())
                .collect(),
            None => HashSet::new(),
        };
        let wanted = self.publish(&found, wanted, &slow_logs);
        let plan = self.plan(&found, &slow_logs, &analysed);
        self.shared.store.update(|s| {
            // Analyses of instances no longer read by this cloud go with them.
            crate::snapshot::retain(&mut s.keys, |id, _| {
                analysed.contains(id) || s.instances.get(id).is_none_or(|c| c.cloud != name)
            });
            s.api_plans.insert(name.clone(), plan);
        });
        self.start_scans(wanted);
        self.start_pollers(slow_logs);
        self.key_pollers.keep(&self.shared, &self.cloud, &analysed);
        if !analysed.is_empty() {
            keys::read_statistics(
                &shared,
                &self.cloud,
                &analysed,
                Instant::now() + shared.settings.scan_timeout,
            )
            .await;
        }
        self.reap();
        let interval = shared.settings.discovery_interval;
        if found.errors.is_empty() {
            self.failures = 0;
            interval
        } else {
            self.failures += 1;
            discovery_retry(self.failures - 1, interval)
        }
    }

    /// The cloud's schedule and what this replica reads of it, but its nodes: the snapshot
    /// counts those, with the pages of their last lists, when the budget is asked for.
    fn plan(
        &self,
        found: &discovery::Found,
        slow_logs: &HashSet<String>,
        analysed: &HashSet<String>,
    ) -> CloudPlan {
        let config = &self.cloud.config;
        let dbss = config
            .dbss_resources
            .iter()
            .filter(|r| self.shared.owns(&[r.as_str()]))
            .count();
        CloudPlan {
            schedule: Schedule::of(&self.shared.settings, config),
            fleet: Fleet {
                instances: found.looked_up as u64,
                listed_instances: found.listed as u64,
                slow_log_instances: slow_logs.len() as u64,
                analysed_instances: analysed.len() as u64,
                dbss_resources: dbss as u64,
                ..Fleet::default()
            },
        }
    }

    /// Publishes what the look-up found, in one update, and returns the nodes this loop is to
    /// scan: those found, less those another source already scans. Scan loops of nodes that
    /// are gone are stopped.
    fn publish(
        &mut self,
        found: &discovery::Found,
        mut wanted: HashMap<NodeKey, NodeTarget>,
        slow_logs: &HashSet<String>,
    ) -> HashMap<NodeKey, NodeTarget> {
        let name = self.cloud.config.name.as_str();
        let source = Source::Cloud(name.to_string());
        let (running, warned_twice) = (&mut self.running, &mut self.warned_twice);
        self.shared.store.update(|s| {
            // Counters of instances no longer polled by this cloud go with them.
            crate::snapshot::retain(&mut s.slow_commands, |id, _| {
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
                s.count_discovery_error(name, reason);
            }
            for (instance_id, operation, reason) in &found.context_errors {
                s.count_context_error(instance_id, *operation, reason);
            }
            // A refusal lasts while the instance's details say what they said then.
            crate::snapshot::retain(&mut s.slow_log_refused, |id, flag| {
                found
                    .instances
                    .iter()
                    .find(|(found, _)| found == id)
                    .is_none_or(|(_, c)| c.slow_log_flag == *flag)
            });
            crate::snapshot::retain(&mut s.instances, |_, c| c.cloud != name);
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
            retain_tasks(running, |key| wanted.contains_key(key));
            crate::snapshot::retain(&mut s.nodes, |key, node| {
                node.info.source != source || wanted.contains_key(key)
            });
            for (key, target) in &wanted {
                let node = Arc::make_mut(s.nodes.entry(key.clone()).or_default());
                node.info = target.info.clone();
            }
        });
        wanted
    }

    /// A scan loop for each wanted node that has none.
    fn start_scans(&mut self, wanted: HashMap<NodeKey, NodeTarget>) {
        let name = self.cloud.config.name.as_str();
        for (key, _) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            let span = tracing::info_span!("scan", cloud = %name, instance_id = %key.instance_id, node_id = %key.node_id);
            let target = Arc::new(Target::Dcs {
                api: self.cloud.api.clone(),
                instance_id: key.instance_id.to_string(),
            });
            let (shared, cloud, node) = (
                Arc::clone(&self.shared),
                Some(name.to_string()),
                key.clone(),
            );
            let named = tracing::error_span!("scan", cloud = %name, instance_id = %key.instance_id, node_id = %key.node_id);
            let task = self.tasks.spawn(supervise(Task::Scan, named, move || {
                let (shared, target) = (Arc::clone(&shared), Arc::clone(&target));
                node_loop(shared, target, cloud.clone(), node.clone(), span.clone())
            }));
            self.running.insert(key, task);
        }
    }

    /// A slow-log poller for each instance that has none.
    fn start_pollers(&mut self, slow_logs: HashSet<String>) {
        for instance_id in slow_logs {
            if self.polling.contains_key(&instance_id) {
                continue;
            }
            let span = tracing::info_span!("slowlog_poll", instance_id = %instance_id);
            let named = tracing::error_span!("slowlog_poll", instance_id = %instance_id);
            let (shared, cloud, id) = (
                Arc::clone(&self.shared),
                Arc::clone(&self.cloud),
                instance_id.clone(),
            );
            let task = self.pollers.spawn(supervise(Task::SlowLog, named, move || {
                slowlog::slowlog_loop(
                    Arc::clone(&shared),
                    Arc::clone(&cloud),
                    id.clone(),
                    span.clone(),
                )
            }));
            self.polling.insert(instance_id, task);
        }
    }

    /// Forgets tasks that ended, so the next look-up starts them again. They end only when
    /// stopped: a panic is caught and the task started again by its supervisor.
    fn reap(&mut self) {
        while let Some(ended) = self.pollers.try_join_next_with_id() {
            let id = ended.map_or_else(|e| e.id(), |(id, ())| id);
            self.polling.retain(|_, task| task.id() != id);
        }
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            let id = ended.map_or_else(|e| e.id(), |(id, ())| id);
            self.running.retain(|_, task| task.id() != id);
        }
    }
}

/// Instances whose slow-log read the service refused are not read while their details say
/// what they said then. Returns those whose details changed since: their slow log is tried
/// again, by a new poller.
fn slow_log_refusals(
    instances: &mut [(String, crate::snapshot::InstanceContext)],
    snapshot: &crate::snapshot::Snapshot,
) -> HashSet<String> {
    let mut retried = HashSet::new();
    for (id, context) in instances {
        match snapshot.slow_log_refused.get(id) {
            Some(flag) if *flag == context.slow_log_flag => context.slow_log = false,
            Some(_) => {
                retried.insert(id.clone());
            }
            None => {}
        }
    }
    retried
}

/// Keeps the tasks whose key `keep` wants, and stops the others.
fn retain_tasks<K>(tasks: &mut HashMap<K, AbortHandle>, keep: impl Fn(&K) -> bool) {
    tasks.retain(|key, task| {
        let kept = keep(key);
        if !kept {
            task.abort();
        }
        kept
    });
}
