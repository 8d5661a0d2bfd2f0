//! The simulator's routes: the signed DCS and DBSS calls behind the gateway's checks, the
//! unsigned credential services and kube-state-metrics beside them, and the layers every
//! answer passes.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodFilter, get, post, put};
use tokio::net::TcpListener;

use super::handler::Handlers;
use super::{clients, instances, jobs, keys};
use crate::cloud::credentials::providers;
use crate::cloud::dbss::LEGACY_AUDIT_JOBS_PATH;
use crate::sim::credentials;
use crate::sim::error::api_not_found;
use crate::sim::gateway::{ApiFailure, authenticate, date, latency, request_id};
use crate::sim::kube::KUBE_STATE_METRICS_PATH;
use crate::sim::simulator::Simulator;

/// Where the simulator serves CCE pod identity (`HC_CONTAINER_CREDENTIALS_FULL_URI`).
pub const POD_IDENTITY_PATH: &str = "/v1/pod-identity/credentials";

// Written here rather than beside the struct: the router names every handler, and the
// handlers take the simulator.
impl Simulator {
    /// The axum app serving every API call.
    pub fn router(self: &Arc<Self>) -> Router {
        service_routes()
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(self),
                authenticate,
            ))
            .merge(unsigned_routes())
            .fallback(|| async { ApiFailure::from(api_not_found()) })
            .layer(middleware::from_fn(request_id))
            .layer(middleware::from_fn_with_state(Arc::clone(self), date))
            .layer(middleware::from_fn_with_state(Arc::clone(self), latency))
            .with_state(Arc::clone(self))
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The DCS and DBSS calls, signed: each at the method and path its [`Operation`](crate::cloud::operation::Operation) declares,
/// the very ones the client calls.
fn service_routes() -> Router<Arc<Simulator>> {
    handlers()
        .into_iter()
        .fold(Router::new(), |router, (operation, handler)| {
            let (method, path) = operation.route();
            let filter = MethodFilter::try_from(method).expect("the API's methods are HTTP's");
            router.route(path, handler(filter))
        })
        .route(LEGACY_AUDIT_JOBS_PATH, get(jobs::audit_jobs_legacy))
}

/// The handler of every operation, from each routes file.
fn handlers() -> Handlers {
    [
        clients::handlers(),
        instances::handlers(),
        jobs::handlers(),
        keys::handlers(),
    ]
    .concat()
}

/// Called without a signature: the node-local services, STS's OIDC exchange, IAM's id-token
/// exchange.
fn unsigned_routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route(
            providers::METADATA_TOKEN_PATH,
            put(credentials::metadata_token),
        )
        .route(
            providers::METADATA_SECURITY_KEY_PATH,
            get(credentials::metadata_security_key),
        )
        .route(POD_IDENTITY_PATH, post(credentials::pod_identity))
        .route(KUBE_STATE_METRICS_PATH, get(instances::kube_state_metrics))
        .route(
            providers::ASSUME_WITH_OIDC_PATH,
            post(credentials::assume_with_oidc),
        )
        .route(
            providers::ID_TOKEN_TOKENS_PATH,
            post(credentials::id_token_tokens),
        )
        // Signed (assume_role) or not (a token from the id-token call): the handler checks.
        .route(
            providers::SECURITY_TOKENS_PATH,
            post(credentials::security_tokens),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::operation::Operation;

    #[test]
    fn every_operation_the_client_calls_is_served() {
        for operation in Operation::ALL {
            assert!(
                handlers().iter().any(|(served, _)| served == operation),
                "{operation} has no handler"
            );
        }
        // One router of all of them, without overlaps.
        let _ = service_routes();
    }
}
