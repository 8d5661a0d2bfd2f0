//! What a scan of one node brings back, and what a node's scans keep from one to the next.

use crate::redis::SlowlogMark;
use crate::slowlog::SlowEntry;
use crate::snapshot::{ContextRead, NodeData, Reason};

/// A successful scan: the data, and the node's role and limits when the scan learns them.
pub struct ScanOutcome {
    pub data: NodeData,
    pub role: Option<String>,
    pub limits: Option<NodeLimits>,
    /// Reading the limits failed (the scan did not): the operation and the reason.
    pub limits_error: Option<(ContextRead, Reason)>,
    /// The node's slow log, where the scan reads it; or why it could not (the scan did not fail).
    pub slow_log: Option<Result<SlowLogRead, Reason>>,
}

/// A read of a node's slow log.
pub enum SlowLogRead {
    /// Its entries, and the time by its clock.
    Entries(Vec<SlowEntry>, std::time::SystemTime),
    /// Nothing came since the last read that took its entries: no entry is new.
    Unchanged,
}

/// What a node's scans keep from one to the next.
#[derive(Default)]
pub struct NodeScanState {
    /// The node's scan job that outlived an earlier scan (DCS), waited on by the next.
    pub pending_job: Option<String>,
    /// The memory a direct target's `CLIENT LIST` reply is read into, scan after scan.
    pub reply: Vec<u8>,
    /// A direct target's slow log as the last read of its entries found it; `None`: the next
    /// read takes every entry.
    pub slow_log: Option<SlowlogMark>,
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
