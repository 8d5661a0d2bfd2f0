//! The session calls: start a scan, read a page of the stored list, kill every session or
//! chosen ones; on nodes a real server backs, the work is done there.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::on;
use rand::RngExt;
use serde::Deserialize;

use super::faults::fault;
use super::handler::Handlers;
use crate::cloud::error::Operation;
use crate::sim::clock::{format_time, millis};
use crate::sim::error::RealWorkError;
use crate::sim::error::{SimError, codes};
use crate::sim::fault_kind::FaultKind;
use crate::sim::gateway::{Answer, ApiFailure};
use crate::sim::real_work::RealTask;
use crate::sim::simulator::Simulator;
use crate::sim::state::ListQuery;

/// The operations served here.
pub(super) fn handlers() -> Handlers {
    use Operation as Op;
    vec![
        (Op::ScanClients, |m| on(m, scan_clients)),
        (Op::ListClients, |m| on(m, list_clients)),
        (Op::KillAllClients, |m| on(m, kill_all_clients)),
        (Op::KillClients, |m| on(m, kill_clients)),
    ]
}

/// A JSON request body; a missing or broken one is the service's 400, not axum's.
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::from(SimError::dcs(
            400,
            codes::INVALID_PARAMETER,
            format!("Invalid request body: {e}"),
        ))
    })
}

#[derive(Deserialize)]
struct ScanBody {
    node_id: Option<String>,
    #[serde(default)]
    clean_cache: bool,
}

#[derive(Deserialize)]
struct KillAllBody {
    node_id: Option<String>,
    #[serde(default)]
    kill_all_nodes: bool,
}

#[derive(Deserialize)]
struct KillBody {
    node_id: Option<String>,
    #[serde(default)]
    client_addrs: Vec<String>,
}

pub(super) async fn scan_clients(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let body: ScanBody = json_body(&body)?;
    let shaped = match fault(&sim, Operation::ScanClients, body.node_id.as_deref()).await {
        Ok(shaped) => shaped,
        Err(response) => return Ok(response),
    };
    let (job_id, real) = sim.with_state(|s| {
        s.start_scan_on(
            &instance_id,
            body.node_id.as_deref(),
            body.clean_cache,
            sim.now(),
        )
    })?;
    match shaped {
        Some(FaultKind::JobStuck) => sim.with_state(|s| s.hold_job(&job_id)),
        Some(FaultKind::JobFails) => {
            sim.with_state(|s| s.finish_real_job(&job_id, Err(RealWorkError::Injected), sim.now()))
        }
        _ => {}
    }
    if let Some(work) = real {
        sim.spawn_real_work(work, RealTask::List);
    }
    Ok(Json(serde_json::json!({ "job_id": job_id })).into_response())
}

pub(super) async fn list_clients(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let shaped = match fault(&sim, Operation::ListClients, query.node_id.as_deref()).await {
        Ok(shaped) => shaped,
        Err(response) => return Ok(response),
    };
    if shaped.is_none()
        && let Some(body) =
            sim.with_state(|s| s.list_clients_body(&instance_id, &query, sim.now()))?
    {
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let mut page = sim.with_state(|s| s.list_clients(&instance_id, &query, sim.now()))?;
    match shaped {
        Some(FaultKind::TimeChanges) => {
            let ms = millis(sim.now()) + rand::rng().random_range(1..1_000_000);
            page.time = Some(format_time(ms));
        }
        Some(FaultKind::CountTooLarge) => page.count = page.count.map(|c| c + 1000),
        Some(FaultKind::EndlessPages) => {
            let offset: u64 = query
                .offset
                .as_deref()
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let limit: u64 = query
                .limit
                .as_deref()
                .and_then(|l| l.parse().ok())
                .unwrap_or(10);
            page.count = None;
            page.clients = (offset..offset + limit)
                .map(|i| crate::session::ClientInfo {
                    id: Some(i.to_string()),
                    addr: Some(format!(
                        "10.255.{}.{}:{}",
                        (i >> 8) & 255,
                        i & 255,
                        40000 + i % 20000
                    )),
                    idle: Some(1),
                    ..Default::default()
                })
                .collect();
        }
        _ => {}
    }
    Ok(Json(page).into_response())
}

pub(super) async fn kill_all_clients(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let body: KillAllBody = json_body(&body)?;
    if let Err(response) = fault(&sim, Operation::KillAllClients, body.node_id.as_deref()).await {
        return Ok(response);
    }
    let (job_id, real) = sim.with_state(|s| {
        s.kill_all_on(
            &instance_id,
            body.node_id.as_deref(),
            body.kill_all_nodes,
            sim.now(),
        )
    })?;
    if let Some(work) = real {
        sim.spawn_real_work(work, RealTask::KillAll);
    }
    Ok(Json(serde_json::json!({ "job_id": job_id })).into_response())
}

pub(super) async fn kill_clients(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let body: KillBody = json_body(&body)?;
    if let Err(response) = fault(&sim, Operation::KillClients, body.node_id.as_deref()).await {
        return Ok(response);
    }
    let outcome = sim.with_state(|s| {
        s.kill_clients(
            &instance_id,
            body.node_id.as_deref(),
            &body.client_addrs,
            sim.now(),
        )
    })?;
    if let Err(backend) = outcome {
        let deadline = tokio::time::Instant::now() + crate::redis::DEFAULT_TIMEOUT;
        crate::redis::kill_addrs(&backend, &body.client_addrs, deadline)
            .await
            .map_err(|e| {
                SimError::dcs(
                    500,
                    codes::INTERNAL,
                    format!("Killing the sessions failed: {e}"),
                )
            })?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
