//! An opt-in Alertmanager webhook that ends sessions: kill-all on a node, or kill of the
//! client addresses an alert names, only for allowed nodes, with a per-node cooldown, an hourly
//! budget, and dry-run by default. The decisions are made in `decide.rs`; here the webhook's
//! HTTP side, its token, the actions and their counts.

mod decide;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::SecretError;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::accounts::SharedAccounts;
use crate::cloud::Secret;
use crate::config::{Config, RemediationSettings, TokenSource};
use crate::operator;
use crate::snapshot::{NodeKey, Store};
use decide::{Memory, Payload, bounded};

pub use decide::{Action, Decision, Outcome};

/// The path Alertmanager posts to.
pub const WEBHOOK_PATH: &str = "/remediation/alertmanager";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    instance_id: String,
    node_id: String,
    action: Action,
    result: Outcome,
}

pub struct Remediator {
    settings: RemediationSettings,
    token: Secret,
    /// The running configuration's accounts: actions share each account's client, rate and
    /// throttling state with the scans.
    accounts: Arc<SharedAccounts>,
    /// What the exporter scans: which nodes exist, and which cloud each belongs to.
    store: Arc<Store>,
    memory: Mutex<Memory>,
    actions: Family<ActionLabels, Counter>,
}

impl std::fmt::Debug for Remediator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remediator")
            .field("dry_run", &self.settings.dry_run)
            .finish_non_exhaustive()
    }
}

impl Remediator {
    pub fn new(
        config: &Config,
        token: Secret,
        accounts: Arc<SharedAccounts>,
        store: Arc<Store>,
        registry: &mut Registry,
    ) -> Option<Arc<Self>> {
        let settings = config.remediation.clone()?;
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "dcs_remediation_actions",
            "Decisions of the remediation webhook by node, action and result",
            actions.clone(),
        );
        Some(Arc::new(Self {
            settings,
            token,
            accounts,
            store,
            memory: Mutex::new(Memory::default()),
            actions,
        }))
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        // The scheme is case-insensitive (RFC 9110).
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
        else {
            return false;
        };
        crate::cloud::credentials::constant_time_eq(
            given.as_bytes(),
            self.token.expose().as_bytes(),
        )
    }

    /// Decides every alert of a payload against the nodes scanned now and what earlier calls
    /// did.
    fn decide(&self, payload: &Payload) -> Vec<(Decision, Vec<String>)> {
        let known = self.store.load();
        let mut memory = self.memory.lock();
        decide::decide(&self.settings, &mut memory, &known, payload)
    }

    fn record(&self, d: &Decision) {
        self.actions
            .get_or_create(&ActionLabels {
                instance_id: d.instance_id.clone(),
                node_id: d.node_id.clone(),
                action: d.action,
                result: d.result,
            })
            .inc();
        tracing::info!(
            target: "remediation",
            alertname = %d.alertname,
            instance_id = %d.instance_id,
            node_id = %d.node_id,
            action = d.action.as_str(),
            result = d.result.as_str(),
            "remediation decision"
        );
    }

    /// Carries out one allowed, non-dry-run decision.
    async fn act(self: Arc<Self>, mut decision: Decision, addrs: Vec<String>) {
        let result = async {
            // The node's cloud, as the scans know it (with several clouds and discovery, the
            // configuration alone cannot tell).
            let cloud = self
                .store
                .load()
                .nodes
                .get(&NodeKey {
                    instance_id: decision.instance_id.clone().into(),
                    node_id: decision.node_id.clone().into(),
                })
                .and_then(|n| n.info.source.cloud().map(str::to_string));
            let target = operator::resolve(
                &self.accounts.load(),
                &decision.instance_id,
                cloud.as_deref(),
            )?;
            if decision.action == Action::KillClients {
                target.kill_clients(&decision.node_id, &addrs).await
            } else {
                let plan = crate::collect::KillPlan::node(&decision.instance_id, &decision.node_id);
                target.kill_all(&plan).await.map(drop)
            }
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(target: "remediation", instance_id = %decision.instance_id, node_id = %decision.node_id, "remediation failed: {e}");
            decision.result = Outcome::Failed;
            self.memory.lock().give_back(&decision);
        }
        self.record(&decision);
    }
}

/// The bearer token, from its variable or file.
pub fn read_token(source: &TokenSource) -> Result<Secret, SecretError> {
    const OWNER: &str = "remediation";
    let token = match source {
        TokenSource::Env(var) => std::env::var(var).map_err(|_| SecretError::Unset {
            owner: OWNER.into(),
            what: "token",
            var: var.clone(),
        })?,
        TokenSource::File(path) => {
            crate::config::warn_if_others_can_read(path, "the remediation token file");
            crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES).map_err(|error| {
                SecretError::Unreadable {
                    owner: OWNER.into(),
                    what: "token",
                    path: path.clone(),
                    error,
                }
            })?
        }
    };
    let token = token.trim().to_string();
    if token.len() < 16 {
        return Err(SecretError::TooShort {
            owner: OWNER.into(),
            what: "token",
            min: 16,
        });
    }
    Ok(Secret::new(token))
}

/// The largest payload read: a notification of hundreds of alerts is well under it.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// How long the payload may take to arrive.
const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// `POST /remediation/alertmanager`. The token is checked from the headers before any of the
/// body is read; the body is bounded in size and time.
pub async fn webhook(State(remediator): State<Arc<Remediator>>, request: Request) -> Response {
    if !remediator.authorized(request.headers()) {
        tracing::warn!(target: "remediation", "webhook call refused: missing or wrong bearer token");
        return (
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required\n",
        )
            .into_response();
    }
    let body = http_body_util::Limited::new(request.into_body(), MAX_PAYLOAD_BYTES);
    let body = match tokio::time::timeout(PAYLOAD_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the payload is larger than {MAX_PAYLOAD_BYTES} bytes\n"),
            )
                .into_response();
        }
        Ok(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "the payload was cut off\n").into_response();
        }
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the payload did not arrive within {} s\n",
                    PAYLOAD_TIMEOUT.as_secs()
                ),
            )
                .into_response();
        }
    };
    let payload: Payload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(target: "remediation", "malformed webhook payload: {e}");
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed Alertmanager payload: {e}\n"),
            )
                .into_response();
        }
    };
    if payload.version != "4" {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "Alertmanager webhook version {:?} is not supported (4 is)\n",
                bounded(&payload.version)
            ),
        )
            .into_response();
    }
    let decisions = remediator.decide(&payload);
    for (decision, addrs) in &decisions {
        if decision.result == Outcome::Acted {
            // Acting takes seconds (a kill job is polled to its end): answer Alertmanager now.
            tokio::spawn(Arc::clone(&remediator).act(decision.clone(), addrs.clone()));
        } else {
            remediator.record(decision);
        }
    }
    let answer: Vec<&Decision> = decisions.iter().map(|(d, _)| d).collect();
    (
        StatusCode::OK,
        Json(serde_json::json!({ "decisions": answer })),
    )
        .into_response()
}
