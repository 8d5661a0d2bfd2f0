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

/// A node's session limit and idle timeout, as a scan found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_clients: Limit,
    pub idle_timeout: Limit,
}

/// One limit: read from the node, or what stands in for it where the read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Read(u64),
    /// The configured value: taken only where the node has no value read before, so a failed
    /// read keeps the last good one.
    Fallback(Option<u64>),
}

impl Limit {
    /// `known` updated by this scan's finding.
    pub fn apply(self, known: &mut Option<u64>) {
        match self {
            Limit::Read(value) => *known = Some(value),
            Limit::Fallback(configured) => {
                if known.is_none() {
                    *known = configured;
                }
            }
        }
    }
}
