//! One poll of a DBSS resource's instance-creation jobs.

use tokio::time::Instant;

use crate::cloud::ApiClient;
use crate::cloud::dbss::JobBean;
use crate::snapshot::{Failure, Stage};

pub async fn poll(
    api: &ApiClient,
    resource_id: &str,
    deadline: Instant,
) -> Result<Vec<JobBean>, Failure> {
    api.list_audit_jobs(resource_id, deadline)
        .await
        .map(|answer| answer.jobs)
        .map_err(|e| Failure {
            stage: Stage::List,
            reason: e.reason().into_owned(),
            message: e.to_string(),
        })
}
