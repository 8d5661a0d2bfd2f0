//! The exporter's own look-ups of each cloud: discovery and the service's clock.

use super::*;
label_set! {
    struct CloudLabels<'a> {
    cloud: &'a str,
}
}

label_set! {
    struct ContextErrorLabels<'a> {
    instance_id: &'a str,
    operation: &'a str,
    reason: &'a str,
}
}

label_set! {
    struct DiscoveryErrorLabels<'a> {
    cloud: &'a str,
    reason: &'a str,
}
}

pub(super) fn encode(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    let snap = view.snap;
    use Kind::{Counter, Gauge};
    family(
        encoder,
        "dcs_exporter_discovery_errors",
        "Failed look-ups of instances and nodes, by cloud and reason.",
        Counter,
        &snap.discovery_errors,
        |m, ((cloud, reason), n)| m.counter(&DiscoveryErrorLabels { cloud, reason }, n),
    )?;

    family(
        encoder,
        "dcs_exporter_instance_context_errors",
        "Failed reads of instances' details, limits and slow logs (show_instance, list_configurations and list_slowlog for DCS; config_get and slowlog_get for [[redis]] targets; info_keyspace, select, scan, type, key_size and object_freq of a key_scan walk, once a walk), by instance, operation and reason: the values read before (or configured) are kept, and no scan fails. Also the key analyses' reads, and the analyses key_analysis_trigger did not start (create_big_key_task, create_hot_key_task: refused or failed), once a decision.",
        Counter,
        &snap.context_errors,
        |m, ((instance_id, operation, reason), n)| {
            m.counter(
                &ContextErrorLabels {
                    instance_id,
                    operation: operation.as_str(),
                    reason,
                },
                n,
            )
        },
    )?;
    family(
        encoder,
        "dcs_exporter_discovery_success",
        "Whether the cloud's last look-up of its instances and nodes succeeded (a failed one keeps the nodes known before, and is retried with backoff).",
        Gauge,
        &snap.last_discovery,
        |m, (cloud, failure)| m.gauge(&CloudLabels { cloud }, i64::from(failure.is_none())),
    )?;
    family(
        encoder,
        "dcs_exporter_scan_interval_seconds",
        "Every node is scanned this often (scan_interval).",
        Gauge,
        snap.scan_interval,
        |m, interval| m.gauge(&(), interval.as_secs_f64()),
    )?;
    family(
        encoder,
        "dcs_exporter_api_calls_per_interval",
        "The exporter's estimate of the API calls the cloud's account makes in one scan interval (scans, job polls, session pages, slow logs, DBSS polls, discovery and key analysis spread over the interval), for the nodes this replica scans and their last session counts; divided by dcs_exporter_scan_interval_seconds, the rate it needs against dcs_exporter_api_rate_limit.",
        Gauge,
        snap.api_plans.keys(),
        |m, cloud| {
            let calls = snap.api_budget(cloud).map_or(0.0, |b| b.total());
            m.gauge(&CloudLabels { cloud }, calls)
        },
    )?;
    family(
        encoder,
        "dcs_exporter_clock_offset_seconds",
        "The cloud service's clock minus this machine's, from the Date of its answers; the age of stored lists is judged on the service's clock.",
        Gauge,
        &snap.clock_offsets,
        |m, (cloud, offset)| m.gauge(&CloudLabels { cloud }, offset),
    )?;

    Ok(())
}
