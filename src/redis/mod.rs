//! The Redis client: connections, `CLIENT LIST`, `CLIENT KILL`, for direct targets and for the
//! simulator's nodes that a real server backs.

pub mod client_list;

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo};
use tokio::time::Instant;

pub use client_list::parse_client_list;

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

/// A short reason: `timeout`, `connection_refused`, `connection`, `auth`, `protocol`, or the
/// server's error code (`NOAUTH`, `WRONGPASS`, `NOPERM`, `LOADING`, ...).
fn failure(e: &redis::RedisError) -> RedisFailure {
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else if e.is_connection_refusal() {
        Reason::ConnectionRefused
    } else if let Some(code) = e
        .code()
        .filter(|c| c.len() <= 16 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        Reason::RedisCode(code.to_string())
    } else {
        match e.kind() {
            redis::ErrorKind::AuthenticationFailed => Reason::Auth,
            redis::ErrorKind::Io => Reason::Connection,
            redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => Reason::Protocol,
            _ => Reason::RedisError,
        }
    };
    RedisFailure {
        reason,
        message: e.to_string(),
    }
}

fn timed_out(what: &str) -> RedisFailure {
    RedisFailure {
        reason: Reason::Timeout,
        message: format!("{what} did not finish before the deadline"),
    }
}

/// A URL the Redis client does not take.
#[derive(Debug, thiserror::Error)]
#[error("not a Redis URL: {0}")]
pub struct NotARedisUrl(redis::RedisError);

/// `host:port` (or the socket path) of a Redis URL: the node id of a direct target.
pub fn host_port(url: &str) -> Result<String, NotARedisUrl> {
    let info = url.into_connection_info().map_err(NotARedisUrl)?;
    Ok(match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        ConnectionAddr::Unix(path) => path.display().to_string(),
        _ => url.to_string(),
    })
}

/// Whether the URL carries a password (refused in configuration files).
pub fn url_has_password(url: &str) -> bool {
    url.into_connection_info()
        .is_ok_and(|i| i.redis_settings().password().is_some())
}

/// Opens a connection, logging in when the endpoint has credentials.
pub async fn connect(
    endpoint: &RedisEndpoint,
    deadline: Instant,
) -> Result<MultiplexedConnection, RedisFailure> {
    let mut info = endpoint
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| failure(&e))?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &endpoint.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &endpoint.password {
        settings = settings.set_password(password.expose());
    }
    info = info.set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|e| failure(&e))?;
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out("connecting"));
    }
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(left))
        .set_response_timeout(Some(left));
    tokio::time::timeout_at(
        deadline,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| timed_out("connecting"))?
    .map_err(|e| failure(&e))
}

async fn query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    deadline: Instant,
) -> Result<T, RedisFailure> {
    tokio::time::timeout_at(deadline, cmd.query_async::<T>(conn))
        .await
        .map_err(|_| timed_out("a Redis command"))?
        .map_err(|e| failure(&e))
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
}

/// The server's sessions, without the connection asking.
pub async fn client_list(
    conn: &mut MultiplexedConnection,
    deadline: Instant,
) -> Result<ClientList, RedisFailure> {
    let own: i64 = query(conn, redis::cmd("CLIENT").arg("ID"), deadline).await?;
    let text: String = query(conn, redis::cmd("CLIENT").arg("LIST"), deadline).await?;
    Ok(ClientList {
        text,
        own_id: own.to_string(),
    })
}

/// `master` or `slave`, from `INFO replication`.
pub async fn role(conn: &mut MultiplexedConnection, deadline: Instant) -> Option<String> {
    let info: String = query(conn, redis::cmd("INFO").arg("replication"), deadline)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .map(|r| r.trim().to_string())
}

/// `CONFIG GET maxclients` and `CONFIG GET timeout`: the server's session limit and idle timeout
/// (0: never). Managed services rename or forbid CONFIG; that is an error here.
pub async fn limits(
    conn: &mut MultiplexedConnection,
    deadline: Instant,
) -> Result<(u64, u64), RedisFailure> {
    // One name a call: a pattern of several is Redis 7's.
    let mut values = [0u64; 2];
    for (value, name) in values.iter_mut().zip(["maxclients", "timeout"]) {
        let reply: Vec<String> =
            query(conn, redis::cmd("CONFIG").arg("GET").arg(name), deadline).await?;
        *value = match reply.as_slice() {
            [key, v] if key == name => v.trim().parse().map_err(|_| RedisFailure {
                reason: Reason::Protocol,
                message: format!("CONFIG GET {name} answered {v:?}, not a number"),
            })?,
            _ => {
                return Err(RedisFailure {
                    reason: Reason::Protocol,
                    message: format!("CONFIG GET {name} answered no value"),
                });
            }
        };
    }
    Ok((values[0], values[1]))
}

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

/// Every entry of the server's slow log (`SLOWLOG GET -1`: all of them, which servers before
/// 7.0 also read as "no limit"), and the server's time in seconds (`TIME`), by which the
/// entries' times are judged.
pub async fn slowlog(
    conn: &mut MultiplexedConnection,
    deadline: Instant,
) -> Result<(Vec<SlowlogRecord>, i64), RedisFailure> {
    let (now, _micros): (i64, i64) = query(conn, &redis::cmd("TIME"), deadline).await?;
    let reply: redis::Value =
        query(conn, redis::cmd("SLOWLOG").arg("GET").arg(-1), deadline).await?;
    let protocol = |what: &str| RedisFailure {
        reason: Reason::Protocol,
        message: format!("SLOWLOG GET answered {what}"),
    };
    let redis::Value::Array(entries) = reply else {
        return Err(protocol("no list"));
    };
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let redis::Value::Array(fields) = entry else {
            return Err(protocol("an entry that is no list"));
        };
        let int = |i: usize| match fields.get(i) {
            Some(redis::Value::Int(n)) => Ok(*n),
            _ => Err(protocol("an entry without its numbers")),
        };
        let text =
            |v: &redis::Value| redis::from_redis_value::<String>(v.clone()).unwrap_or_default();
        let args = match fields.get(3) {
            Some(redis::Value::Array(args)) => args.iter().map(text).collect(),
            _ => return Err(protocol("an entry without its command")),
        };
        records.push(SlowlogRecord {
            id: int(0)?,
            timestamp: int(1)?,
            micros: int(2)?,
            args,
            client_addr: fields.get(4).map(text).unwrap_or_default(),
            client_name: fields.get(5).map(text).unwrap_or_default(),
        });
    }
    Ok((records, now))
}

/// Ends every normal and pub/sub session but the asking one; returns how many ended.
pub async fn kill_all(endpoint: &RedisEndpoint, deadline: Instant) -> Result<u64, RedisFailure> {
    let mut conn = connect(endpoint, deadline).await?;
    let mut killed = 0;
    for kind in ["normal", "pubsub"] {
        let cmd = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg(kind)
            .arg("SKIPME")
            .arg("yes")
            .clone();
        killed += query::<u64>(&mut conn, &cmd, deadline).await?;
    }
    Ok(killed)
}

/// Ends the sessions with these `ip:port` addresses; returns how many ended.
pub async fn kill_addrs(
    endpoint: &RedisEndpoint,
    addrs: &[String],
    deadline: Instant,
) -> Result<u64, RedisFailure> {
    let mut conn = connect(endpoint, deadline).await?;
    let mut killed = 0;
    for addr in addrs {
        let cmd = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ADDR")
            .arg(addr)
            .arg("SKIPME")
            .arg("yes")
            .clone();
        killed += query::<u64>(&mut conn, &cmd, deadline).await?;
    }
    Ok(killed)
}

/// The default time a CLI or simulator call to Redis may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
