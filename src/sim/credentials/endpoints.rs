//! The credential services' HTTP handlers: the metadata service of a node with an agency, CCE
//! pod identity, STS assume-with-oidc, IAM's id-token exchange and securitytokens. Each checks
//! its request as the real one does, then issues through the simulator's
//! [`Issuer`](super::Issuer).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::Deserialize;

use super::issuer::{DEFAULT_LIFETIME, Issued};
use crate::cloud::credentials::constant_time_eq;
use crate::cloud::credentials::providers::NO_AGENCY_MESSAGE;
use crate::cloud::headers::{
    HEADER_IDP_ID, HEADER_METADATA_TOKEN, HEADER_METADATA_TOKEN_TTL, HEADER_SUBJECT_TOKEN,
};
use crate::sim::Simulator;

/// `2026-12-01T12:00:00.000000Z`: the format of Huawei's answers, which the SDK parses strictly.
fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

fn lifetime(sim: &Simulator, asked: Option<u64>) -> Duration {
    sim.config()
        .credential_services
        .lifetime
        .unwrap_or_else(|| asked.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error_code": code, "error_msg": message})),
    )
        .into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SYS.0503",
        "Service temporarily unavailable.",
    )
}

/// `PUT /meta-data/latest/api/token`.
pub async fn metadata_token(State(sim): State<Arc<Simulator>>, headers: HeaderMap) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    if !sim.config().credential_services.metadata_tokens {
        return (StatusCode::NOT_FOUND, "404 Not Found").into_response();
    }
    let ttl = headers
        .get(HEADER_METADATA_TOKEN_TTL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if !ttl.is_some_and(|t| (1..=21_600).contains(&t)) {
        return (
            StatusCode::BAD_REQUEST,
            "X-Metadata-Token-Ttl-Seconds must be 1 to 21600",
        )
            .into_response();
    }
    let token = format!("{:032x}", rand::rng().random::<u128>());
    issuer.remember(&[&token]);
    let mut tokens = issuer.metadata_tokens.lock();
    if tokens.len() > 10_000 {
        tokens.clear();
    }
    tokens.insert(token.clone());
    token.into_response()
}

/// `GET /openstack/latest/securitykey`.
pub async fn metadata_security_key(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    let services = &sim.config().credential_services;
    if services.metadata_tokens {
        let known = headers
            .get(HEADER_METADATA_TOKEN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| issuer.metadata_tokens.lock().contains(t));
        if !known {
            return (StatusCode::UNAUTHORIZED, "401 Unauthorized").into_response();
        }
    }
    if !services.agency_attached {
        return error(StatusCode::UNAUTHORIZED, "Ecs.0001", NO_AGENCY_MESSAGE);
    }
    let (access, issued) = issuer.issue("metadata", sim.now(), lifetime(&sim, None));
    Json(huawei_shape(&access, &issued)).into_response()
}

fn huawei_shape(access: &str, issued: &Issued) -> serde_json::Value {
    serde_json::json!({"credential": {
        "access": access,
        "secret": issued.secret_key.expose(),
        "securitytoken": issued.security_token.expose(),
        "expires_at": timestamp(issued.expires_at),
    }})
}

/// `POST` to the pod-identity URI.
pub async fn pod_identity(State(sim): State<Arc<Simulator>>, headers: HeaderMap) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let accepted = match &sim.config().credential_services.pod_identity_token {
        Some(expected) => constant_time_eq(given.as_bytes(), expected.expose().as_bytes()),
        None => !given.is_empty(),
    };
    if !accepted {
        return error(
            StatusCode::UNAUTHORIZED,
            "CCE.01400001",
            "Invalid authorization token.",
        );
    }
    let (access, issued) = issuer.issue("pod_identity", sim.now(), lifetime(&sim, None));
    Json(huawei_shape(&access, &issued)).into_response()
}

#[derive(Deserialize)]
struct OidcBody {
    provider_urn: Option<String>,
    agency_urn: Option<String>,
    agency_session_name: Option<String>,
    id_token: Option<String>,
    duration_seconds: Option<u64>,
}

/// `POST /v5/agencies/assume-with-oidc`.
pub async fn assume_with_oidc(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "STS.0001", message);
    let Ok(body) = serde_json::from_slice::<OidcBody>(&body) else {
        return bad("Invalid request body.");
    };
    for (name, value) in [
        ("provider_urn", &body.provider_urn),
        ("agency_urn", &body.agency_urn),
        ("agency_session_name", &body.agency_session_name),
    ] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            return bad(&format!("{name} is required."));
        }
    }
    let duration = body.duration_seconds.unwrap_or(3600);
    if !(900..=43_200).contains(&duration) {
        return bad("duration_seconds must be between 900 and 43200.");
    }
    let given = body.id_token.unwrap_or_default();
    let accepted = match &sim.config().credential_services.oidc_id_token {
        Some(expected) => constant_time_eq(given.as_bytes(), expected.expose().as_bytes()),
        None => !given.trim().is_empty(),
    };
    if !accepted {
        return error(
            StatusCode::FORBIDDEN,
            "STS.0203",
            "The id_token is invalid or expired.",
        );
    }
    let (access, issued) = issuer.issue("oidc", sim.now(), lifetime(&sim, Some(duration)));
    Json(serde_json::json!({"credentials": {
        "access_key_id": access,
        "secret_access_key": issued.secret_key.expose(),
        "security_token": issued.security_token.expose(),
        "expiration": timestamp(issued.expires_at),
    }}))
    .into_response()
}

/// `POST /v3.0/OS-AUTH/id-token/tokens`: a federated id token (of the identity provider in
/// `X-Idp-Id`) for an unscoped token, in `X-Subject-Token`.
pub async fn id_token_tokens(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    let idp = headers
        .get(HEADER_IDP_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if idp.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "IAM.0007", "X-Idp-Id is required.");
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "IAM.0007",
            "Request parameter error.",
        );
    };
    let given = body["auth"]["id_token"]["id"].as_str().unwrap_or_default();
    let accepted = match &sim.config().credential_services.oidc_id_token {
        Some(expected) => constant_time_eq(given.as_bytes(), expected.expose().as_bytes()),
        None => !given.trim().is_empty(),
    };
    if !accepted {
        return error(
            StatusCode::UNAUTHORIZED,
            "IAM.0005",
            "The id_token is invalid or expired.",
        );
    }
    let token = format!(
        "MIIT{:032x}{:032x}",
        rand::rng().random::<u128>(),
        rand::rng().random::<u128>()
    );
    issuer.remember(&[&token]);
    {
        let mut tokens = issuer.subject_tokens.lock();
        if tokens.len() > 10_000 {
            tokens.clear();
        }
        tokens.insert(token.clone());
    }
    let expires = timestamp(sim.now() + Duration::from_secs(86_400));
    let mut response = (
        StatusCode::CREATED,
        Json(serde_json::json!({"token": {"methods": ["mapped"], "expires_at": expires}})),
    )
        .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&token) {
        response.headers_mut().insert(HEADER_SUBJECT_TOKEN, value);
    }
    response
}

/// `POST /v3.0/OS-CREDENTIAL/securitytokens`: `assume_role` for another account's agency
/// (signed with the caller's credentials), or `token` for temporary credentials of an unscoped
/// token from the id-token exchange.
pub async fn security_tokens(
    State(sim): State<Arc<Simulator>>,
    request: axum::extract::Request,
) -> Response {
    let issuer = sim.issuer();
    if issuer.down() {
        return unavailable();
    }
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "IAM.0007", message);
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return bad("Request body too large.");
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return bad("Request parameter error.");
    };
    let identity = &json["auth"]["identity"];
    let method = |name: &str| {
        identity["methods"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v == name))
    };
    if method("token") {
        let token = &identity["token"];
        let id = token["id"].as_str().unwrap_or_default();
        let known = issuer.subject_tokens.lock().contains(id);
        if !known {
            return error(
                StatusCode::UNAUTHORIZED,
                "IAM.0005",
                "The token is invalid or expired.",
            );
        }
        let duration = token["duration_seconds"].as_u64().unwrap_or(900);
        if !(900..=86_400).contains(&duration) {
            return bad("duration_seconds must be between 900 and 86400.");
        }
        let (access, issued) = issuer.issue("federated", sim.now(), lifetime(&sim, Some(duration)));
        return (StatusCode::CREATED, Json(huawei_shape(&access, &issued))).into_response();
    }
    // assume_role: the gateway's signature check first.
    if let Err(failure) = crate::sim::gateway::verify_signature(&sim, &parts, &body) {
        return failure.into_response();
    }
    let assume = &identity["assume_role"];
    if !method("assume_role") || !assume.is_object() {
        return bad(
            "auth.identity.methods must be [\"assume_role\"] with assume_role, or [\"token\"] with token.",
        );
    }
    let domain = assume["domain_name"]
        .as_str()
        .or_else(|| assume["domain_id"].as_str());
    let agency = assume["agency_name"].as_str();
    if domain.is_none_or(str::is_empty) || agency.is_none_or(str::is_empty) {
        return bad("assume_role needs domain_name or domain_id, and agency_name.");
    }
    let duration = assume["duration_seconds"].as_u64().unwrap_or(900);
    if !(900..=86_400).contains(&duration) {
        return bad("duration_seconds must be between 900 and 86400.");
    }
    let (access, issued) = issuer.issue("assume_agency", sim.now(), lifetime(&sim, Some(duration)));
    (StatusCode::CREATED, Json(huawei_shape(&access, &issued))).into_response()
}
