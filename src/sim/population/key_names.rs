//! The names and types of an instance's keys: the key prefixes applications use, each with its
//! Redis type, and key names under them as those applications write them.

use rand::RngExt;
use rand::rngs::StdRng;

/// A key's Redis type, as DCS's analyses name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    String,
    List,
    Set,
    Zset,
    Hash,
}

impl KeyType {
    pub const ALL: [KeyType; 5] = [
        KeyType::String,
        KeyType::List,
        KeyType::Set,
        KeyType::Zset,
        KeyType::Hash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::Zset => "zset",
            KeyType::Hash => "hash",
        }
    }

    pub fn is_collection(self) -> bool {
        self != KeyType::String
    }

    /// Bytes a key of this type takes, low and high (a family's keys average in between).
    pub(super) fn key_bytes(self) -> (f64, f64) {
        match self {
            KeyType::String => (40.0, 4_000.0),
            KeyType::List => (500.0, 50_000.0),
            KeyType::Set => (200.0, 20_000.0),
            KeyType::Zset => (400.0, 40_000.0),
            KeyType::Hash => (300.0, 30_000.0),
        }
    }

    /// Bytes an element of a collection takes, low and high.
    pub(super) fn element_bytes(self) -> (f64, f64) {
        match self {
            KeyType::String => (1.0, 1.0),
            KeyType::List => (24.0, 120.0),
            KeyType::Set => (16.0, 64.0),
            KeyType::Zset => (40.0, 90.0),
            KeyType::Hash => (30.0, 150.0),
        }
    }
}

/// Prefixes and their types: the first ones every instance has, the others some.
pub(super) const PREFIXES: [(&str, KeyType); 22] = [
    ("session:", KeyType::String),
    ("cache:page:", KeyType::String),
    ("user:", KeyType::Hash),
    ("feed:", KeyType::List),
    ("leaderboard:", KeyType::Zset),
    ("tags:", KeyType::Set),
    ("user:", KeyType::String),
    ("cart:", KeyType::Hash),
    ("rate:", KeyType::String),
    ("queue:", KeyType::List),
    ("lock:", KeyType::String),
    ("config:", KeyType::Hash),
    ("inventory:", KeyType::Hash),
    ("order:", KeyType::Hash),
    ("notify:", KeyType::List),
    ("geo:", KeyType::Zset),
    ("token:", KeyType::String),
    ("search:", KeyType::Zset),
    ("friends:", KeyType::Set),
    ("stats:", KeyType::Hash),
    ("online:", KeyType::Set),
    ("captcha:", KeyType::String),
];

/// How many of [`PREFIXES`] every instance has.
pub(super) const ALWAYS: usize = 6;

/// Keys without a prefix, as queue libraries name theirs: a name and its type.
pub(super) const BARE: [(&str, KeyType); 3] = [
    ("celery", KeyType::List),
    ("unacked", KeyType::Hash),
    ("_kombu.binding.celery", KeyType::Set),
];

/// A key name under `prefix`, as the application using it writes them.
pub(super) fn key_name(rng: &mut StdRng, prefix: &str, key_type: KeyType) -> String {
    let id: u32 = rng.random_range(1..10_000_000);
    match (prefix, key_type) {
        ("session:" | "token:", _) => format!("{prefix}{:016x}", rng.random::<u64>()),
        ("cache:page:", _) => format!(
            "{prefix}/catalog/{}?page={}&sort=price",
            id % 5000,
            rng.random_range(1..40)
        ),
        ("feed:", _) => format!("{prefix}{id}:timeline"),
        ("user:", KeyType::String) => format!("{prefix}{id}:avatar"),
        ("leaderboard:", _) => format!("{prefix}season-{}:{}", id % 12, id % 7),
        ("rate:", _) => format!("{prefix}10.{}.{}.{}", id % 250, id % 199, id % 97),
        ("queue:" | "notify:", _) => format!(
            "{prefix}{}",
            ["email", "sms", "push", "export"][(id % 4) as usize]
        ),
        _ => format!("{prefix}{id}"),
    }
}

/// A key name longer than anyone would show in full: a cached search page with its query.
pub(super) fn long_name(rng: &mut StdRng) -> String {
    let mut name = String::from("cache:page:/search?");
    for i in 0..12 {
        name.push_str(&format!("f{i}={:08x}&", rng.random::<u32>()));
    }
    name.push_str("sort=relevance");
    name
}

/// FNV-1a: which shard a key lives on, the same on every run.
pub(super) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
