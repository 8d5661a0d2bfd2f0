//! `--web.config.file`: TLS and basic auth for the HTTP server, in the file format of the
//! Prometheus exporter-toolkit, so one file serves this exporter and the others beside it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read the web config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("web config {path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// A validated web configuration.
#[derive(Clone)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    /// User name to bcrypt hash.
    users: BTreeMap<String, String>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_version(v: &str) -> Option<&'static rustls::SupportedProtocolVersion> {
    match v {
        "TLS12" => Some(&rustls::version::TLS12),
        "TLS13" => Some(&rustls::version::TLS13),
        _ => None,
    }
}

impl WebConfig {
    pub fn from_file(path: &Path) -> Result<Self, WebConfigError> {
        let shown = path.display().to_string();
        let invalid = |message: String| WebConfigError::Invalid {
            path: shown.clone(),
            message,
        };
        let text =
            crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES).map_err(|source| {
                WebConfigError::Read {
                    path: shown.clone(),
                    source,
                }
            })?;
        let raw: RawWebConfig =
            serde_yaml_ng::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        // Relative files are relative to the web config, as in the exporter-toolkit.
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|t| tls_config(t, base, &shown))
            .transpose()?;
        for (user, hash) in &raw.basic_auth_users {
            if user.contains(':') || !hash.starts_with("$2") {
                return Err(invalid(format!(
                    "basic_auth_users.{user}: user names have no ':' and passwords are bcrypt hashes ($2y$...)"
                )));
            }
        }
        Ok(Self {
            tls,
            users: raw.basic_auth_users,
        })
    }
}

/// The TLS settings of the web config at `shown`; a problem is an [`WebConfigError::Invalid`].
fn tls_config(
    t: RawTls,
    base: &Path,
    shown: &str,
) -> Result<Arc<rustls::ServerConfig>, WebConfigError> {
    let invalid = |message: String| WebConfigError::Invalid {
        path: shown.to_string(),
        message,
    };
    let file = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file(&t.cert_file))
        .and_then(|it| it.collect())
        .map_err(|e| invalid(format!("tls_server_config.cert_file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "tls_server_config.cert_file holds no certificate".into(),
        ));
    }
    crate::config::warn_if_others_can_read(&file(&t.key_file), "the TLS key file");
    let key = PrivateKeyDer::from_pem_file(file(&t.key_file))
        .map_err(|e| invalid(format!("tls_server_config.key_file: {e}")))?;
    let min = t.min_version.as_deref().unwrap_or("TLS12");
    let max = t.max_version.as_deref().unwrap_or("TLS13");
    let (Some(_), Some(_)) = (tls_version(min), tls_version(max)) else {
        return Err(invalid(
            "tls_server_config.min_version/max_version: TLS12 or TLS13".into(),
        ));
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = ["TLS12", "TLS13"]
        .into_iter()
        .filter(|v| *v >= min && *v <= max)
        .filter_map(tls_version)
        .collect();
    if versions.is_empty() {
        return Err(invalid(
            "tls_server_config: min_version is above max_version".into(),
        ));
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(e.to_string()))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    if auth == "NoClientCert" && t.client_ca_file.is_some() {
        // As the exporter-toolkit: a CA without a policy would silently check nothing.
        return Err(invalid(
            "tls_server_config.client_ca_file is set but client_auth_type asks for no client certificate"
                .into(),
        ));
    }
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = t.client_ca_file.as_ref().ok_or_else(|| {
                invalid(format!(
                    "tls_server_config.client_ca_file is needed for {auth}"
                ))
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(file(ca))
                .map_err(|e| invalid(format!("tls_server_config.client_ca_file: {e}")))?
            {
                roots
                    .add(
                        cert.map_err(|e| {
                            invalid(format!("tls_server_config.client_ca_file: {e}"))
                        })?,
                    )
                    .map_err(|e| invalid(format!("tls_server_config.client_ca_file: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            );
            let verifier = if auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| invalid(e.to_string()))?)
        }
        other => {
            return Err(invalid(format!(
                "tls_server_config.client_auth_type {other:?} is not supported (NoClientCert, RequireAndVerifyClientCert, VerifyClientCertIfGiven)"
            )));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("tls_server_config: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Basic-auth checks. bcrypt is slow on purpose, so its work is bounded: verdicts are cached
/// (the accepted credentials apart, so that a flood of wrong ones cannot evict them), only
/// [`BCRYPT_AT_ONCE`] hashes run at once, a request that waits longer than
/// [`BCRYPT_WAIT`] for its turn is answered 503, and a request whose client has gone gives
/// its turn up (its future is dropped before the hash starts).
struct Users {
    hashes: BTreeMap<String, String>,
    accepted: Mutex<HashMap<[u8; 32], ()>>,
    refused: Mutex<HashMap<[u8; 32], ()>>,
    bcrypt: tokio::sync::Semaphore,
    /// Checked for unknown users, so that they cost as much as known ones and a user name
    /// cannot be told by timing: a hash of a random string at the configured cost.
    unknown_user_hash: String,
}

/// bcrypt hashes running at once: one core's worth, so guessing passwords leaves the other
/// cores (and the blocking pool) to the scans.
const BCRYPT_AT_ONCE: usize = 1;
/// How long a request waits for its turn at bcrypt before it is answered 503.
const BCRYPT_WAIT: Duration = Duration::from_secs(2);
/// Cached verdicts of each kind; a full cache starts over.
const MAX_CACHED_CHECKS: usize = 1024;

/// The cost of a bcrypt hash (`$2y$10$...` is 10).
fn bcrypt_cost(hash: &str) -> u32 {
    hash.split('$')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(10)
}

enum Verdict {
    Allowed,
    Refused,
    /// No turn at bcrypt in time: try again later.
    Busy,
}

fn remember(cache: &Mutex<HashMap<[u8; 32], ()>>, key: [u8; 32]) {
    let mut cache = cache.lock();
    if cache.len() >= MAX_CACHED_CHECKS {
        cache.clear();
    }
    cache.insert(key, ());
}

impl Users {
    fn new(hashes: BTreeMap<String, String>) -> Result<Self, bcrypt::BcryptError> {
        let cost = hashes.values().map(|h| bcrypt_cost(h)).max().unwrap_or(10);
        let random: [u8; 16] = rand::random();
        let unknown_user_hash = bcrypt::hash(hex::encode(random), cost.clamp(4, 31))?;
        Ok(Self {
            hashes,
            accepted: Mutex::default(),
            refused: Mutex::default(),
            bcrypt: tokio::sync::Semaphore::new(BCRYPT_AT_ONCE),
            unknown_user_hash,
        })
    }

    async fn check(self: &Arc<Self>, user: &str, password: &str) -> Verdict {
        let hash = self.hashes.get(user).unwrap_or(&self.unknown_user_hash);
        let key: [u8; 32] = Sha256::digest(format!("{user}:{password}:{hash}")).into();
        let cached = |cache: &Mutex<HashMap<[u8; 32], ()>>| cache.lock().contains_key(&key);
        if cached(&self.accepted) {
            return Verdict::Allowed;
        }
        if cached(&self.refused) {
            return Verdict::Refused;
        }
        let Ok(Ok(_turn)) = tokio::time::timeout(BCRYPT_WAIT, self.bcrypt.acquire()).await else {
            return Verdict::Busy;
        };
        let known = self.hashes.contains_key(user);
        let (hash, password) = (hash.clone(), password.to_string());
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if matched && known {
            remember(&self.accepted, key);
            Verdict::Allowed
        } else {
            remember(&self.refused, key);
            Verdict::Refused
        }
    }
}

/// Paths answered without basic auth: probes carry no credentials, and the remediation webhook
/// has its own bearer token in the same header.
const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", crate::remediation::WEBHOOK_PATH];

/// The credentials of an `Authorization: Basic ...` header (the scheme in any case).
fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, password) = String::from_utf8(raw)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((user, password))
}

async fn basic_auth(State(users): State<Arc<Users>>, request: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let verdict = match basic_credentials(request.headers()) {
        Some((user, password)) => users.check(&user, &password).await,
        None => Verdict::Refused,
    };
    match verdict {
        Verdict::Allowed => next.run(request).await,
        Verdict::Refused => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"dcs-session-exporter\"",
            )],
            "unauthorized\n",
        )
            .into_response(),
        Verdict::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many password checks at once; try again\n",
        )
            .into_response(),
    }
}

impl WebConfig {
    /// The TLS settings, when the server speaks TLS.
    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    /// `router` behind basic auth, when users are configured.
    pub fn protect(&self, router: Router) -> Result<Router, WebConfigError> {
        if self.users.is_empty() {
            return Ok(router);
        }
        let users = Users::new(self.users.clone()).map_err(|e| WebConfigError::Invalid {
            path: "basic_auth_users".into(),
            message: format!("cannot prepare basic auth: {e}"),
        })?;
        Ok(router.layer(axum::middleware::from_fn_with_state(
            Arc::new(users),
            basic_auth,
        )))
    }
}
