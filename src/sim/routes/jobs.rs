//! The job calls: a DCS job's progress, and DBSS's job records on its current and legacy paths.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::on;

use super::faults::fault;
use super::handler::Handlers;
use crate::cloud::error::Operation;
use crate::sim::gateway::Answer;
use crate::sim::simulator::Simulator;

/// The operations served here.
pub(super) fn handlers() -> Handlers {
    use Operation as Op;
    vec![
        (Op::ShowJob, |m| on(m, show_job)),
        (Op::ListAuditJobs, |m| on(m, audit_jobs)),
    ]
}

pub(super) async fn show_job(
    State(sim): State<Arc<Simulator>>,
    Path((_, job_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ShowJob, None).await {
        return Ok(response);
    }
    let job = sim.with_state(|s| s.show_job(&job_id, sim.now()))?;
    Ok(Json(job).into_response())
}

pub(super) async fn audit_jobs(
    State(sim): State<Arc<Simulator>>,
    Path((_, resource_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListAuditJobs, None).await {
        return Ok(response);
    }
    let jobs = sim.with_state(|s| s.audit_jobs(&resource_id, false))?;
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}

pub(super) async fn audit_jobs_legacy(
    State(sim): State<Arc<Simulator>>,
    Path((_, resource_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListAuditJobs, None).await {
        return Ok(response);
    }
    let jobs = sim.with_state(|s| s.audit_jobs(&resource_id, true))?;
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}
