//! Where sessions live, behind one interface: the nodes of a DCS instance through its account's
//! shared API client, or a Redis server over a connection. The scheduler scans through it; the
//! operator commands and the remediation webhook list and end sessions through it.

use std::sync::Arc;

use tokio::time::Instant;

use super::operations::{COMMAND_TIMEOUT, KillPlan, ListOptions, Listing, TargetError};
use super::outcome::{NodeScanState, ScanOutcome};
use super::settings::ScanSettings;
use crate::cloud::ApiClient;
use crate::config::{Config, PasswordSource, RedisTarget, SecretError};
use crate::session::CLIENT_FIELDS;
use crate::snapshot::{Failure, NodeData, Reason, Snapshot, Stage};

pub enum Target {
    /// A DCS instance, whose nodes are scanned one by one.
    Dcs { api: ApiClient, instance_id: String },
    /// A direct Redis target: one node, `host:port`.
    Redis(RedisTarget),
}

/// Every direct target of a configuration (one node each; DCS instances come from the clouds'
/// discovery). A new kind of direct target is added here.
pub fn direct_targets(config: &Config) -> Vec<Target> {
    config.redis.iter().cloned().map(Target::Redis).collect()
}

impl Target {
    /// The `instance_id` of its series.
    pub fn instance_id(&self) -> &str {
        match self {
            Target::Dcs { instance_id, .. } => instance_id,
            Target::Redis(target) => &target.name,
        }
    }

    /// The single node of a direct target (`None` for a DCS instance, whose nodes are
    /// discovered).
    pub fn direct_node(&self) -> Option<&str> {
        match self {
            Target::Dcs { .. } => None,
            Target::Redis(target) => Some(&target.node_id),
        }
    }

    /// The scan settings of its nodes: a DCS instance's client field follows its IP
    /// pass-through where the settings say "auto".
    pub fn scan_settings(
        &self,
        base: &Arc<ScanSettings>,
        snapshot: &Snapshot,
    ) -> Arc<ScanSettings> {
        match self {
            Target::Dcs { instance_id, .. } => {
                let pass_through = snapshot
                    .instances
                    .get(instance_id)
                    .and_then(|c| c.client_ip_pass_through);
                base.for_instance(pass_through)
            }
            Target::Redis(_) => Arc::clone(base),
        }
    }

    /// The cloud API client it calls through, if any (whose clock offset scans keep up to date).
    pub fn api(&self) -> Option<&ApiClient> {
        match self {
            Target::Dcs { api, .. } => Some(api),
            Target::Redis(_) => None,
        }
    }

    /// Whether its scans read the node's slow log (a DCS instance's is polled apart, by the
    /// instance's own flag).
    pub fn reads_slow_log(&self) -> bool {
        match self {
            Target::Dcs { .. } => false,
            Target::Redis(target) => target.slow_log,
        }
    }

    /// What it needs to run that can be missing (a password variable or file), checked before
    /// the first scan; warns about secret files others can read.
    pub fn preflight(&self) -> Result<(), SecretError> {
        match self {
            Target::Dcs { .. } => Ok(()),
            Target::Redis(target) => {
                if let Some(PasswordSource::File(path)) = &target.password {
                    crate::config::warn_if_others_can_read(path, "a Redis password file");
                }
                target.endpoint().map(drop)
            }
        }
    }

    /// For people: what it is and where.
    pub fn describe(&self) -> String {
        match self {
            Target::Dcs { instance_id, .. } => format!("DCS instance {instance_id}"),
            Target::Redis(target) => {
                let keys = match &target.key_scan {
                    Some(k) => format!(
                        "; its keys walked every {} at {} keys/s, {} keys a measure named {}",
                        humantime::format_duration(k.interval),
                        k.keys_per_second,
                        k.limits.max_keys,
                        <&str>::from(k.limits.naming.names)
                    ),
                    None => String::new(),
                };
                format!(
                    "redis {} at {} (node {}){keys}",
                    target.name, target.url, target.node_id
                )
            }
        }
    }

    /// Scans one node, with what its earlier scans kept in `state`; `previous` is the node's
    /// data published last, kept when its stored list has not changed (DCS).
    pub async fn scan(
        &self,
        node_id: &str,
        settings: &ScanSettings,
        state: &mut NodeScanState,
        previous: Option<&NodeData>,
        deadline: Instant,
    ) -> Result<ScanOutcome, Failure> {
        match self {
            Target::Dcs { api, instance_id } => super::dcs::scan_node(
                api,
                instance_id,
                node_id,
                settings,
                &mut state.pending_job,
                previous,
                deadline,
            )
            .await
            .map(|data| ScanOutcome {
                data,
                role: None,
                limits: None,
                limits_error: None,
                slow_log: None,
            }),
            Target::Redis(target) => {
                // Read at every scan, so a rotated password is picked up.
                let endpoint = target
                    .endpoint()
                    .map_err(|e| Failure::new(Stage::Scan, Reason::Password, e.to_string()))?;
                super::redis::scan(target, &endpoint, settings, state, deadline).await
            }
        }
    }
}

/// What operators and the webhook do: each within [`COMMAND_TIMEOUT`].
impl Target {
    /// A node's sessions (for DCS, after a fresh scan unless `opts.cached`).
    pub async fn list(&self, opts: &ListOptions) -> Result<Listing, TargetError> {
        if let Some(field) = &opts.sort
            && !CLIENT_FIELDS.contains(&field.as_str())
        {
            return Err(TargetError::Usage(format!(
                "--sort {field:?} is not a session field ({})",
                CLIENT_FIELDS.join(", ")
            )));
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        match self {
            Target::Dcs { api, instance_id } => {
                super::dcs::list(api, instance_id, opts, deadline).await
            }
            Target::Redis(target) => super::redis::list(target, opts, deadline).await,
        }
    }

    /// Counts the sessions a kill-all of `node` (or of every node) would end.
    pub async fn plan_kill_all(
        &self,
        node: Option<&str>,
        all_nodes: bool,
    ) -> Result<KillPlan, TargetError> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        match self {
            Target::Dcs { api, instance_id } => {
                super::dcs::plan_kill_all(api, instance_id, node, all_nodes, deadline).await
            }
            Target::Redis(target) => {
                super::redis::plan_kill_all(target, node, all_nodes, deadline).await
            }
        }
    }

    /// Ends the sessions of a plan; for DCS, polls the job to its end. What happened, for
    /// people.
    pub async fn kill_all(&self, plan: &KillPlan) -> Result<String, TargetError> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        match self {
            Target::Dcs { api, instance_id } => {
                super::dcs::kill_all(api, instance_id, plan, deadline).await
            }
            Target::Redis(target) => super::redis::kill_all(target, deadline).await,
        }
    }

    /// Ends the sessions of one node with these `ip:port` addresses (for DCS, their `peer`).
    pub async fn kill_clients(&self, node_id: &str, addrs: &[String]) -> Result<(), TargetError> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        match self {
            Target::Dcs { api, instance_id } => {
                api.kill_clients(instance_id, node_id, addrs, deadline)
                    .await?;
                Ok(())
            }
            Target::Redis(target) => super::redis::kill_clients(target, addrs, deadline).await,
        }
    }
}
