//! What a scan of one node brings back.

use crate::slowlog::SlowEntry;
use crate::snapshot::{ContextRead, NodeData, Reason};

/// A successful scan: the data, and the node's role and limits when the scan learns them.
pub struct ScanOutcome {
    pub data: NodeData,
    pub role: Option<String>,
    pub limits: Option<NodeLimits>,
    /// Reading the limits failed (the scan did not): the operation and the reason.
    pub limits_error: Option<(ContextRead, Reason)>,
    /// The node's slow log and the time by its clock, where the scan reads it; or why it could
    /// not (the scan did not fail).
    pub slow_log: Option<Result<(Vec<SlowEntry>, std::time::SystemTime), Reason>>,
}

/// A node's session limit and idle timeout, where known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_clients: Option<u64>,
    pub idle_timeout: Option<u64>,
}
