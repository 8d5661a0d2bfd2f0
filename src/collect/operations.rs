//! What operators and the remediation webhook do to a target's sessions: the options, results
//! and errors every kind of target shares.

use std::time::Duration;

use crate::accounts::AccountError;
use crate::cloud::ApiError;
use crate::cloud::dcs::SortOrder;
use crate::config::SecretError;
use crate::redis::RedisFailure;
use crate::session::ClientInfo;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "instance {0:?} is in no [[cloud]] or [[redis]] of the configuration; with several clouds and discovery, name the cloud with --cloud"
    )]
    UnknownInstance(String),
    #[error("cloud {0:?} is not in the configuration")]
    UnknownCloud(String),
    #[error(
        "node {node:?} is not a node of instance {instance} that takes clients (nodes: {known})"
    )]
    UnknownNode {
        instance: String,
        node: String,
        known: String,
    },
    #[error("--node is required: instance {instance} has the nodes {known}")]
    NodeRequired { instance: String, known: String },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("redis: {0}")]
    Redis(RedisFailure),
    /// A Redis target's password cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A cloud's account cannot be used.
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("{0}")]
    Usage(String),
    #[error("the job {job_id} ended {status}: {reason}")]
    JobFailed {
        job_id: String,
        status: String,
        reason: String,
    },
}

impl TargetError {
    /// The command was given wrong arguments (exit status 2), rather than failing.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TargetError::UnknownInstance(_)
                | TargetError::UnknownCloud(_)
                | TargetError::UnknownNode { .. }
                | TargetError::NodeRequired { .. }
                | TargetError::Usage(_)
        )
    }
}

impl From<RedisFailure> for TargetError {
    fn from(f: RedisFailure) -> Self {
        TargetError::Redis(f)
    }
}

/// How long one command may take in all.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub node: Option<String>,
    pub sort: Option<String>,
    pub order: Option<SortOrder>,
    pub addr: Option<String>,
    /// One page from `offset`; every session when neither is given.
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// Read the stored list as it is, without a fresh scan.
    pub cached: bool,
}

/// The sessions listed, and what the list says of itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listing {
    pub instance_id: String,
    pub node_id: String,
    /// When the list was produced.
    pub time: Option<String>,
    /// Sessions matching, across all pages.
    pub count: u64,
    pub clients: Vec<ClientInfo>,
}

/// What kill-all will end.
pub struct KillPlan {
    pub description: String,
    pub sessions: u64,
    pub(super) nodes: Vec<String>,
    pub(super) all_nodes: bool,
}

impl KillPlan {
    /// A kill-all of one node, without counting its sessions first.
    pub fn node(instance_id: &str, node_id: &str) -> Self {
        Self {
            description: format!("instance {instance_id}, node {node_id}"),
            sessions: 0,
            nodes: vec![node_id.to_string()],
            all_nodes: false,
        }
    }
}
