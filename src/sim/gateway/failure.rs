//! API error answers: a [`SimError`] as the body of the service that gives it (DCS, DBSS, or
//! the gateway itself, whose body carries the request id).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::sim::error::{ErrorShape, SimError};

/// An error answer in the shape of the service that gives it.
pub(crate) struct ApiFailure(SimError);

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
pub(super) struct GatewayBody;

/// What a route answers: its answer, or an error answer.
pub(crate) type Answer = Result<Response, ApiFailure>;

/// A gateway error answer (`APIG.*`).
pub(crate) fn gateway(status: u16, code: &str, message: impl Into<String>) -> ApiFailure {
    ApiFailure(SimError {
        status,
        shape: ErrorShape::Gateway,
        code: code.into(),
        message: message.into(),
    })
}
