//! The key-analysis keys of a `[[cloud]]`: whether DCS's own big-key, hot-key and offline
//! analyses are read, and how keys are named in labels.

use std::time::Duration;

use crate::cloud::dcs::KeyScan;
use crate::config::{ConfigError, invalid};
use crate::keys::{KeyLimits, KeyNames, KeyNaming};

/// How often each instance's analyses are read unless `key_analysis_interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// The most keys a measure an instance may show: DCS keeps 100 keys an analysis.
const MAX_KEY_SERIES: usize = 100;
/// The most prefixes an instance may show before `other`.
const MAX_KEY_PREFIXES: usize = 200;
/// How often the exporter starts the analyses `key_analysis_trigger` names, unless
/// `key_analysis_trigger_interval` says otherwise: DCS's own schedule runs them daily.
pub const DEFAULT_TRIGGER_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Analyses cost the instance (a scan of the replica, or of the only node): not more often.
const MIN_TRIGGER_INTERVAL: Duration = Duration::from_secs(3600);

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
    /// The analyses the exporter starts itself; none by default.
    pub trigger: KeyTrigger,
}

/// Which analyses the exporter starts, how often, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyTrigger {
    /// `key_analysis_trigger`, each kind once, in order.
    pub scans: Vec<KeyScan>,
    pub interval: Duration,
    /// Also on single-node instances, where an analysis costs the only node throughput.
    pub on_single_node: bool,
}

impl Default for KeyTrigger {
    fn default() -> Self {
        KeyTrigger {
            scans: Vec::new(),
            interval: DEFAULT_TRIGGER_INTERVAL,
            on_single_node: false,
        }
    }
}

impl RawKeyAnalysis {
    /// The settings, or `None` when `key_analysis = false`; `at` names the cloud.
    pub(super) fn validate(self, at: &str) -> Result<Option<KeyAnalysis>, ConfigError> {
        if self.key_analysis == Some(false) {
            let given = [
                ("key_analysis_trigger", self.key_analysis_trigger.is_some()),
                (
                    "key_analysis_trigger_interval",
                    self.key_analysis_trigger_interval.is_some(),
                ),
                (
                    "key_analysis_on_single_node",
                    self.key_analysis_on_single_node.is_some(),
                ),
            ];
            if let Some((key, _)) = given.into_iter().find(|(_, given)| *given) {
                return Err(invalid(
                    format!("{at}.{key}"),
                    "applies only with key_analysis on: the exporter starts analyses it reads",
                ));
            }
            return Ok(None);
        }
        let trigger = trigger(
            self.key_analysis_trigger.unwrap_or_default(),
            self.key_analysis_trigger_interval,
            self.key_analysis_on_single_node,
            at,
        )?;
        let interval = self.key_analysis_interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(60) {
            return Err(invalid(
                format!("{at}.key_analysis_interval"),
                "must be at least 1m: analyses change a few times a day",
            ));
        }
        let naming = key_naming(self.key_names, self.key_delimiters, at)?;
        let defaults = KeyLimits::default();
        let max_keys = max_key_series(
            self.max_key_series,
            at,
            "must be at most 100 (DCS keeps 100 keys an analysis)",
        )?;
        let max_prefixes = self.max_key_prefixes.unwrap_or(defaults.max_prefixes);
        if max_prefixes > MAX_KEY_PREFIXES {
            return Err(invalid(
                format!("{at}.max_key_prefixes"),
                format!("must be at most {MAX_KEY_PREFIXES}"),
            ));
        }
        Ok(Some(KeyAnalysis {
            interval,
            limits: KeyLimits {
                naming,
                max_keys,
                max_prefixes,
            },
            trigger,
        }))
    }
}

/// `key_names` and `key_delimiters` (of a `[[cloud]]` or a `[[redis]]`'s `key_scan`), checked;
/// `at` names where they are.
pub(super) fn key_naming(
    names: Option<String>,
    delimiters: Option<Vec<String>>,
    at: &str,
) -> Result<KeyNaming, ConfigError> {
    let names = match names.as_deref() {
        None => KeyNames::default(),
        Some(name) => name.parse().map_err(|_| {
            invalid(
                format!("{at}.key_names"),
                "must be \"full\", \"prefix\" or \"hash\"",
            )
        })?,
    };
    let delimiters = delimiters.unwrap_or_else(|| vec![":".to_string()]);
    if delimiters.is_empty() || delimiters.iter().any(String::is_empty) {
        return Err(invalid(
            format!("{at}.key_delimiters"),
            "must list at least one delimiter, none of them empty",
        ));
    }
    Ok(KeyNaming { names, delimiters })
}

/// `max_key_series`, checked: at most [`MAX_KEY_SERIES`]; `why` says so where it is refused.
pub(super) fn max_key_series(
    given: Option<usize>,
    at: &str,
    why: &str,
) -> Result<usize, ConfigError> {
    let max_keys = given.unwrap_or(KeyLimits::default().max_keys);
    if max_keys > MAX_KEY_SERIES {
        return Err(invalid(format!("{at}.max_key_series"), why));
    }
    Ok(max_keys)
}

impl KeyAnalysis {
    /// One line for `check-config`.
    pub fn describe(&self) -> String {
        let every = humantime::format_duration(self.interval);
        let t = &self.trigger;
        if t.scans.is_empty() {
            return format!("key analyses read every {every}; none started");
        }
        let kinds: Vec<&str> = t.scans.iter().map(|s| s.into()).collect();
        format!(
            "key analyses read every {every}; {} started every {}{}",
            kinds.join(" and "),
            humantime::format_duration(t.interval),
            if t.on_single_node {
                ", single-node instances included"
            } else {
                ", not on single-node instances"
            }
        )
    }
}

/// `key_analysis_trigger` and its keys, checked.
fn trigger(
    names: Vec<String>,
    interval: Option<Duration>,
    on_single_node: Option<bool>,
    at: &str,
) -> Result<KeyTrigger, ConfigError> {
    let mut scans = Vec::new();
    for name in &names {
        let scan = match name.trim().parse::<KeyScan>() {
            Ok(scan) => scan,
            Err(_) if name.trim() == "prefix" => {
                return Err(invalid(
                    format!("{at}.key_analysis_trigger"),
                    "\"prefix\" cannot be started: offline key analyses read a backup, which the exporter does not make; only \"big\" and \"hot\" can",
                ));
            }
            Err(_) => {
                return Err(invalid(
                    format!("{at}.key_analysis_trigger"),
                    format!(
                        "{name:?} is no analysis the exporter starts: list \"big\", \"hot\" or both"
                    ),
                ));
            }
        };
        if !scans.contains(&scan) {
            scans.push(scan);
        }
    }
    let interval = interval.unwrap_or(DEFAULT_TRIGGER_INTERVAL);
    if interval < MIN_TRIGGER_INTERVAL {
        return Err(invalid(
            format!("{at}.key_analysis_trigger_interval"),
            "must be at least 1h: each analysis scans the instance",
        ));
    }
    Ok(KeyTrigger {
        scans,
        interval,
        on_single_node: on_single_node.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_with_the_key_named() {
        let on = RawKeyAnalysis::default()
            .validate("cloud[a]")
            .unwrap()
            .unwrap();
        assert_eq!(on.interval, DEFAULT_INTERVAL);
        assert_eq!(on.limits, KeyLimits::default());
        let off = RawKeyAnalysis {
            key_analysis: Some(false),
            key_names: Some("nonsense".into()),
            ..RawKeyAnalysis::default()
        };
        assert_eq!(off.validate("cloud[a]").unwrap(), None);
        let refused = |raw: RawKeyAnalysis, key: &str| {
            let error = raw.validate("cloud[a]").unwrap_err().to_string();
            assert!(error.contains(&format!("cloud[a].{key}")), "{error}");
        };
        refused(
            RawKeyAnalysis {
                key_names: Some("names".into()),
                ..RawKeyAnalysis::default()
            },
            "key_names",
        );
        refused(
            RawKeyAnalysis {
                key_analysis_interval: Some(Duration::from_secs(5)),
                ..RawKeyAnalysis::default()
            },
            "key_analysis_interval",
        );
        refused(
            RawKeyAnalysis {
                key_delimiters: Some(vec![String::new()]),
                ..RawKeyAnalysis::default()
            },
            "key_delimiters",
        );
        refused(
            RawKeyAnalysis {
                max_key_series: Some(101),
                ..RawKeyAnalysis::default()
            },
            "max_key_series",
        );
        let trigger = |names: &[&str]| RawKeyAnalysis {
            key_analysis_trigger: Some(names.iter().map(|n| n.to_string()).collect()),
            ..RawKeyAnalysis::default()
        };
        assert_eq!(on.trigger, KeyTrigger::default());
        let both = trigger(&["hot", "big", "hot"])
            .validate("cloud[a]")
            .unwrap()
            .unwrap();
        assert_eq!(both.trigger.scans, [KeyScan::Hot, KeyScan::Big]);
        assert_eq!(both.trigger.interval, DEFAULT_TRIGGER_INTERVAL);
        let prefix = trigger(&["prefix"]).validate("cloud[a]").unwrap_err();
        assert!(prefix.to_string().contains("cannot be started"), "{prefix}");
        refused(trigger(&["bigkeys"]), "key_analysis_trigger");
        refused(
            RawKeyAnalysis {
                key_analysis_trigger_interval: Some(Duration::from_secs(3599)),
                ..trigger(&["big"])
            },
            "key_analysis_trigger_interval",
        );
        refused(
            RawKeyAnalysis {
                key_analysis: Some(false),
                ..trigger(&["big"])
            },
            "key_analysis_trigger",
        );
        refused(
            RawKeyAnalysis {
                key_analysis: Some(false),
                key_analysis_on_single_node: Some(true),
                ..RawKeyAnalysis::default()
            },
            "key_analysis_on_single_node",
        );
        let hashed = RawKeyAnalysis {
            key_names: Some("hash".into()),
            ..RawKeyAnalysis::default()
        };
        let hashed = hashed.validate("cloud[a]").unwrap().unwrap();
        assert_eq!(hashed.limits.naming.names, KeyNames::Hash);
    }
}
