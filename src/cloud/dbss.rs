//! DBSS calls: the instance-creation job records of an audit resource.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client::{ApiClient, Call};
use super::dcs::JobStatus;
use super::error::{ApiError, Operation};
use crate::session::lenient;

/// One job record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBean {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_id: Option<String>,
    #[serde(default)]
    pub status: JobStatus,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub server_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub server_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub resource_id: Option<String>,
    /// Millisecond epoch; null while unknown.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub begin_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub end_time: Option<i64>,
    /// `Period` or `Demand`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub charge_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub error_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fail_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ha_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ha_name: Option<String>,
}

fn epoch_millis(ms: Option<i64>) -> Option<SystemTime> {
    let ms = u64::try_from(ms?).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

impl JobBean {
    pub fn began(&self) -> Option<SystemTime> {
        epoch_millis(self.begin_time)
    }

    pub fn ended(&self) -> Option<SystemTime> {
        epoch_millis(self.end_time)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditJobs {
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub jobs: Vec<JobBean>,
}

/// The deprecated path of the audit jobs, still served by some regions.
pub const LEGACY_AUDIT_JOBS_PATH: &str = "/v1/{project_id}/dbss/audit/jobs/{resource_id}";

impl ApiClient {
    /// The job records of an audit resource: the current path first, the deprecated one when
    /// the current one is not there (404).
    pub async fn list_audit_jobs(
        &self,
        resource_id: &str,
        deadline: Instant,
    ) -> Result<AuditJobs, ApiError> {
        let params = [self.project_id(), resource_id];
        let current = Call::of(Operation::ListAuditJobs, &params);
        match self.call_json(&current, deadline).await {
            Err(e) if e.status == Some(404) => {
                let legacy = Call::at(
                    Operation::ListAuditJobs,
                    Method::GET,
                    LEGACY_AUDIT_JOBS_PATH,
                    &params,
                );
                self.call_json(&legacy, deadline).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_answer() {
        let jobs: AuditJobs = serde_json::from_str(
            r#"{"jobs":[{"ha_id":"2c15","ha_name":null,"status":"SUCCESS","job_type":null,
            "job_id":"8abf","begin_time":1671519371000,"end_time":1671519417000,"error_code":null,
            "fail_reason":null,"charge_mode":"Demand","server_name":"DBSS-qct-1220","server_id":"0aa8"}]}"#,
        )
        .unwrap();
        let job = &jobs.jobs[0];
        assert_eq!(job.status, JobStatus::Success);
        assert_eq!(job.job_type, None);
        assert_eq!(
            job.ended()
                .unwrap()
                .duration_since(job.began().unwrap())
                .unwrap(),
            Duration::from_secs(46)
        );
    }
}
