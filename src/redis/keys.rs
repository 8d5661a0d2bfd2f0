//! The commands of a key walk: `SCAN`, then for each batch of names, pipelined, `TYPE` (and
//! `OBJECT FREQ` where the eviction policy keeps LFU counters), then the size of each key:
//! `STRLEN` for strings, the element count for collections. Key names are bytes, sent and
//! returned as they are.

use tokio::time::Instant;

use super::connection::Connection;
use super::resp::{self, Value};
use super::{RedisFailure, protocol};

/// A command of the walk, as the `operation` label of its failures says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum KeyCommand {
    /// `INFO keyspace`, which lists the databases holding keys.
    InfoKeyspace,
    /// `SELECT`.
    Select,
    Scan,
    Type,
    /// `STRLEN`, `LLEN`, `SCARD`, `ZCARD`, `HLEN` or `XLEN`.
    #[strum(serialize = "key_size")]
    Size,
    ObjectFreq,
}

impl KeyCommand {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a key holds, as `TYPE` names it; module types are `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum KeyType {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
    Other,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn from_reply(name: &str) -> Option<Self> {
        Some(match name {
            "none" => return None,
            "string" => KeyType::String,
            "list" => KeyType::List,
            "set" => KeyType::Set,
            "zset" => KeyType::Zset,
            "hash" => KeyType::Hash,
            "stream" => KeyType::Stream,
            _ => KeyType::Other,
        })
    }

    /// The command that measures it: bytes of a string, elements of a collection.
    fn size_command(self) -> Option<&'static [u8]> {
        Some(match self {
            KeyType::String => b"STRLEN",
            KeyType::List => b"LLEN",
            KeyType::Set => b"SCARD",
            KeyType::Zset => b"ZCARD",
            KeyType::Hash => b"HLEN",
            KeyType::Stream => b"XLEN",
            KeyType::Other => return None,
        })
    }
}

/// One key as the walk saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub name: Vec<u8>,
    pub key_type: KeyType,
    /// Bytes of a string, elements of a collection; `None` when not measured.
    pub size: Option<u64>,
    /// The LFU counter, where asked for.
    pub frequency: Option<u64>,
}

/// A batch's keys, and the commands the server refused (at most one failure a command: what
/// the next batches will meet too).
#[derive(Debug, Default)]
pub struct Probed {
    pub keys: Vec<Probe>,
    pub refused: Vec<(KeyCommand, RedisFailure)>,
}

impl Probed {
    fn refuse(&mut self, command: KeyCommand, failure: RedisFailure) {
        // A key that changed type or vanished between two commands is no refusal.
        if failure.message.starts_with("WRONGTYPE") {
            return;
        }
        if !self.refused.iter().any(|(c, _)| *c == command) {
            self.refused.push((command, failure));
        }
    }
}

/// The databases that hold keys (`INFO keyspace`: `db3:keys=10,...`), in order.
pub async fn databases(conn: &mut Connection, deadline: Instant) -> Result<Vec<u32>, RedisFailure> {
    let info = match conn.call(&[b"INFO", b"keyspace"], deadline).await? {
        Value::Bulk(bytes) => resp::into_text(bytes),
        _ => return Err(protocol("INFO answered no text".into())),
    };
    let mut dbs: Vec<u32> = info
        .lines()
        .filter_map(|l| l.strip_prefix("db")?.split(':').next()?.parse().ok())
        .collect();
    dbs.sort_unstable();
    dbs.dedup();
    Ok(dbs)
}

/// `CONFIG GET maxmemory-policy`.
pub async fn eviction_policy(
    conn: &mut Connection,
    deadline: Instant,
) -> Result<String, RedisFailure> {
    let reply = conn
        .call(&[b"CONFIG", b"GET", b"maxmemory-policy"], deadline)
        .await?;
    match reply {
        Value::Array(items) => match items.into_iter().nth(1) {
            Some(Value::Bulk(bytes)) => Ok(resp::into_text(bytes)),
            _ => Err(protocol(
                "CONFIG GET maxmemory-policy answered no value".into(),
            )),
        },
        _ => Err(protocol("CONFIG GET answered no list".into())),
    }
}

/// Whether a policy keeps the LFU counters `OBJECT FREQ` reads.
pub fn is_lfu(policy: &str) -> bool {
    matches!(policy.trim(), "allkeys-lfu" | "volatile-lfu")
}

pub async fn select(conn: &mut Connection, db: u32, deadline: Instant) -> Result<(), RedisFailure> {
    let db = db.to_string();
    conn.call(&[b"SELECT", db.as_bytes()], deadline)
        .await
        .map(drop)
}

/// `CLIENT NO-TOUCH ON` (Redis 7.2 and later): the walk's commands then leave the keys' access
/// times and LFU counters as they were. Older servers refuse it; their keys are touched by the
/// size commands, as by `redis-cli --bigkeys`.
pub async fn no_touch(conn: &mut Connection, deadline: Instant) -> bool {
    conn.call(&[b"CLIENT", b"NO-TOUCH", b"ON"], deadline)
        .await
        .is_ok()
}

/// One `SCAN cursor COUNT count`: the next cursor (0: the walk is done) and the names found.
pub async fn scan(
    conn: &mut Connection,
    cursor: u64,
    count: u32,
    deadline: Instant,
) -> Result<(u64, Vec<Vec<u8>>), RedisFailure> {
    let (cursor, count) = (cursor.to_string(), count.to_string());
    let reply = conn
        .call(
            &[b"SCAN", cursor.as_bytes(), b"COUNT", count.as_bytes()],
            deadline,
        )
        .await?;
    let bad = || protocol("SCAN answered no cursor and names".into());
    let Value::Array(items) = reply else {
        return Err(bad());
    };
    let mut items = items.into_iter();
    let next = match items.next() {
        Some(Value::Bulk(c)) => std::str::from_utf8(&c)
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let Some(Value::Array(names)) = items.next() else {
        return Err(bad());
    };
    let names = names
        .into_iter()
        .map(|n| match n {
            Value::Bulk(name) => Ok(name),
            _ => Err(bad()),
        })
        .collect::<Result<_, _>>()?;
    Ok((next, names))
}

/// Types, sizes and (with `frequency`) LFU counters of the keys: two pipelined round trips. A
/// key gone since the `SCAN` is left out; a command the server refuses leaves its figure out.
pub async fn probe(
    conn: &mut Connection,
    names: Vec<Vec<u8>>,
    frequency: bool,
    deadline: Instant,
) -> Result<Probed, RedisFailure> {
    let per_key = if frequency { 2 } else { 1 };
    let mut commands = Vec::with_capacity(names.len() * per_key);
    for name in &names {
        commands.push(vec![&b"TYPE"[..], name]);
        if frequency {
            commands.push(vec![&b"OBJECT"[..], b"FREQ", name]);
        }
    }
    let mut replies = conn.pipeline(&commands, deadline).await?.into_iter();
    drop(commands);
    let mut probed = Probed::default();
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let (Some(key_type), freq) = (replies.next(), frequency.then(|| replies.next()).flatten())
        else {
            return Err(protocol("a pipeline answered fewer replies".into()));
        };
        let frequency = match freq.map(|r| r.and_then(|v| int(v, "OBJECT FREQ"))) {
            Some(Ok(f)) => Some(f),
            Some(Err(f)) => {
                probed.refuse(KeyCommand::ObjectFreq, f);
                None
            }
            None => None,
        };
        let key_type = match key_type {
            Ok(Value::Simple(t)) => KeyType::from_reply(&t),
            Ok(_) => return Err(protocol("TYPE answered no status".into())),
            Err(f) => {
                probed.refuse(KeyCommand::Type, f);
                continue;
            }
        };
        if let Some(key_type) = key_type {
            keys.push(Probe {
                name,
                key_type,
                size: None,
                frequency,
            });
        }
    }
    let measured: Vec<usize> = (0..keys.len())
        .filter(|&i| keys[i].key_type.size_command().is_some())
        .collect();
    let sizes: Vec<Vec<&[u8]>> = measured
        .iter()
        .filter_map(|&i| Some(vec![keys[i].key_type.size_command()?, &keys[i].name[..]]))
        .collect();
    let replies = conn.pipeline(&sizes, deadline).await?;
    drop(sizes);
    for (i, reply) in measured.into_iter().zip(replies) {
        match reply.and_then(|v| int(v, "a size")) {
            Ok(size) => keys[i].size = Some(size),
            Err(f) => probed.refuse(KeyCommand::Size, f),
        }
    }
    probed.keys = keys;
    Ok(probed)
}

/// A non-negative integer reply.
fn int(value: Value, what: &str) -> Result<u64, RedisFailure> {
    match value {
        Value::Int(n) => u64::try_from(n).map_err(|_| protocol(format!("{what} was negative"))),
        _ => Err(protocol(format!("{what} answered no integer"))),
    }
}
