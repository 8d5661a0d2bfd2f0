//! The key-analysis keys of a `[[cloud]]`: whether DCS's own big-key, hot-key and offline
//! analyses are read, how keys are named in labels, and which analyses the exporter may start.

use std::time::Duration;

use crate::cloud::dcs::KeyScan;
use crate::config::{ConfigError, invalid};
use crate::keys::{KeyLimits, KeyNames, KeyNaming};

/// How often each instance's analyses are read unless `key_analysis_interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// How often an analysis the exporter starts is started, unless said otherwise.
pub const DEFAULT_TRIGGER_INTERVAL: Duration = Duration::from_secs(86_400);
/// Starting analyses more often than this costs the instance without telling more.
pub const MIN_TRIGGER_INTERVAL: Duration = Duration::from_secs(3600);
/// The most keys a measure an instance may show: DCS keeps 100 keys an analysis.
const MAX_KEY_SERIES: usize = 100;
/// The most prefixes an instance may show before `other`.
const MAX_KEY_PREFIXES: usize = 200;

/// The keys as the file gives them (fields of `[[cloud]]`, which denies unknown fields and so
/// cannot flatten this in).
#[derive(Debug, Default)]
pub(super) struct RawKeyAnalysis {
    pub key_analysis: Option<bool>,
    pub key_analysis_interval: Option<Duration>,
    pub key_names: Option<String>,
    pub key_delimiters: Option<Vec<String>>,
    pub max_key_series: Option<usize>,
    pub max_key_prefixes: Option<usize>,
    pub key_analysis_trigger: Option<Vec<String>>,
    pub key_analysis_trigger_interval: Option<Duration>,
    pub key_analysis_on_single_node: Option<bool>,
}

/// A cloud's key analysis, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAnalysis {
    /// How often each instance's analyses are read.
    pub interval: Duration,
    pub limits: KeyLimits,
    /// The analyses the exporter starts itself (none by default).
    pub trigger: Vec<KeyScan>,
    pub trigger_interval: Duration,
    /// Starts analyses on single-node instances too (where they cost throughput).
    pub on_single_node: bool,
}

impl RawKeyAnalysis {
    /// The settings, or `None` when `key_analysis = false`; `at` names the cloud.
    pub(super) fn validate(self, at: &str) -> Result<Option<KeyAnalysis>, ConfigError> {
        if self.key_analysis == Some(false) {
            return Ok(None);
        }
        let interval = self.key_analysis_interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(60) {
            return Err(invalid(
                format!("{at}.key_analysis_interval"),
                "must be at least 1m: analyses change a few times a day",
            ));
        }
        let names = match self.key_names.as_deref() {
            None => KeyNames::default(),
            Some(name) => name.parse().map_err(|_| {
                invalid(
                    format!("{at}.key_names"),
                    "must be \"full\", \"prefix\" or \"hash\"",
                )
            })?,
        };
        let delimiters = self.key_delimiters.unwrap_or_else(|| vec![":".to_string()]);
        if delimiters.is_empty() || delimiters.iter().any(String::is_empty) {
            return Err(invalid(
                format!("{at}.key_delimiters"),
                "must list at least one delimiter, none of them empty",
            ));
        }
        let defaults = KeyLimits::default();
        let max_keys = self.max_key_series.unwrap_or(defaults.max_keys);
        if max_keys > MAX_KEY_SERIES {
            return Err(invalid(
                format!("{at}.max_key_series"),
                format!("must be at most {MAX_KEY_SERIES} (DCS keeps 100 keys an analysis)"),
            ));
        }
        let max_prefixes = self.max_key_prefixes.unwrap_or(defaults.max_prefixes);
        if max_prefixes > MAX_KEY_PREFIXES {
            return Err(invalid(
                format!("{at}.max_key_prefixes"),
                format!("must be at most {MAX_KEY_PREFIXES}"),
            ));
        }
        let mut trigger = Vec::new();
        for name in self.key_analysis_trigger.unwrap_or_default() {
            let scan: KeyScan = name.parse().map_err(|_| {
                invalid(
                    format!("{at}.key_analysis_trigger"),
                    format!("{name:?}: each must be \"big\" or \"hot\""),
                )
            })?;
            if !trigger.contains(&scan) {
                trigger.push(scan);
            }
        }
        let trigger_interval = self
            .key_analysis_trigger_interval
            .unwrap_or(DEFAULT_TRIGGER_INTERVAL);
        if trigger_interval < MIN_TRIGGER_INTERVAL {
            return Err(invalid(
                format!("{at}.key_analysis_trigger_interval"),
                "must be at least 1h",
            ));
        }
        Ok(Some(KeyAnalysis {
            interval,
            limits: KeyLimits {
                naming: KeyNaming { names, delimiters },
                max_keys,
                max_prefixes,
            },
            trigger,
            trigger_interval,
            on_single_node: self.key_analysis_on_single_node.unwrap_or(false),
        }))
    }
}
