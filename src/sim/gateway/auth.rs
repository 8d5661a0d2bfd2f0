//! The gateway's checks before a service sees a request: the AK/SK signature and clock skew,
//! temporary credentials and their security token, the project, the rate limit.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::failure::{ApiFailure, gateway};
use crate::cloud::headers::{HEADER_PROJECT_ID, HEADER_SECURITY_TOKEN};
use crate::cloud::signer::{self, SignableRequest, VerifyError};
use crate::sim::credentials::Issued;
use crate::sim::simulator::Simulator;

/// Larger request bodies are refused before they are verified.
pub(super) const MAX_REQUEST_BODY: usize = 1 << 20;

/// Checks the AK/SK signature and clock skew of a request as the gateway does: signed with the
/// account's keys, or with temporary ones the simulator issued (then with their security
/// token, before they expire). The credentials' issuer, for issued ones.
pub(crate) fn verify_signature(
    sim: &Simulator,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Option<Issued>, ApiFailure> {
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
    let config = sim.config();
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
pub(crate) async fn authenticate(
    State(sim): State<Arc<Simulator>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiFailure> {
    sim.count_api_request();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|_| gateway(413, "APIG.0201", "Request body too large."))?;
    let issued = verify_signature(&sim, &parts, &body)?;
    let config = sim.config();
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
