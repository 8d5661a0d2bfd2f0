//! What every collection loop shares: the settings, the store, the scan permits and this
//! replica's shard; where a target's scans fall in the interval; how outcomes are logged.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::settings::ScanSettings;
use super::shard::Shard;
use crate::cloud::ApiClient;
use crate::config::{Cloud, ExporterSettings};
use crate::snapshot::{Failure, Source, Store};

pub(super) struct CloudRuntime {
    pub config: Cloud,
    pub api: ApiClient,
}

/// What every scan loop shares.
pub(super) struct Shared {
    pub settings: ExporterSettings,
    pub scan: Arc<ScanSettings>,
    pub store: Arc<Store>,
    pub permits: Semaphore,
    /// This replica's share of the targets; all of them when `None`.
    pub shard: Option<Shard>,
}

impl Shared {
    pub fn owns(&self, parts: &[&str]) -> bool {
        self.shard.is_none_or(|s| s.owns(parts))
    }
}

/// A stable offset in `[0, window)` for a target, so its scans keep their place in the cycle.
pub(super) fn spread(key: &impl Hash, window: Duration) -> Duration {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    let window_ms = window.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % window_ms)
}

/// A node's source, as a log line names it.
pub(super) fn describe(source: &Source) -> String {
    match source {
        Source::Cloud(name) => format!("cloud {name}"),
        Source::Direct => "a direct target".to_string(),
    }
}

/// Logs a failure when it is new, and repeats of the same failure only at debug level, so a
/// node that keeps failing does not flood the log.
pub(super) fn log_outcome(last: &mut Option<String>, failure: Option<&Failure>, target: &str) {
    match failure {
        Some(f) => {
            let signature = format!("{}/{}", f.stage.as_str(), f.reason);
            if last.as_deref() == Some(signature.as_str()) {
                tracing::debug!(stage = f.stage.as_str(), reason = %f.reason, "{target} failed again: {}", f.message);
            } else {
                tracing::warn!(stage = f.stage.as_str(), reason = %f.reason, "{target} failed: {}", f.message);
            }
            *last = Some(signature);
        }
        None => {
            if last.take().is_some() {
                tracing::info!("{target} recovered");
            }
        }
    }
}

/// Slow-log entries dated past the log's clock, said when they start and when they stop,
/// not at every read.
#[derive(Debug, Default)]
pub(super) struct DatedAhead {
    on: bool,
}

impl DatedAhead {
    /// `refused`: the entries of the last read dated too far ahead.
    pub fn update(&mut self, refused: usize) {
        if (refused > 0) == self.on {
            return;
        }
        self.on = refused > 0;
        if self.on {
            tracing::warn!(
                refused,
                max_ahead_s = crate::slowlog::MAX_AHEAD.as_secs(),
                "slow-log entries dated past the log's clock are left out and counted as invalid_value"
            );
        } else {
            tracing::info!("the slow log's entries are dated within its clock again");
        }
    }
}
