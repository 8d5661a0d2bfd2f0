//! Faults injected into the simulated service: what goes wrong (an error answer, no answer, a
//! late, cut or malformed one, jobs that never end or fail, pages that lie), for which calls,
//! and how often; and a topology's fault specs resolved to them.

use std::time::Duration;

use super::error::{ErrorShape, SimError, codes};
use super::fault_kind::{FaultKind, FaultKindName};
use super::state::SimState;
use super::topology::FaultSpec;
use crate::cloud::error::Operation;

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
    let operation: Operation = spec
        .operation
        .parse()
        .map_err(|_| FaultSpecError::UnknownOperation(spec.operation.clone()))?;
    let name: FaultKindName = spec
        .kind
        .parse()
        .map_err(|_| FaultSpecError::UnknownKind(spec.kind.clone()))?;
    let kind = match name {
        FaultKindName::Error => {
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
        FaultKindName::Hang => FaultKind::Hang,
        FaultKindName::Slow => FaultKind::Slow(spec.delay.unwrap_or(Duration::from_secs(30))),
        FaultKindName::TruncatedBody => FaultKind::TruncatedBody,
        FaultKindName::WrongTypes => FaultKind::WrongTypes,
        FaultKindName::HugeBody => FaultKind::HugeBody(spec.bytes.unwrap_or(64 << 20)),
        FaultKindName::JobStuck => FaultKind::JobStuck,
        FaultKindName::JobFails => FaultKind::JobFails,
        FaultKindName::TimeChanges => FaultKind::TimeChanges,
        FaultKindName::CountTooLarge => FaultKind::CountTooLarge,
        FaultKindName::EndlessPages => FaultKind::EndlessPages,
        FaultKindName::EmptyKeys => FaultKind::EmptyKeys,
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
