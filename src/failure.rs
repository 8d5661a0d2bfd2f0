//! The one failure shape that reaches labels, logs and the landing page: where a target's
//! collection failed, a bounded reason for labels, and a message for people. Built with `From`
//! from each source's own error.

use crate::cloud::{ApiError, Operation};
pub use crate::reason::Reason;
use crate::redis::RedisFailure;

/// Where a scan failed; a closed set, used as a metric label.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Stage {
    /// Starting the scan job.
    Scan,
    /// Polling the job.
    Job,
    /// Reading the stored list.
    List,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a scan failed: the stage, a bounded reason for labels, and the message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub reason: Reason,
    pub message: String,
}

impl Failure {
    /// A failure of the exporter's own making (a stale list, a failed job, a missing password).
    pub fn new(stage: Stage, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            stage,
            reason,
            message: message.into(),
        }
    }

    /// A Redis failure at `stage`: the Redis client cannot tell a login from a listing.
    pub fn redis(stage: Stage, f: RedisFailure) -> Self {
        Self {
            stage,
            reason: f.reason,
            message: f.message,
        }
    }
}

/// The stage of an API call: starting a scan job, polling it, or reading (the session list,
/// DBSS records, instances and nodes).
impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let stage = match e.operation {
            Operation::ScanClients | Operation::KillAllClients | Operation::KillClients => {
                Stage::Scan
            }
            Operation::ShowJob => Stage::Job,
            // Every other call reads.
            _ => Stage::List,
        };
        Self {
            stage,
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ErrorKind;

    #[test]
    fn an_api_error_fails_the_stage_of_its_call_with_a_bounded_reason() {
        let failure = |operation, kind| Failure::from(ApiError::new(operation, kind, "no"));
        let scan = failure(Operation::ScanClients, ErrorKind::Timeout);
        assert_eq!((scan.stage, scan.reason.as_str()), (Stage::Scan, "timeout"));
        assert_eq!(
            failure(Operation::ShowJob, ErrorKind::Timeout).stage,
            Stage::Job
        );
        let list = failure(Operation::ListAuditJobs, ErrorKind::Decode);
        assert_eq!((list.stage, list.reason.as_str()), (Stage::List, "decode"));
        assert!(list.message.contains("no"));
    }
}
