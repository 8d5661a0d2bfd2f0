//! One poll of a DBSS resource's instance-creation jobs.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::runtime::{CloudRuntime, Shared, log_outcome, spread};
use crate::snapshot::Attempt;

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

/// Polls one DBSS resource's job records on the scan interval, forever.
pub(super) async fn dbss_loop(shared: Arc<Shared>, cloud: Arc<CloudRuntime>, resource: String) {
    let settings = &shared.settings;
    shared
        .store
        .update_dbss(&resource, |d| d.cloud = cloud.config.name.clone());
    tokio::time::sleep(spread(&resource, settings.first_scan_spread)).await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_failure = None;
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let span =
            tracing::info_span!("dbss_poll", cloud = %cloud.config.name, resource_id = %resource);
        let result = poll(&cloud.api, &resource, started + settings.scan_timeout)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        let failure = result.as_ref().err().cloned();
        {
            let _entered = span.enter();
            log_outcome(&mut last_failure, failure.as_ref(), "DBSS poll");
        }
        shared.store.update_dbss(&resource, |d| {
            if let Some(f) = &failure {
                let reason = f.reason.clone().bounded(d.errors.keys());
                *d.errors.entry(reason).or_insert(0) += 1;
            }
            d.last_attempt = Some(Attempt {
                finished: SystemTime::now(),
                duration,
                failure,
            });
            if let Ok(jobs) = result {
                d.record_jobs(jobs, SystemTime::now());
            }
        });
    }
}
