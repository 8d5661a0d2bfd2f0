//! The instance calls: the list, one instance, its logical nodes, parameters and slow log (read
//! from the real servers that back nodes, if any); and kube-state-metrics' page.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::on;

use super::faults::fault;
use super::handler::Handlers;
use crate::cloud::error::Operation;
use crate::sim::error::{SimError, codes};
use crate::sim::gateway::Answer;
use crate::sim::simulator::Simulator;
use crate::sim::slowlog;
use crate::sim::state::InstancesQuery;

/// The operations served here.
pub(super) fn handlers() -> Handlers {
    use Operation as Op;
    vec![
        (Op::ListLogicalNodes, |m| on(m, logical_nodes)),
        (Op::ListInstances, |m| on(m, list_instances)),
        (Op::ShowInstance, |m| on(m, show_instance)),
        (Op::ListConfigurations, |m| on(m, configurations)),
        (Op::ListSlowlog, |m| on(m, slowlog)),
    ]
}

pub(super) async fn logical_nodes(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListLogicalNodes, None).await {
        return Ok(response);
    }
    let nodes = sim.with_state(|s| s.logical_nodes(&instance_id))?;
    Ok(Json(nodes).into_response())
}

pub(super) async fn show_instance(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ShowInstance, None).await {
        return Ok(response);
    }
    let details = sim.with_state(|s| s.instance_details(&instance_id))?;
    Ok(Json(details).into_response())
}

pub(super) async fn configurations(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListConfigurations, None).await {
        return Ok(response);
    }
    let configs = sim.with_state(|s| s.configurations(&instance_id))?;
    Ok(Json(configs).into_response())
}

pub(super) async fn kube_state_metrics(State(sim): State<Arc<Simulator>>) -> Response {
    let page = sim.with_state(|s| s.kube_state_metrics());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    )
        .into_response()
}

pub(super) async fn slowlog(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<slowlog::SlowlogQuery>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListSlowlog, None).await {
        return Ok(response);
    }
    let backends = match sim.with_state(|s| s.slowlog(&instance_id, &query, sim.now()))? {
        Ok(page) => return Ok(Json(page).into_response()),
        Err(backends) => backends,
    };
    // Nodes a real server backs: that server's log.
    let checked = query.check()?;
    let deadline = tokio::time::Instant::now() + crate::redis::DEFAULT_TIMEOUT;
    let mut entries = Vec::new();
    for (endpoint, shard, role) in backends {
        let read = async {
            let mut conn = crate::redis::connect(&endpoint, deadline).await?;
            crate::redis::slowlog(&mut conn, deadline).await
        };
        let (records, _) = read.await.map_err(|e| {
            SimError::dcs(
                500,
                codes::INTERNAL,
                format!("Reading the slow log failed: {e}"),
            )
        })?;
        entries.extend(records.iter().map(|r| slowlog::SimSlowEntry {
            id: r.id,
            time_ms: r.timestamp * 1000,
            duration_ms: r.micros as f64 / 1000.0,
            shard: shard.clone(),
            role: role.clone(),
            client_ip: crate::session::strip_port(&r.client_addr).to_string(),
            command: r.args.join(" "),
            first_served: None,
        }));
    }
    Ok(Json(slowlog::page(&entries, &checked)).into_response())
}

pub(super) async fn list_instances(
    State(sim): State<Arc<Simulator>>,
    Query(query): Query<InstancesQuery>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListInstances, None).await {
        return Ok(response);
    }
    let page = sim.with_state(|s| s.list_instances(&query))?;
    Ok(Json(page).into_response())
}
