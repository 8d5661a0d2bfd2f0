//! DBSS: the audit instances' job records of each resource, made up once from the topology,
//! and the two paths that list them.

use std::collections::HashMap;

use rand::rngs::StdRng;

use super::ids::{hex32, uuid_like};
use super::model::SimState;
use crate::cloud::dbss::JobBean;
use crate::cloud::dcs::JobStatus;
use crate::sim::error::{ErrorShape, SimError, SimResult, api_not_found, codes};
use crate::sim::topology::{DbssPaths, DbssResourceSpec, Topology};

/// The job records of every DBSS resource of the topology, by resource id.
pub(super) fn dbss_records(
    topology: &Topology,
    ids: &mut StdRng,
    now_ms: i64,
) -> HashMap<String, Vec<JobBean>> {
    topology
        .dbss_resources
        .iter()
        .map(|r| (r.id.clone(), resource_jobs(r, ids, now_ms)))
        .collect()
}

/// One resource's records: the succeeded ones days ago, the failed ones hours ago, the running
/// ones started minutes ago.
fn resource_jobs(r: &DbssResourceSpec, ids: &mut StdRng, now_ms: i64) -> Vec<JobBean> {
    let mut jobs = Vec::new();
    let mut job = |status: JobStatus, begin_ago_s: i64, took_s: Option<i64>| {
        let begin = now_ms - begin_ago_s * 1000;
        jobs.push(JobBean {
            job_id: Some(hex32(ids)),
            status: status.clone(),
            job_type: Some("CREATE_INSTANCE".into()),
            server_id: Some(uuid_like(ids)),
            server_name: Some(format!("DBSS-{}-{}", r.id, jobs.len() + 1)),
            resource_id: Some(r.id.clone()),
            begin_time: Some(begin),
            end_time: took_s.map(|t| begin + t * 1000),
            charge_mode: Some(
                if jobs.len() % 2 == 0 {
                    "Demand"
                } else {
                    "Period"
                }
                .into(),
            ),
            error_code: (status == JobStatus::Fail).then(|| "DBSS.1007".into()),
            fail_reason: (status == JobStatus::Fail)
                .then(|| "Insufficient resources in the selected AZ.".into()),
            ha_id: Some(uuid_like(ids)),
            ha_name: None,
        });
    };
    for k in 0..r.succeeded {
        let k = i64::from(k);
        job(JobStatus::Success, 86_400 * (k + 2), Some(45 + 30 * k));
    }
    for k in 0..r.failed {
        job(JobStatus::Fail, 7_200 + 600 * i64::from(k), Some(300));
    }
    for k in 0..r.running {
        job(JobStatus::Running, 1_500 + 60 * i64::from(k), None);
    }
    jobs
}

impl SimState {
    /// The DBSS job records of a resource; `legacy_path` tells which path was called.
    pub fn audit_jobs(&self, resource_id: &str, legacy_path: bool) -> SimResult<Vec<JobBean>> {
        if !legacy_path && self.dbss_paths == DbssPaths::LegacyOnly {
            return Err(api_not_found());
        }
        self.dbss.get(resource_id).cloned().ok_or_else(|| SimError {
            status: 404,
            shape: ErrorShape::Dbss,
            code: codes::DBSS_NOT_FOUND.into(),
            message: format!("The resource {resource_id} does not exist."),
        })
    }
}
