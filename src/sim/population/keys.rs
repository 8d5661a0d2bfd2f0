//! An instance's keys, generated from its seed: key prefixes of every type with their counts and
//! memory, a long tail of big keys (strings of megabytes, collections of millions of elements),
//! and LFU counters for the hot ones. DCS's analyses read it: what a big-key or hot-key task
//! reports at a time, what an offline analysis of a backup sums up, what the statistics say.
//!
//! The keys are not stored one by one (an instance holds millions): a family per prefix and type
//! carries their count and bytes, and only the keys an analysis can name are drawn. Sizes grow
//! a little day by day and each analysis sees them with its own noise, so that successive
//! analyses differ and keys come and go from the top.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::draws::{DAY, log_uniform};
use super::key_names::{ALWAYS, BARE, PREFIXES, key_name, long_name, name_hash};

pub use super::key_names::KeyType;

/// The most strings and collections a big-key analysis keeps (DCS's user guide: 100 keys,
/// 20 strings and 80 collections).
pub const BIG_STRINGS_KEPT: usize = 20;
pub const BIG_COLLECTIONS_KEPT: usize = 80;
/// The most keys a hot-key analysis keeps.
pub const HOT_KEPT: usize = 100;
/// The largest keys an offline analysis lists.
const LARGEST_KEPT: usize = 20;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Where an instance's keys live.
#[derive(Clone, Debug, Default)]
pub struct KeyspaceShape {
    /// `ip:port` of each shard's master on cluster instances; empty on the others.
    pub shards: Vec<String>,
    /// The databases keys are spread over (1: only db 0, as on Redis Cluster).
    pub dbs: u32,
    /// The instance's memory, bytes.
    pub capacity_bytes: u64,
    /// A few odd key names: one with a newline, one a megabyte long.
    pub odd_names: bool,
}

/// The keys of one prefix and type.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub prefix: String,
    pub key_type: KeyType,
    pub keys: u64,
    pub bytes: u64,
}

/// A key an analysis names.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundKey {
    pub name: String,
    pub key_type: KeyType,
    /// `ip:port` of its shard, on cluster instances.
    pub shard: Option<String>,
    pub db: u32,
    /// Bytes (strings) or elements (collections).
    pub size: u64,
    /// The memory it takes, bytes.
    pub bytes: u64,
    /// The LFU counter, 0 to 255.
    pub freq: u8,
}

/// A key that analyses may name, with how it changes.
#[derive(Clone, Debug)]
struct Candidate {
    key: FoundKey,
    /// Bytes an element takes (collections).
    element_bytes: f64,
    /// Relative growth of its size a day.
    growth: f64,
}

/// What an offline analysis of a backup finds: every prefix family, the largest keys, totals.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyspaceReport {
    /// Largest first.
    pub families: Vec<Family>,
    /// Largest first.
    pub largest: Vec<FoundKey>,
    pub total_keys: u64,
    pub total_bytes: u64,
    /// Per type, in [`KeyType::ALL`] order.
    pub type_bytes: Vec<(KeyType, u64)>,
    pub type_keys: Vec<(KeyType, u64)>,
}

/// An instance's keys.
#[derive(Clone, Debug)]
pub struct Keyspace {
    families: Vec<Family>,
    /// Keys without a prefix: in the totals only.
    bare_keys: u64,
    bare_bytes: u64,
    big: Vec<Candidate>,
    hot: Vec<Candidate>,
    /// When it was drawn: sizes before it are smaller, after it larger.
    born_ms: i64,
    /// Relative growth of the whole keyspace a day.
    growth: f64,
}

impl Keyspace {
    /// The keys of an instance of this shape, from `seed`, as they are at `now_ms`.
    pub fn generate(seed: u64, shape: &KeyspaceShape, now_ms: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let families = families(&mut rng, shape.capacity_bytes);
        let in_families: u64 = families.iter().map(|f| f.bytes).sum();
        let bare_bytes = (in_families as f64 * rng.random_range(0.01..0.03)) as u64;
        let bare_keys = rng.random_range(50..5_000);
        let place = |rng: &mut StdRng, name: &str| placement(rng, shape, name);
        let mut big = Vec::new();
        let strings: Vec<&Family> = families
            .iter()
            .filter(|f| !f.key_type.is_collection())
            .collect();
        let collections: Vec<&Family> = families
            .iter()
            .filter(|f| f.key_type.is_collection())
            .collect();
        for i in 0..30 {
            let family = strings[rng.random_range(0..strings.len())];
            let name = if i == 7 {
                long_name(&mut rng)
            } else {
                key_name(&mut rng, &family.prefix, KeyType::String)
            };
            let size = if i < 3 {
                log_uniform(&mut rng, 4.0 * MIB, 48.0 * MIB)
            } else {
                log_uniform(&mut rng, 10.0 * KIB, MIB)
            };
            big.push(candidate(&mut rng, name, KeyType::String, size, &place));
        }
        for i in 0..110 {
            let (name, key_type) = match BARE.get(i) {
                Some(&(name, t)) => (name.to_string(), t),
                None => {
                    let family = collections[rng.random_range(0..collections.len())];
                    let name = key_name(&mut rng, &family.prefix, family.key_type);
                    (name, family.key_type)
                }
            };
            let elements = if (3..7).contains(&i) {
                log_uniform(&mut rng, 1_000_000.0, 4_000_000.0)
            } else {
                log_uniform(&mut rng, 5_000.0, 400_000.0)
            };
            big.push(candidate(&mut rng, name, key_type, elements, &place));
        }
        if shape.odd_names {
            let names = [
                "report:2026-12-01\nfinal".to_string(),
                "blob:".repeat(1 << 18),
            ];
            for name in names {
                let size = log_uniform(&mut rng, 8.0 * MIB, 32.0 * MIB);
                big.push(candidate(&mut rng, name, KeyType::String, size, &place));
            }
        }
        let hot = hot_keys(&mut rng, &families, &place);
        Self {
            families,
            bare_keys,
            bare_bytes,
            big,
            hot,
            born_ms: now_ms,
            growth: rng.random_range(0.002..0.01),
        }
    }

    /// The keys and bytes of the whole keyspace at `at_ms`.
    pub fn totals(&self, at_ms: i64) -> (u64, u64) {
        let scale = self.scale(at_ms, self.growth);
        let keys: u64 = self.families.iter().map(|f| f.keys).sum::<u64>() + self.bare_keys;
        let bytes: u64 = self.families.iter().map(|f| f.bytes).sum::<u64>() + self.bare_bytes;
        (grown(keys, scale), grown(bytes, scale))
    }

    /// What a big-key analysis at `at_ms` reports, biggest first: at most
    /// [`BIG_STRINGS_KEPT`] strings and [`BIG_COLLECTIONS_KEPT`] collections.
    pub fn big_keys(&self, seed: u64, at_ms: i64) -> Vec<FoundKey> {
        let mut rng = StdRng::seed_from_u64(seed);
        let seen: Vec<FoundKey> = self
            .big
            .iter()
            .map(|c| self.seen(c, &mut rng, at_ms))
            .collect();
        let mut strings: Vec<FoundKey> = seen
            .iter()
            .filter(|k| !k.key_type.is_collection())
            .cloned()
            .collect();
        let mut collections: Vec<FoundKey> = seen
            .into_iter()
            .filter(|k| k.key_type.is_collection())
            .collect();
        strings.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        collections.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        strings.truncate(BIG_STRINGS_KEPT);
        collections.truncate(BIG_COLLECTIONS_KEPT);
        strings.extend(collections);
        strings
    }

    /// What a hot-key analysis at `at_ms` reports, hottest first.
    pub fn hot_keys(&self, seed: u64, at_ms: i64) -> Vec<FoundKey> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut keys: Vec<FoundKey> = self
            .hot
            .iter()
            .map(|c| {
                let mut key = self.seen(c, &mut rng, at_ms);
                let freq = f64::from(c.key.freq) + rng.random_range(-12.0..12.0);
                key.freq = freq.clamp(0.0, 255.0) as u8;
                key
            })
            .filter(|k| k.freq > 0)
            .collect();
        keys.sort_by(|a, b| b.freq.cmp(&a.freq).then_with(|| a.name.cmp(&b.name)));
        keys.truncate(HOT_KEPT);
        keys
    }

    /// What an offline analysis of a backup taken at `at_ms` finds.
    pub fn report(&self, seed: u64, at_ms: i64) -> KeyspaceReport {
        let mut rng = StdRng::seed_from_u64(seed);
        let scale = self.scale(at_ms, self.growth);
        let mut families: Vec<Family> = self
            .families
            .iter()
            .map(|f| {
                let noise = scale * rng.random_range(0.97..1.03);
                Family {
                    keys: grown(f.keys, noise),
                    bytes: grown(f.bytes, noise),
                    ..f.clone()
                }
            })
            .collect();
        families.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.prefix.cmp(&b.prefix)));
        let mut largest: Vec<FoundKey> = self
            .big
            .iter()
            .map(|c| self.seen(c, &mut rng, at_ms))
            .collect();
        largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        largest.truncate(LARGEST_KEPT);
        let of_type = |t: KeyType, f: fn(&Family) -> u64| -> u64 {
            families.iter().filter(|x| x.key_type == t).map(f).sum()
        };
        let bare_keys = grown(self.bare_keys, scale);
        let bare_bytes = grown(self.bare_bytes, scale);
        // Keys without a prefix are counted as strings, as most of them are.
        let extra = |t: KeyType, n: u64| if t == KeyType::String { n } else { 0 };
        let type_bytes: Vec<(KeyType, u64)> = KeyType::ALL
            .iter()
            .map(|&t| (t, of_type(t, |f| f.bytes) + extra(t, bare_bytes)))
            .collect();
        let type_keys: Vec<(KeyType, u64)> = KeyType::ALL
            .iter()
            .map(|&t| (t, of_type(t, |f| f.keys) + extra(t, bare_keys)))
            .collect();
        KeyspaceReport {
            total_keys: type_keys.iter().map(|(_, n)| n).sum(),
            total_bytes: type_bytes.iter().map(|(_, n)| n).sum(),
            families,
            largest,
            type_bytes,
            type_keys,
        }
    }

    /// Growth since the keyspace was drawn: `1 + rate × days`, never below a half.
    fn scale(&self, at_ms: i64, rate: f64) -> f64 {
        let days = (at_ms - self.born_ms) as f64 / DAY;
        (1.0 + rate * days).max(0.5)
    }

    /// A candidate as an analysis at `at_ms` sees it: grown, with noise.
    fn seen(&self, c: &Candidate, rng: &mut StdRng, at_ms: i64) -> FoundKey {
        let noise = rng.random_range(0.88..1.12);
        let size = grown(c.key.size, self.scale(at_ms, c.growth) * noise).max(1);
        let bytes = if c.key.key_type.is_collection() {
            (size as f64 * c.element_bytes) as u64
        } else {
            size
        };
        FoundKey {
            size,
            bytes,
            ..c.key.clone()
        }
    }
}

/// `n` scaled, rounded down.
fn grown(n: u64, scale: f64) -> u64 {
    (n as f64 * scale) as u64
}

/// The prefix families: the usual ones and some others, and a tenant's prefix per customer,
/// their bytes filling a third to three fifths of the instance's memory.
fn families(rng: &mut StdRng, capacity_bytes: u64) -> Vec<Family> {
    let mut chosen: Vec<(String, KeyType)> = PREFIXES[..ALWAYS]
        .iter()
        .map(|&(p, t)| (p.to_string(), t))
        .collect();
    for &(prefix, key_type) in &PREFIXES[ALWAYS..] {
        if rng.random_bool(0.7) {
            chosen.push((prefix.to_string(), key_type));
        }
    }
    // Enough tenants for more prefixes than an exporter shows by default (20).
    let tenants = rng.random_range(4..12).max(24 - chosen.len().min(24));
    for tenant in 0..tenants {
        let key_type = KeyType::ALL[rng.random_range(0..KeyType::ALL.len())];
        chosen.push((format!("tenant-{tenant:03}:"), key_type));
    }
    let raw: Vec<(u64, f64)> = chosen
        .iter()
        .map(|(_, key_type)| {
            let keys = log_uniform(rng, 200.0, 3_000_000.0) as u64;
            let (low, high) = key_type.key_bytes();
            (keys, keys as f64 * log_uniform(rng, low, high))
        })
        .collect();
    let target = capacity_bytes as f64 * rng.random_range(0.35..0.6);
    let scale = target / raw.iter().map(|(_, b)| b).sum::<f64>().max(1.0);
    chosen
        .into_iter()
        .zip(raw)
        .map(|((prefix, key_type), (keys, bytes))| Family {
            prefix,
            key_type,
            keys,
            bytes: (bytes * scale) as u64,
        })
        .collect()
}

/// The keys an LFU policy finds hot: a few at the counter's ceiling, more warm ones.
fn hot_keys(
    rng: &mut StdRng,
    families: &[Family],
    place: &impl Fn(&mut StdRng, &str) -> (Option<String>, u32),
) -> Vec<Candidate> {
    (0..40)
        .map(|i| {
            let family = &families[rng.random_range(0..families.len())];
            let name = key_name(rng, &family.prefix, family.key_type);
            let size = if family.key_type.is_collection() {
                log_uniform(rng, 10.0, 5_000.0)
            } else {
                log_uniform(rng, 20.0, 4_000.0)
            };
            let freq = match i {
                0..3 => rng.random_range(240.0..255.0),
                3..13 => rng.random_range(150.0..240.0),
                _ => rng.random_range(20.0..150.0),
            };
            let mut c = candidate(rng, name, family.key_type, size, place);
            c.key.freq = freq as u8;
            c
        })
        .collect()
}

/// A key of this type and size (bytes or elements), placed on a shard and db.
fn candidate(
    rng: &mut StdRng,
    name: String,
    key_type: KeyType,
    size: f64,
    place: &impl Fn(&mut StdRng, &str) -> (Option<String>, u32),
) -> Candidate {
    let (low, high) = key_type.element_bytes();
    let element_bytes = log_uniform(rng, low, high);
    let (shard, db) = place(rng, &name);
    let size = size as u64;
    Candidate {
        key: FoundKey {
            shard,
            db,
            size,
            bytes: if key_type.is_collection() {
                (size as f64 * element_bytes) as u64
            } else {
                size
            },
            freq: 0,
            name,
            key_type,
        },
        element_bytes,
        growth: rng.random_range(-0.01..0.03),
    }
}

/// A key's shard (by its name, on cluster instances) and db (mostly 0).
fn placement(rng: &mut StdRng, shape: &KeyspaceShape, name: &str) -> (Option<String>, u32) {
    let shard = (!shape.shards.is_empty())
        .then(|| shape.shards[(name_hash(name) % shape.shards.len() as u64) as usize].clone());
    let db = if shape.dbs > 1 && rng.random_bool(0.12) {
        rng.random_range(1..shape.dbs.min(4))
    } else {
        0
    };
    (shard, db)
}
