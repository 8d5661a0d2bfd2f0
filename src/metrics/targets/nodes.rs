//! Each node's sessions (who, how idle, how old, how much buffer) and its scans.

use super::*;
use crate::snapshot::{Attempt, NodeKey};

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

label_set! {
    struct ClientLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    client_addr: &'a str,
    db: &'a str,
    user: &'a str,
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

type PickHistogram = fn(&crate::aggregate::NodeAggregate) -> &Histogram;

/// Metadata and the session families of the nodes with fresh data.
pub(super) fn sessions(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::{Gauge, Histogram as Hist};
    let (nodes, fresh) = (&view.nodes, &view.fresh);
    family(
        encoder,
        "dcs_node_info",
        "Metadata of each scanned DCS node (always 1), for joins; cloud_eye_node is the node's Cloud Eye dimension value (dcs_cluster_redis_node or dcs_cluster_proxy_node).",
        Gauge,
        nodes,
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
    if view.exposition().shows("clients") {
        family(
            encoder,
            "dcs_clients",
            &format!(
                "Client sessions of the latest scan by client address (IP; past the largest addresses, \"other\"), db and user; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for c in &data.aggregate.clients {
                    let labels = ClientLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        client_addr: c.client_addr(),
                        db: c.db(),
                        user: c.user(),
                    };
                    m.gauge(&labels, c.sessions)?;
                }
                Ok(())
            },
        )?;
    }
    if view.exposition().shows("clients_idle") {
        family(
            encoder,
            "dcs_clients_idle",
            &format!(
                "Client sessions of the latest scan idle longer than idle_session_threshold (1h by default) that do not wait by design (blocked, subscribed), by client address as in dcs_clients; only addresses that have some; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for (client_addr, n) in &data.aggregate.idle_clients {
                    let labels = AddrLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        client_addr,
                    };
                    m.gauge(&labels, n)?;
                }
                Ok(())
            },
        )?;
    }
    if view.exposition().shows("clients_by_name") {
        family(
            encoder,
            "dcs_clients_by_name",
            &format!(
                "Client sessions of the latest scan by client name (CLIENT SETNAME): the max_client_names names with most sessions, the rest as \"(other)\", sessions without a name as \"(unnamed)\"; the sum is the node's total; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for (client_name, n) in &data.aggregate.by_name {
                    let labels = NameLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        client_name,
                    };
                    m.gauge(&labels, n)?;
                }
                Ok(())
            },
        )?;
    }
    if view.exposition().shows("clients_by_kind") {
        family(
            encoder,
            "dcs_clients_by_kind",
            &format!(
                "Client sessions of the latest scan by kind, from their flags: normal, pubsub, replica, master and monitor are exclusive and sum to the node's total; blocked, transaction, tracking and unix_socket are states counted besides; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for kind in crate::aggregate::SessionKind::ALL {
                    let labels = KindLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        kind: kind.as_str(),
                    };
                    m.gauge(&labels, data.aggregate.by_kind[kind as usize])?;
                }
                Ok(())
            },
        )?;
    }
    if view.exposition().shows("clients_by_command") {
        family(
            encoder,
            "dcs_clients_by_command",
            &format!(
                "Client sessions of the latest scan by last command: the max_client_commands commands with most sessions, the rest as \"other\"; the sum is the node's total; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for (cmd, n) in &data.aggregate.by_command {
                    let labels = CommandLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        cmd,
                    };
                    m.gauge(&labels, n)?;
                }
                Ok(())
            },
        )?;
    }
    let histograms: [(&str, &str, &str, PickHistogram); 5] = [
        (
            "idle",
            "dcs_client_idle_seconds",
            "Idle time of every session of the latest scan",
            |a| &a.idle,
        ),
        (
            "idle_waiting",
            "dcs_client_idle_waiting_seconds",
            "Idle time of the sessions of the latest scan that wait by design (blocked in a command such as BLPOP, or subscribed), whose idleness is no leak: the idle-session alerts leave them out",
            |a| &a.idle_waiting,
        ),
        (
            "age",
            "dcs_client_age_seconds",
            "Connection age of every session of the latest scan",
            |a| &a.age,
        ),
        (
            "output_memory",
            "dcs_client_output_memory_bytes",
            "Output buffer memory (omem) of every session of the latest scan",
            |a| &a.output_memory,
        ),
        (
            "query_buffer",
            "dcs_client_query_buffer_bytes",
            "Query buffer length (qbuf) of every session of the latest scan",
            |a| &a.query_buffer,
        ),
    ];
    let mode = view.exposition().histograms;
    for (switch, name, help, pick) in histograms {
        if !view.exposition().shows(switch) {
            continue;
        }
        family(
            encoder,
            name,
            &format!("{help}; {BACKGROUND}."),
            Hist,
            fresh,
            |m, (key, data)| histogram(m, &node_labels(key), pick(&data.aggregate), mode),
        )?;
    }
    if view.exposition().shows("output_memory_max") {
        family(
            encoder,
            "dcs_client_output_memory_max_bytes",
            &format!(
                "Largest output buffer memory of any session of the latest scan; {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| m.gauge(&node_labels(key), data.aggregate.output_memory_max),
        )?;
    }
    if view.exposition().shows("subscriptions") {
        family(
            encoder,
            "dcs_client_subscriptions",
            &format!(
                "Pub/sub subscriptions of all sessions of the latest scan, by kind (channel: sub, pattern: psub); {BACKGROUND}."
            ),
            Gauge,
            fresh,
            |m, (key, data)| {
                for (kind, value) in [
                    ("channel", data.aggregate.channel_subscriptions),
                    ("pattern", data.aggregate.pattern_subscriptions),
                ] {
                    let labels = SubscriptionLabels {
                        instance_id: &key.instance_id,
                        node_id: &key.node_id,
                        kind,
                    };
                    m.gauge(&labels, value)?;
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// How old each node's data is, and how its last scans went.
pub(super) fn scans(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::{Counter, Gauge};
    let (nodes, fresh) = (&view.nodes, &view.fresh);
    let attempted: Vec<(&NodeKey, &Attempt)> = nodes
        .iter()
        .filter_map(|(k, n)| Some((*k, n.last_attempt.as_ref()?)))
        .collect();
    family(
        encoder,
        "dcs_clients_data_timestamp_seconds",
        &format!("When the service produced the session list of the latest scan; {BACKGROUND}."),
        Gauge,
        fresh.iter().filter_map(|(k, d)| Some((*k, d.data_time?))),
        |m, (key, time)| m.gauge(&node_labels(key), seconds(time)),
    )?;
    family(
        encoder,
        "dcs_scan_success",
        "Whether the last scan of the node succeeded (1) or failed (0).",
        Gauge,
        &attempted,
        |m, (key, a)| m.gauge(&node_labels(key), i64::from(a.failure.is_none())),
    )?;
    family(
        encoder,
        "dcs_scan_duration_seconds",
        "Wall time of the last scan of the node: the job and every page.",
        Gauge,
        &attempted,
        |m, (key, a)| m.gauge(&node_labels(key), a.duration.as_secs_f64()),
    )?;
    family(
        encoder,
        "dcs_scan_cycle_seconds",
        "The last scan's cycle: from its tick to its end, the wait for a turn (max_concurrent_scans) included; longer than dcs_exporter_scan_interval_seconds, scans are skipped.",
        Gauge,
        nodes.iter().filter_map(|(k, n)| Some((*k, n.last_cycle?))),
        |m, (key, cycle)| m.gauge(&node_labels(key), cycle.as_secs_f64()),
    )?;
    family(
        encoder,
        "dcs_scan_skipped",
        "Scans of the node skipped because the previous one was still waiting or running at their tick: the interval is too short for the nodes and max_concurrent_scans.",
        Counter,
        &attempted,
        |m, (key, _)| {
            let skipped = view.snap.nodes.get(*key).map_or(0, |n| n.skipped);
            m.counter(&node_labels(key), skipped)
        },
    )?;
    family(
        encoder,
        "dcs_scan_last_success_timestamp_seconds",
        "When the last successful scan of the node ended.",
        Gauge,
        nodes
            .iter()
            .filter_map(|(k, n)| Some((*k, n.data.as_ref()?.scanned))),
        |m, (key, t)| m.gauge(&node_labels(key), seconds(t)),
    )?;
    family(
        encoder,
        "dcs_scan_errors",
        "Failed scans by stage (scan, job, list) and reason (an API error code or a fixed word).",
        Counter,
        nodes,
        |m, (key, node)| {
            for ((stage, reason), n) in &node.errors {
                let labels = ScanErrorLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    stage: stage.as_str(),
                    reason,
                };
                m.counter(&labels, n)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}
