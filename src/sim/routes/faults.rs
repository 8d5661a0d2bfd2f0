//! Injected faults, applied to a call: an answer in place of the service's, a wait, or a fault
//! handed back for the handler to shape its answer with.

use axum::Json;
use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::cloud::error::Operation;
use crate::sim::fault_kind::FaultKind;
use crate::sim::gateway::ApiFailure;
use crate::sim::simulator::Simulator;

/// Applies an injected fault: answers for it (`Err`), waits, or hands back a fault that
/// shapes the normal answer.
pub(super) async fn fault(
    sim: &Simulator,
    operation: Operation,
    node_id: Option<&str>,
) -> Result<Option<FaultKind>, Response> {
    let Some(kind) = sim.take_fault(operation, node_id) else {
        return Ok(None);
    };
    match kind {
        FaultKind::Error(e) => Err(ApiFailure::from(e).into_response()),
        FaultKind::Hang => {
            // Until the client gives up and drops the connection, which ends this task.
            std::future::pending::<()>().await;
            unreachable!()
        }
        FaultKind::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        FaultKind::TruncatedBody => {
            let mut response = Response::new(Body::from(r#"{"time":"2026-01-01T00:00:00.000Z","clients":[{"id":"1","ad"#));
            // Announce more than is sent: the client sees the body end early.
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Err(response)
        }
        FaultKind::WrongTypes => Err(Json(serde_json::json!({
            "time": 17,
            "count": "2",
            "job_id": ["x"],
            "jobs": {"a": 1},
            "instance_num": null,
            "nodes": "none",
            "status": 3,
            "clients": [
                {"id": {"n": 1}, "addr": 10, "age": "old", "idle": null, "db": 0, "omem": [1], "sub": true},
                {"id": "2", "addr": null, "idle": -5, "qbuf": "12", "user": 7},
            ],
        }))
        .into_response()),
        FaultKind::HugeBody(bytes) => {
            let mut body = vec![b' '; bytes.max(2)];
            body[0] = b'{';
            body[bytes.max(2) - 1] = b'}';
            Err(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        other => Ok(Some(other)),
    }
}
