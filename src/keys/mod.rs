//! What the sessions touch: DCS's big-key, hot-key and offline key-prefix analyses of an
//! instance, chosen, named and bounded into the series the `dcs_big_key_*`, `dcs_hot_key_*`,
//! `dcs_key_prefix_*` and `dcs_keyspace_*` families show.

pub mod findings;
pub mod naming;
pub mod trigger;
pub mod walk;

use std::collections::BTreeMap;
use std::time::SystemTime;

pub use findings::{Finding, STUCK_AFTER, contradicts_itself, list_findings};
pub use naming::{KeyNames, KeyNaming, MAX_KEY_CHARS, key_hash};

use crate::aggregate::OTHER;
use crate::cloud::dcs::{
    AnalysedKey, AnalysisKind, KeyTaskDetail, KeyTaskRecord, OfflineAnalysis, parse_list_time,
};

/// The key types DCS names; any other folds into `other`, so the `type` label stays bounded.
const KEY_TYPES: [&str; 6] = ["string", "list", "set", "zset", "hash", "stream"];

/// The highest LFU counter Redis keeps.
pub const MAX_FREQUENCY: u64 = 255;

/// What a key's value measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// A string's bytes (`dcs_big_key_bytes`).
    Bytes,
    /// A collection's elements (`dcs_big_key_elements`).
    Elements,
    /// A hot key's LFU counter (`dcs_hot_key_frequency`).
    Frequency,
}

/// One key's series: its labels and value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeySeries {
    pub shard: String,
    pub db: String,
    pub key_type: String,
    pub key: String,
    pub value: u64,
}

/// The keys of the newest successful big-key or hot-key analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyResult {
    pub task_id: String,
    /// When the analysis finished (its `finished_at`, else `created_at`).
    pub finished: Option<SystemTime>,
    /// By measure, the largest first, at most `max_key_series` each.
    pub series: BTreeMap<Measure, Vec<KeySeries>>,
}

/// A key prefix's usage, by type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrefixSeries {
    pub prefix: String,
    pub key_type: String,
    pub bytes: u64,
    pub keys: u64,
}

/// The newest finished offline key analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixResult {
    pub task_id: String,
    pub finished: Option<SystemTime>,
    /// The largest prefixes by bytes, at most `max_key_prefixes`, then `other`.
    pub prefixes: Vec<PrefixSeries>,
    /// Bytes and keys by type, over the whole keyspace.
    pub by_type: BTreeMap<String, (Option<u64>, Option<u64>)>,
}

/// What the analyses say of one instance; a kind is `None` until an analysis of it is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceKeys {
    pub big: Option<KeyResult>,
    pub hot: Option<KeyResult>,
    pub prefix: Option<PrefixResult>,
}

impl InstanceKeys {
    /// When the analysis shown of each kind finished.
    pub fn finished(&self) -> impl Iterator<Item = (AnalysisKind, SystemTime)> + '_ {
        [
            (
                AnalysisKind::Big,
                self.big.as_ref().and_then(|r| r.finished),
            ),
            (
                AnalysisKind::Hot,
                self.hot.as_ref().and_then(|r| r.finished),
            ),
            (
                AnalysisKind::Prefix,
                self.prefix.as_ref().and_then(|r| r.finished),
            ),
        ]
        .into_iter()
        .filter_map(|(kind, at)| Some((kind, at?)))
    }
}

/// A running instance's memory and keys, from the project's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceMemory {
    pub used_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
    pub keys: Option<u64>,
}

impl InstanceMemory {
    /// From the statistics' numbers (memory in MB); `None` where one is missing, negative or
    /// too large to hold in bytes.
    pub fn from_statistic(s: &crate::cloud::dcs::InstanceStatistic) -> Self {
        let mb = |v: Option<i64>| {
            count(v)?
                .checked_mul(1 << 20)
                .filter(|&b| b <= i64::MAX as u64)
        };
        InstanceMemory {
            used_bytes: mb(s.used_memory),
            max_bytes: mb(s.max_memory),
            keys: count(s.keys),
        }
    }

    /// Whether any number was missing or out of range.
    pub fn any_invalid(&self, s: &crate::cloud::dcs::InstanceStatistic) -> bool {
        (s.used_memory.is_some() && self.used_bytes.is_none())
            || (s.max_memory.is_some() && self.max_bytes.is_none())
            || (s.keys.is_some() && self.keys.is_none())
    }
}

/// The bounds of an instance's key series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLimits {
    pub naming: KeyNaming,
    /// Keys a measure an instance (`max_key_series`).
    pub max_keys: usize,
    /// Prefixes an instance before `other` (`max_key_prefixes`).
    pub max_prefixes: usize,
}

impl Default for KeyLimits {
    fn default() -> Self {
        KeyLimits {
            naming: KeyNaming::default(),
            max_keys: 50,
            max_prefixes: 20,
        }
    }
}

/// When a task finished, for choosing the newest: its `finished_at`, else its `created_at`.
pub fn task_time(record: &KeyTaskRecord) -> Option<SystemTime> {
    let at = |t: &Option<String>| t.as_deref().and_then(parse_list_time);
    at(&record.finished_at).or_else(|| at(&record.created_at))
}

/// The newest task that succeeded, in whatever order the list came: by `finished_at`, then
/// `created_at`, then id (so the choice does not depend on the order).
pub fn newest_success(records: &[KeyTaskRecord]) -> Option<&KeyTaskRecord> {
    let at = |t: &Option<String>| t.as_deref().and_then(parse_list_time);
    records
        .iter()
        .filter(|r| r.succeeded() && r.id.as_deref().is_some_and(|id| !id.trim().is_empty()))
        .max_by(|a, b| {
            (at(&a.finished_at), at(&a.created_at), &a.id).cmp(&(
                at(&b.finished_at),
                at(&b.created_at),
                &b.id,
            ))
        })
}

/// A type label value from a key's type.
pub fn type_label(key_type: Option<&str>) -> String {
    let t = key_type.unwrap_or("").trim().to_ascii_lowercase();
    if KEY_TYPES.contains(&t.as_str()) {
        t
    } else {
        OTHER.to_string()
    }
}

/// A non-negative count, or `None`.
fn count(value: Option<i64>) -> Option<u64> {
    value.and_then(|v| u64::try_from(v).ok())
}

/// What reading an analysis's keys found: the result, and how many keys it left out because a
/// number was missing or out of range (counted as `invalid_value`).
pub struct Read<T> {
    pub result: T,
    pub invalid: usize,
}

/// The series of a big-key or hot-key analysis, named and bounded.
pub fn key_result(
    kind: AnalysisKind,
    detail: &KeyTaskDetail,
    limits: &KeyLimits,
) -> Read<KeyResult> {
    let mut invalid = 0;
    // Keys that come out with the same labels (two names with one prefix) keep the largest.
    let mut merged: BTreeMap<(Measure, String, String, String, String), u64> = BTreeMap::new();
    for key in &detail.keys {
        match measured(kind, key) {
            Some((measure, value)) => {
                let Some(name) = key.name.as_deref() else {
                    invalid += 1;
                    continue;
                };
                let labels = (
                    measure,
                    key.shard.clone().unwrap_or_default(),
                    key.db.map(|d| d.to_string()).unwrap_or_default(),
                    type_label(key.key_type.as_deref()),
                    limits.naming.label(name),
                );
                let slot = merged.entry(labels).or_insert(0);
                *slot = (*slot).max(value);
            }
            None => invalid += 1,
        }
    }
    let mut series: BTreeMap<Measure, Vec<KeySeries>> = BTreeMap::new();
    for ((measure, shard, db, key_type, key), value) in merged {
        series.entry(measure).or_default().push(KeySeries {
            shard,
            db,
            key_type,
            key,
            value,
        });
    }
    for keys in series.values_mut() {
        // The largest first; ties by labels, so the cut does not depend on the answer's order.
        keys.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.cmp(b)));
        keys.truncate(limits.max_keys);
    }
    Read {
        result: KeyResult {
            task_id: detail.record.id.clone().unwrap_or_default(),
            finished: task_time(&detail.record),
            series,
        },
        invalid,
    }
}

/// A key's measure and value, or `None` when its numbers cannot be believed.
fn measured(kind: AnalysisKind, key: &AnalysedKey) -> Option<(Measure, u64)> {
    match kind {
        AnalysisKind::Hot => count(key.freq)
            .filter(|&f| f <= MAX_FREQUENCY)
            .map(|f| (Measure::Frequency, f)),
        _ => {
            let size = count(key.size)?;
            let unit = key.unit.as_deref().unwrap_or("").trim();
            let is_string = type_label(key.key_type.as_deref()) == "string";
            let measure = if unit.eq_ignore_ascii_case("byte") || (unit.is_empty() && is_string) {
                Measure::Bytes
            } else {
                Measure::Elements
            };
            Some((measure, size))
        }
    }
}

/// The prefixes and type totals of an offline analysis, named and bounded.
pub fn prefix_result(analysis: &OfflineAnalysis, limits: &KeyLimits) -> Read<PrefixResult> {
    let mut invalid = 0;
    let mut merged: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for p in &analysis.largest_key_prefixes {
        let (Some(prefix), Some(bytes), Some(keys)) =
            (p.key_prefix.as_deref(), count(p.bytes), count(p.num))
        else {
            invalid += 1;
            continue;
        };
        let slot = merged
            .entry((
                limits.naming.label(prefix),
                type_label(p.key_type.as_deref()),
            ))
            .or_insert((0, 0));
        slot.0 = slot.0.saturating_add(bytes);
        slot.1 = slot.1.saturating_add(keys);
    }
    let mut prefixes: Vec<PrefixSeries> = merged
        .into_iter()
        .map(|((prefix, key_type), (bytes, keys))| PrefixSeries {
            prefix,
            key_type,
            bytes,
            keys,
        })
        .collect();
    prefixes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.cmp(b)));
    if prefixes.len() > limits.max_prefixes {
        // The rest fold, by type, into `other`.
        let mut rest: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for p in prefixes.drain(limits.max_prefixes..) {
            let slot = rest.entry(p.key_type).or_insert((0, 0));
            slot.0 = slot.0.saturating_add(p.bytes);
            slot.1 = slot.1.saturating_add(p.keys);
        }
        prefixes.extend(
            rest.into_iter()
                .map(|(key_type, (bytes, keys))| PrefixSeries {
                    prefix: OTHER.to_string(),
                    key_type,
                    bytes,
                    keys,
                }),
        );
    }
    let mut by_type: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for t in &analysis.type_bytes {
        match count(t.bytes) {
            Some(bytes) => {
                let slot = by_type
                    .entry(type_label(t.key_type.as_deref()))
                    .or_default();
                slot.0 = Some(slot.0.unwrap_or(0).saturating_add(bytes));
            }
            None => invalid += 1,
        }
    }
    for t in &analysis.type_num {
        match count(t.num) {
            Some(keys) => {
                let slot = by_type
                    .entry(type_label(t.key_type.as_deref()))
                    .or_default();
                slot.1 = Some(slot.1.unwrap_or(0).saturating_add(keys));
            }
            None => invalid += 1,
        }
    }
    let at = |t: &Option<String>| t.as_deref().and_then(parse_list_time);
    Read {
        result: PrefixResult {
            task_id: analysis.id.clone().unwrap_or_default(),
            finished: at(&analysis.finished_at).or_else(|| at(&analysis.started_at)),
            prefixes,
            by_type,
        },
        invalid,
    }
}

#[cfg(test)]
mod tests;
