//! The target metrics, encoded from the current [`Snapshot`](crate::snapshot::Snapshot) at scrape time: target data never
//! lingers in the registry, so a node that disappears or goes stale takes its series with it.
//! One file per group of families: the nodes' sessions and scans, the top clients, the
//! exporter's own look-ups, DBSS.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder,
    MetricEncoder, NativeHistogram, NativeHistogramBuckets, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use crate::aggregate::Histogram;
use crate::config::{ExpositionSettings, HistogramMode};
use crate::snapshot::{NodeData, NodeKey, NodeState, Snapshot, Store};

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
        // No more bytes than the cap, no more characters: the common case, without a walk.
        if self.len() <= MAX_LABEL_VALUE_CHARS {
            return self;
        }
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

mod dbss;
mod exporter;
mod instances;
mod nodes;
mod top_clients;

label_set! {
    struct NodeLabels<'a> {
    instance_id: &'a str,
    node_id: &'a str,
}
}

/// Said in every target metric's HELP: scrapes read what the scheduler last collected.
const BACKGROUND: &str = "collected in the background on the scan interval";

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SubscriptionKind {
    channel,
    pattern,
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

/// A histogram as `histograms` asks: `le` buckets (classic), native buckets with the `le` ones
/// (both), or native buckets with only `+Inf` for the text formats (native).
fn histogram(
    metric: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    h: &Histogram,
    mode: HistogramMode,
) -> std::fmt::Result {
    let mut metric = metric.encode_family(labels)?;
    let native = match (mode, h.native()) {
        (HistogramMode::Classic, _) | (_, None) => {
            return metric.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets(), None);
        }
        (_, Some(native)) => native,
    };
    let classic = if mode == HistogramMode::Both {
        h.buckets()
    } else {
        vec![(f64::INFINITY, h.count)]
    };
    let made;
    let (spans, deltas) = match native.sealed() {
        Some(sealed) => sealed,
        None => {
            made = native.spans_and_deltas();
            &made
        }
    };
    let empty = NativeHistogramBuckets {
        spans: &[],
        deltas: &[],
    };
    metric.encode_histogram_with_native::<NoLabelSet>(
        h.sum,
        h.count,
        &classic,
        None,
        NativeHistogram {
            schema: crate::aggregate::native::SCHEMA,
            zero_threshold: crate::aggregate::native::ZERO_THRESHOLD,
            zero_count: native.zero_count,
            negative: empty,
            positive: NativeHistogramBuckets { spans, deltas },
            created: None,
        },
    )
}

fn node_labels(key: &NodeKey) -> NodeLabels<'_> {
    NodeLabels {
        instance_id: &key.instance_id,
        node_id: &key.node_id,
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let snapshot = self.store.load();
        let now = (self.clock)();
        let view = View::new(&snapshot, now, self.stale_after);
        let encoder = &mut encoder;
        // The order of the exposition: sessions, instances and limits, the top clients, scans,
        // the exporter's own look-ups, DBSS.
        nodes::sessions(&view, encoder)?;
        instances::encode(&view, encoder)?;
        top_clients::encode(&view, encoder)?;
        nodes::scans(&view, encoder)?;
        exporter::encode(&view, encoder)?;
        dbss::encode(&view, encoder)
    }
}

/// What every group of families encodes from: the snapshot at the scrape's time, its nodes,
/// and those whose data is still fresh.
struct View<'s> {
    snap: &'s Snapshot,
    now: SystemTime,
    stale_after: Duration,
    nodes: Vec<(&'s NodeKey, &'s NodeState)>,
    fresh: Vec<(&'s NodeKey, &'s NodeData)>,
}

impl View<'_> {
    /// What `/metrics` shows, from the configuration in force.
    fn exposition(&self) -> &ExpositionSettings {
        &self.snap.exposition
    }
}

impl<'s> View<'s> {
    fn new(snap: &'s Snapshot, now: SystemTime, stale_after: Duration) -> Self {
        let nodes: Vec<(&NodeKey, &NodeState)> =
            snap.nodes.iter().map(|(k, v)| (k, v.as_ref())).collect();
        let fresh = nodes
            .iter()
            .filter_map(|(k, n)| Some((*k, n.fresh_data(now, stale_after)?)))
            .collect();
        Self {
            snap,
            now,
            stale_after,
            nodes,
            fresh,
        }
    }
}
