//! A Redis URL: where the server is, which database, and the login it may carry.
//!
//! `redis://[user[:password]@]host[:port][/db]` (`rediss://` for TLS; `valkey://` and
//! `valkeys://` alike) and `unix:///path?db=N&user=U&pass=P` (`redis+unix://`,
//! `valkey+unix://`), as the `redis` crate reads them.

use std::path::PathBuf;

/// The port a URL without one means.
const DEFAULT_PORT: u16 = 6379;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp { host: String, port: u16, tls: bool },
    Unix(PathBuf),
}

/// A parsed Redis URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl {
    pub addr: Addr,
    /// Selected after the login when not 0.
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A URL the Redis client does not take. The message never repeats the URL (it may hold a
/// password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a Redis URL: {0}")]
pub struct NotARedisUrl(&'static str);

impl RedisUrl {
    pub fn parse(text: &str) -> Result<Self, NotARedisUrl> {
        let url = url::Url::parse(text).map_err(|_| NotARedisUrl("it does not parse"))?;
        match url.scheme() {
            "redis" | "rediss" | "valkey" | "valkeys" => tcp(&url),
            "unix" | "redis+unix" | "valkey+unix" => unix(&url),
            _ => Err(NotARedisUrl(
                "the scheme must be redis, rediss, valkey, valkeys or unix",
            )),
        }
    }

    /// `host:port` (`[v6]:port`), or the socket's path.
    pub fn host_port(&self) -> String {
        match &self.addr {
            Addr::Tcp { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Addr::Tcp { host, port, .. } => format!("{host}:{port}"),
            Addr::Unix(path) => path.display().to_string(),
        }
    }
}

fn tcp(url: &url::Url) -> Result<RedisUrl, NotARedisUrl> {
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        // Without brackets: that is how a socket address is looked up.
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(NotARedisUrl("it has no host")),
    };
    if host == "0.0.0.0" || host == "::" {
        return Err(NotARedisUrl("a wildcard address is no server"));
    }
    let tls = matches!(url.scheme(), "rediss" | "valkeys");
    match url.fragment() {
        None => {}
        // Accepting any certificate is not offered: a scan sends the password.
        Some("insecure") => {
            return Err(NotARedisUrl(
                "#insecure (accepting any certificate) is not supported",
            ));
        }
        Some(_) => return Err(NotARedisUrl("it has a fragment")),
    }
    protocol(url)?;
    let db = match url.path().trim_matches('/') {
        "" => 0,
        path => path
            .parse()
            .map_err(|_| NotARedisUrl("the database is no number"))?,
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|t| t.into_owned())
            .map_err(|_| NotARedisUrl("its login is not UTF-8"))
    };
    Ok(RedisUrl {
        addr: Addr::Tcp {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            tls,
        },
        db,
        username: match url.username() {
            "" => None,
            name => Some(decode(name)?),
        },
        password: url.password().map(decode).transpose()?,
    })
}

fn unix(url: &url::Url) -> Result<RedisUrl, NotARedisUrl> {
    let path = url
        .to_file_path()
        .map_err(|_| NotARedisUrl("it has no socket path"))?;
    protocol(url)?;
    let query = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    Ok(RedisUrl {
        addr: Addr::Unix(path),
        db: match query("db") {
            Some(db) => db
                .parse()
                .map_err(|_| NotARedisUrl("the database is no number"))?,
            None => 0,
        },
        username: query("user"),
        password: query("pass"),
    })
}

/// The client speaks RESP2, the protocol every server answers by default.
fn protocol(url: &url::Url) -> Result<(), NotARedisUrl> {
    match url.query_pairs().find(|(k, _)| k == "protocol") {
        None => Ok(()),
        Some((_, v)) if v == "2" || v == "resp2" => Ok(()),
        Some(_) => Err(NotARedisUrl("only protocol=resp2 is supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_the_redis_crate_reads_them() {
        let u = RedisUrl::parse("redis://127.0.0.1:7000/3").unwrap();
        assert_eq!(u.host_port(), "127.0.0.1:7000");
        assert_eq!(u.db, 3);
        let u = RedisUrl::parse("rediss://user:p%40ss@cache.example").unwrap();
        assert_eq!(
            u.addr,
            Addr::Tcp {
                host: "cache.example".into(),
                port: 6379,
                tls: true
            }
        );
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(
            RedisUrl::parse("redis://[::1]:6380").unwrap().host_port(),
            "[::1]:6380"
        );
        let u = RedisUrl::parse("unix:///run/redis.sock?db=2&pass=x").unwrap();
        assert_eq!(u.host_port(), "/run/redis.sock");
        assert_eq!((u.db, u.password.as_deref()), (2, Some("x")));
        assert!(
            RedisUrl::parse("redis://h/?protocol=resp2").is_ok(),
            "the default, said"
        );
    }

    #[test]
    fn refused_urls_never_repeat_the_url() {
        for bad in [
            "http://h",
            "redis://0.0.0.0",
            "redis://h/x",
            "rediss://h#insecure",
            "redis://h?protocol=resp3",
            "not a url s3cret",
        ] {
            let e = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && !e.contains(bad), "{e}");
        }
    }
}
