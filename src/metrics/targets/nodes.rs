//! Each node's sessions (who, how idle, how old, how much buffer) and its scans.

use super::*;
use crate::aggregate::{ClientCount, NodeAggregate, SessionKind};
use crate::config::Family;
use crate::snapshot::{NodeData, NodeKey, NodeState};

label_set! {
    struct NodeInfoLabels<'a> {
    instance_id: &'a str,
    instance_name: &'a str,
    node_id: &'a str,
    node_name: &'a str,
    node_role: &'a str,
    node_ip: &'a str,
    az: &'a str,
    cloud_eye_node: &'a str,
}
}

/// A `dcs_clients` row's labels: the node's, then the row's address, db and user, which the
/// row keeps as the text formats write them.
struct ClientLabels<'a> {
    node: NodeLabels<'a>,
    row: &'a ClientCount,
}

impl LabelSet for ClientLabels<'_> {
    fn each(&self, label: &mut dyn FnMut(&str, &str)) {
        let Self { node, row } = self;
        node.each(label);
        let [client_addr, db, user] = row.values();
        label("client_addr", client_addr.capped());
        label("db", db.capped());
        label("user", user.capped());
    }

    fn text_tail(&self) -> Option<(&dyn LabelSet, &str)> {
        // Text no longer than a value's cap holds no value that would be cut.
        let text = self.row.text_labels()?;
        (text.len() <= MAX_LABEL_VALUE_CHARS).then_some((&self.node, text))
    }
}

label_set! {
    struct AddrLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    client_addr: &'a str,
}
}

label_set! {
    struct NameLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    client_name: &'a str,
}
}

label_set! {
    struct KindLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    kind: &'a str,
}
}

label_set! {
    struct CommandLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    cmd: &'a str,
}
}

label_set! {
    struct SubscriptionLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    kind: &'a str,
}
}

label_set! {
    struct ScanErrorLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    stage: &'a str,
    reason: &'a str,
}
}

/// A family of every node with fresh data, from its aggregate: one entry of
/// [`SESSION_FAMILIES`] each.
struct SessionFamily {
    /// The name `disable = [...]` turns it off by.
    switch: Family,
    name: &'static str,
    /// What it counts; the HELP adds that it is collected in the background.
    help: &'static str,
    kind: Kind,
    /// Writes the node's samples.
    rows: fn(&mut dyn FamilySink, &NodeKey, &NodeAggregate, HistogramMode) -> std::fmt::Result,
}

/// The session families, in the order of the exposition.
const SESSION_FAMILIES: &[SessionFamily] = &[
    SessionFamily {
        switch: Family::Clients,
        name: "dcs_clients",
        help: "Client sessions of the latest scan by client address (IP; past the largest addresses, \"other\"), db and user",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for c in &a.clients {
                let labels = ClientLabels {
                    node: node_labels(key),
                    row: c,
                };
                m.gauge_value(&labels, c.sessions.into())?;
            }
            Ok(())
        },
    },
    SessionFamily {
        switch: Family::ClientsIdle,
        name: "dcs_clients_idle",
        help: "Client sessions of the latest scan idle longer than idle_session_threshold (1h by default) that do not wait by design (blocked, subscribed), by client address as in dcs_clients; only addresses that have some",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for (client_addr, n) in &a.idle_clients {
                let labels = AddrLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    client_addr,
                };
                m.gauge_value(&labels, n.into())?;
            }
            Ok(())
        },
    },
    SessionFamily {
        switch: Family::ClientsByName,
        name: "dcs_clients_by_name",
        help: "Client sessions of the latest scan by client name (CLIENT SETNAME): the max_client_names names with most sessions, the rest as \"(other)\", sessions without a name as \"(unnamed)\"; the sum is the node's total",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for (client_name, n) in &a.by_name {
                let labels = NameLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    client_name,
                };
                m.gauge_value(&labels, n.into())?;
            }
            Ok(())
        },
    },
    SessionFamily {
        switch: Family::ClientsByKind,
        name: "dcs_clients_by_kind",
        help: "Client sessions of the latest scan by kind, from their flags: normal, pubsub, replica, master and monitor are exclusive and sum to the node's total; blocked, transaction, tracking and unix_socket are states counted besides",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for &kind in SessionKind::ALL {
                let labels = KindLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    kind: kind.as_str(),
                };
                m.gauge_value(&labels, a.by_kind[kind as usize].into())?;
            }
            Ok(())
        },
    },
    SessionFamily {
        switch: Family::ClientsByCommand,
        name: "dcs_clients_by_command",
        help: "Client sessions of the latest scan by last command: the max_client_commands commands with most sessions, the rest as \"other\"; the sum is the node's total",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for (cmd, n) in &a.by_command {
                let labels = CommandLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    cmd,
                };
                m.gauge_value(&labels, n.into())?;
            }
            Ok(())
        },
    },
    SessionFamily {
        switch: Family::Idle,
        name: "dcs_client_idle_seconds",
        help: "Idle time of every session of the latest scan",
        kind: Kind::Histogram,
        rows: |m, key, a, mode| histogram(m, &node_labels(key), &a.idle, mode),
    },
    SessionFamily {
        switch: Family::IdleWaiting,
        name: "dcs_client_idle_waiting_seconds",
        help: "Idle time of the sessions of the latest scan that wait by design (blocked in a command such as BLPOP, or subscribed), whose idleness is no leak: the idle-session alerts leave them out",
        kind: Kind::Histogram,
        rows: |m, key, a, mode| histogram(m, &node_labels(key), &a.idle_waiting, mode),
    },
    SessionFamily {
        switch: Family::Age,
        name: "dcs_client_age_seconds",
        help: "Connection age of every session of the latest scan",
        kind: Kind::Histogram,
        rows: |m, key, a, mode| histogram(m, &node_labels(key), &a.age, mode),
    },
    SessionFamily {
        switch: Family::OutputMemory,
        name: "dcs_client_output_memory_bytes",
        help: "Output buffer memory (omem) of every session of the latest scan",
        kind: Kind::Histogram,
        rows: |m, key, a, mode| histogram(m, &node_labels(key), &a.output_memory, mode),
    },
    SessionFamily {
        switch: Family::QueryBuffer,
        name: "dcs_client_query_buffer_bytes",
        help: "Query buffer length (qbuf) of every session of the latest scan",
        kind: Kind::Histogram,
        rows: |m, key, a, mode| histogram(m, &node_labels(key), &a.query_buffer, mode),
    },
    SessionFamily {
        switch: Family::OutputMemoryMax,
        name: "dcs_client_output_memory_max_bytes",
        help: "Largest output buffer memory of any session of the latest scan",
        kind: Kind::Gauge,
        rows: |m, key, a, _| m.gauge_value(&node_labels(key), a.output_memory_max.into()),
    },
    SessionFamily {
        switch: Family::Subscriptions,
        name: "dcs_client_subscriptions",
        help: "Pub/sub subscriptions of all sessions of the latest scan, by kind (channel: sub, pattern: psub)",
        kind: Kind::Gauge,
        rows: |m, key, a, _| {
            for (kind, value) in [
                ("channel", a.channel_subscriptions),
                ("pattern", a.pattern_subscriptions),
            ] {
                let labels = SubscriptionLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    kind,
                };
                m.gauge_value(&labels, value.into())?;
            }
            Ok(())
        },
    },
];

/// Metadata and the session families of the nodes with fresh data.
pub(super) fn sessions(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    family(
        encoder,
        "dcs_node_info",
        "Metadata of each scanned DCS node (always 1), for joins; cloud_eye_node is the node's Cloud Eye dimension value (dcs_cluster_redis_node or dcs_cluster_proxy_node).",
        Kind::Gauge,
        &view.nodes,
        |m, (key, node)| {
            let i = &node.info;
            let labels = NodeInfoLabels {
                instance_id: &key.instance_id,
                instance_name: &i.instance_name,
                node_id: &key.node_id,
                node_name: &i.node_name,
                node_role: &i.node_role,
                node_ip: &i.node_ip,
                az: &i.az,
                cloud_eye_node: &i.cloud_eye_id,
            };
            m.gauge(&labels, 1i64)
        },
    )?;
    let mode = view.exposition().histograms;
    for f in SESSION_FAMILIES {
        if !view.exposition().shows(f.switch) {
            continue;
        }
        family(
            encoder,
            f.name,
            &format!("{}; {BACKGROUND}.", f.help),
            f.kind,
            &view.fresh,
            |m, (key, data)| (f.rows)(m, key, &data.aggregate, mode),
        )?;
    }
    Ok(())
}

/// A family of every node, from its state (and its data while fresh): one entry of
/// [`SCAN_FAMILIES`] each. A node a family has nothing to say of writes no sample.
struct ScanFamily {
    name: &'static str,
    help: &'static str,
    /// Whether the HELP adds that the value is collected in the background.
    background: bool,
    kind: Kind,
    rows: fn(&mut dyn FamilySink, &NodeKey, &NodeState, Option<&NodeData>) -> std::fmt::Result,
}

/// The scan families, in the order of the exposition.
const SCAN_FAMILIES: &[ScanFamily] = &[
    ScanFamily {
        name: "dcs_clients_data_timestamp_seconds",
        help: "When the service produced the session list of the latest scan",
        background: true,
        kind: Kind::Gauge,
        rows: |m, key, _, fresh| match fresh.and_then(|d| d.data_time) {
            Some(time) => m.gauge_value(&node_labels(key), seconds(time).into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_success",
        help: "Whether the last scan of the node succeeded (1) or failed (0).",
        background: false,
        kind: Kind::Gauge,
        rows: |m, key, node, _| match &node.last_attempt {
            Some(a) => m.gauge_value(&node_labels(key), i64::from(a.failure.is_none()).into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_duration_seconds",
        help: "Wall time of the last scan of the node: the job and every page.",
        background: false,
        kind: Kind::Gauge,
        rows: |m, key, node, _| match &node.last_attempt {
            Some(a) => m.gauge_value(&node_labels(key), a.duration.as_secs_f64().into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_cycle_seconds",
        help: "The last scan's cycle: from its tick to its end, the wait for a turn (max_concurrent_scans) included; longer than dcs_exporter_scan_interval_seconds, scans are skipped.",
        background: false,
        kind: Kind::Gauge,
        rows: |m, key, node, _| match node.last_cycle {
            Some(cycle) => m.gauge_value(&node_labels(key), cycle.as_secs_f64().into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_skipped",
        help: "Scans of the node skipped because the previous one was still waiting or running at their tick: the interval is too short for the nodes and max_concurrent_scans.",
        background: false,
        kind: Kind::Counter,
        rows: |m, key, node, _| match &node.last_attempt {
            Some(_) => m.counter_value(&node_labels(key), node.skipped.into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_last_success_timestamp_seconds",
        help: "When the last successful scan of the node ended.",
        background: false,
        kind: Kind::Gauge,
        rows: |m, key, node, _| match &node.data {
            Some(data) => m.gauge_value(&node_labels(key), seconds(data.scanned).into()),
            None => Ok(()),
        },
    },
    ScanFamily {
        name: "dcs_scan_errors",
        help: "Failed scans by stage (scan, job, list) and reason (an API error code or a fixed word).",
        background: false,
        kind: Kind::Counter,
        rows: |m, key, node, _| {
            for ((stage, reason), n) in &node.errors {
                let labels = ScanErrorLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    stage: stage.as_str(),
                    reason: reason.as_str(),
                };
                m.counter_value(&labels, (*n).into())?;
            }
            Ok(())
        },
    },
];

/// How old each node's data is, and how its last scans went.
pub(super) fn scans(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    for f in SCAN_FAMILIES {
        let help = match f.background {
            true => format!("{}; {BACKGROUND}.", f.help),
            false => f.help.to_string(),
        };
        family(
            encoder,
            f.name,
            &help,
            f.kind,
            &view.nodes,
            |m, (key, node)| {
                let fresh = node.fresh_data(view.now, view.stale_after);
                (f.rows)(m, key, node, fresh)
            },
        )?;
    }
    Ok(())
}
