//! The decisions of a webhook call: what each alert asks for, what refuses it (not allowed,
//! already handled, cooling down, over the hourly budget), and what is remembered between
//! calls. Nothing here acts; the webhook carries the decisions out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use serde::Deserialize;

use crate::config::RemediationSettings;
use crate::snapshot::{NodeKey, Snapshot};

/// What a decision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    KillAll,
    KillClients,
    None,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a decision ended; a closed set, used as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Acted,
    DryRun,
    Failed,
    #[strum(serialize = "refused_not_allowed")]
    NotAllowed,
    #[strum(serialize = "refused_cooldown")]
    Cooldown,
    #[strum(serialize = "refused_hourly_limit")]
    HourlyLimit,
    /// A notification already handled (same alert, same start).
    Duplicate,
    Resolved,
    /// The alert names no instance_id and node_id.
    NoTarget,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        self.into()
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

/// Alertmanager's webhook payload, version 4 (the fields used).
#[derive(Debug, Deserialize)]
pub(super) struct Payload {
    pub(super) version: String,
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

#[derive(Default)]
pub(super) struct Memory {
    /// `(fingerprint, startsAt)` of alerts handled, oldest first.
    seen: VecDeque<(String, String)>,
    seen_set: HashSet<(String, String)>,
    /// When each node was last acted on (or would have been, in dry-run).
    last_action: HashMap<(String, String), Instant>,
    /// Actions in the last hour.
    recent: VecDeque<Instant>,
    refused_labels: HashSet<(String, String)>,
}

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

    /// Actions older than an hour no longer count against the hourly budget.
    fn forget_old_actions(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
        {
            self.recent.pop_front();
        }
    }

    /// Why the node may not be acted on now, if it may not: its cooldown, then the hourly
    /// budget.
    fn over_budget(
        &self,
        node: &(String, String),
        now: Instant,
        settings: &RemediationSettings,
    ) -> Option<Outcome> {
        let cooled = self
            .last_action
            .get(node)
            .is_none_or(|t| now.duration_since(*t) >= settings.cooldown);
        if !cooled {
            Some(Outcome::Cooldown)
        } else if self.recent.len() >= settings.max_actions_per_hour {
            Some(Outcome::HourlyLimit)
        } else {
            None
        }
    }

    /// An action on the node now: it starts the node's cooldown and takes a place in the
    /// hourly budget.
    fn spend(&mut self, node: &(String, String), key: &(String, String), now: Instant) {
        self.last_action.insert(node.clone(), now);
        self.recent.push_back(now);
        // Only now is the notification handled: a refused one may act when sent again.
        self.remember(key);
    }

    /// Decisions about nodes the exporter does not scan fold their labels past a bound: the
    /// token holder could otherwise grow the series without end.
    fn fold_unknown_labels(&mut self, decisions: &mut [(Decision, Vec<String>)], known: &Snapshot) {
        for (d, _) in decisions {
            let key = NodeKey {
                instance_id: d.instance_id.clone().into(),
                node_id: d.node_id.clone().into(),
            };
            if !known.nodes.contains_key(&key) {
                let pair = (d.instance_id.clone(), d.node_id.clone());
                if !self.refused_labels.contains(&pair) {
                    if self.refused_labels.len() >= MAX_REFUSED_LABELS {
                        d.instance_id = "other".into();
                        d.node_id = "other".into();
                    } else {
                        self.refused_labels.insert(pair);
                    }
                }
            }
        }
    }

    /// A failed action: its notifications may act again, and it gives its budget back (the
    /// node's cooldown stays, so a failing node is not hammered).
    pub(super) fn give_back(&mut self, decision: &Decision) {
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

/// Decides every alert of a payload (before anything runs): at most one action a node.
pub(super) fn decide(
    settings: &RemediationSettings,
    memory: &mut Memory,
    known: &Snapshot,
    payload: &Payload,
) -> Vec<(Decision, Vec<String>)> {
    let now = Instant::now();
    memory.forget_old_actions(now);
    let mut decisions = Vec::new();
    // Alerts of one group for the same node act once, with the union of their addresses.
    let mut planned: HashMap<(String, String), usize> = HashMap::new();
    for alert in &payload.alerts {
        let asked = Asked::read(alert);
        if let Some(outcome) = refusal(settings, alert, &asked, memory, known) {
            decisions.push(refused(asked.decision, outcome));
            continue;
        }
        let Asked {
            mut decision,
            key,
            client,
            ..
        } = asked;
        let node_key = (decision.instance_id.clone(), decision.node_id.clone());
        if let Some(&i) = planned.get(&node_key) {
            // Same node in the same group: widen the planned action, do not act twice.
            widen(&mut decisions[i], &key, client);
            memory.remember(&key);
            decisions.push(refused(decision, Outcome::Duplicate));
            continue;
        }
        if let Some(outcome) = memory.over_budget(&node_key, now, settings) {
            decisions.push(refused(decision, outcome));
            continue;
        }
        memory.spend(&node_key, &key, now);
        decision.keys.push(key);
        decision.at = Some(now);
        if settings.dry_run {
            decision.result = Outcome::DryRun;
        }
        planned.insert(node_key, decisions.len());
        decisions.push((decision, client.into_iter().collect()));
    }
    memory.fold_unknown_labels(&mut decisions, known);
    decisions
}

/// Why an alert acts on nothing, whatever the budget: resolved, naming no node (or a
/// client address that is none), a notification already handled, a node not allowed.
fn refusal(
    settings: &RemediationSettings,
    alert: &Alert,
    asked: &Asked,
    memory: &Memory,
    known: &Snapshot,
) -> Option<Outcome> {
    let Asked {
        decision,
        key,
        bad_client,
        ..
    } = asked;
    if alert.status == "resolved" {
        Some(Outcome::Resolved)
    } else if decision.instance_id.is_empty() || decision.node_id.is_empty() || *bad_client {
        Some(Outcome::NoTarget)
    } else if !alert.fingerprint.is_empty() && memory.seen_set.contains(key) {
        Some(Outcome::Duplicate)
    } else if !allowed(settings, &decision.instance_id, &decision.node_id, known) {
        Some(Outcome::NotAllowed)
    } else {
        None
    }
}

/// On the allow-list, and a node the exporter scans: labels naming anything else (made-up
/// node ids under a `*` entry, another node of a Redis target) act on nothing.
fn allowed(
    settings: &RemediationSettings,
    instance_id: &str,
    node_id: &str,
    known: &Snapshot,
) -> bool {
    let listed = settings
        .allow
        .iter()
        .any(|a| a.instance_id == instance_id && (a.node_id == "*" || a.node_id == node_id));
    listed
        && known.nodes.contains_key(&NodeKey {
            instance_id: instance_id.into(),
            node_id: node_id.into(),
        })
}

/// A decision that does nothing, for `outcome`.
fn refused(mut decision: Decision, outcome: Outcome) -> (Decision, Vec<String>) {
    decision.action = Action::None;
    decision.result = outcome;
    (decision, Vec::new())
}

/// What one alert asks for, before it is weighed: the decision if nothing refuses it.
struct Asked {
    decision: Decision,
    /// `(fingerprint, startsAt)`: the notification, as remembered.
    key: (String, String),
    /// The client address to end the sessions of; a kill-all without one.
    client: Option<String>,
    /// A `client_addr` label that names no session.
    bad_client: bool,
}

impl Asked {
    fn read(alert: &Alert) -> Asked {
        let label = |k: &str| alert.labels.get(k).map(|v| bounded(v)).unwrap_or_default();
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
        Asked {
            decision: Decision {
                alertname: label("alertname"),
                instance_id: label("instance_id"),
                node_id: label("node_id"),
                action,
                result: Outcome::Acted,
                keys: Vec::new(),
                at: None,
            },
            key: (alert.fingerprint.clone(), alert.starts_at.clone()),
            client,
            bad_client,
        }
    }
}

/// Another alert for a node already planned: its notification joins the planned action, and
/// its address too; one without an address makes the action a kill-all.
fn widen(planned: &mut (Decision, Vec<String>), key: &(String, String), client: Option<String>) {
    let (decision, addrs) = planned;
    decision.keys.push(key.clone());
    match client {
        Some(addr) if decision.action == Action::KillClients => addrs.push(addr),
        _ => {
            decision.action = Action::KillAll;
            addrs.clear();
        }
    }
}

/// `value`, cut as every label value is: longer ones name nothing the exporter scans.
pub(super) fn bounded(value: &str) -> String {
    value
        .chars()
        .take(crate::metrics::MAX_LABEL_VALUE_CHARS)
        .collect()
}
