//! A connection to a Redis server: TCP, TLS or a unix socket, logged in, one command at a
//! time, every reply read within the connection's byte budget.

use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use super::address::{Addr, RedisUrl};
use super::resp::{self, Budget, RespError, Value};
use super::{RedisEndpoint, RedisFailure};
use crate::reason::Reason;

/// The byte budget of a connection that is given none: a scan's default.
pub const DEFAULT_MAX_SCAN_BYTES: u64 = 64 * 1024 * 1024;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// An open, logged-in connection.
pub struct Connection {
    stream: BufReader<Box<dyn Stream>>,
    budget: Budget,
    /// Set once a reply was not read whole: what follows on the stream is no reply of ours.
    broken: bool,
    /// Taken out of any server text that repeats it.
    password: Option<String>,
}

fn failure(reason: Reason, message: impl Into<String>) -> RedisFailure {
    RedisFailure {
        reason,
        message: message.into(),
    }
}

pub(super) fn timed_out(what: &str) -> RedisFailure {
    failure(
        Reason::Timeout,
        format!("{what} did not finish before the deadline"),
    )
}

/// An I/O error's reason, as the `redis` crate told them apart.
fn io_failure(e: &std::io::Error, doing: &str) -> RedisFailure {
    use std::io::ErrorKind;
    let reason = match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Reason::Timeout,
        // A unix socket that is not there yet is refused, as a closed port is.
        ErrorKind::ConnectionRefused | ErrorKind::NotFound => Reason::ConnectionRefused,
        _ => Reason::Connection,
    };
    failure(reason, format!("{doing}: {e}"))
}

/// The shared TLS settings: the web's root certificates, as the `redis` crate used.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, RedisFailure> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| failure(Reason::Connection, format!("TLS settings: {e}")))
}

async fn open(addr: &Addr) -> Result<Box<dyn Stream>, RedisFailure> {
    match addr {
        Addr::Tcp { host, port, tls } => {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| io_failure(&e, "connecting"))?;
            // Commands are small and each waits for its reply.
            let _ = tcp.set_nodelay(true);
            if !tls {
                return Ok(Box::new(tcp));
            }
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| failure(Reason::Connection, "the host is no TLS server name"))?;
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(|e| io_failure(&e, "the TLS handshake"))?;
            Ok(Box::new(tls))
        }
        Addr::Unix(path) => Ok(Box::new(
            tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| io_failure(&e, "connecting"))?,
        )),
    }
}

/// Opens a connection whose replies may keep `max_bytes` in memory all together, logging in
/// and selecting the database the endpoint says.
pub async fn connect_within(
    endpoint: &RedisEndpoint,
    max_bytes: u64,
    deadline: Instant,
) -> Result<Connection, RedisFailure> {
    let url =
        RedisUrl::parse(&endpoint.url).map_err(|e| failure(Reason::RedisError, e.to_string()))?;
    let username = endpoint.username.clone().or(url.username);
    let password = match &endpoint.password {
        Some(p) => Some(p.expose().to_string()),
        None => url.password,
    };
    let stream = tokio::time::timeout_at(deadline, open(&url.addr))
        .await
        .map_err(|_| timed_out("connecting"))??;
    let mut conn = Connection {
        stream: BufReader::new(stream),
        budget: Budget::new(max_bytes),
        broken: false,
        password,
    };
    if let Some(password) = conn.password.clone() {
        conn.login(username.as_deref(), &password, deadline).await?;
    }
    if url.db != 0 {
        let db = url.db.to_string();
        conn.call(&[b"SELECT", db.as_bytes()], deadline).await?;
    }
    Ok(conn)
}

impl Connection {
    /// `AUTH`; a server without users (before 6.0) takes the password alone.
    async fn login(
        &mut self,
        username: Option<&str>,
        password: &str,
        deadline: Instant,
    ) -> Result<(), RedisFailure> {
        // The server's words, already cleaned of the password, say why.
        let refused = |f: RedisFailure| match f.reason {
            Reason::RedisCode(_) | Reason::RedisError => failure(
                Reason::Auth,
                format!("Password authentication failed: {}", f.message),
            ),
            _ => f,
        };
        let Some(user) = username else {
            return self
                .call(&[b"AUTH", password.as_bytes()], deadline)
                .await
                .map(drop)
                .map_err(refused);
        };
        match self
            .call(&[b"AUTH", user.as_bytes(), password.as_bytes()], deadline)
            .await
        {
            Ok(_) => Ok(()),
            Err(f) if f.message.contains("wrong number of arguments") => self
                .call(&[b"AUTH", password.as_bytes()], deadline)
                .await
                .map(drop)
                .map_err(refused),
            Err(f) => Err(refused(f)),
        }
    }

    /// Whether commands can still be sent: no reply was cut short.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Sends a command and reads its reply; an error reply is a failure with the server's code.
    pub async fn call(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Value, RedisFailure> {
        let mut bytes = Vec::new();
        Ok(self
            .call_into(args, &mut bytes, deadline)
            .await?
            .unwrap_or(Value::Bulk(bytes)))
    }

    /// As [`Connection::call`], a bulk string reply read into `bytes` (`None` then): a large
    /// reply read at every scan reuses the memory of the last.
    pub async fn call_into(
        &mut self,
        args: &[&[u8]],
        bytes: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<Option<Value>, RedisFailure> {
        if self.broken {
            return Err(failure(
                Reason::Connection,
                "the connection was dropped after a reply that was not read whole",
            ));
        }
        let Self { stream, budget, .. } = self;
        let exchange = async {
            stream.write_all(&resp::encode_command(args)).await?;
            stream.flush().await?;
            resp::read_bulk_into(stream, budget, bytes).await
        };
        let reply = tokio::time::timeout_at(deadline, exchange).await;
        // The command's name for messages; never an argument of AUTH.
        let command = match args {
            [first, ..] if first.eq_ignore_ascii_case(b"AUTH") => "AUTH".to_string(),
            _ => args
                .iter()
                .take(2)
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
                .join(" "),
        };
        match reply {
            Ok(Ok(Some(Value::Error(text)))) => Err(self.server_error(&text)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.broken = true;
                Err(match e {
                    RespError::TooLarge(_) => failure(
                        Reason::ReplyTooLarge,
                        format!("{command}: {e}; what was read is dropped"),
                    ),
                    RespError::Protocol(_) => failure(Reason::Protocol, format!("{command}: {e}")),
                    RespError::Io(e) => io_failure(&e, &command),
                })
            }
            Err(_) => {
                self.broken = true;
                Err(timed_out("a Redis command"))
            }
        }
    }

    /// Sends the commands in one write and reads their replies in order: each an error reply
    /// or a value. A failure of the connection itself (budget, protocol, deadline) fails all.
    pub async fn pipeline(
        &mut self,
        commands: &[Vec<&[u8]>],
        deadline: Instant,
    ) -> Result<Vec<Result<Value, RedisFailure>>, RedisFailure> {
        if self.broken {
            return Err(failure(
                Reason::Connection,
                "the connection was dropped after a reply that was not read whole",
            ));
        }
        let Self { stream, budget, .. } = self;
        let exchange = async {
            let mut out = Vec::new();
            for args in commands {
                out.extend_from_slice(&resp::encode_command(args));
            }
            stream.write_all(&out).await?;
            stream.flush().await?;
            let mut replies = Vec::with_capacity(commands.len());
            for _ in commands {
                replies.push(resp::read_value(stream, budget).await?);
            }
            Ok::<_, RespError>(replies)
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(Ok(replies)) => Ok(replies
                .into_iter()
                .map(|reply| match reply {
                    Value::Error(text) => Err(self.server_error(&text)),
                    value => Ok(value),
                })
                .collect()),
            Ok(Err(e)) => {
                self.broken = true;
                Err(match e {
                    RespError::TooLarge(_) => failure(
                        Reason::ReplyTooLarge,
                        format!("a pipeline: {e}; what was read is dropped"),
                    ),
                    RespError::Protocol(_) => failure(Reason::Protocol, format!("a pipeline: {e}")),
                    RespError::Io(e) => io_failure(&e, "a pipeline"),
                })
            }
            Err(_) => {
                self.broken = true;
                Err(timed_out("a Redis pipeline"))
            }
        }
    }

    /// Gives the budget back whole: for a long walk whose earlier replies were dropped, so the
    /// budget bounds what one batch holds rather than what the walk ever read.
    pub fn renew_budget(&mut self) {
        self.budget = Budget::new(self.budget.total());
    }

    /// An error reply: its first word is the code when it looks like one (`NOAUTH`, `ERR`).
    fn server_error(&self, text: &str) -> RedisFailure {
        let code = text.split(' ').next().unwrap_or_default();
        let reason =
            if !code.is_empty() && code.len() <= 16 && code.bytes().all(|b| b.is_ascii_uppercase())
            {
                Reason::RedisCode(code.to_string())
            } else {
                Reason::RedisError
            };
        let secrets: Vec<&str> = self.password.iter().map(String::as_str).collect();
        failure(reason, crate::upstream_text::clean(text, &secrets))
    }
}
