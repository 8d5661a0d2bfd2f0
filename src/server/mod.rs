//! The HTTP face: `/metrics` (protobuf or OpenMetrics when asked for, else the classic text
//! format), a landing page (the fleet at a glance, the worst nodes first), `/healthz` and
//! `/readyz`.
//! Here the router and the state it serves; the format, the kept encodings, the streamed
//! answers and the landing page each have a file.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::metrics::SnapshotCollector;
use crate::snapshot::Store;
use format::accepts_gzip;

mod cache;
mod format;
mod landing;
pub mod listener;
mod stream;

pub use cache::EncodeCache;
pub use format::{EncodeError, Format, OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE};
pub use landing::{DOCS_URL, LISTED_NODES};

pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9977";
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

pub struct AppState {
    /// The target families, written from the snapshot at each encoding.
    pub targets: SnapshotCollector,
    /// The exporter's own metrics (API requests, process, build), after the target families.
    pub registry: Registry,
    pub store: Arc<Store>,
    pub telemetry_path: String,
    pub stale_after: std::time::Duration,
    /// The Alertmanager webhook, when configured.
    pub remediation: Option<Arc<crate::remediation::Remediator>>,
    /// Asks the process to reload its configuration; `None` when there is nothing to reload.
    pub reload: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
    pub encoded: EncodeCache,
    /// The accounts scanned, for the landing page's credentials table.
    pub accounts: Option<Arc<crate::accounts::SharedAccounts>>,
}

/// A reload request, answered with its outcome.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), ReloadFailed>>;

/// Why a reload kept the previous configuration, as the answer to `POST /-/reload` says it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReloadFailed(pub String);

pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/", get(landing))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/-/reload", axum::routing::post(reload))
        .with_state(Arc::clone(&state));
    if let Some(remediator) = &state.remediation {
        app = app.merge(
            Router::new()
                .route(
                    crate::remediation::WEBHOOK_PATH,
                    axum::routing::post(crate::remediation::webhook),
                )
                .with_state(Arc::clone(remediator)),
        );
    }
    app
}

/// `/metrics`, in the format the scraper prefers: the kept gzipped encoding when it takes
/// gzip, else one streamed for it.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    // Run on a blocking thread only when an encoding is needed; it holds the state so that
    // the families outlive the request that started it.
    let encoder = Arc::clone(&state);
    let write = move |sink: &mut dyn std::io::Write| {
        format.write(&encoder.targets, &encoder.registry, sink)
    };
    if !accepts_gzip(&headers) {
        return state.encoded.streamed(format, write).await;
    }
    state.encoded.gzipped(format, &state.store, write).await
}

async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let Some(requests) = &state.reload else {
        return (
            StatusCode::BAD_REQUEST,
            "POST /-/reload is off: start with --web.enable-lifecycle and a --config file (SIGHUP always reloads)\n",
        )
            .into_response();
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if requests.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match outcome.await {
        Ok(Ok(())) => (StatusCode::OK, "reloaded\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, the previous configuration stays: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let reasons = state.store.load().not_ready();
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut body = String::from("not ready:\n");
        for reason in reasons {
            let _ = writeln!(body, "- {reason}");
        }
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let snap = state.store.load();
    Html(landing::page(
        &snap,
        &state.telemetry_path,
        state.stale_after,
        state.accounts.as_deref(),
        SystemTime::now(),
    ))
}
