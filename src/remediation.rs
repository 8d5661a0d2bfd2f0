//! An opt-in Alertmanager webhook that ends sessions: kill-all on a node, or kill of the
//! client addresses an alert names, only for allowed nodes, with a per-node cooldown, an hourly
//! budget, and dry-run by default.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::accounts::SharedAccounts;
use crate::cloud::Secret;
use crate::config::{Config, RemediationSettings, TokenSource};
use crate::operator;
use crate::snapshot::{NodeKey, Snapshot, Store};

/// The path Alertmanager posts to.
pub const WEBHOOK_PATH: &str = "/remediation/alertmanager";

/// What a decision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    KillAll,
    KillClients,
    None,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::KillAll => "kill_all",
            Action::KillClients => "kill_clients",
            Action::None => "none",
        }
    }
}

/// How a decision ended; a closed set, used as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Acted,
    DryRun,
    Failed,
    NotAllowed,
    Cooldown,
    HourlyLimit,
    /// A notification already handled (same alert, same start).
    Duplicate,
    Resolved,
    /// The alert names no instance_id and node_id.
    NoTarget,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acted => "acted",
            Outcome::DryRun => "dry_run",
            Outcome::Failed => "failed",
            Outcome::NotAllowed => "refused_not_allowed",
            Outcome::Cooldown => "refused_cooldown",
            Outcome::HourlyLimit => "refused_hourly_limit",
            Outcome::Duplicate => "duplicate",
            Outcome::Resolved => "resolved",
            Outcome::NoTarget => "no_target",
        }
    }
}

/// Closed label values, written as their `as_str`.
macro_rules! closed_label_value {
    ($($name:ident),+) => {$(
        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )+};
}

closed_label_value!(Action, Outcome);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    instance_id: String,
    node_id: String,
    action: Action,
    result: Outcome,
}

/// Alertmanager's webhook payload, version 4 (the fields used).
#[derive(Debug, Deserialize)]
struct Payload {
    version: String,
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: HashMap<String, String>,
    #[serde(rename = "startsAt", default)]
    starts_at: String,
    #[serde(default)]
    fingerprint: String,
}

/// Remembered notifications: enough for Alertmanager's repeat intervals, bounded.
const MAX_REMEMBERED: usize = 10_000;
/// Distinct refused (instance, node) label pairs before they fold into "other".
const MAX_REFUSED_LABELS: usize = 1_000;

impl Memory {
    fn remember(&mut self, key: &(String, String)) {
        if key.0.is_empty() || !self.seen_set.insert(key.clone()) {
            return;
        }
        self.seen.push_back(key.clone());
        if self.seen.len() > MAX_REMEMBERED
            && let Some(old) = self.seen.pop_front()
        {
            self.seen_set.remove(&old);
        }
    }

    /// A failed action: its notifications may act again, and it gives its budget back (the
    /// node's cooldown stays, so a failing node is not hammered).
    fn give_back(&mut self, decision: &Decision) {
        for key in &decision.keys {
            self.seen_set.remove(key);
        }
        self.seen.retain(|k| self.seen_set.contains(k));
        if let Some(at) = decision.at
            && let Some(i) = self.recent.iter().position(|t| *t == at)
        {
            self.recent.remove(i);
        }
    }
}

struct Memory {
    /// `(fingerprint, startsAt)` of alerts handled, oldest first.
    seen: VecDeque<(String, String)>,
    seen_set: HashSet<(String, String)>,
    /// When each node was last acted on (or would have been, in dry-run).
    last_action: HashMap<(String, String), Instant>,
    /// Actions in the last hour.
    recent: VecDeque<Instant>,
    refused_labels: HashSet<(String, String)>,
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

/// One decision of a webhook call, as its answer lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Decision {
    pub alertname: String,
    pub instance_id: String,
    pub node_id: String,
    pub action: Action,
    pub result: Outcome,
    /// The notifications this action answers, forgotten again if it fails.
    #[serde(skip)]
    keys: Vec<(String, String)>,
    /// When it took its place in the hourly budget.
    #[serde(skip)]
    at: Option<Instant>,
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
            memory: Mutex::new(Memory {
                seen: VecDeque::new(),
                seen_set: HashSet::new(),
                last_action: HashMap::new(),
                recent: VecDeque::new(),
                refused_labels: HashSet::new(),
            }),
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

    /// On the allow-list, and a node the exporter scans: labels naming anything else (made-up
    /// node ids under a `*` entry, another node of a Redis target) act on nothing.
    fn allowed(&self, instance_id: &str, node_id: &str, known: &Snapshot) -> bool {
        let listed =
            self.settings.allow.iter().any(|a| {
                a.instance_id == instance_id && (a.node_id == "*" || a.node_id == node_id)
            });
        listed
            && known.nodes.contains_key(&NodeKey {
                instance_id: instance_id.into(),
                node_id: node_id.into(),
            })
    }

    /// Decides every alert of a payload (before anything runs): at most one action a node.
    fn decide(&self, payload: &Payload) -> Vec<(Decision, Vec<String>)> {
        let known = self.store.load();
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while memory
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
        {
            memory.recent.pop_front();
        }
        let mut decisions = Vec::new();
        // Alerts of one group for the same node act once, with the union of their addresses.
        let mut planned: HashMap<(String, String), usize> = HashMap::new();
        for alert in &payload.alerts {
            let label = |k: &str| alert.labels.get(k).map(|v| bounded(v)).unwrap_or_default();
            let (instance_id, node_id) = (label("instance_id"), label("node_id"));
            // A client address must be a whole `ip:port` (as the top-client series carry): an
            // address without a port, or `other`, names no session, and never turns into a
            // kill-all.
            let client_label = alert.labels.get("client_addr");
            let client = client_label
                .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
                .cloned();
            let bad_client = client_label.is_some() && client.is_none();
            let action = if client.is_some() {
                Action::KillClients
            } else {
                Action::KillAll
            };
            let mut decision = Decision {
                alertname: label("alertname"),
                instance_id: instance_id.clone(),
                node_id: node_id.clone(),
                action,
                result: Outcome::Acted,
                keys: Vec::new(),
                at: None,
            };
            let key = (alert.fingerprint.clone(), alert.starts_at.clone());
            let outcome = if alert.status == "resolved" {
                Some(Outcome::Resolved)
            } else if instance_id.is_empty() || node_id.is_empty() || bad_client {
                Some(Outcome::NoTarget)
            } else if !alert.fingerprint.is_empty() && memory.seen_set.contains(&key) {
                Some(Outcome::Duplicate)
            } else if !self.allowed(&instance_id, &node_id, &known) {
                Some(Outcome::NotAllowed)
            } else {
                None
            };
            if let Some(outcome) = outcome {
                decisions.push(refused(decision, outcome));
                continue;
            }
            let node_key = (instance_id.clone(), node_id.clone());
            if let Some(&i) = planned.get(&node_key) {
                // Same node in the same group: widen the planned action, do not act twice.
                let (planned_decision, addrs) = &mut decisions[i];
                planned_decision.keys.push(key.clone());
                memory.remember(&key);
                match client {
                    Some(addr) if planned_decision.action == Action::KillClients => {
                        addrs.push(addr)
                    }
                    _ => {
                        planned_decision.action = Action::KillAll;
                        addrs.clear();
                    }
                }
                decisions.push(refused(decision, Outcome::Duplicate));
                continue;
            }
            let cooled = memory
                .last_action
                .get(&node_key)
                .is_none_or(|t| now.duration_since(*t) >= self.settings.cooldown);
            let outcome = if !cooled {
                Some(Outcome::Cooldown)
            } else if memory.recent.len() >= self.settings.max_actions_per_hour {
                Some(Outcome::HourlyLimit)
            } else {
                None
            };
            if let Some(outcome) = outcome {
                decisions.push(refused(decision, outcome));
                continue;
            }
            memory.last_action.insert(node_key.clone(), now);
            memory.recent.push_back(now);
            // Only now is the notification handled: a refused one may act when sent again.
            memory.remember(&key);
            decision.keys.push(key);
            decision.at = Some(now);
            if self.settings.dry_run {
                decision.result = Outcome::DryRun;
            }
            planned.insert(node_key, decisions.len());
            decisions.push((decision, client.into_iter().collect()));
        }
        // Decisions about nodes the exporter does not scan fold their labels past a bound: the
        // token holder could otherwise grow the series without end.
        for (d, _) in &mut decisions {
            let key = NodeKey {
                instance_id: d.instance_id.clone().into(),
                node_id: d.node_id.clone().into(),
            };
            if !known.nodes.contains_key(&key) {
                let pair = (d.instance_id.clone(), d.node_id.clone());
                if !memory.refused_labels.contains(&pair) {
                    if memory.refused_labels.len() >= MAX_REFUSED_LABELS {
                        d.instance_id = "other".into();
                        d.node_id = "other".into();
                    } else {
                        memory.refused_labels.insert(pair);
                    }
                }
            }
        }
        decisions
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
            self.memory
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .give_back(&decision);
        }
        self.record(&decision);
    }
}

/// A decision that does nothing, for `outcome`.
fn refused(mut decision: Decision, outcome: Outcome) -> (Decision, Vec<String>) {
    decision.action = Action::None;
    decision.result = outcome;
    (decision, Vec::new())
}

/// The bearer token, from its variable or file.
pub fn read_token(source: &TokenSource) -> Result<Secret, String> {
    let token = match source {
        TokenSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("remediation: the token variable {var} is not set"))?,
        TokenSource::File(path) => {
            crate::config::warn_if_others_can_read(path, "the remediation token file");
            crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES).map_err(|e| {
                format!(
                    "remediation: cannot read the token file {}: {e}",
                    path.display()
                )
            })?
        }
    };
    let token = token.trim().to_string();
    if token.len() < 16 {
        return Err("remediation: the token must be at least 16 characters".into());
    }
    Ok(Secret::new(token))
}

/// The largest payload read: a notification of hundreds of alerts is well under it.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// How long the payload may take to arrive.
const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// `value`, cut as every label value is: longer ones name nothing the exporter scans.
fn bounded(value: &str) -> String {
    value
        .chars()
        .take(crate::metrics::MAX_LABEL_VALUE_CHARS)
        .collect()
}

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
