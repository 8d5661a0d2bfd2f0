//! `key_scan` of a `[[redis]]`: the exporter's own walk of the server's keys (opt-in), how fast
//! it goes and how keys are named in labels.

use std::time::Duration;

use serde::Deserialize;

use super::key_analysis::{key_naming, max_key_series};
use crate::config::{ConfigError, invalid};
use crate::keys::KeyLimits;

/// How often a walk starts unless `interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Keys a second unless `keys_per_second` says otherwise: about 1% of one core of a server.
pub const DEFAULT_KEYS_PER_SECOND: u32 = 5000;
/// The fastest walk taken: beyond, the walk is a load test of the server.
const MAX_KEYS_PER_SECOND: u32 = 1_000_000;

/// The naming knobs sit in this table, not beside it in `[[redis]]`: they mean something only
/// when the walk is on, and a `[[redis]]` without `key_scan` then refuses them as unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyScan {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    keys_per_second: Option<u64>,
    key_names: Option<String>,
    key_delimiters: Option<Vec<String>>,
    max_key_series: Option<usize>,
}

/// A target's key walk, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyScanSettings {
    /// How often a walk starts (from the start of the one before).
    pub interval: Duration,
    /// The pace of a walk while it runs.
    pub keys_per_second: u32,
    pub limits: KeyLimits,
}

impl RawKeyScan {
    /// `at` names the target (`redis[name]`).
    pub(super) fn validate(self, at: &str) -> Result<KeyScanSettings, ConfigError> {
        let at = format!("{at}.key_scan");
        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(60) {
            return Err(invalid(
                format!("{at}.interval"),
                "must be at least 1m: a walk reads every key of the server",
            ));
        }
        let keys_per_second = match self.keys_per_second {
            None => DEFAULT_KEYS_PER_SECOND,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_KEYS_PER_SECOND).contains(n))
                .ok_or_else(|| {
                    invalid(
                        format!("{at}.keys_per_second"),
                        format!("must be from 1 to {MAX_KEYS_PER_SECOND}"),
                    )
                })?,
        };
        let naming = key_naming(self.key_names, self.key_delimiters, &at)?;
        let max_keys = max_key_series(self.max_key_series, &at, "must be at most 100")?;
        Ok(KeyScanSettings {
            interval,
            keys_per_second,
            limits: KeyLimits {
                naming,
                max_keys,
                ..KeyLimits::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(toml_text: &str) -> Result<KeyScanSettings, String> {
        let raw: RawKeyScan = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        raw.validate("redis[a]").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_bounds_and_the_key_named() {
        let scan = checked("").unwrap();
        assert_eq!(scan.interval, DEFAULT_INTERVAL);
        assert_eq!(scan.keys_per_second, 5000);
        assert_eq!(scan.limits, KeyLimits::default());
        let named = checked(
            "interval = \"10m\"\nkeys_per_second = 1000000\nkey_names = \"hash\"\nmax_key_series = 5",
        )
        .unwrap();
        assert_eq!(named.interval, Duration::from_secs(600));
        assert_eq!(named.limits.max_keys, 5);
        for (text, key) in [
            ("interval = \"30s\"", "redis[a].key_scan.interval"),
            ("keys_per_second = 0", "redis[a].key_scan.keys_per_second"),
            (
                "keys_per_second = 1000001",
                "redis[a].key_scan.keys_per_second",
            ),
            (
                "keys_per_second = 99999999999",
                "redis[a].key_scan.keys_per_second",
            ),
            ("key_names = \"all\"", "redis[a].key_scan.key_names"),
            ("key_delimiters = []", "redis[a].key_scan.key_delimiters"),
            ("max_key_series = 101", "redis[a].key_scan.max_key_series"),
        ] {
            let e = checked(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(checked("rate = 5").unwrap_err().contains("unknown field"));
    }
}
