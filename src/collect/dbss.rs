//! One poll of a DBSS resource's instance-creation jobs.

use tokio::time::Instant;

use crate::cloud::ApiClient;
use crate::cloud::dbss::JobBean;
use crate::failure::Failure;

pub async fn poll(
    api: &ApiClient,
    resource_id: &str,
    deadline: Instant,
) -> Result<Vec<JobBean>, Failure> {
    api.list_audit_jobs(resource_id, deadline)
        .await
        .map(|answer| answer.jobs)
        .map_err(Failure::from)
}
