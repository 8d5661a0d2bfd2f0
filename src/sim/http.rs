//! The simulator's HTTP face: routes, AK/SK verification, throttling, error bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt;
use serde::Deserialize;

use super::error::{ErrorShape, SimError, api_not_found};
use super::state::{InstancesQuery, ListQuery};
use super::{FaultKind, RealTask, Simulator, credentials};
use crate::cloud::error::Operation;
use crate::cloud::headers::{HEADER_PROJECT_ID, HEADER_REQUEST_ID, HEADER_SECURITY_TOKEN};
use crate::cloud::signer::{self, SignableRequest, VerifyError};

/// Where the simulator serves CCE pod identity (`HC_CONTAINER_CREDENTIALS_FULL_URI`).
pub const POD_IDENTITY_PATH: &str = "/v1/pod-identity/credentials";

/// Larger request bodies are refused before they are verified.
const MAX_REQUEST_BODY: usize = 1 << 20;

pub fn router(sim: Arc<Simulator>) -> Router {
    let dcs = Router::new()
        .route(
            "/v2/{project_id}/instances/{instance_id}/clients",
            post(scan_clients).get(list_clients),
        )
        .route(
            "/v2/{project_id}/instances/{instance_id}/clients/kill-all",
            post(kill_all_clients),
        )
        .route(
            "/v2/{project_id}/instances/{instance_id}/clients/kill",
            post(kill_clients),
        )
        .route(
            "/v2/{project_id}/instances/{instance_id}/logical-nodes",
            get(logical_nodes),
        )
        .route("/v2/{project_id}/instances", get(list_instances))
        .route(
            "/v2/{project_id}/instances/{instance_id}",
            get(show_instance),
        )
        .route(
            "/v2/{project_id}/instances/{instance_id}/configs",
            get(configurations),
        )
        .route(
            "/v2/{project_id}/instances/{instance_id}/slowlog",
            get(slowlog),
        )
        .route("/v2/{project_id}/jobs/{job_id}", get(show_job))
        .route(
            "/v1/{project_id}/dbss/audit/jobs/{resource_id}",
            get(audit_jobs_legacy),
        )
        .route("/v1/{project_id}/audit/{resource_id}/jobs", get(audit_jobs));
    // Called without a signature: the node-local services, STS's OIDC exchange, IAM's id-token
    // exchange.
    let unsigned = Router::new()
        .route(
            crate::cloud::credentials::providers::METADATA_TOKEN_PATH,
            axum::routing::put(credentials::metadata_token),
        )
        .route(
            crate::cloud::credentials::providers::METADATA_SECURITY_KEY_PATH,
            get(credentials::metadata_security_key),
        )
        .route(POD_IDENTITY_PATH, post(credentials::pod_identity))
        .route(
            super::kube::KUBE_STATE_METRICS_PATH,
            get(kube_state_metrics),
        )
        .route(
            crate::cloud::credentials::providers::ASSUME_WITH_OIDC_PATH,
            post(credentials::assume_with_oidc),
        )
        .route(
            crate::cloud::credentials::providers::ID_TOKEN_TOKENS_PATH,
            post(credentials::id_token_tokens),
        )
        // Signed (assume_role) or not (a token from the id-token call): the handler checks.
        .route(
            crate::cloud::credentials::providers::SECURITY_TOKENS_PATH,
            post(credentials::security_tokens),
        );
    dcs.route_layer(middleware::from_fn_with_state(
        Arc::clone(&sim),
        authenticate,
    ))
    .merge(unsigned)
    .fallback(|| async { ApiFailure(api_not_found()) })
    .layer(middleware::from_fn(request_id))
    .layer(middleware::from_fn_with_state(Arc::clone(&sim), date))
    .layer(middleware::from_fn_with_state(Arc::clone(&sim), latency))
    .with_state(sim)
}

/// The `Date` of every answer, by the service's clock (a gateway sends one).
async fn date(State(sim): State<Arc<Simulator>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(sim.now())) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

/// The topology's `api_latency`, before every answer.
async fn latency(State(sim): State<Arc<Simulator>>, request: Request, next: Next) -> Response {
    let latency = sim.config.topology.api_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// An error answer in the shape of the service that gives it.
pub(super) struct ApiFailure(SimError);

impl From<SimError> for ApiFailure {
    fn from(e: SimError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let SimError {
            status,
            shape,
            code,
            message,
        } = self.0;
        let body = match shape {
            ErrorShape::Dcs => serde_json::json!({
                "error_code": code, "error_msg": message, "error_ext_msg": null,
            }),
            ErrorShape::Dbss => serde_json::json!({
                "error": {"error_code": code, "error_msg": message},
            }),
            // The request id is filled in by the request id layer.
            ErrorShape::Gateway => serde_json::json!({
                "error_code": code, "error_msg": message, "request_id": "",
            }),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        if shape == ErrorShape::Gateway {
            response.extensions_mut().insert(GatewayBody);
        }
        response
    }
}

/// Marks a gateway error body, whose `request_id` the outer layer fills in.
#[derive(Clone, Copy)]
struct GatewayBody;

/// Gives every answer an `X-Request-Id`, and gateway error bodies the same `request_id`.
async fn request_id(request: Request, next: Next) -> Response {
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

fn gateway(status: u16, code: &str, message: impl Into<String>) -> ApiFailure {
    ApiFailure(SimError {
        status,
        shape: ErrorShape::Gateway,
        code: code.into(),
        message: message.into(),
    })
}

/// Checks the AK/SK signature and clock skew of a request as the gateway does: signed with the
/// account's keys, or with temporary ones the simulator issued (then with their security
/// token, before they expire). The credentials' issuer, for issued ones.
pub(super) fn verify_signature(
    sim: &Simulator,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Option<credentials::Issued>, ApiFailure> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let query = parse_query(parts.uri.query().unwrap_or_default());
    let authorization = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signable = SignableRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &headers,
        body,
    };
    let config = &sim.config;
    // The account's own keys, or temporary ones the simulator issued.
    let access_key = signer::parse_authorization(authorization)
        .map(|a| a.access_key.to_string())
        .unwrap_or_default();
    let issued = sim.issuer().lookup(&access_key);
    let secret_key = match &issued {
        Some(issued) => issued.secret_key.expose(),
        None => config.credentials.secret_key.expose(),
    };
    let expected_access_key = match &issued {
        Some(_) => access_key.as_str(),
        None => config.credentials.access_key.expose(),
    };
    if let Err(e) = signer::verify(
        &signable,
        authorization,
        expected_access_key,
        secret_key,
        sim.now(),
        config.max_clock_skew,
    ) {
        sim.count_auth_failure();
        let detail = match e {
            VerifyError::MalformedAuthorization => "the authorization header is missing or invalid",
            VerifyError::MalformedDate => "the x-sdk-date header is missing or invalid",
            VerifyError::ClockSkew => "the request time differs too much from the server time",
            VerifyError::UnknownAccessKey => "the access key is not known",
            VerifyError::MissingSignedHeader => "a signed header is missing",
            VerifyError::SignatureMismatch => "verify aksk signature fail",
        };
        return Err(gateway(
            401,
            "APIG.0301",
            format!("Incorrect IAM authentication information: {detail}"),
        ));
    }
    if let Some(issued) = &issued {
        let token = parts
            .headers
            .get(HEADER_SECURITY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let problem = if !crate::cloud::credentials::constant_time_eq(
            token.as_bytes(),
            issued.security_token.expose().as_bytes(),
        ) {
            Some("the security token is missing or does not match the access key")
        } else if sim.now() >= issued.expires_at {
            Some("the security token has expired")
        } else {
            None
        };
        if let Some(problem) = problem {
            sim.count_auth_failure();
            return Err(gateway(
                401,
                "APIG.0301",
                format!("Incorrect IAM authentication information: {problem}"),
            ));
        }
    }
    Ok(issued)
}

/// Checks the signature of every API call, then the project and the rate limit, as the API
/// gateway does before the service sees the request.
async fn authenticate(
    State(sim): State<Arc<Simulator>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiFailure> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|_| gateway(413, "APIG.0201", "Request body too large."))?;
    let issued = verify_signature(&sim, &parts, &body)?;
    let config = &sim.config;
    if let Some(issued) = &issued {
        sim.issuer().count_use(issued.issuer);
    }
    if let Some(project) = &config.project_id {
        let in_path = parts.uri.path().split('/').nth(2).unwrap_or_default();
        let in_header = parts
            .headers
            .get(HEADER_PROJECT_ID)
            .and_then(|v| v.to_str().ok());
        if in_path != project || in_header.is_some_and(|h| h != project) {
            return Err(gateway(
                401,
                "APIG.0301",
                "Incorrect IAM authentication information: the project id does not match the credentials",
            ));
        }
    }
    if !sim.take_rate_token() {
        return Err(gateway(
            429,
            "APIG.0308",
            format!(
                "The throttling threshold has been reached: policy user over ratelimit,limit:{},time:1 second",
                config.rate_limit.unwrap_or_default()
            ),
        ));
    }
    Ok(next.run(Request::from_parts(parts, Body::from(body))).await)
}

/// Query pairs percent-decoded, as the gateway reads them for the signature.
fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// A JSON request body; a missing or broken one is the service's 400, not axum's.
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure(SimError::dcs(
            400,
            super::error::codes::INVALID_PARAMETER,
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

type Answer = Result<Response, ApiFailure>;

/// Applies an injected fault: answers for it (`Err`), waits, or hands back a fault that
/// shapes the normal answer.
async fn fault(
    sim: &Simulator,
    operation: Operation,
    node_id: Option<&str>,
) -> Result<Option<FaultKind>, Response> {
    let Some(kind) = sim.take_fault(operation, node_id) else {
        return Ok(None);
    };
    match kind {
        FaultKind::Error(e) => Err(ApiFailure(e).into_response()),
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

async fn scan_clients(
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
        Some(FaultKind::JobFails) => sim.with_state(|s| {
            s.finish_real_job(
                &job_id,
                Err("Querying the session list failed.".into()),
                sim.now(),
            )
        }),
        _ => {}
    }
    if let Some(work) = real {
        sim.spawn_real_work(work, RealTask::List);
    }
    Ok(Json(serde_json::json!({ "job_id": job_id })).into_response())
}

async fn list_clients(
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
            let ms = super::clock::millis(sim.now()) + rand::rng().random_range(1..1_000_000);
            page.time = Some(super::clock::format_time(ms));
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

async fn kill_all_clients(
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

async fn kill_clients(
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
                    super::error::codes::INTERNAL,
                    format!("Killing the sessions failed: {e}"),
                )
            })?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn logical_nodes(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListLogicalNodes, None).await {
        return Ok(response);
    }
    let nodes = sim.with_state(|s| s.logical_nodes(&instance_id))?;
    Ok(Json(nodes).into_response())
}

async fn show_instance(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ShowInstance, None).await {
        return Ok(response);
    }
    let details = sim.with_state(|s| s.show_instance(&instance_id))?;
    Ok(Json(details).into_response())
}

async fn configurations(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListConfigurations, None).await {
        return Ok(response);
    }
    let configs = sim.with_state(|s| s.configurations(&instance_id))?;
    Ok(Json(configs).into_response())
}

async fn kube_state_metrics(State(sim): State<Arc<Simulator>>) -> Response {
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

async fn slowlog(
    State(sim): State<Arc<Simulator>>,
    Path((_, instance_id)): Path<(String, String)>,
    Query(query): Query<super::slowlog::SlowlogQuery>,
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
                super::error::codes::INTERNAL,
                format!("Reading the slow log failed: {e}"),
            )
        })?;
        entries.extend(records.iter().map(|r| super::slowlog::SimSlowEntry {
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
    Ok(Json(super::slowlog::page(&entries, &checked)).into_response())
}

async fn list_instances(
    State(sim): State<Arc<Simulator>>,
    Query(query): Query<InstancesQuery>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListInstances, None).await {
        return Ok(response);
    }
    let page = sim.with_state(|s| s.list_instances(&query))?;
    Ok(Json(page).into_response())
}

async fn show_job(
    State(sim): State<Arc<Simulator>>,
    Path((_, job_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ShowJob, None).await {
        return Ok(response);
    }
    let job = sim.with_state(|s| s.show_job(&job_id, sim.now()))?;
    Ok(Json(job).into_response())
}

async fn audit_jobs(
    State(sim): State<Arc<Simulator>>,
    Path((_, resource_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListAuditJobs, None).await {
        return Ok(response);
    }
    let jobs = sim.with_state(|s| s.audit_jobs(&resource_id, false))?;
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}

async fn audit_jobs_legacy(
    State(sim): State<Arc<Simulator>>,
    Path((_, resource_id)): Path<(String, String)>,
) -> Answer {
    if let Err(response) = fault(&sim, Operation::ListAuditJobs, None).await {
        return Ok(response);
    }
    let jobs = sim.with_state(|s| s.audit_jobs(&resource_id, true))?;
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}

/// A throttle of the whole simulator: `rate` requests a second, bursts of up to `rate`.
pub(super) struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: std::time::Instant,
}

impl TokenBucket {
    pub(super) fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: std::time::Instant::now(),
        }
    }

    pub(super) fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How long the simulator accepts a request's `X-Sdk-Date` to differ from its clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
