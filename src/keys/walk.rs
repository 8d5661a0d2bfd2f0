//! A direct target's own key walk, folded as it goes: only the largest `max_key_series` keys a
//! measure are kept (never every key), so a walk of millions of keys holds a few hundred labels.
//! The keys kept do not depend on the order the walk met them in: ties go to the smaller
//! labels, and a label met twice keeps its largest value, so a walk cut into steps keeps the
//! same keys as one that was not.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::{KeyLimits, KeyResult, KeySeries, MAX_FREQUENCY, Measure};
use crate::redis::keys::{KeyType, Probe};

/// A key's labels but the shard (one a target): db, type, name.
type Labels = (String, &'static str, String);

/// The largest values offered, at most `max` labels.
#[derive(Clone, Debug)]
struct Largest {
    max: usize,
    entries: HashMap<Labels, u64>,
    /// At most the least value kept once full: anything below it cannot enter.
    floor: u64,
}

impl Largest {
    fn new(max: usize) -> Self {
        Largest {
            max,
            entries: HashMap::with_capacity(max.saturating_add(1)),
            floor: 0,
        }
    }

    /// Whether `value` could be kept (so its labels are worth making).
    fn admits(&self, value: u64) -> bool {
        self.max > 0 && (self.entries.len() < self.max || value >= self.floor)
    }

    fn offer(&mut self, labels: Labels, value: u64) {
        if !self.admits(value) {
            return;
        }
        if let Some(kept) = self.entries.get_mut(&labels) {
            *kept = (*kept).max(value);
            return;
        }
        if self.entries.len() < self.max {
            self.entries.insert(labels, value);
            if self.entries.len() == self.max {
                self.floor = self.least().map_or(0, |(_, v)| v);
            }
            return;
        }
        let Some((victim, least)) = self.least() else {
            return;
        };
        if (value, Reverse(&labels)) > (least, Reverse(&victim)) {
            self.entries.remove(&victim);
            self.entries.insert(labels, value);
            self.floor = self.least().map_or(0, |(_, v)| v);
        }
    }

    /// The entry that goes first: the least value, of those the largest labels.
    fn least(&self) -> Option<(Labels, u64)> {
        self.entries
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(l, v)| (l.clone(), *v))
    }

    /// The series, the largest first.
    fn series(self, shard: &str) -> Vec<KeySeries> {
        let mut series: Vec<KeySeries> = self
            .entries
            .into_iter()
            .map(|((db, key_type, key), value)| KeySeries {
                shard: shard.to_string(),
                db,
                key_type: key_type.to_string(),
                key,
                value,
            })
            .collect();
        series.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.cmp(b)));
        series
    }
}

/// What a walk found so far.
#[derive(Clone, Debug)]
pub struct WalkFound {
    limits: KeyLimits,
    bytes: Largest,
    elements: Largest,
    frequency: Largest,
    /// Keys measured, all measures together.
    pub keys: u64,
}

impl WalkFound {
    pub fn new(limits: KeyLimits) -> Self {
        let max = limits.max_keys;
        WalkFound {
            limits,
            bytes: Largest::new(max),
            elements: Largest::new(max),
            frequency: Largest::new(max),
            keys: 0,
        }
    }

    /// Folds in the keys of one batch of database `db`.
    pub fn add(&mut self, db: u32, probes: &[Probe]) {
        for p in probes {
            self.keys += 1;
            let labels = || {
                (
                    db.to_string(),
                    p.key_type.as_str(),
                    self.limits.naming.label_bytes(&p.name),
                )
            };
            if let Some(size) = p.size {
                let largest = match p.key_type {
                    KeyType::String => &self.bytes,
                    _ => &self.elements,
                };
                if largest.admits(size) {
                    let labels = labels();
                    match p.key_type {
                        KeyType::String => self.bytes.offer(labels, size),
                        _ => self.elements.offer(labels, size),
                    }
                }
            }
            if let Some(f) = p.frequency.filter(|&f| f <= MAX_FREQUENCY)
                && self.frequency.admits(f)
            {
                self.frequency.offer(labels(), f);
            }
        }
    }

    /// The big keys and (where counters were read) the hot keys, as an analysis that
    /// `finished` then; `shard` labels them all.
    pub fn finish(
        self,
        shard: &str,
        finished: SystemTime,
        hot: bool,
    ) -> (KeyResult, Option<KeyResult>) {
        let result = |series: BTreeMap<Measure, Vec<KeySeries>>| KeyResult {
            task_id: String::new(),
            finished: Some(finished),
            series,
        };
        let big = result(BTreeMap::from([
            (Measure::Bytes, self.bytes.series(shard)),
            (Measure::Elements, self.elements.series(shard)),
        ]));
        let hot = hot.then(|| {
            result(BTreeMap::from([(
                Measure::Frequency,
                self.frequency.series(shard),
            )]))
        });
        (big, hot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &str, key_type: KeyType, size: u64, frequency: Option<u64>) -> Probe {
        Probe {
            name: name.as_bytes().to_vec(),
            key_type,
            size: Some(size),
            frequency,
        }
    }

    fn keys(found: WalkFound, hot: bool) -> (KeyResult, Option<KeyResult>) {
        found.finish("127.0.0.1:6379", SystemTime::UNIX_EPOCH, hot)
    }

    #[test]
    fn keeps_the_largest_whatever_the_order() {
        let limits = KeyLimits {
            max_keys: 3,
            ..KeyLimits::default()
        };
        let probes: Vec<Probe> = (0..200u64)
            .map(|i| {
                let t = if i % 2 == 0 {
                    KeyType::String
                } else {
                    KeyType::Hash
                };
                // Ties at the cut (i % 50), so the order could matter.
                probe(&format!("k{i}"), t, i % 50, Some(i % 7))
            })
            .collect();
        let mut forward = WalkFound::new(limits.clone());
        forward.add(0, &probes);
        let mut cut = WalkFound::new(limits);
        let mut reversed = probes.clone();
        reversed.reverse();
        for batch in reversed.chunks(7) {
            cut.add(0, batch);
        }
        let (a, b) = (keys(forward, true), keys(cut, true));
        assert_eq!(a, b);
        let bytes: Vec<(&str, u64)> = a.0.series[&Measure::Bytes]
            .iter()
            .map(|s| (s.key.as_str(), s.value))
            .collect();
        assert_eq!(bytes, [("k148", 48), ("k198", 48), ("k48", 48)]);
        let hash = &a.0.series[&Measure::Elements][0];
        assert_eq!(
            (hash.key.as_str(), hash.key_type.as_str()),
            ("k149", "hash")
        );
        assert_eq!(a.1.unwrap().series[&Measure::Frequency].len(), 3);
    }

    #[test]
    fn merged_labels_keep_their_largest_and_no_counters_no_hot_keys() {
        let limits = KeyLimits {
            naming: crate::keys::KeyNaming {
                names: crate::keys::KeyNames::Prefix,
                ..Default::default()
            },
            max_keys: 2,
            ..KeyLimits::default()
        };
        let mut found = WalkFound::new(limits);
        found.add(
            2,
            &[
                probe("a:1", KeyType::String, 5, None),
                probe("b:1", KeyType::String, 9, None),
                probe("a:2", KeyType::String, 10, None),
                probe("c:1", KeyType::String, 1, None),
            ],
        );
        let (big, hot) = keys(found, false);
        let got: Vec<(&str, &str, u64)> = big.series[&Measure::Bytes]
            .iter()
            .map(|s| (s.db.as_str(), s.key.as_str(), s.value))
            .collect();
        assert_eq!(got, [("2", "a", 10), ("2", "b", 9)]);
        assert_eq!(hot, None);
    }
}
