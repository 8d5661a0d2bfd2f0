//! The configuration file: TOML as written ([`raw`]), then validated into [`Config`], so that
//! no unchecked value reaches the code that uses it.

mod raw;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::cloud::Endpoints;
use crate::cloud::credentials::{CredentialSource, EnvNames};
pub use crate::files::{MAX_FILE_BYTES, read_bounded, warn_if_others_can_read};

pub use raw::key_analysis::{KeyAnalysis, KeyTrigger};
pub use raw::key_scan::KeyScanSettings;
pub use raw::{RawConfig, accepted_keys};

pub use crate::aggregate::{ClientAddrField, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS};

/// Which session field names the client (`client_addr_field`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAddrChoice {
    /// Per instance: `addr` with client IP pass-through, `peer` without (from the instance's
    /// details); `addr` where that is not known (`[[redis]]` targets, details not read yet).
    #[default]
    Auto,
    Addr,
    Peer,
}

impl ClientAddrChoice {
    /// The field for an instance whose pass-through is `pass_through`.
    pub fn resolve(self, pass_through: Option<bool>) -> ClientAddrField {
        match (self, pass_through) {
            (ClientAddrChoice::Addr, _) => ClientAddrField::Addr,
            (ClientAddrChoice::Peer, _) => ClientAddrField::Peer,
            (ClientAddrChoice::Auto, Some(false)) => ClientAddrField::Peer,
            (ClientAddrChoice::Auto, _) => ClientAddrField::Addr,
        }
    }
}

/// Which histograms the session histograms are exposed as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistogramMode {
    /// `le` buckets only, in every format.
    Classic,
    /// Native buckets (protobuf); text formats get `_count`, `_sum` and the `+Inf` bucket only.
    Native,
    /// Both: native buckets in protobuf, `le` buckets everywhere.
    #[default]
    Both,
}

/// A family, or a group of families, that `disable = [...]` can turn off; in the file, its
/// snake_case name.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum Family {
    /// `dcs_clients`.
    Clients,
    /// `dcs_clients_idle`.
    ClientsIdle,
    /// `dcs_clients_by_name`.
    ClientsByName,
    /// `dcs_clients_by_kind`.
    ClientsByKind,
    /// `dcs_clients_by_command`.
    ClientsByCommand,
    /// `dcs_client_idle_seconds`.
    Idle,
    /// `dcs_client_idle_waiting_seconds`.
    IdleWaiting,
    /// `dcs_client_age_seconds`.
    Age,
    /// `dcs_client_output_memory_bytes`.
    OutputMemory,
    /// `dcs_client_query_buffer_bytes`.
    QueryBuffer,
    /// `dcs_client_output_memory_max_bytes`.
    OutputMemoryMax,
    /// `dcs_client_subscriptions`.
    Subscriptions,
    /// `dcs_top_clients_*`.
    TopClients,
    /// `dcs_slow_commands_*`.
    SlowCommands,
}

/// What `/metrics` shows of the target data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpositionSettings {
    pub histograms: HistogramMode,
    /// The families turned off.
    pub disabled: std::collections::BTreeSet<Family>,
}

impl ExpositionSettings {
    /// Whether `family` is shown.
    pub fn shows(&self, family: Family) -> bool {
        !self.disabled.contains(&family)
    }
}

/// Settings of the whole exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterSettings {
    pub scan_interval: Duration,
    /// A node's scan (job and all pages) ends by then.
    pub scan_timeout: Duration,
    /// A node's data series disappear this long after its last successful scan.
    pub stale_after: Duration,
    /// How often node lists (and discovered instances) are read again.
    pub discovery_interval: Duration,
    /// Targets' first scans are spread over this window (at most the interval), and keep that
    /// place in later cycles, so a large fleet does not start all at once.
    pub first_scan_spread: Duration,
    pub max_concurrent_scans: usize,
    /// Start a fresh scan (true) or reuse the stored list when there is one.
    pub clean_cache: bool,
    pub page_size: u32,
    pub max_client_addrs: usize,
    /// Client names a node with a series of their own (`dcs_clients_by_name`).
    pub max_client_names: usize,
    /// Last commands a node with a series of their own (`dcs_clients_by_command`).
    pub max_client_commands: usize,
    /// Sessions idle longer than this (and not waiting by design) count in
    /// `dcs_clients_idle`.
    pub idle_session_threshold: Duration,
    /// Series of `dcs_slow_commands_total` an instance may have.
    pub max_slow_command_series: usize,
    pub exposition: ExpositionSettings,
    pub top_clients: usize,
    pub client_addr_field: ClientAddrChoice,
    pub idle_buckets: Vec<f64>,
    pub age_buckets: Vec<f64>,
    pub bytes_buckets: Vec<f64>,
}

impl ExporterSettings {
    /// How far each instance's slow-command labels may spread.
    pub fn slow_caps(&self) -> crate::slowlog::SlowCaps {
        crate::slowlog::SlowCaps {
            addrs: self.max_client_addrs,
            commands: self.max_client_commands,
            series: self.max_slow_command_series,
        }
    }
}

/// Discovery of every DCS instance of a project.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// Only instances whose name matches.
    pub name_pattern: Option<regex::Regex>,
    /// Only instances carrying every one of these tags (sent to the API's `tags` filter).
    pub tags: Vec<(String, String)>,
    /// Only instances of this enterprise project (applied to the list's answer).
    pub enterprise_project_id: Option<String>,
    /// Only instances whose engine version is this one, or starts with it and a dot ("6"
    /// takes "6.0").
    pub engine_version: Option<String>,
}

/// A tag key as a label name: `tag_` and the key, every character outside `[a-zA-Z0-9_]` as
/// `_`.
pub fn tag_label(key: &str) -> String {
    let mut label = String::from("tag_");
    label.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    label
}

impl Discovery {
    /// Whether an instance of the list passes the filters applied here (not the tags, which
    /// the API applies).
    pub fn accepts(&self, instance: &crate::cloud::dcs::InstanceSummary) -> bool {
        let name = instance.name.as_deref().unwrap_or_default();
        let version = instance.engine_version.as_deref().unwrap_or_default();
        self.name_pattern.as_ref().is_none_or(|p| p.is_match(name))
            && self
                .enterprise_project_id
                .as_deref()
                .is_none_or(|ep| instance.enterprise_project_id.as_deref() == Some(ep))
            && self.engine_version.as_deref().is_none_or(|v| {
                version == v
                    || version
                        .strip_prefix(v)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

impl PartialEq for Discovery {
    fn eq(&self, other: &Self) -> bool {
        self.tags == other.tags
            && self.enterprise_project_id == other.enterprise_project_id
            && self.engine_version == other.engine_version
            && self.name_pattern.as_ref().map(regex::Regex::as_str)
                == other.name_pattern.as_ref().map(regex::Regex::as_str)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DcsInstance {
    pub id: String,
    /// Explicit nodes; discovered from logical-nodes when empty.
    pub nodes: Vec<String>,
}

/// One account and project in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Cloud {
    pub name: String,
    pub region: String,
    pub project_id: String,
    pub endpoints: Endpoints,
    /// Environment variables holding the credentials, when not the standard ones.
    pub credentials: EnvNames,
    /// Where the credentials come from.
    pub credential_source: CredentialSource,
    /// The SDK's credentials file, when not the default one.
    pub credentials_file: Option<std::path::PathBuf>,
    /// The metadata service, when not at its link-local address (`credentials = "metadata"`).
    pub metadata_endpoint: Option<reqwest::Url>,
    /// STS for OIDC, when not `$HUAWEICLOUD_SDK_STS_ENDPOINT` or the region's.
    pub sts_endpoint: Option<reqwest::Url>,
    /// IAM for `assume_agency`, when not `$HUAWEICLOUD_SDK_IAM_ENDPOINT` or the region's.
    pub iam_endpoint: Option<reqwest::Url>,
    /// Another account's agency, assumed with this account's credentials.
    pub assume_agency: Option<crate::cloud::credentials::AssumeAgency>,
    /// Tag keys exported as `tag_<key>` labels of `dcs_instance_info`.
    pub export_tags: Vec<String>,
    /// Reads the slow log of instances whose details say they keep one.
    pub slow_log: bool,
    /// Reads DCS's key analyses of each instance (`None`: `key_analysis = false`).
    pub key_analysis: Option<KeyAnalysis>,
    /// The most bytes one read of an instance's slow log keeps, all its pages together.
    pub max_slow_log_read_bytes: u64,
    /// API requests a second from this account, all calls together.
    pub requests_per_second: f64,
    pub proxy: Option<String>,
    pub discovery: Option<Discovery>,
    pub dcs_instances: Vec<DcsInstance>,
    pub dbss_resources: Vec<String>,
}

/// Where a Redis password is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    /// Read at every connection, so a rotated password is picked up.
    File(std::path::PathBuf),
}

/// A self-managed Redis (or any server that answers `CLIENT LIST`), scanned directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// The `instance_id` of its series.
    pub name: String,
    /// Without a password.
    pub url: String,
    /// `host:port`: the `node_id` of its series.
    pub node_id: String,
    pub username: Option<String>,
    pub password: Option<PasswordSource>,
    /// The server's `maxclients` and `timeout` where CONFIG GET cannot read them (renamed or
    /// forbidden, as on managed services).
    pub max_clients: Option<u64>,
    pub idle_timeout: Option<std::time::Duration>,
    /// Reads `SLOWLOG GET` at every scan.
    pub slow_log: bool,
    /// What the replies of one scan may hold in memory, all together (a key walk's: one batch).
    pub max_scan_bytes: u64,
    /// The exporter's own walk of the server's keys (`None`: off).
    pub key_scan: Option<KeyScanSettings>,
}

/// A node the remediation webhook may act on; `node_id = "*"` allows every node of the
/// instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedNode {
    pub instance_id: String,
    pub node_id: String,
}

/// Where the webhook's bearer token is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Env(String),
    File(std::path::PathBuf),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RemediationSettings {
    /// Log and count what would be done, and do nothing (the default).
    pub dry_run: bool,
    pub cooldown: Duration,
    pub max_actions_per_hour: usize,
    pub allow: Vec<AllowedNode>,
    pub token: TokenSource,
}

/// A secret (a password, a token) that cannot be read from where the configuration says.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{owner}: the {what} variable {var} is not set")]
    Unset {
        owner: String,
        what: &'static str,
        var: String,
    },
    #[error("{owner}: cannot read the {what} file {}: {error}", .path.display())]
    Unreadable {
        owner: String,
        what: &'static str,
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{owner}: the {what} must be at least {min} characters")]
    TooShort {
        owner: String,
        what: &'static str,
        min: usize,
    },
}

impl RedisTarget {
    /// The endpoint with its current password: a variable is read as it is now, a file
    /// each time (so a rotated password is picked up).
    pub fn endpoint(&self) -> Result<crate::redis::RedisEndpoint, SecretError> {
        let owner = || format!("redis {}", self.name);
        let password = match &self.password {
            Some(PasswordSource::Env(var)) => {
                Some(std::env::var(var).map_err(|_| SecretError::Unset {
                    owner: owner(),
                    what: "password",
                    var: var.clone(),
                })?)
            }
            Some(PasswordSource::File(path)) => Some(
                read_bounded(path, MAX_FILE_BYTES)
                    .map_err(|error| SecretError::Unreadable {
                        owner: owner(),
                        what: "password",
                        path: path.clone(),
                        error,
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => None,
        };
        Ok(crate::redis::RedisEndpoint {
            url: self.url.clone(),
            username: self.username.clone(),
            password: password.map(crate::cloud::Secret::new),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub exporter: ExporterSettings,
    pub clouds: Vec<Cloud>,
    pub redis: Vec<RedisTarget>,
    /// The Alertmanager webhook; off when `None`.
    pub remediation: Option<RemediationSettings>,
}

/// A configuration error, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl fmt::Display, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A TOML error by position and key, never by quoting the line: the line may hold a secret.
/// Quoted values in the message (`invalid type: string "..."`) are left out for the same reason.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("a valid pattern")
    });
    let message = QUOTED.replace_all(e.message().trim(), "(value not shown)");
    let Some(span) = e.span() else {
        return message.into_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or_default();
    let key = line_text
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| !key.is_empty() && key.len() <= 64 && !key.contains(['"', '\'']))
        .map(|key| format!(" (key {key})"))
        .unwrap_or_default();
    format!("line {line}, column {column}{key}: {message}")
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = read_bounded(path, MAX_FILE_BYTES).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: shown,
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "config".into(),
            message: describe_toml_error(text, &e),
        })?;
        raw.validate()
    }
}
