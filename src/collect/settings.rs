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
        }
    }
}

impl From<&ExporterSettings> for AggregateSettings {
    fn from(e: &ExporterSettings) -> Self {
        Self {
            max_client_addrs: e.max_client_addrs,
            top_clients: e.top_clients,
            client_addr_field: e.client_addr_field,
            idle_buckets: e.idle_buckets.clone().into(),
            age_buckets: e.age_buckets.clone().into(),
            bytes_buckets: e.bytes_buckets.clone().into(),
        }
    }
}
