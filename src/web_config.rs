//! `--web.config.file`: TLS and basic auth for the HTTP server, in the file format of the
//! Prometheus exporter-toolkit, so one file serves this exporter and the others beside it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let raw: RawWebConfig =
            serde_yaml_ng::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        // Relative files are relative to the web config, as in the exporter-toolkit.
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|t| tls_config(t, base).map_err(invalid))
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

fn tls_config(t: RawTls, base: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let file = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file(&t.cert_file))
        .and_then(|it| it.collect())
        .map_err(|e| format!("tls_server_config.cert_file: {e}"))?;
    if certs.is_empty() {
        return Err("tls_server_config.cert_file holds no certificate".into());
    }
    crate::config::warn_if_others_can_read(&file(&t.key_file), "the TLS key file");
    let key = PrivateKeyDer::from_pem_file(file(&t.key_file))
        .map_err(|e| format!("tls_server_config.key_file: {e}"))?;
    let min = t.min_version.as_deref().unwrap_or("TLS12");
    let max = t.max_version.as_deref().unwrap_or("TLS13");
    let (Some(_), Some(_)) = (tls_version(min), tls_version(max)) else {
        return Err("tls_server_config.min_version/max_version: TLS12 or TLS13".into());
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = ["TLS12", "TLS13"]
        .into_iter()
        .filter(|v| *v >= min && *v <= max)
        .filter_map(tls_version)
        .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    if auth == "NoClientCert" && t.client_ca_file.is_some() {
        // As the exporter-toolkit: a CA without a policy would silently check nothing.
        return Err(
            "tls_server_config.client_ca_file is set but client_auth_type asks for no client certificate"
                .into(),
        );
    }
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = t
                .client_ca_file
                .as_ref()
                .ok_or_else(|| format!("tls_server_config.client_ca_file is needed for {auth}"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(file(ca))
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?
            {
                roots
                    .add(cert.map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?)
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
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
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?} is not supported (NoClientCert, RequireAndVerifyClientCert, VerifyClientCertIfGiven)"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Checked passwords, so bcrypt (slow on purpose) runs once per user and password.
struct Users {
    hashes: BTreeMap<String, String>,
    verified: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time: guessing passwords cannot take every core.
    bcrypt: Mutex<()>,
    /// Checked for unknown users, so that they cost as much as known ones and a user name
    /// cannot be told by timing: a hash of a random string at the configured cost.
    unknown_user_hash: String,
}

/// The cost of a bcrypt hash (`$2y$10$...` is 10).
fn bcrypt_cost(hash: &str) -> u32 {
    hash.split('$')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(10)
}

const MAX_CACHED_CHECKS: usize = 1024;

impl Users {
    fn check(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.hashes.get(user) else {
            let _one = self.bcrypt.lock().unwrap_or_else(|e| e.into_inner());
            let _ = bcrypt::verify(password, &self.unknown_user_hash);
            return false;
        };
        let key: [u8; 32] = Sha256::digest(format!("{user}:{password}:{hash}")).into();
        if let Some(&ok) = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return ok;
        }
        let ok = {
            let _one = self.bcrypt.lock().unwrap_or_else(|e| e.into_inner());
            bcrypt::verify(password, hash).unwrap_or(false)
        };
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_CHECKS {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }
}

async fn basic_auth(State(users): State<Arc<Users>>, request: Request, next: Next) -> Response {
    // The remediation webhook has its own bearer token in the same header.
    if request.uri().path() == crate::remediation::WEBHOOK_PATH {
        return next.run(request).await;
    }
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let allowed = match credentials.as_deref().and_then(|c| c.split_once(':')) {
        Some((user, password)) => {
            let (users, user, password) =
                (Arc::clone(&users), user.to_string(), password.to_string());
            tokio::task::spawn_blocking(move || users.check(&user, &password))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"dcs-session-exporter\"",
            )],
            "unauthorized\n",
        )
            .into_response()
    }
}

/// A server that runs until SIGINT or SIGTERM.
pub type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Binds now (so a busy port is an error at start), and returns the server to run.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    web: Option<WebConfig>,
    telemetry_path: &str,
) -> anyhow::Result<Serving> {
    let (tls, router) = match web {
        Some(web) => {
            let router = if web.users.is_empty() {
                router
            } else {
                let cost = web
                    .users
                    .values()
                    .map(|h| bcrypt_cost(h))
                    .max()
                    .unwrap_or(10);
                let random: [u8; 16] = rand::random();
                let unknown_user_hash = bcrypt::hash(hex::encode(random), cost.clamp(4, 31))
                    .map_err(|e| anyhow::anyhow!("cannot prepare basic auth: {e}"))?;
                let users = Arc::new(Users {
                    hashes: web.users,
                    verified: Mutex::new(HashMap::new()),
                    bcrypt: Mutex::new(()),
                    unknown_user_hash,
                });
                router.layer(axum::middleware::from_fn_with_state(users, basic_auth))
            };
            (web.tls, router)
        }
        None => (None, router),
    };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown = if local.ip().is_unspecified() {
        format!("{scheme}://127.0.0.1:{}", local.port())
    } else {
        format!("{scheme}://{local}")
    };
    tracing::info!(address = %local, tls = tls.is_some(), "exporter listening");
    println!("exporter listening on {shown}{telemetry_path} (landing page {shown}/)");
    Ok(match tls {
        Some(config) => {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                crate::cli::shutdown_signal().await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let server = axum_server::from_tcp_rustls(
                listener,
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )?
            .handle(handle);
            Box::pin(server.serve(router.into_make_service()))
        }
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            Box::pin(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(crate::cli::shutdown_signal())
                    .await
            })
        }
    })
}
