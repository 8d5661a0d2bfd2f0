//! `[exporter]`: the settings of the whole exporter, with their defaults and bounds.

use std::time::Duration;

use serde::Deserialize;

use crate::cloud::dcs::MAX_PAGE_SIZE;
use crate::config::{
    ClientAddrChoice, ConfigError, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
    ExporterSettings, ExpositionSettings, Family, HistogramMode, invalid,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExporter {
    #[serde(default, with = "humantime_serde")]
    scan_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    scan_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    stale_after: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    discovery_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    first_scan_spread: Option<Duration>,
    max_concurrent_scans: Option<usize>,
    clean_cache: Option<bool>,
    page_size: Option<u32>,
    max_client_addrs: Option<usize>,
    max_client_names: Option<usize>,
    max_client_commands: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    idle_session_threshold: Option<Duration>,
    max_slow_command_series: Option<usize>,
    histograms: Option<HistogramMode>,
    #[serde(default)]
    disable: Vec<String>,
    top_clients: Option<usize>,
    client_addr_field: Option<ClientAddrChoice>,
    idle_buckets: Option<Vec<f64>>,
    age_buckets: Option<Vec<f64>>,
    bytes_buckets: Option<Vec<f64>>,
}

/// How scans are paced: the part of `[exporter]` checked first, since later bounds (the
/// first scans' spread) depend on the interval.
struct Schedule {
    scan_interval: Duration,
    scan_timeout: Duration,
    stale_after: Duration,
    discovery_interval: Duration,
    max_concurrent_scans: usize,
    page_size: u32,
}

impl RawExporter {
    /// The settings, each defaulted and bounded; the first key out of bounds is the error.
    pub(super) fn validate(self) -> Result<ExporterSettings, ConfigError> {
        let schedule = self.schedule()?;
        let max_client_names = self.max_client_names.unwrap_or(20);
        let max_client_commands = self.max_client_commands.unwrap_or(20);
        for (key, value) in [
            ("exporter.max_client_names", max_client_names),
            ("exporter.max_client_commands", max_client_commands),
        ] {
            if value > 1_000 {
                return Err(invalid(
                    key,
                    "must be at most 1000 (each is a series a node)",
                ));
            }
        }
        let max_client_addrs = self.max_client_addrs.unwrap_or(50);
        if max_client_addrs > 10_000 {
            return Err(invalid(
                "exporter.max_client_addrs",
                "must be at most 10000",
            ));
        }
        let idle_session_threshold = self
            .idle_session_threshold
            .unwrap_or(Duration::from_secs(3600));
        if idle_session_threshold < Duration::from_secs(1) {
            return Err(invalid(
                "exporter.idle_session_threshold",
                "must be at least 1s",
            ));
        }
        let max_slow_command_series = self.max_slow_command_series.unwrap_or(200);
        if !(1..=100_000).contains(&max_slow_command_series) {
            return Err(invalid(
                "exporter.max_slow_command_series",
                "must be between 1 and 100000",
            ));
        }
        let exposition = self.exposition()?;
        let top_clients = self.top_clients.unwrap_or(5);
        if top_clients > 100 {
            return Err(invalid("exporter.top_clients", "must be at most 100"));
        }
        Ok(ExporterSettings {
            scan_interval: schedule.scan_interval,
            scan_timeout: schedule.scan_timeout,
            stale_after: schedule.stale_after,
            discovery_interval: schedule.discovery_interval,
            first_scan_spread: self
                .first_scan_spread
                .unwrap_or(Duration::from_secs(10))
                .min(schedule.scan_interval),
            max_concurrent_scans: schedule.max_concurrent_scans,
            clean_cache: self.clean_cache.unwrap_or(true),
            page_size: schedule.page_size,
            max_client_addrs,
            max_client_names,
            max_client_commands,
            idle_session_threshold,
            max_slow_command_series,
            exposition,
            top_clients,
            client_addr_field: self.client_addr_field.unwrap_or_default(),
            idle_buckets: buckets(
                self.idle_buckets,
                &DEFAULT_SECONDS_BUCKETS,
                "exporter.idle_buckets",
            )?,
            age_buckets: buckets(
                self.age_buckets,
                &DEFAULT_SECONDS_BUCKETS,
                "exporter.age_buckets",
            )?,
            bytes_buckets: buckets(
                self.bytes_buckets,
                &DEFAULT_BYTES_BUCKETS,
                "exporter.bytes_buckets",
            )?,
        })
    }

    /// The interval, the scan's timeout and the staleness it bounds, discovery's interval,
    /// and how many scans run at once and read how large pages.
    fn schedule(&self) -> Result<Schedule, ConfigError> {
        let scan_interval = self.scan_interval.unwrap_or(Duration::from_secs(60));
        if scan_interval < Duration::from_secs(1) || scan_interval > Duration::from_secs(86_400) {
            return Err(invalid(
                "exporter.scan_interval",
                "must be between 1s and 24h",
            ));
        }
        let scan_timeout = self.scan_timeout.unwrap_or(scan_interval.mul_f64(0.75));
        if scan_timeout.is_zero() || scan_timeout > scan_interval {
            return Err(invalid(
                "exporter.scan_timeout",
                "must be more than 0 and at most scan_interval",
            ));
        }
        let stale_after = self.stale_after.unwrap_or(scan_interval * 3);
        if stale_after > Duration::from_secs(30 * 86_400) {
            return Err(invalid("exporter.stale_after", "must be at most 30 days"));
        }
        if stale_after < scan_interval {
            return Err(invalid(
                "exporter.stale_after",
                "must be at least scan_interval",
            ));
        }
        let discovery_interval = self.discovery_interval.unwrap_or(Duration::from_secs(600));
        if discovery_interval < Duration::from_secs(1) {
            return Err(invalid(
                "exporter.discovery_interval",
                "must be at least 1s",
            ));
        }
        // Scans mostly wait on jobs; a scan holds at most one page of sessions at a time.
        let max_concurrent_scans = self.max_concurrent_scans.unwrap_or(64);
        if !(1..=1024).contains(&max_concurrent_scans) {
            return Err(invalid(
                "exporter.max_concurrent_scans",
                "must be between 1 and 1024",
            ));
        }
        let page_size = self.page_size.unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(invalid("exporter.page_size", "must be between 1 and 1000"));
        }
        Ok(Schedule {
            scan_interval,
            scan_timeout,
            stale_after,
            discovery_interval,
            max_concurrent_scans,
            page_size,
        })
    }

    /// The histogram mode, and the families `disable` turns off (each one that can be).
    fn exposition(&self) -> Result<ExpositionSettings, ConfigError> {
        let mut disabled = std::collections::BTreeSet::new();
        for name in &self.disable {
            let family: Family = name.parse().map_err(|_| {
                invalid(
                    "exporter.disable",
                    format!(
                        "{name:?} is no family that can be turned off ({})",
                        <Family as strum::VariantNames>::VARIANTS.join(", ")
                    ),
                )
            })?;
            disabled.insert(family);
        }
        Ok(ExpositionSettings {
            histograms: self.histograms.unwrap_or_default(),
            disabled,
        })
    }
}

/// Bucket bounds as given (1 to 40, finite, not negative, increasing), else the default.
fn buckets(value: Option<Vec<f64>>, default: &[f64], key: &str) -> Result<Vec<f64>, ConfigError> {
    let Some(bounds) = value else {
        return Ok(default.to_vec());
    };
    if bounds.is_empty() || bounds.len() > 40 {
        return Err(invalid(key, "must list 1 to 40 bucket bounds"));
    }
    if bounds.iter().any(|b| !b.is_finite() || *b < 0.0) {
        return Err(invalid(key, "bounds must be finite and not negative"));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(key, "bounds must be strictly increasing"));
    }
    Ok(bounds)
}
