//! The target metrics, encoded from the current [`Snapshot`](crate::snapshot::Snapshot) at scrape time: target data never
//! lingers in the registry, so a node that disappears or goes stale takes its series with it.
//! One file per group of families: the nodes' sessions and scans, the top clients, the
//! exporter's own look-ups, DBSS.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::exposition::{Exposition, FamilySink, HistogramSample, Kind, LabelSet, NativeSample};
use crate::aggregate::Histogram;
use crate::config::{ExpositionSettings, HistogramMode};
use crate::snapshot::{NodeData, NodeKey, NodeState, Snapshot, Store};

/// A label set that borrows its values from the snapshot, each cut to
/// [`MAX_LABEL_VALUE_CHARS`]. Destructuring makes a new field impossible to forget.
macro_rules! label_set {
    (struct $name:ident<'a> { $($field:ident: $ty:ty),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug)]
        struct $name<'a> {
            $($field: $ty),+
        }

        impl LabelSet for $name<'_> {
            fn each(&self, label: &mut dyn FnMut(&str, &str)) {
                let Self { $($field),+ } = *self;
                $(label(stringify!($field), $field.capped());)+
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

mod dbss;
mod exporter;
mod instances;
mod keys;
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
fn family<'e, E: Exposition, T>(
    out: &'e mut E,
    name: &'e str,
    help: &str,
    kind: Kind,
    items: impl IntoIterator<Item = T>,
    mut sample: impl FnMut(&mut E::Family<'e>, T) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = out.family(name, help, kind)?;
    for item in items {
        sample(&mut metric, item)?;
    }
    Ok(())
}

/// A histogram as `histograms` asks: `le` buckets (classic), native buckets with the `le` ones
/// (both), or native buckets with only `+Inf` for the text formats (native).
fn histogram(
    metric: &mut (impl FamilySink + ?Sized),
    labels: &dyn LabelSet,
    h: &Histogram,
    mode: HistogramMode,
) -> std::fmt::Result {
    let total = [h.count];
    let mut sample = HistogramSample {
        sum: h.sum,
        count: h.count,
        bounds: h.bounds(),
        counts: h.counts(),
        native: None,
    };
    let native = match (mode, h.native()) {
        (HistogramMode::Classic, _) | (_, None) => return metric.histogram(labels, &sample),
        (_, Some(native)) => native,
    };
    if mode == HistogramMode::Native {
        sample.bounds = &[];
        sample.counts = &total;
    }
    let made;
    let (spans, deltas) = match native.sealed() {
        Some(sealed) => sealed,
        None => {
            made = native.spans_and_deltas();
            &made
        }
    };
    sample.native = Some(NativeSample {
        zero_count: native.zero_count,
        spans,
        deltas,
    });
    metric.histogram(labels, &sample)
}

fn node_labels(key: &NodeKey) -> NodeLabels<'_> {
    NodeLabels {
        instance_id: &key.instance_id,
        node_id: &key.node_id,
    }
}

impl SnapshotCollector {
    /// The target families, in the order of the exposition: sessions, instances and limits,
    /// the top clients, scans, the exporter's own look-ups, DBSS.
    pub fn write(&self, out: &mut impl Exposition) -> std::fmt::Result {
        let snapshot = self.store.load();
        let now = (self.clock)();
        let view = View::new(&snapshot, now, self.stale_after);
        nodes::sessions(&view, out)?;
        instances::encode(&view, out)?;
        keys::encode(&view, out)?;
        top_clients::encode(&view, out)?;
        nodes::scans(&view, out)?;
        exporter::encode(&view, out)?;
        dbss::encode(&view, out)
    }
}

/// The same families through prometheus-client's encoders, for a `Registry`.
impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        self.write(&mut encoder)
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
