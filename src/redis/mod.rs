//! The Redis client: connections, `CLIENT LIST`, `CLIENT KILL`, the key walk's commands, for direct targets and for the
//! simulator's nodes that a real server backs. Its own RESP2 reader (`resp.rs`) bounds what a
//! server's replies may hold in memory, which the `redis` crate does not.

pub mod address;
pub mod client_list;
pub mod connection;
pub mod keys;
pub mod resp;
pub mod slow_log;

use std::time::Duration;

use tokio::time::Instant;

pub use address::{NotARedisUrl, RedisUrl};
pub use client_list::parse_client_list;
pub use connection::{Connection, DEFAULT_MAX_SCAN_BYTES, connect_within};
use resp::Value;
pub use slow_log::{SlowlogMark, SlowlogRecord, slowlog, slowlog_mark};

use crate::cloud::Secret;
use crate::reason::Reason;
use crate::session::{ClientInfo, ClientRef};

/// Where a Redis server is and how to log in. The password never comes from the URL of a
/// configuration file (it would sit in the file in clear).
#[derive(Clone, Debug)]
pub struct RedisEndpoint {
    /// `redis://host:port[/db]` or `rediss://...` for TLS, without a password.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// A failed Redis call: a bounded reason for labels, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RedisFailure {
    pub reason: Reason,
    pub message: String,
}

fn protocol(what: String) -> RedisFailure {
    RedisFailure {
        reason: Reason::Protocol,
        message: what,
    }
}

/// `host:port` (or the socket path) of a Redis URL: the node id of a direct target.
pub fn host_port(url: &str) -> Result<String, NotARedisUrl> {
    RedisUrl::parse(url).map(|u| u.host_port())
}

/// Whether the URL carries a password (refused in configuration files).
pub fn url_has_password(url: &str) -> bool {
    RedisUrl::parse(url).is_ok_and(|u| u.password.is_some())
}

/// Opens a connection within the default byte budget, logging in when the endpoint has
/// credentials.
pub async fn connect(
    endpoint: &RedisEndpoint,
    deadline: Instant,
) -> Result<Connection, RedisFailure> {
    connect_within(endpoint, DEFAULT_MAX_SCAN_BYTES, deadline).await
}

/// A bulk string reply as text; `what` names the command in the error.
fn text_reply(value: Value, what: &str) -> Result<String, RedisFailure> {
    match value {
        Value::Bulk(bytes) => Ok(resp::into_text(bytes)),
        Value::Simple(text) => Ok(text),
        _ => Err(protocol(format!("{what} answered no text"))),
    }
}

fn int_reply(value: Value, what: &str) -> Result<i64, RedisFailure> {
    match value {
        Value::Int(n) => Ok(n),
        _ => Err(protocol(format!("{what} answered no integer"))),
    }
}

/// A server's `CLIENT LIST` reply, and the id of the connection that asked for it.
pub struct ClientList {
    text: String,
    own_id: String,
}

impl ClientList {
    /// The server's sessions but the asking one, borrowed from the reply.
    pub fn sessions(&self) -> impl Iterator<Item = ClientRef<'_>> {
        client_list::sessions(&self.text).filter(|c| c.id.as_deref() != Some(self.own_id.as_str()))
    }

    pub fn to_vec(&self) -> Vec<ClientInfo> {
        self.sessions().map(ClientRef::into_owned).collect()
    }

    /// The reply's memory, for the next [`client_list`] to read into.
    pub fn into_buffer(self) -> Vec<u8> {
        self.text.into_bytes()
    }
}

/// The server's sessions, without the connection asking. The reply is read within the
/// connection's byte budget into `buffer`, whose memory it keeps (give it back with
/// [`ClientList::into_buffer`]): a reply of 10,000 sessions is 3 MB, read anew at every scan.
pub async fn client_list(
    conn: &mut Connection,
    mut buffer: Vec<u8>,
    deadline: Instant,
) -> Result<ClientList, RedisFailure> {
    let own = int_reply(conn.call(&[b"CLIENT", b"ID"], deadline).await?, "CLIENT ID")?;
    let text = match conn
        .call_into(&[b"CLIENT", b"LIST"], &mut buffer, deadline)
        .await?
    {
        None => resp::into_text(buffer),
        Some(other) => text_reply(other, "CLIENT LIST")?,
    };
    Ok(ClientList {
        text,
        own_id: own.to_string(),
    })
}

/// `master` or `slave`, from `INFO replication`; `None` when the server does not say. Fails
/// only when the connection cannot go on (the budget is spent, the connection broke).
pub async fn role(
    conn: &mut Connection,
    deadline: Instant,
) -> Result<Option<String>, RedisFailure> {
    let info = match conn.call(&[b"INFO", b"replication"], deadline).await {
        Ok(value) => text_reply(value, "INFO").ok(),
        Err(_) if conn.is_usable() => None,
        Err(f) => return Err(f),
    };
    Ok(info.and_then(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("role:"))
            .map(|r| r.trim().to_string())
    }))
}

/// `CONFIG GET maxclients` and `CONFIG GET timeout`: the server's session limit and idle timeout
/// (0: never), each read on its own (one name a call: a pattern of several is Redis 7's).
pub async fn limits(conn: &mut Connection, deadline: Instant) -> [Result<u64, RedisFailure>; 2] {
    let max_clients = config_limit(conn, "maxclients", deadline).await;
    let timeout = config_limit(conn, "timeout", deadline).await;
    [max_clients, timeout]
}

/// One limit by `CONFIG GET`. Managed services rename or forbid CONFIG; that is an error here,
/// and so is a value that is no whole number from 0 to `i64::MAX` (`invalid_value`).
async fn config_limit(
    conn: &mut Connection,
    name: &str,
    deadline: Instant,
) -> Result<u64, RedisFailure> {
    let reply = conn
        .call(&[b"CONFIG", b"GET", name.as_bytes()], deadline)
        .await?;
    let pair = match reply {
        Value::Array(items) => items
            .into_iter()
            .map(|v| text_reply(v, "CONFIG GET"))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(protocol(format!("CONFIG GET {name} answered no list"))),
    };
    match pair.as_slice() {
        [key, v] if key == name => {
            crate::session::lenient::limit_value(v).ok_or_else(|| RedisFailure {
                reason: Reason::InvalidValue,
                message: format!(
                    "CONFIG GET {name} answered {:?}, not a whole number from 0 to {}",
                    crate::upstream_text::clean(v, &[]),
                    i64::MAX
                ),
            })
        }
        _ => Err(protocol(format!("CONFIG GET {name} answered no value"))),
    }
}

/// A count of ended sessions.
fn killed(value: Value) -> Result<u64, RedisFailure> {
    u64::try_from(int_reply(value, "CLIENT KILL")?)
        .map_err(|_| protocol("CLIENT KILL answered a negative count".into()))
}

/// Ends every normal and pub/sub session but the asking one; returns how many ended.
pub async fn kill_all(endpoint: &RedisEndpoint, deadline: Instant) -> Result<u64, RedisFailure> {
    let mut conn = connect(endpoint, deadline).await?;
    let mut count = 0u64;
    for kind in ["normal", "pubsub"] {
        let args: [&[u8]; 6] = [
            b"CLIENT",
            b"KILL",
            b"TYPE",
            kind.as_bytes(),
            b"SKIPME",
            b"yes",
        ];
        count = count.saturating_add(killed(conn.call(&args, deadline).await?)?);
    }
    Ok(count)
}

/// Ends the sessions with these `ip:port` addresses; returns how many ended.
pub async fn kill_addrs(
    endpoint: &RedisEndpoint,
    addrs: &[String],
    deadline: Instant,
) -> Result<u64, RedisFailure> {
    let mut conn = connect(endpoint, deadline).await?;
    let mut count = 0u64;
    for addr in addrs {
        let args: [&[u8]; 6] = [
            b"CLIENT",
            b"KILL",
            b"ADDR",
            addr.as_bytes(),
            b"SKIPME",
            b"yes",
        ];
        count = count.saturating_add(killed(conn.call(&args, deadline).await?)?);
    }
    Ok(count)
}

/// The default time a CLI or simulator call to Redis may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
