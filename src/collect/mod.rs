//! The scheduler: finds each cloud's nodes, scans every node on its own timer with bounded
//! concurrency, polls DBSS resources, and publishes the results to the [`Store`].

mod cloud_loop;
mod dbss;
mod dcs;
mod discovery;
mod key_scan;
mod key_trigger;
mod keys;
mod node_loop;
mod operations;
mod outcome;
mod plan;
mod redis;
mod runtime;
mod settings;
mod shard;
mod slowlog;
mod target;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use dcs::{TASK_STATE_CODE, scan_node};
pub use discovery::{NodeTarget, architecture, client_nodes};
pub use key_scan::{KeyWalk, StepReport, WalkResult};
pub use operations::{COMMAND_TIMEOUT, KillPlan, ListOptions, Listing, TargetError};
pub use outcome::{Limit, NodeLimits, ScanOutcome};
pub use plan::{budget_report, discovered_plan};
pub use settings::ScanSettings;
pub use shard::Shard;
pub use target::{Target, direct_targets};

use crate::accounts::{AccountError, Accounts};
use crate::config::{Config, SecretError};
use crate::snapshot::Store;
use crate::supervisor::{Task, supervise};
use cloud_loop::cloud_loop;
use dbss::dbss_loop;
use key_scan::key_scan_loop;
use node_loop::{node_loop, register_direct};
use runtime::{CloudRuntime, Shared};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Preflight(#[from] SecretError),
}

pub struct Scheduler {
    shared: Arc<Shared>,
    clouds: Vec<CloudRuntime>,
    /// Direct targets: one node each.
    direct: Vec<Target>,
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
            target.preflight()?;
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
        let idle_threshold = self.shared.settings.idle_session_threshold;
        self.shared.store.update(|s| {
            s.expected = names.into_iter().collect();
            s.discovered.retain(|c| s.expected.contains(c));
            crate::snapshot::retain(&mut s.api_plans, |c, _| s.expected.contains(c));
            s.scan_interval = Some(interval);
            s.idle_session_threshold = Some(idle_threshold);
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
            let named = tracing::error_span!("scan", instance_id = %target.instance_id(), node_id = %key.node_id);
            if let Target::Redis(redis) = &target
                && redis.key_scan.is_some()
            {
                let named = tracing::error_span!("key_scan", instance_id = %redis.name, node_id = %redis.node_id);
                let span = tracing::info_span!("key_scan", instance_id = %redis.name, node_id = %redis.node_id);
                let (shared, redis) = (Arc::clone(&self.shared), Arc::new(redis.clone()));
                tasks.spawn(supervise(Task::KeyScan, named, move || {
                    key_scan_loop(Arc::clone(&shared), Arc::clone(&redis), span.clone())
                }));
            }
            let (shared, target) = (Arc::clone(&self.shared), Arc::new(target));
            tasks.spawn(supervise(Task::Scan, named, move || {
                let (shared, target) = (Arc::clone(&shared), Arc::clone(&target));
                node_loop(shared, target, None, key.clone(), span.clone())
            }));
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
                let span = tracing::error_span!("dbss_poll", cloud = %cloud.config.name, resource_id = %resource);
                tasks.spawn(supervise(Task::Dbss, span, move || {
                    dbss_loop(Arc::clone(&shared), Arc::clone(&cloud), resource.clone())
                }));
            }
            let span = tracing::error_span!("discovery", cloud = %cloud.config.name);
            let shared = Arc::clone(&self.shared);
            tasks.spawn(supervise(Task::Discovery, span, move || {
                cloud_loop(Arc::clone(&shared), Arc::clone(&cloud))
            }));
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a collection task ended");
            }
        }
    }
}
