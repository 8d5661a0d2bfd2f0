//! The metrics: target data encoded from the snapshot at scrape time, and the exporter's own
//! (API requests, build, process).

pub mod exposition;
mod process;
mod targets;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use process::ProcessCollector;
pub use targets::{MAX_LABEL_VALUE_CHARS, SnapshotCollector};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::accounts::SharedAccounts;
use crate::cloud::{Operation, RequestObserver};
use crate::snapshot::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRequestLabels {
    service: &'static str,
    operation: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiOperationLabels {
    service: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    rustc_version: &'static str,
}

/// API request buckets in seconds: a healthy call takes tens of milliseconds, a throttled or
/// retried one seconds.
const API_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts and times every API call.
#[derive(Debug)]
pub struct ApiMetrics {
    requests: Family<ApiRequestLabels, Counter>,
    durations: Family<ApiOperationLabels, Histogram>,
}

impl ApiMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(API_DURATION_BUCKETS)),
        };
        registry.register(
            "dcs_exporter_api_requests",
            "API calls by service, operation and outcome (HTTP status, or the error kind when there was no answer)",
            metrics.requests.clone(),
        );
        registry.register(
            "dcs_exporter_api_request_duration_seconds",
            "Duration of API calls (each attempt)",
            metrics.durations.clone(),
        );
        Arc::new(metrics)
    }
}

impl RequestObserver for ApiMetrics {
    fn observe(&self, operation: Operation, outcome: &str, elapsed: Duration) {
        let service = operation.service().as_str();
        self.requests
            .get_or_create(&ApiRequestLabels {
                service,
                operation: operation.as_str(),
                code: outcome.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&ApiOperationLabels {
                service,
                operation: operation.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Each account's request rate in force, read from its client at scrape time.
#[derive(Debug)]
pub struct AccountsCollector {
    accounts: Arc<SharedAccounts>,
}

impl AccountsCollector {
    pub fn new(accounts: Arc<SharedAccounts>) -> Self {
        Self { accounts }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudLabels {
    cloud: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    cloud: String,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    cloud: String,
    source: &'static str,
    result: &'static str,
}

impl Collector for AccountsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let accounts = self.accounts.load();
        let mut metric = encoder.encode_descriptor(
            "dcs_exporter_api_rate_limit",
            "API requests a second the account may make now: its requests_per_second, halved by each throttled answer and won back by answers that get through; shared by scans, the webhook's actions and DBSS polls",
            None,
            MetricType::Gauge,
        )?;
        for (cloud, client) in accounts.clients() {
            if let Some(rate) = client.rate_in_force() {
                metric
                    .encode_family(&CloudLabels {
                        cloud: cloud.name.clone(),
                    })?
                    .encode_gauge(&rate)?;
            }
        }
        let statuses: Vec<_> = accounts
            .clients()
            .map(|(cloud, client)| (cloud.name.clone(), client.credentials().status()))
            .filter(|(_, status)| status.temporary)
            .collect();
        let mut metric = encoder.encode_descriptor(
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            "When the account's current temporary credentials expire (Unix time); absent for static keys and before the first credentials are obtained",
            None,
            MetricType::Gauge,
        )?;
        for (cloud, status) in &statuses {
            let Some(end) = status.expires_at else {
                continue;
            };
            let seconds = end
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metric
                .encode_family(&CredentialLabels {
                    cloud: cloud.clone(),
                    source: status.source,
                })?
                .encode_gauge(&seconds)?;
        }
        let mut metric = encoder.encode_descriptor(
            "dcs_exporter_credential_refreshes",
            "Attempts to obtain the account's temporary credentials, by result: success, unreachable (no answer, timeout, 5xx), refused (4xx), malformed (no usable credentials in the answer), not_configured (no agency attached, token file missing) or too_short (credentials ending within the 5 s margin)",
            None,
            MetricType::Counter,
        )?;
        for (cloud, status) in &statuses {
            for (result, count) in &status.refreshes {
                metric
                    .encode_family(&RefreshLabels {
                        cloud: cloud.clone(),
                        source: status.source,
                        result,
                    })?
                    .encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(
                        &(*count as f64),
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

/// Version facts, from the build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("DCS_EXPORTER_REVISION");
pub const RUSTC_VERSION: &str = env!("DCS_EXPORTER_RUSTC_VERSION");

/// The target metrics from `store`, and a registry of the exporter's own, which `/metrics`
/// writes after them.
pub fn registry(
    store: Arc<Store>,
    stale_after: Duration,
) -> (SnapshotCollector, Registry, Arc<ApiMetrics>) {
    let targets = SnapshotCollector::new(store, stale_after);
    let mut registry = Registry::default();
    let api = ApiMetrics::register(&mut registry);
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: VERSION,
            revision: REVISION,
            rustc_version: RUSTC_VERSION,
        })
        .set(1);
    registry.register(
        "dcs_exporter_build_info",
        "The exporter's version, source revision and compiler (always 1)",
        build,
    );
    registry.register_collector(Box::new(ProcessCollector));
    registry.register_collector(Box::new(tasks::TaskPanicsCollector));
    (targets, registry, api)
}
