//! The key-analysis calls: big-key and hot-key tasks (list, one with its keys, start one),
//! offline analyses of backups (list, one), and the running instances' statistics. Faults
//! apply as to every call; `job_stuck` and `job_fails` hold or fail a task created,
//! `count_too_large` and `endless_pages` shape the task lists, and `empty_keys` empties a
//! task's keys (its `num` kept).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::on;

use super::faults::fault;
use super::handler::Handlers;
use crate::cloud::error::Operation;
use crate::sim::fault_kind::FaultKind;
use crate::sim::gateway::Answer;
use crate::sim::simulator::Simulator;
use crate::sim::state::{KeyTaskQuery, ListShaping, TaskKind, TaskShaping};

/// The operations served here.
pub(super) fn handlers() -> Handlers {
    use Operation as Op;
    vec![
        (Op::ListBigKeyTasks, |m| on(m, list_big)),
        (Op::ShowBigKeyTask, |m| on(m, show_big)),
        (Op::CreateBigKeyTask, |m| on(m, create_big)),
        (Op::ListHotKeyTasks, |m| on(m, list_hot)),
        (Op::ShowHotKeyTask, |m| on(m, show_hot)),
        (Op::CreateHotKeyTask, |m| on(m, create_hot)),
        (Op::ListOfflineKeyAnalyses, |m| on(m, list_offline)),
        (Op::ShowOfflineKeyAnalysis, |m| on(m, show_offline)),
        (Op::ListInstanceStatistics, |m| on(m, statistics)),
    ]
}

fn list_shaping(kind: Option<FaultKind>) -> ListShaping {
    match kind {
        Some(FaultKind::CountTooLarge) => ListShaping::CountTooLarge,
        Some(FaultKind::EndlessPages) => ListShaping::EndlessPages,
        _ => ListShaping::Normal,
    }
}

async fn list_tasks(
    sim: Arc<Simulator>,
    operation: Operation,
    kind: TaskKind,
    instance_id: String,
    query: KeyTaskQuery,
) -> Answer {
    let shaping = match fault(&sim, operation, None).await {
        Ok(shaped) => list_shaping(shaped),
        Err(response) => return Ok(response),
    };
    let page =
        sim.with_state(|s| s.list_key_tasks(&instance_id, kind, &query, shaping, sim.now()))?;
    Ok(Json(page).into_response())
}

async fn show_task(
    sim: Arc<Simulator>,
    operation: Operation,
    kind: TaskKind,
    instance_id: String,
    task_id: String,
) -> Answer {
    let shaping = match fault(&sim, operation, None).await {
        Ok(shaping) => shaping,
        Err(response) => return Ok(response),
    };
    let mut task = sim.with_state(|s| s.show_key_task(&instance_id, kind, &task_id, sim.now()))?;
    if let (Some(FaultKind::EmptyKeys), Some(keys)) = (shaping, task.get_mut("keys")) {
        *keys = serde_json::json!([]);
    }
    Ok(Json(task).into_response())
}

async fn create_task(
    sim: Arc<Simulator>,
    operation: Operation,
    kind: TaskKind,
    instance_id: String,
) -> Answer {
    let shaping = match fault(&sim, operation, None).await {
        Ok(Some(FaultKind::JobStuck)) => TaskShaping::Stuck,
        Ok(Some(FaultKind::JobFails)) => TaskShaping::Fails,
        Ok(_) => TaskShaping::Normal,
        Err(response) => return Ok(response),
    };
    let task = sim.with_state(|s| s.create_key_task(&instance_id, kind, shaping, sim.now()))?;
    Ok(Json(task).into_response())
}

async fn list_big(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<KeyTaskQuery>,
) -> Answer {
    list_tasks(
        sim,
        Operation::ListBigKeyTasks,
        TaskKind::Big,
        instance_id,
        query,
    )
    .await
}

async fn list_hot(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<KeyTaskQuery>,
) -> Answer {
    list_tasks(
        sim,
        Operation::ListHotKeyTasks,
        TaskKind::Hot,
        instance_id,
        query,
    )
    .await
}

async fn show_big(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id, task_id)): Path<(String, String, String)>,
) -> Answer {
    show_task(
        sim,
        Operation::ShowBigKeyTask,
        TaskKind::Big,
        instance_id,
        task_id,
    )
    .await
}

async fn show_hot(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id, task_id)): Path<(String, String, String)>,
) -> Answer {
    show_task(
        sim,
        Operation::ShowHotKeyTask,
        TaskKind::Hot,
        instance_id,
        task_id,
    )
    .await
}

async fn create_big(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    create_task(sim, Operation::CreateBigKeyTask, TaskKind::Big, instance_id).await
}

async fn create_hot(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    create_task(sim, Operation::CreateHotKeyTask, TaskKind::Hot, instance_id).await
}

async fn list_offline(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<KeyTaskQuery>,
) -> Answer {
    let shaping = match fault(&sim, Operation::ListOfflineKeyAnalyses, None).await {
        Ok(shaped) => list_shaping(shaped),
        Err(response) => return Ok(response),
    };
    let page =
        sim.with_state(|s| s.list_offline_analyses(&instance_id, &query, shaping, sim.now()))?;
    Ok(Json(page).into_response())
}

async fn show_offline(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id, task_id)): Path<(String, String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ShowOfflineKeyAnalysis, None).await {
        return Ok(response);
    }
    let analysis =
        sim.with_state(|s| s.show_offline_analysis(&instance_id, &task_id, sim.now()))?;
    Ok(Json(analysis).into_response())
}

async fn statistics(State(sim): State<Arc<Simulator>>, Path(_project_id): Path<String>) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListInstanceStatistics, None).await {
        return Ok(response);
    }
    let statistics = sim.with_state(|s| s.instance_statistics(sim.now()));
    Ok(Json(statistics).into_response())
}
