//! Faults injected into the simulated service: what goes wrong (an error answer, no answer, a
//! late, cut or malformed one, jobs that never end or fail, pages that lie), for which calls,
//! and how often; and a topology's fault specs resolved to them.

use std::time::Duration;

use super::error::{ErrorShape, SimError, codes};
use super::state::SimState;
use super::topology::FaultSpec;
use crate::cloud::error::Operation;

/// A way the simulated service misbehaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An error answer: 5xx, 429 (`APIG.0308`), 401 (`APIG.0301`, a refused signature), ...
    Error(SimError),
    /// No answer at all, until the client gives up.
    Hang,
    /// The right answer, late.
    Slow(Duration),
    /// An answer cut short: the body ends before its announced length.
    TruncatedBody,
    /// A body of JSON with wrong types and nulls where values belong.
    WrongTypes,
    /// An answer of this many bytes, far larger than any sane page.
    HugeBody(usize),
    /// Scan jobs of the node never end (`RUNNING` for ever).
    JobStuck,
    /// Scan jobs of the node end `FAIL`.
    JobFails,
    /// Every page of the stored list carries a new `time`.
    TimeChanges,
    /// `count` larger than the pages deliver.
    CountTooLarge,
    /// Full pages for ever, without a `count`.
    EndlessPages,
}

/// A fault for the next `times` calls of one operation (of one node, when `node_id` is
/// given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub node_id: Option<String>,
    pub times: u32,
    pub kind: FaultKind,
    /// Hits one matching call in this many (1: every one), as real nodes fail now and then.
    pub every: u32,
    /// Matching calls seen, for `every`.
    pub seen: u32,
}

impl Fault {
    /// Answers the next `times` calls with `error`.
    pub fn new(operation: Operation, times: u32, error: SimError) -> Self {
        Self::of(operation, times, FaultKind::Error(error))
    }

    pub fn of(operation: Operation, times: u32, kind: FaultKind) -> Self {
        Self {
            operation,
            node_id: None,
            times,
            kind,
            every: 1,
            seen: 0,
        }
    }

    /// Hits one matching call in `every`.
    pub fn now_and_then(mut self, every: u32) -> Self {
        self.every = every.max(1);
        self
    }

    pub fn on_node(mut self, node_id: &str) -> Self {
        self.node_id = Some(node_id.to_string());
        self
    }
}

/// A topology's fault that names what is not there.
#[derive(Debug, thiserror::Error)]
pub enum FaultSpecError {
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    #[error("unknown fault kind {0:?}")]
    UnknownKind(String),
    #[error("instance {instance:?} has no node {index} that takes clients")]
    NoSuchNode { instance: String, index: usize },
}

/// A topology's fault, resolved to an operation, a node id and a kind.
pub fn fault_from_spec(spec: &FaultSpec, state: &SimState) -> Result<Fault, FaultSpecError> {
    let operation = Operation::ALL
        .into_iter()
        .find(|o| o.as_str() == spec.operation)
        .ok_or_else(|| FaultSpecError::UnknownOperation(spec.operation.clone()))?;
    let kind = match spec.kind.as_str() {
        "error" => {
            let status = spec.status.unwrap_or(500);
            let code = spec.code.clone().unwrap_or_else(|| codes::INTERNAL.into());
            let shape = if code.starts_with("APIG.") {
                ErrorShape::Gateway
            } else if code.starts_with("DBSS.") {
                ErrorShape::Dbss
            } else {
                ErrorShape::Dcs
            };
            FaultKind::Error(SimError {
                status,
                shape,
                code,
                message: "Injected by the topology.".into(),
            })
        }
        "hang" => FaultKind::Hang,
        "slow" => FaultKind::Slow(spec.delay.unwrap_or(Duration::from_secs(30))),
        "truncated_body" => FaultKind::TruncatedBody,
        "wrong_types" => FaultKind::WrongTypes,
        "huge_body" => FaultKind::HugeBody(spec.bytes.unwrap_or(64 << 20)),
        "job_stuck" => FaultKind::JobStuck,
        "job_fails" => FaultKind::JobFails,
        "time_changes" => FaultKind::TimeChanges,
        "count_too_large" => FaultKind::CountTooLarge,
        "endless_pages" => FaultKind::EndlessPages,
        other => return Err(FaultSpecError::UnknownKind(other.to_string())),
    };
    let times = if spec.times == 0 {
        u32::MAX
    } else {
        spec.times
    };
    let mut fault = Fault::of(operation, times, kind).now_and_then(spec.every.unwrap_or(1));
    if let Some(name) = &spec.instance {
        let index = spec.node.unwrap_or(1);
        let node =
            state
                .client_node_by_name(name, index)
                .ok_or_else(|| FaultSpecError::NoSuchNode {
                    instance: name.clone(),
                    index,
                })?;
        fault = fault.on_node(&node);
    }
    Ok(fault)
}
