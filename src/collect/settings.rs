//! What a scan needs besides its target, taken from the exporter's settings.

use std::sync::Arc;

use crate::aggregate::AggregateSettings;
use crate::cloud::dcs::{PagingOptions, PollOptions};
use crate::config::ExporterSettings;

/// What a node scan needs besides the node.
#[derive(Clone, Debug)]
pub struct ScanSettings {
    pub clean_cache: bool,
    /// Stored lists older than this are refused.
    pub stale_after: std::time::Duration,
    pub paging: PagingOptions,
    pub poll: PollOptions,
    pub aggregate: Arc<AggregateSettings>,
    /// How each node's client field is chosen (`aggregate` holds the choice without an
    /// instance's details).
    pub client_addr: crate::config::ClientAddrChoice,
}

impl ScanSettings {
    pub fn from_exporter(e: &ExporterSettings) -> Self {
        Self {
            clean_cache: e.clean_cache,
            stale_after: e.stale_after,
            paging: PagingOptions {
                page_size: e.page_size,
                ..PagingOptions::default()
            },
            poll: PollOptions::default(),
            aggregate: Arc::new(AggregateSettings::from(e)),
            client_addr: e.client_addr_field,
        }
    }

    /// The settings of a node of an instance whose client IP pass-through is `pass_through`:
    /// these, or a copy with the other client field.
    pub fn for_instance(self: &Arc<Self>, pass_through: Option<bool>) -> Arc<Self> {
        let field = self.client_addr.resolve(pass_through);
        if field == self.aggregate.client_addr_field {
            return Arc::clone(self);
        }
        let mut aggregate = (*self.aggregate).clone();
        aggregate.client_addr_field = field;
        Arc::new(Self {
            aggregate: Arc::new(aggregate),
            ..(**self).clone()
        })
    }
}

impl From<&ExporterSettings> for AggregateSettings {
    fn from(e: &ExporterSettings) -> Self {
        Self {
            max_client_addrs: e.max_client_addrs,
            max_client_names: e.max_client_names,
            max_client_commands: e.max_client_commands,
            idle_threshold_seconds: e.idle_session_threshold.as_secs() as i64,
            top_clients: e.top_clients,
            client_addr_field: e.client_addr_field.resolve(None),
            idle_buckets: e.idle_buckets.clone().into(),
            age_buckets: e.age_buckets.clone().into(),
            bytes_buckets: e.bytes_buckets.clone().into(),
            native_histograms: e.exposition.histograms != crate::config::HistogramMode::Classic,
        }
    }
}
