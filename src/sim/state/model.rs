//! The state's model: instances, their nodes, jobs, and the [`SimState`] that holds them. The
//! calls on it are added by the files of each concern (jobs, pages, sessions, instances, DBSS).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;

use super::key_tasks::InstanceKeys;
use super::stored::StoredList;
use crate::cloud::dbss::JobBean;
use crate::cloud::dcs::{InstanceConfigs, InstanceSummary, LogicalNode};
use crate::redis::RedisEndpoint;
use crate::sim::error::{RealWorkError, SimError, SimResult, codes};
use crate::sim::population::{ClientProfile, Population};
use crate::sim::slowlog::SimSlowLog;
use crate::sim::topology::{Architecture, DbssPaths, SlowLogFlag};

/// A logical node: its listing, its sessions and stored list, the scan under way.
pub(super) struct SimNode {
    pub(super) info: LogicalNode,
    pub(super) takes_clients: bool,
    pub(super) population: Population,
    pub(super) stored: Option<StoredList>,
    /// The scan job under way, if any.
    pub(super) scanning: Option<String>,
    /// A real Redis server behind this node.
    pub(super) backend: Option<RedisEndpoint>,
}

/// An instance: its listing, nodes, parameters, slow log and client machines.
pub(super) struct SimInstance {
    pub(super) summary: InstanceSummary,
    /// Whether it keeps a slow log the API serves, and how its details spell that.
    pub(super) keeps_slow_log: bool,
    pub(super) slow_log_flag: SlowLogFlag,
    pub(super) slow_log: SimSlowLog,
    /// The machines its clients run on.
    pub(super) clients: Arc<ClientProfile>,
    pub(super) configs: InstanceConfigs,
    pub(super) architecture: Architecture,
    pub(super) nodes: Vec<SimNode>,
    pub(super) node_index: HashMap<String, usize>,
    /// Its keys and DCS's analyses of them.
    pub(super) keys: InstanceKeys,
}

/// What a job does when it ends.
pub(super) enum JobKind {
    Scan {
        instance: usize,
        node: usize,
        refresh: bool,
    },
    KillAll {
        instance: usize,
        nodes: Vec<usize>,
    },
}

/// A job, kept for polling.
pub(super) struct SimJob {
    pub(super) id: String,
    pub(super) kind: JobKind,
    pub(super) begin_ms: i64,
    /// When the job ends; for a job on a real server, the least it takes.
    pub(super) end_ms: i64,
    pub(super) applied: bool,
    /// A job on a real server ends when the server has answered: `None` until then, then
    /// `Ok` or the failure reason.
    pub(super) driven: Option<Option<Result<(), RealWorkError>>>,
}

/// What the caller must do on real servers for a job it started.
#[derive(Clone, Debug)]
pub struct RealWork {
    pub job_id: String,
    pub endpoints: Vec<RedisEndpoint>,
}

impl SimJob {
    pub(super) fn job_type(&self) -> &'static str {
        match self.kind {
            JobKind::Scan { .. } => "ScanClients",
            JobKind::KillAll { .. } => "KillAllClients",
        }
    }
}

/// The simulated services: the instances with their nodes, the jobs, the DBSS records.
pub struct SimState {
    pub(super) instances: Vec<SimInstance>,
    pub(super) instance_index: HashMap<String, usize>,
    pub(super) jobs: HashMap<String, SimJob>,
    /// Job ids, oldest first, for pruning.
    pub(super) job_order: VecDeque<String>,
    /// Jobs whose effect is not applied yet.
    pub(super) pending: Vec<String>,
    pub(super) dbss: HashMap<String, Vec<JobBean>>,
    pub(super) dbss_paths: DbssPaths,
    pub(super) job_duration: Duration,
    /// How long a big-key or hot-key analysis takes.
    pub(super) key_task_duration: Duration,
    pub(super) ids: StdRng,
}

/// Lookups every call starts with.
impl SimState {
    /// An instance by its id; the service's 404 when there is none.
    pub(super) fn instance(&self, instance_id: &str) -> SimResult<usize> {
        self.instance_index
            .get(instance_id)
            .copied()
            .ok_or_else(|| {
                SimError::dcs(
                    404,
                    codes::INSTANCE_NOT_FOUND,
                    format!("The DCS instance {instance_id} does not exist."),
                )
            })
    }

    /// A node that takes clients: data nodes, or proxies where the instance has them.
    pub(super) fn client_node(&self, instance: usize, node_id: Option<&str>) -> SimResult<usize> {
        let node_id = node_id
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SimError::invalid("node_id is required."))?;
        let inst = &self.instances[instance];
        let &index = inst.node_index.get(node_id).ok_or_else(|| {
            SimError::invalid(format!("node_id {node_id} is not a node of this instance."))
        })?;
        if !inst.nodes[index].takes_clients {
            return Err(SimError::invalid(if inst.architecture.has_proxies() {
                format!("node_id {node_id} must be a proxy node for this instance type.")
            } else {
                format!("node_id {node_id} does not serve clients.")
            }));
        }
        Ok(index)
    }

    /// The id of the `index`-th node (from 1) that takes clients of the instance named.
    pub fn client_node_by_name(&self, name: &str, index: usize) -> Option<String> {
        let instance = self
            .instances
            .iter()
            .find(|i| i.summary.name.as_deref() == Some(name))?;
        instance
            .nodes
            .iter()
            .filter(|n| n.takes_clients)
            .nth(index.checked_sub(1)?)
            .and_then(|n| n.info.node_id.clone())
    }

    /// The ids of every instance, in topology order.
    pub fn instance_ids(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|i| i.summary.instance_id.clone())
            .collect()
    }
}
