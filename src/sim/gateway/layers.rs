//! What the gateway adds to every answer: the `Date` by the service's clock, the topology's
//! latency, and a request id (in `X-Request-Id`, and in the body of its own error answers).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngExt;

use super::auth::MAX_REQUEST_BODY;
use super::failure::GatewayBody;
use crate::cloud::headers::HEADER_REQUEST_ID;
use crate::sim::simulator::Simulator;

/// The `Date` of every answer, by the service's clock (a gateway sends one).
pub(crate) async fn date(
    State(sim): State<Arc<Simulator>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(sim.now())) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

/// The topology's `api_latency`, before every answer.
pub(crate) async fn latency(
    State(sim): State<Arc<Simulator>>,
    request: Request,
    next: Next,
) -> Response {
    let latency = sim.config().topology.api_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// Gives every answer an `X-Request-Id`, and gateway error bodies the same `request_id`.
pub(crate) async fn request_id(request: Request, next: Next) -> Response {
    let id = {
        let mut rng = rand::rng();
        format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
    };
    let mut response = next.run(request).await;
    if response.extensions().get::<GatewayBody>().is_some() {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_REQUEST_BODY)
            .await
            .unwrap_or_default();
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        value["request_id"] = serde_json::Value::String(id.clone());
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(bytes));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER_REQUEST_ID, value);
    }
    response
}
