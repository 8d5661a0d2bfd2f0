//! Encodes the current [`Snapshot`] at scrape time: target data never lingers in the registry,
//! so a node that disappears or goes stale takes its series with it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder,
    MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use crate::aggregate::{Histogram, TopClient};
use crate::snapshot::{NodeKey, NodeState, Snapshot, Store};

/// A label set that borrows its values from the snapshot (the derive takes no lifetimes).
/// Destructuring makes a new field impossible to forget.
macro_rules! label_set {
    (struct $name:ident<'a> { $($field:ident: $ty:ty),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug)]
        struct $name<'a> {
            $($field: $ty),+
        }

        impl EncodeLabelSet for $name<'_> {
            fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
                let Self { $($field),+ } = *self;
                $(EncodeLabel::encode(&(stringify!($field), $field.capped()), encoder.encode_label())?;)+
                Ok(())
            }
        }
    };
}

/// Label values are cut to this many characters: names from API answers and Redis (a client
/// name may be any length) must not inflate every scrape.
pub const MAX_LABEL_VALUE_CHARS: usize = 256;

/// A label value, cut to [`MAX_LABEL_VALUE_CHARS`].
trait Capped {
    fn capped(self) -> Self;
}

impl Capped for &str {
    fn capped(self) -> Self {
        match self.char_indices().nth(MAX_LABEL_VALUE_CHARS) {
            Some((end, _)) => &self[..end],
            None => self,
        }
    }
}

impl Capped for SubscriptionKind {
    fn capped(self) -> Self {
        self
    }
}

/// Said in every target metric's HELP: scrapes read what the scheduler last collected.
const BACKGROUND: &str = "collected in the background on the scan interval";

label_set! {
    struct NodeLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
}
}

label_set! {
    struct NodeInfoLabels<'a> {
    instance_id: &'a str,
    instance_name: &'a str,
    node_id: &'a str,
    node_name: &'a str,
    node_role: &'a str,
    node_ip: &'a str,
    az: &'a str,
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

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SubscriptionKind {
    channel,
    pattern,
}

label_set! {
    struct SubscriptionLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    kind: SubscriptionKind,
}
}

label_set! {
    struct TopClientLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
    client_addr: &'a str,
    client_name: &'a str,
    user: &'a str,
    db: &'a str,
    cmd: &'a str,
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

label_set! {
    struct ResourceLabels<'a> {
    resource_id: &'a str,
}
}

label_set! {
    struct DbssStatusLabels<'a> {
    resource_id: &'a str,
    status: &'a str,
}
}

label_set! {
    struct DbssJobLabels<'a> {
    resource_id: &'a str,
    job_id: &'a str,
    job_type: &'a str,
    status: &'a str,
}
}

label_set! {
    struct DbssFailureLabels<'a> {
    resource_id: &'a str,
    job_type: &'a str,
    error_code: &'a str,
}
}

label_set! {
    struct CloudLabels<'a> {
    cloud: &'a str,
}
}

label_set! {
    struct DiscoveryErrorLabels<'a> {
    cloud: &'a str,
    reason: &'a str,
}
}

/// The target metrics, read from the store at each scrape.
#[derive(Debug)]
pub struct SnapshotCollector {
    store: Arc<Store>,
    stale_after: Duration,
    /// The clock of the scrape; a fixed one makes golden tests possible.
    clock: fn() -> SystemTime,
}

impl SnapshotCollector {
    pub fn new(store: Arc<Store>, stale_after: Duration) -> Self {
        Self {
            store,
            stale_after,
            clock: SystemTime::now,
        }
    }

    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.clock = clock;
        self
    }
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One metric family: its descriptor, then a sample per item.
fn family<'e, T>(
    encoder: &'e mut DescriptorEncoder,
    name: &'e str,
    help: &str,
    kind: MetricType,
    items: impl IntoIterator<Item = T>,
    mut sample: impl FnMut(&mut MetricEncoder, T) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for item in items {
        sample(&mut metric, item)?;
    }
    Ok(())
}

fn histogram(metric: &mut MetricEncoder, labels: &NodeLabels, h: &Histogram) -> std::fmt::Result {
    metric
        .encode_family(labels)?
        .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets(), None)
}

fn node_labels(key: &NodeKey) -> NodeLabels<'_> {
    NodeLabels {
        instance_id: &key.instance_id,
        node_id: &key.node_id,
    }
}

fn top_clients(
    metric: &mut MetricEncoder,
    key: &NodeKey,
    clients: &[TopClient],
) -> std::fmt::Result {
    for c in clients {
        let labels = TopClientLabels {
            instance_id: &key.instance_id,
            node_id: &key.node_id,
            client_addr: &c.client_addr,
            client_name: &c.client_name,
            user: &c.user,
            db: &c.db,
            cmd: &c.cmd,
        };
        metric.encode_family(&labels)?.encode_gauge(&c.value)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let snapshot = self.store.load();
        let now = (self.clock)();
        encode_snapshot(&snapshot, now, self.stale_after, &mut encoder)
    }
}

type PickHistogram = fn(&crate::aggregate::NodeAggregate) -> &Histogram;

fn encode_snapshot(
    snap: &Snapshot,
    now: SystemTime,
    stale_after: Duration,
    encoder: &mut DescriptorEncoder,
) -> std::fmt::Result {
    use MetricType::{Counter, Gauge, Histogram as Hist};
    let nodes: Vec<(&NodeKey, &NodeState)> =
        snap.nodes.iter().map(|(k, v)| (k, v.as_ref())).collect();
    let fresh: Vec<(&NodeKey, &crate::snapshot::NodeData)> = nodes
        .iter()
        .filter_map(|(k, n)| Some((*k, n.fresh_data(now, stale_after)?)))
        .collect();
    let attempted: Vec<(&NodeKey, &crate::snapshot::Attempt)> = nodes
        .iter()
        .filter_map(|(k, n)| Some((*k, n.last_attempt.as_ref()?)))
        .collect();

    family(
        encoder,
        "dcs_node_info",
        "Metadata of each scanned DCS node (always 1), for joins.",
        Gauge,
        &nodes,
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
            };
            m.encode_family(&labels)?.encode_gauge(&1i64)
        },
    )?;
    family(
        encoder,
        "dcs_clients",
        &format!(
            "Client sessions of the latest scan by client address (IP; past the largest addresses, \"other\"), db and user; {BACKGROUND}."
        ),
        Gauge,
        &fresh,
        |m, (key, data)| {
            for c in &data.aggregate.clients {
                let labels = ClientLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    client_addr: &c.client_addr,
                    db: &c.db,
                    user: &c.user,
                };
                m.encode_family(&labels)?.encode_gauge(&c.sessions)?;
            }
            Ok(())
        },
    )?;
    let histograms: [(&str, &str, PickHistogram); 4] = [
        (
            "dcs_client_idle_seconds",
            "Idle time of every session of the latest scan",
            |a| &a.idle,
        ),
        (
            "dcs_client_age_seconds",
            "Connection age of every session of the latest scan",
            |a| &a.age,
        ),
        (
            "dcs_client_output_memory_bytes",
            "Output buffer memory (omem) of every session of the latest scan",
            |a| &a.output_memory,
        ),
        (
            "dcs_client_query_buffer_bytes",
            "Query buffer length (qbuf) of every session of the latest scan",
            |a| &a.query_buffer,
        ),
    ];
    for (name, help, pick) in histograms {
        family(
            encoder,
            name,
            &format!("{help}; {BACKGROUND}."),
            Hist,
            &fresh,
            |m, (key, data)| histogram(m, &node_labels(key), pick(&data.aggregate)),
        )?;
    }
    family(
        encoder,
        "dcs_client_output_memory_max_bytes",
        &format!("Largest output buffer memory of any session of the latest scan; {BACKGROUND}."),
        Gauge,
        &fresh,
        |m, (key, data)| {
            m.encode_family(&node_labels(key))?
                .encode_gauge(&data.aggregate.output_memory_max)
        },
    )?;
    family(
        encoder,
        "dcs_client_subscriptions",
        &format!(
            "Pub/sub subscriptions of all sessions of the latest scan, by kind (channel: sub, pattern: psub); {BACKGROUND}."
        ),
        Gauge,
        &fresh,
        |m, (key, data)| {
            for (kind, value) in [
                (
                    SubscriptionKind::channel,
                    data.aggregate.channel_subscriptions,
                ),
                (
                    SubscriptionKind::pattern,
                    data.aggregate.pattern_subscriptions,
                ),
            ] {
                let labels = SubscriptionLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    kind,
                };
                m.encode_family(&labels)?.encode_gauge(&value)?;
            }
            Ok(())
        },
    )?;
    family(
        encoder,
        "dcs_top_client_idle_seconds",
        &format!("Idle time of the most idle sessions of each node; {BACKGROUND}."),
        Gauge,
        &fresh,
        |m, (key, data)| top_clients(m, key, &data.aggregate.top_idle),
    )?;
    family(
        encoder,
        "dcs_top_client_output_memory_bytes",
        &format!(
            "Output buffer memory of the sessions with the largest buffers of each node; {BACKGROUND}."
        ),
        Gauge,
        &fresh,
        |m, (key, data)| top_clients(m, key, &data.aggregate.top_output_memory),
    )?;
    family(
        encoder,
        "dcs_clients_data_timestamp_seconds",
        &format!("When the service produced the session list of the latest scan; {BACKGROUND}."),
        Gauge,
        fresh.iter().filter_map(|(k, d)| Some((*k, d.data_time?))),
        |m, (key, time)| {
            m.encode_family(&node_labels(key))?
                .encode_gauge(&seconds(time))
        },
    )?;
    family(
        encoder,
        "dcs_scan_success",
        "Whether the last scan of the node succeeded (1) or failed (0).",
        Gauge,
        &attempted,
        |m, (key, a)| {
            m.encode_family(&node_labels(key))?
                .encode_gauge(&i64::from(a.failure.is_none()))
        },
    )?;
    family(
        encoder,
        "dcs_scan_duration_seconds",
        "Wall time of the last scan of the node: the job and every page.",
        Gauge,
        &attempted,
        |m, (key, a)| {
            m.encode_family(&node_labels(key))?
                .encode_gauge(&a.duration.as_secs_f64())
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
        |m, (key, t)| {
            m.encode_family(&node_labels(key))?
                .encode_gauge(&seconds(t))
        },
    )?;
    family(
        encoder,
        "dcs_scan_errors",
        "Failed scans by stage (scan, job, list) and reason (an API error code or a fixed word).",
        Counter,
        &nodes,
        |m, (key, node)| {
            for ((stage, reason), n) in &node.errors {
                let labels = ScanErrorLabels {
                    instance_id: &key.instance_id,
                    node_id: &key.node_id,
                    stage: stage.as_str(),
                    reason,
                };
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, f64>(n, None)?;
            }
            Ok(())
        },
    )?;
    family(
        encoder,
        "dcs_exporter_discovery_errors",
        "Failed look-ups of instances and nodes, by cloud and reason.",
        Counter,
        &snap.discovery_errors,
        |m, ((cloud, reason), n)| {
            m.encode_family(&DiscoveryErrorLabels { cloud, reason })?
                .encode_counter::<NoLabelSet, _, f64>(n, None)
        },
    )?;

    family(
        encoder,
        "dcs_exporter_discovery_success",
        "Whether the cloud's last look-up of its instances and nodes succeeded (a failed one keeps the nodes known before, and is retried with backoff).",
        Gauge,
        &snap.last_discovery,
        |m, (cloud, failure)| {
            m.encode_family(&CloudLabels { cloud })?
                .encode_gauge(&i64::from(failure.is_none()))
        },
    )?;
    family(
        encoder,
        "dcs_exporter_clock_offset_seconds",
        "The cloud service's clock minus this machine's, from the Date of its answers; the age of stored lists is judged on the service's clock.",
        Gauge,
        &snap.clock_offsets,
        |m, (cloud, offset)| {
            m.encode_family(&CloudLabels { cloud })?
                .encode_gauge(offset)
        },
    )?;

    // DBSS
    let polled: Vec<(&String, &crate::snapshot::DbssState)> = snap
        .dbss
        .iter()
        .map(|(k, v)| (k, v.as_ref()))
        .filter(|(_, d)| {
            d.polled
                .is_some_and(|t| now.duration_since(t).unwrap_or_default() <= stale_after)
        })
        .collect();
    family(
        encoder,
        "dbss_jobs",
        &format!("DBSS instance-creation job records by status; {BACKGROUND}."),
        Gauge,
        &polled,
        |m, (resource, d)| {
            let mut by_status: std::collections::BTreeMap<&str, u64> =
                std::collections::BTreeMap::new();
            for job in &d.jobs {
                *by_status.entry(job.status.as_str()).or_insert(0) += 1;
            }
            for (status, n) in by_status {
                m.encode_family(&DbssStatusLabels {
                    resource_id: resource,
                    status,
                })?
                .encode_gauge(&n)?;
            }
            Ok(())
        },
    )?;
    family(
        encoder,
        "dbss_job_duration_seconds",
        &format!(
            "Duration of each DBSS job: end minus begin, or now minus begin while unfinished; {BACKGROUND}."
        ),
        Gauge,
        &polled,
        |m, (resource, d)| {
            let mut jobs: Vec<_> = d
                .jobs
                .iter()
                .filter(|j| j.job_id.is_some() && j.began().is_some())
                .collect();
            jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
            for job in jobs {
                let (Some(id), Some(began)) = (job.job_id.as_deref(), job.began()) else {
                    continue;
                };
                let end = if job.status.is_finished() {
                    job.ended().unwrap_or(now)
                } else {
                    now
                };
                let duration = end.duration_since(began).unwrap_or_default().as_secs_f64();
                let labels = DbssJobLabels {
                    resource_id: resource,
                    job_id: id,
                    job_type: job.job_type.as_deref().unwrap_or(crate::aggregate::UNKNOWN),
                    status: job.status.as_str(),
                };
                m.encode_family(&labels)?.encode_gauge(&duration)?;
            }
            Ok(())
        },
    )?;
    family(
        encoder,
        "dbss_job_failures",
        "Failed DBSS jobs seen since the exporter started, each job counted once.",
        Counter,
        snap.dbss.iter(),
        |m, (resource, d)| {
            for ((job_type, error_code), n) in &d.failures {
                let labels = DbssFailureLabels {
                    resource_id: resource,
                    job_type,
                    error_code,
                };
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, f64>(n, None)?;
            }
            Ok(())
        },
    )?;
    let dbss_attempts: Vec<(&String, &crate::snapshot::Attempt)> = snap
        .dbss
        .iter()
        .filter_map(|(k, d)| Some((k, d.last_attempt.as_ref()?)))
        .collect();
    family(
        encoder,
        "dbss_scan_success",
        "Whether the last poll of the DBSS resource's jobs succeeded (1) or failed (0).",
        Gauge,
        &dbss_attempts,
        |m, (resource, a)| {
            m.encode_family(&ResourceLabels {
                resource_id: resource,
            })?
            .encode_gauge(&i64::from(a.failure.is_none()))
        },
    )?;
    family(
        encoder,
        "dbss_scan_duration_seconds",
        "Wall time of the last poll of the DBSS resource's jobs.",
        Gauge,
        &dbss_attempts,
        |m, (resource, a)| {
            m.encode_family(&ResourceLabels {
                resource_id: resource,
            })?
            .encode_gauge(&a.duration.as_secs_f64())
        },
    )?;
    Ok(())
}
