//! What the sessions touch: big keys, hot keys, key-prefix memory and each instance's memory,
//! from DCS's own analyses and statistics.

use super::*;
use crate::keys::{InstanceKeys, KeyResult, Measure};

/// Which of an instance's analyses a family shows.
type PickResult = fn(&InstanceKeys) -> Option<&KeyResult>;

/// Labels by name (one of them is `type`, which no field can be called).
struct Labels<'a, const N: usize>([(&'static str, &'a str); N]);

impl<const N: usize> LabelSet for Labels<'_, N> {
    fn each(&self, label: &mut dyn FnMut(&str, &str)) {
        for (name, value) in self.0 {
            label(name, value.capped());
        }
    }
}

pub(super) fn encode(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::Gauge;
    let keys = &view.snap.keys;
    fn big(k: &InstanceKeys) -> Option<&KeyResult> {
        k.big.as_ref()
    }
    fn hot(k: &InstanceKeys) -> Option<&KeyResult> {
        k.hot.as_ref()
    }
    let measured = |pick: PickResult, measure: Measure| {
        keys.iter()
            .filter_map(move |(id, k)| Some((id.as_str(), pick(k)?)))
            .flat_map(move |(id, r)| {
                r.series
                    .get(&measure)
                    .into_iter()
                    .flatten()
                    .map(move |s| (id, s))
            })
    };
    // Strings by bytes carry no type label: every one is a string.
    let families: [(&str, &str, PickResult, Measure); 3] = [
        (
            "dcs_big_key_bytes",
            "Bytes of each big string key of the instance's newest successful big-key analysis (DCS's own, run on the replica; for a [[redis]] target, its last whole key_scan walk, STRLEN), by shard and db; up to max_key_series keys, the largest first. The key label is the name as key_names says (full, prefix or hash).",
            big,
            Measure::Bytes,
        ),
        (
            "dcs_big_key_elements",
            "Elements of each big collection key (list, set, zset, hash) of the instance's newest successful big-key analysis (or key_scan walk), by shard, db and type; up to max_key_series keys, the largest first.",
            big,
            Measure::Elements,
        ),
        (
            "dcs_hot_key_frequency",
            "The LFU counter (0 to 255, logarithmic: 255 is about a million accesses) of each hot key of the instance's newest successful hot-key analysis (or key_scan walk, where maxmemory-policy is an LFU one), by shard, db and type; up to max_key_series keys, the hottest first.",
            hot,
            Measure::Frequency,
        ),
    ];
    for (name, help, pick, measure) in families {
        family(
            encoder,
            name,
            help,
            Gauge,
            measured(pick, measure),
            |m, (instance_id, s)| {
                let labels = [
                    ("instance_id", instance_id),
                    ("shard", s.shard.as_str()),
                    ("db", s.db.as_str()),
                    ("type", s.key_type.as_str()),
                    ("key", s.key.as_str()),
                ];
                if measure == Measure::Bytes {
                    let [id, shard, db, _, key] = labels;
                    m.gauge(&Labels([id, shard, db, key]), s.value)
                } else {
                    m.gauge(&Labels(labels), s.value)
                }
            },
        )?;
    }
    prefix_families(view, encoder)?;
    memory_families(view, encoder)
}

/// Key prefixes and the keyspace by type, from the offline analysis; and when each analysis
/// shown finished.
fn prefix_families(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::Gauge;
    let keys = &view.snap.keys;
    let prefixes = || {
        keys.iter()
            .filter_map(|(id, k)| Some((id.as_str(), k.prefix.as_ref()?)))
            .flat_map(|(id, r)| r.prefixes.iter().map(move |p| (id, p)))
    };
    family(
        encoder,
        "dcs_key_prefix_bytes",
        "Bytes of the keys of each key prefix and type, from the instance's newest finished offline key analysis (of a backup); the largest max_key_prefixes prefixes, the rest as prefix=\"other\".",
        Gauge,
        prefixes(),
        |m, (instance_id, p)| {
            m.gauge(
                &Labels([
                    ("instance_id", instance_id),
                    ("prefix", &p.prefix),
                    ("type", &p.key_type),
                ]),
                p.bytes,
            )
        },
    )?;
    family(
        encoder,
        "dcs_key_prefix_keys",
        "Keys of each key prefix and type, from the same offline key analysis as dcs_key_prefix_bytes.",
        Gauge,
        prefixes(),
        |m, (instance_id, p)| {
            m.gauge(
                &Labels([
                    ("instance_id", instance_id),
                    ("prefix", &p.prefix),
                    ("type", &p.key_type),
                ]),
                p.keys,
            )
        },
    )?;
    let by_type = || {
        keys.iter()
            .filter_map(|(id, k)| Some((id.as_str(), k.prefix.as_ref()?)))
            .flat_map(|(id, r)| {
                r.by_type
                    .iter()
                    .map(move |(t, totals)| (id, t.as_str(), *totals))
            })
    };
    family(
        encoder,
        "dcs_keyspace_bytes",
        "Bytes of all the instance's keys of each type, from its newest finished offline key analysis.",
        Gauge,
        by_type().filter_map(|(id, t, (bytes, _))| Some((id, t, bytes?))),
        |m, (instance_id, key_type, bytes)| {
            m.gauge(
                &Labels([("instance_id", instance_id), ("type", key_type)]),
                bytes,
            )
        },
    )?;
    family(
        encoder,
        "dcs_keyspace_keys",
        "The instance's keys of each type, from its newest finished offline key analysis.",
        Gauge,
        by_type().filter_map(|(id, t, (_, n))| Some((id, t, n?))),
        |m, (instance_id, key_type, n)| {
            m.gauge(
                &Labels([("instance_id", instance_id), ("type", key_type)]),
                n,
            )
        },
    )?;
    family(
        encoder,
        "dcs_key_analysis_timestamp_seconds",
        "When the analysis shown finished (big, hot, prefix; a key_scan walk's end for big and hot), by instance: how old the key families' figures are. Absent: no analysis of that kind read yet.",
        Gauge,
        keys.iter()
            .flat_map(|(id, k)| k.finished().map(move |(kind, at)| (id.as_str(), kind, at))),
        |m, (instance_id, kind, at)| {
            m.gauge(
                &Labels([("instance_id", instance_id), ("analysis", kind.as_str())]),
                seconds(at),
            )
        },
    )?;
    Ok(())
}

/// Each running instance's memory and keys, from the statistics.
fn memory_families(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    use Kind::Gauge;
    let memory = &view.snap.instance_memory;
    for (name, help, pick) in [
        (
            "dcs_instance_memory_used_bytes",
            "Memory the instance uses, from the project's running-instance statistics (read at each look-up).",
            (|m: &crate::keys::InstanceMemory| m.used_bytes)
                as fn(&crate::keys::InstanceMemory) -> Option<u64>,
        ),
        (
            "dcs_instance_memory_max_bytes",
            "The instance's memory limit (its maxmemory), from the same statistics.",
            |m| m.max_bytes,
        ),
        (
            "dcs_instance_keys",
            "Keys the instance holds, from the same statistics.",
            |m| m.keys,
        ),
    ] {
        family(
            encoder,
            name,
            help,
            Gauge,
            memory
                .iter()
                .filter_map(|(id, m)| Some((id.as_str(), pick(m)?))),
            |m, (instance_id, value)| m.gauge(&Labels([("instance_id", instance_id)]), value),
        )?;
    }
    Ok(())
}
