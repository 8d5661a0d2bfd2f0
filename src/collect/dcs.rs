//! One scan of one node (start the job, poll it, read every page) and one poll of one DBSS
//! resource.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::settings::ScanSettings;
use crate::aggregate::Aggregator;
use crate::cloud::dcs::{JobStatus, parse_list_time};
use crate::cloud::{ApiClient, ErrorKind};
use crate::snapshot::{Failure, NodeData, Stage};

/// The DCS code of "a scan is already running": the stored list can still be read.
pub const TASK_STATE_CODE: &str = "DCS.4957";

/// Scans a node and aggregates its sessions page by page. `pending` is the node's scan job
/// that was still running when an earlier scan gave up on it: while it runs, the service
/// refuses a new one (`DCS.4957`), and this scan waits on it again rather than reading a list
/// that may not exist yet.
pub async fn scan_node(
    api: &ApiClient,
    instance_id: &str,
    node_id: &str,
    settings: &ScanSettings,
    pending: &mut Option<String>,
    deadline: Instant,
) -> Result<NodeData, Failure> {
    let job_id = match api
        .start_scan(instance_id, node_id, settings.clean_cache, deadline)
        .await
    {
        Ok(job_id) => Some(job_id),
        Err(e) if e.code.as_deref() == Some(TASK_STATE_CODE) => {
            if pending.is_none() {
                // Someone else's scan runs: read what is stored, as the service allows.
                tracing::debug!(
                    instance_id,
                    node_id,
                    "a scan is already running; reading the stored list"
                );
            }
            pending.clone()
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(job_id) = job_id {
        *pending = Some(job_id.clone());
        let job = match api.wait_for_job(&job_id, &settings.poll, deadline).await {
            Ok(job) => job,
            Err(e) => {
                // A job that no longer answers (unknown, refused) is not waited on again.
                if e.kind != ErrorKind::Timeout {
                    *pending = None;
                }
                return Err(e.into());
            }
        };
        *pending = None;
        if job.status == JobStatus::Fail {
            return Err(Failure::new(
                Stage::Job,
                "job_failed",
                format!(
                    "scan job {job_id} failed: {}",
                    job.fail_reason.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
    }
    let mut aggregator = Aggregator::new(Arc::clone(&settings.aggregate));
    let list = api
        .read_stored_list(
            instance_id,
            node_id,
            &settings.paging,
            &mut aggregator,
            deadline,
        )
        .await
        .map_err(Failure::from)?;
    let data_time = list.time.as_deref().and_then(parse_list_time);
    // A stored list older than the staleness limit (a scan stuck on the service's side, or
    // clean_cache = false) is no fresh data, whatever the scan says. Its age is measured on
    // the service's clock, which wrote its time: the local clock may be minutes off.
    let service_now = api.service_clock().now();
    if let Some(age) = data_time.and_then(|t| service_now.duration_since(t).ok())
        && age > settings.stale_after
    {
        return Err(Failure::new(
            Stage::List,
            "stale_list",
            format!(
                "the stored list is {} old, older than stale_after",
                humantime::format_duration(std::time::Duration::from_secs(age.as_secs()))
            ),
        ));
    }
    Ok(NodeData {
        data_time,
        aggregate: aggregator.finish(),
        scanned: SystemTime::now(),
    })
}
