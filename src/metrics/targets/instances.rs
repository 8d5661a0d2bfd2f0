//! Each instance's context and each node's limits: what joins and headroom need.

use super::*;
use crate::config::Family;
use crate::snapshot::InstanceContext;

/// `dcs_instance_info`'s labels: fixed ones, then the tags the cloud exports.
struct InstanceInfoLabels<'a> {
    instance_id: &'a str,
    context: &'a InstanceContext,
}

impl LabelSet for InstanceInfoLabels<'_> {
    fn each(&self, label: &mut dyn FnMut(&str, &str)) {
        let c = self.context;
        let pass_through = match c.client_ip_pass_through {
            Some(true) => "true",
            Some(false) => "false",
            None => "",
        };
        let fixed = [
            ("instance_id", self.instance_id),
            ("instance_name", c.instance_name.as_str()),
            ("cloud", c.cloud.as_str()),
            ("engine_version", c.engine_version.as_str()),
            ("spec_code", c.spec_code.as_str()),
            ("architecture", c.architecture.as_str()),
            ("enterprise_project_id", c.enterprise_project_id.as_str()),
            ("client_ip_pass_through", pass_through),
        ];
        for (name, value) in fixed {
            label(name, value.capped());
        }
        for (name, value) in &c.tags {
            label(name, value.as_str().capped());
        }
    }
}

label_set! {
    struct SlowCommandLabels<'a> {
    instance_id: &'a str,
    shard: &'a str,
    client_addr: &'a str,
    command: &'a str,
}
}

label_set! {
    struct InstanceLabels<'a> {
    instance_id: &'a str,
}
}

pub(super) fn encode(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::Gauge;
    if view.exposition().shows(Family::SlowCommands) {
        slow_commands(view, encoder)?;
    }
    family(
        encoder,
        "dcs_instance_info",
        "Context of each DCS instance from its details (always 1): engine, flavour, architecture, enterprise project, client IP pass-through, and the tags the cloud's export_tags lists as tag_<key>; join with group_left.",
        Gauge,
        &view.snap.instances,
        |m, (instance_id, context)| {
            m.gauge(
                &InstanceInfoLabels {
                    instance_id,
                    context,
                },
                1i64,
            )
        },
    )?;
    family(
        encoder,
        "dcs_exporter_slow_log_read",
        "1 when the exporter reads the DCS instance's slow log; 0 when it does not: the cloud's slow_log is off, the instance's details say it keeps none (support_slow_log_flag), or the service refused the read as unsupported (counted as reason not_supported in dcs_exporter_instance_context_errors_total). When sharded, the replica that owns the instance reads it.",
        Gauge,
        &view.snap.instances,
        |m, (instance_id, context)| {
            m.gauge(&InstanceLabels { instance_id }, i64::from(context.slow_log))
        },
    )?;
    family(
        encoder,
        "dcs_node_max_clients",
        "The most client sessions the node accepts: the instance's maxclients parameter (a [[redis]] target's CONFIG GET maxclients, or its max_clients).",
        Gauge,
        view.nodes
            .iter()
            .filter_map(|(k, n)| Some((*k, gauge_value(n.info.max_clients)?))),
        |m, (key, limit)| m.gauge(&node_labels(key), limit),
    )?;
    family(
        encoder,
        "dcs_node_idle_timeout_seconds",
        "Seconds after which the node closes an idle session: the instance's timeout parameter; 0, idle sessions are never closed.",
        Gauge,
        view.nodes
            .iter()
            .filter_map(|(k, n)| Some((*k, gauge_value(n.info.idle_timeout)?))),
        |m, (key, seconds)| m.gauge(&node_labels(key), seconds),
    )
}

/// A limit as a gauge's value: a limit past `i64::MAX` (which the readers refuse) has no
/// series rather than a wrapped one.
fn gauge_value(limit: Option<u64>) -> Option<i64> {
    i64::try_from(limit?).ok()
}

/// Slow commands by client, and their durations.
fn slow_commands(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::{Counter, Histogram};
    let mode = view.exposition().histograms;
    family(
        encoder,
        "dcs_slow_commands",
        "Slow-log entries counted since the exporter started, each once, by instance, shard (a cluster's shard from DCS's slow log; a [[redis]] target's node), client address and command. Up to max_client_addrs addresses and max_client_commands commands get a label of their own, the busiest first as they appear, and keep it; the rest count as other. Entries the log held before the exporter's first read are not counted.",
        Counter,
        view.snap
            .slow_commands
            .iter()
            .flat_map(|(instance_id, slow)| {
                slow.counts
                    .iter()
                    .map(move |(key, n)| (instance_id.as_str(), key, *n))
            }),
        |m, (instance_id, (shard, client_addr, command), n)| {
            m.counter(
                &SlowCommandLabels {
                    instance_id,
                    shard,
                    client_addr,
                    command,
                },
                n,
            )
        },
    )?;
    family(
        encoder,
        "dcs_slow_command_duration_seconds",
        "Durations of the slow commands counted in dcs_slow_commands_total, by instance; present from the first successful read of the slow log.",
        Histogram,
        &view.snap.slow_commands,
        |m, (instance_id, slow)| {
            histogram(m, &InstanceLabels { instance_id }, &slow.duration, mode)
        },
    )
}
