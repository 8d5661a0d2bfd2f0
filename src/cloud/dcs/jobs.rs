//! Scan jobs: started, looked at, and polled until they end.

use std::time::Duration;

use tokio::time::Instant;

use super::wire::{DcsJob, JobRef};
use crate::cloud::client::{ApiClient, Call};
use crate::cloud::error::{ApiError, ErrorKind, Operation};

/// How a job is polled until it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollOptions {
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_millis(500),
            max_wait: Duration::from_secs(5),
        }
    }
}

impl ApiClient {
    /// Starts a scan of a node's sessions; `clean_cache` false reuses a stored list.
    pub async fn start_scan(
        &self,
        instance_id: &str,
        node_id: &str,
        clean_cache: bool,
        deadline: Instant,
    ) -> Result<String, ApiError> {
        let call = Call::of(Operation::ScanClients, &[self.project_id(), instance_id])
            .json_body(&serde_json::json!({"node_id": node_id, "clean_cache": clean_cache}));
        job_id(call.operation, self.call_json(&call, deadline).await?)
    }

    pub async fn show_job(&self, job_id: &str, deadline: Instant) -> Result<DcsJob, ApiError> {
        let call = Call::of(Operation::ShowJob, &[self.project_id(), job_id]);
        self.call_json(&call, deadline).await
    }

    /// Polls a job, waiting half as long again each time, until it ends (`SUCCESS` or `FAIL`) or the
    /// deadline passes. Each look is a call against the account's request rate, so the first is
    /// not at once but when the account's recent jobs had ended (at `first_wait` until one has).
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        poll: &PollOptions,
        deadline: Instant,
    ) -> Result<DcsJob, ApiError> {
        let first = self
            .job_timing
            .first_look()
            .map_or(poll.first_wait, |d| d.max(poll.first_wait));
        if Instant::now() + first < deadline {
            tokio::time::sleep(first).await;
        }
        let mut wait = poll.first_wait.mul_f64(1.5).min(poll.max_wait);
        loop {
            let job = self.show_job(job_id, deadline).await?;
            if job.status.is_finished() {
                if let (Some(began), Some(ended)) = (job.began(), job.ended())
                    && let Ok(took) = ended.duration_since(began)
                {
                    self.job_timing.record(took);
                }
                return Ok(job);
            }
            if Instant::now() + wait >= deadline {
                let running_for = job
                    .began()
                    .and_then(|began| self.service_clock().now().duration_since(began).ok())
                    .map(|d| {
                        format!(
                            " (begun {} ago)",
                            humantime::format_duration(Duration::from_secs(d.as_secs()))
                        )
                    })
                    .unwrap_or_default();
                return Err(ApiError::new(
                    Operation::ShowJob,
                    ErrorKind::Timeout,
                    format!(
                        "job {job_id} still {} at the deadline{running_for}",
                        job.status.as_str()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(1.5).min(poll.max_wait);
        }
    }
}

pub(super) fn job_id(operation: Operation, answer: JobRef) -> Result<String, ApiError> {
    answer
        .job_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::new(operation, ErrorKind::Decode, "the answer has no job_id"))
}
