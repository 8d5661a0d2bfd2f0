//! A server's slow log: every entry (`SLOWLOG GET`), or a mark that changes whenever an entry
//! comes or the log is reset (`SLOWLOG LEN` and the newest entry), read in one round trip so
//! that an unchanged log need not be read again.

use tokio::time::Instant;

use super::resp::{self, Value};
use super::{Connection, RedisFailure, int_reply, protocol};

/// An entry of `SLOWLOG GET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowlogRecord {
    pub id: i64,
    /// Seconds since the epoch, by the server's clock.
    pub timestamp: i64,
    pub micros: i64,
    /// The command and its arguments (the server truncates long ones).
    pub args: Vec<String>,
    /// `ip:port` of the client (Redis 4.0 and later; empty before).
    pub client_addr: String,
    pub client_name: String,
}

/// What tells one state of a slow log from another: its length, and its newest entry's id and
/// time. A new entry changes the newest (also when a full log drops its oldest for it), a reset
/// the length; ids restart with the server, the time tells those apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowlogMark {
    len: i64,
    newest: Option<(i64, i64)>,
}

impl SlowlogMark {
    /// The mark of a whole log as `SLOWLOG GET` gave it (newest first).
    pub fn of(records: &[SlowlogRecord]) -> Self {
        Self {
            len: i64::try_from(records.len()).unwrap_or(i64::MAX),
            newest: records.first().map(|r| (r.id, r.timestamp)),
        }
    }
}

/// The log's mark now: `SLOWLOG LEN` and `SLOWLOG GET 1` in one round trip.
pub async fn slowlog_mark(
    conn: &mut Connection,
    deadline: Instant,
) -> Result<SlowlogMark, RedisFailure> {
    let commands: [Vec<&[u8]>; 2] = [vec![b"SLOWLOG", b"LEN"], vec![b"SLOWLOG", b"GET", b"1"]];
    let mut replies = conn.pipeline(&commands, deadline).await?.into_iter();
    let (Some(len), Some(newest)) = (replies.next(), replies.next()) else {
        return Err(protocol("SLOWLOG LEN answered nothing".into()));
    };
    let len = int_reply(len?, "SLOWLOG LEN")?;
    let newest = records(newest?)?;
    Ok(SlowlogMark {
        len,
        newest: newest.first().map(|r| (r.id, r.timestamp)),
    })
}

/// Every entry of the server's slow log (`SLOWLOG GET -1`: all of them, which servers before
/// 7.0 also read as "no limit"), and the server's time in seconds (`TIME`), by which the
/// entries' times are judged.
pub async fn slowlog(
    conn: &mut Connection,
    deadline: Instant,
) -> Result<(Vec<SlowlogRecord>, i64), RedisFailure> {
    let now = match conn.call(&[b"TIME"], deadline).await? {
        Value::Array(items) => match items.into_iter().next() {
            Some(Value::Bulk(secs)) => resp::into_text(secs).parse::<i64>().ok(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| protocol("TIME answered no time".into()))?;
    let reply = conn.call(&[b"SLOWLOG", b"GET", b"-1"], deadline).await?;
    Ok((records(reply)?, now))
}

/// The entries of a `SLOWLOG GET` reply.
fn records(reply: Value) -> Result<Vec<SlowlogRecord>, RedisFailure> {
    let protocol = |what: &str| protocol(format!("SLOWLOG GET answered {what}"));
    let Value::Array(entries) = reply else {
        return Err(protocol("no list"));
    };
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(fields) = entry else {
            return Err(protocol("an entry that is no list"));
        };
        let mut fields = fields.into_iter();
        let mut int = || match fields.next() {
            Some(Value::Int(n)) => Ok(n),
            _ => Err(protocol("an entry without its numbers")),
        };
        let (id, timestamp, micros) = (int()?, int()?, int()?);
        let text = |v: Value| match v {
            Value::Bulk(bytes) => resp::into_text(bytes),
            Value::Simple(text) => text,
            _ => String::new(),
        };
        let args = match fields.next() {
            Some(Value::Array(args)) => args.into_iter().map(text).collect(),
            _ => return Err(protocol("an entry without its command")),
        };
        records.push(SlowlogRecord {
            id,
            timestamp,
            micros,
            args,
            client_addr: fields.next().map(text).unwrap_or_default(),
            client_name: fields.next().map(text).unwrap_or_default(),
        });
    }
    Ok(records)
}
