//! The configuration file as written, before validation.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::{
    AllowedNode, Cloud, Config, ConfigError, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
    DcsInstance, Discovery, ExporterSettings, PasswordSource, RedisTarget, RemediationSettings,
    TokenSource, invalid,
};
use crate::cloud::Endpoints;
use crate::cloud::credentials::{AgencyDomain, AssumeAgency, CredentialSource, EnvNames};
use crate::cloud::dcs::MAX_PAGE_SIZE;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    exporter: RawExporter,
    #[serde(default)]
    cloud: Vec<RawCloud>,
    #[serde(default)]
    redis: Vec<RawRedis>,
    remediation: Option<RawRemediation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemediation {
    #[serde(default)]
    enabled: bool,
    dry_run: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    cooldown: Option<Duration>,
    max_actions_per_hour: Option<usize>,
    token_env: Option<String>,
    token_file: Option<std::path::PathBuf>,
    #[serde(default)]
    allow: Vec<RawAllowed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowed {
    instance_id: Option<String>,
    node_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    username_env: Option<String>,
    password_env: Option<String>,
    password_file: Option<std::path::PathBuf>,
    max_clients: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    idle_timeout: Option<Duration>,
    slow_log: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExporter {
    #[serde(default, with = "humantime_serde")]
    scan_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    scan_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    stale_after: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    discovery_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    first_scan_spread: Option<Duration>,
    max_concurrent_scans: Option<usize>,
    clean_cache: Option<bool>,
    page_size: Option<u32>,
    max_client_addrs: Option<usize>,
    max_client_names: Option<usize>,
    max_client_commands: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    idle_session_threshold: Option<Duration>,
    max_slow_command_series: Option<usize>,
    histograms: Option<super::HistogramMode>,
    #[serde(default)]
    disable: Vec<String>,
    top_clients: Option<usize>,
    client_addr_field: Option<super::ClientAddrChoice>,
    idle_buckets: Option<Vec<f64>>,
    age_buckets: Option<Vec<f64>>,
    bytes_buckets: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloud {
    name: Option<String>,
    region: Option<String>,
    project_id: Option<String>,
    dcs_endpoint: Option<String>,
    dbss_endpoint: Option<String>,
    access_key_env: Option<String>,
    secret_key_env: Option<String>,
    security_token_env: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<std::path::PathBuf>,
    metadata_endpoint: Option<String>,
    sts_endpoint: Option<String>,
    iam_endpoint: Option<String>,
    assume_agency: Option<RawAssumeAgency>,
    #[serde(default)]
    export_tags: Vec<String>,
    slow_log: Option<bool>,
    requests_per_second: Option<f64>,
    proxy: Option<String>,
    discovery: Option<RawDiscovery>,
    #[serde(default)]
    dcs_instance: Vec<RawInstance>,
    #[serde(default)]
    dbss_resource: Vec<RawResource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumeAgency {
    domain_name: Option<String>,
    domain_id: Option<String>,
    agency_name: Option<String>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    #[serde(default = "yes")]
    enabled: bool,
    name_pattern: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    enterprise_project_id: Option<String>,
    engine_version: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    id: Option<String>,
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Option<String>,
}

/// The default account rate: Huawei's API gateway allows more, and leaving room keeps other
/// tools of the same account from being throttled.
/// A ceiling: the rate halves on throttling and recovers (see `cloud::ratelimit`). It lets
/// 1,000 nodes be scanned within a minute.
const DEFAULT_REQUESTS_PER_SECOND: f64 = 100.0;

fn required(value: Option<String>, key: &str) -> Result<String, ConfigError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(key, "is required")),
    }
}

fn buckets(value: Option<Vec<f64>>, default: &[f64], key: &str) -> Result<Vec<f64>, ConfigError> {
    let Some(bounds) = value else {
        return Ok(default.to_vec());
    };
    if bounds.is_empty() || bounds.len() > 40 {
        return Err(invalid(key, "must list 1 to 40 bucket bounds"));
    }
    if bounds.iter().any(|b| !b.is_finite() || *b < 0.0) {
        return Err(invalid(key, "bounds must be finite and not negative"));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(key, "bounds must be strictly increasing"));
    }
    Ok(bounds)
}

fn env_name(value: Option<String>, key: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            Err(invalid(key, "must be an environment variable name"))
        }
        other => Ok(other),
    }
}

impl RawConfig {
    pub fn validate(self) -> Result<Config, ConfigError> {
        let e = self.exporter;
        let scan_interval = e.scan_interval.unwrap_or(Duration::from_secs(60));
        if scan_interval < Duration::from_secs(1) || scan_interval > Duration::from_secs(86_400) {
            return Err(invalid(
                "exporter.scan_interval",
                "must be between 1s and 24h",
            ));
        }
        let scan_timeout = e.scan_timeout.unwrap_or(scan_interval.mul_f64(0.75));
        if scan_timeout.is_zero() || scan_timeout > scan_interval {
            return Err(invalid(
                "exporter.scan_timeout",
                "must be more than 0 and at most scan_interval",
            ));
        }
        let stale_after = e.stale_after.unwrap_or(scan_interval * 3);
        if stale_after > Duration::from_secs(30 * 86_400) {
            return Err(invalid("exporter.stale_after", "must be at most 30 days"));
        }
        if stale_after < scan_interval {
            return Err(invalid(
                "exporter.stale_after",
                "must be at least scan_interval",
            ));
        }
        let discovery_interval = e.discovery_interval.unwrap_or(Duration::from_secs(600));
        if discovery_interval < Duration::from_secs(1) {
            return Err(invalid(
                "exporter.discovery_interval",
                "must be at least 1s",
            ));
        }
        // Scans mostly wait on jobs; a scan holds at most one page of sessions at a time.
        let max_concurrent_scans = e.max_concurrent_scans.unwrap_or(64);
        if !(1..=1024).contains(&max_concurrent_scans) {
            return Err(invalid(
                "exporter.max_concurrent_scans",
                "must be between 1 and 1024",
            ));
        }
        let page_size = e.page_size.unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(invalid("exporter.page_size", "must be between 1 and 1000"));
        }
        let max_client_names = e.max_client_names.unwrap_or(20);
        let max_client_commands = e.max_client_commands.unwrap_or(20);
        for (key, value) in [
            ("exporter.max_client_names", max_client_names),
            ("exporter.max_client_commands", max_client_commands),
        ] {
            if value > 1_000 {
                return Err(invalid(
                    key,
                    "must be at most 1000 (each is a series a node)",
                ));
            }
        }
        let max_client_addrs = e.max_client_addrs.unwrap_or(50);
        if max_client_addrs > 10_000 {
            return Err(invalid(
                "exporter.max_client_addrs",
                "must be at most 10000",
            ));
        }
        let idle_session_threshold = e
            .idle_session_threshold
            .unwrap_or(Duration::from_secs(3600));
        if idle_session_threshold < Duration::from_secs(1) {
            return Err(invalid(
                "exporter.idle_session_threshold",
                "must be at least 1s",
            ));
        }
        let max_slow_command_series = e.max_slow_command_series.unwrap_or(200);
        if !(1..=100_000).contains(&max_slow_command_series) {
            return Err(invalid(
                "exporter.max_slow_command_series",
                "must be between 1 and 100000",
            ));
        }
        for name in &e.disable {
            if !super::SWITCHABLE_FAMILIES.contains(&name.as_str()) {
                return Err(invalid(
                    "exporter.disable",
                    format!(
                        "{name:?} is no family that can be turned off ({})",
                        super::SWITCHABLE_FAMILIES.join(", ")
                    ),
                ));
            }
        }
        let exposition = super::ExpositionSettings {
            histograms: e.histograms.unwrap_or_default(),
            disabled: e.disable.iter().cloned().collect(),
        };
        let top_clients = e.top_clients.unwrap_or(5);
        if top_clients > 100 {
            return Err(invalid("exporter.top_clients", "must be at most 100"));
        }
        let exporter = ExporterSettings {
            scan_interval,
            scan_timeout,
            stale_after,
            discovery_interval,
            first_scan_spread: e
                .first_scan_spread
                .unwrap_or(Duration::from_secs(10))
                .min(scan_interval),
            max_concurrent_scans,
            clean_cache: e.clean_cache.unwrap_or(true),
            page_size,
            max_client_addrs,
            max_client_names,
            max_client_commands,
            idle_session_threshold,
            max_slow_command_series,
            exposition,
            top_clients,
            client_addr_field: e.client_addr_field.unwrap_or_default(),
            idle_buckets: buckets(
                e.idle_buckets,
                &DEFAULT_SECONDS_BUCKETS,
                "exporter.idle_buckets",
            )?,
            age_buckets: buckets(
                e.age_buckets,
                &DEFAULT_SECONDS_BUCKETS,
                "exporter.age_buckets",
            )?,
            bytes_buckets: buckets(
                e.bytes_buckets,
                &DEFAULT_BYTES_BUCKETS,
                "exporter.bytes_buckets",
            )?,
        };

        let mut names = HashSet::new();
        let mut instance_ids = HashSet::new();
        let mut clouds = Vec::new();
        for (i, c) in self.cloud.into_iter().enumerate() {
            let at = format!("cloud[{i}]");
            let name = required(c.name, &format!("{at}.name"))?;
            if !names.insert(name.clone()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("{name:?} is used twice"),
                ));
            }
            let at = format!("cloud[{name}]");
            let project_id = required(c.project_id, &format!("{at}.project_id"))?;
            let region = c.region.map(|r| r.trim().to_string()).unwrap_or_default();
            if region.is_empty() && (c.dcs_endpoint.is_none() || c.dbss_endpoint.is_none()) {
                return Err(invalid(
                    format!("{at}.region"),
                    "is required unless dcs_endpoint and dbss_endpoint are both given",
                ));
            }
            let endpoints = Endpoints::for_region(
                &region,
                c.dcs_endpoint.as_deref(),
                c.dbss_endpoint.as_deref(),
            )
            .map_err(|e| invalid(format!("{at}.region/endpoints"), e.to_string()))?;
            let requests_per_second = c.requests_per_second.unwrap_or(DEFAULT_REQUESTS_PER_SECOND);
            let lowest = crate::cloud::ratelimit::MIN_PER_SECOND;
            if !(lowest..=10_000.0).contains(&requests_per_second) {
                return Err(invalid(
                    format!("{at}.requests_per_second"),
                    format!("must be between {lowest} and 10000"),
                ));
            }
            if let Some(proxy) = &c.proxy {
                let url = reqwest::Url::parse(proxy)
                    .map_err(|e| invalid(format!("{at}.proxy"), e.to_string()))?;
                if let Some(problem) = crate::cloud::endpoints::url_credentials(&url, false) {
                    return Err(invalid(format!("{at}.proxy"), problem));
                }
            }
            let source = match c.credentials.as_deref() {
                None => CredentialSource::Auto,
                Some(name) => CredentialSource::parse(name).ok_or_else(|| {
                    invalid(
                        format!("{at}.credentials"),
                        format!("must be one of {}", CredentialSource::NAMES.join(", ")),
                    )
                })?,
            };
            let endpoint = |value: Option<String>, key: &str| {
                value
                    .map(|v| {
                        crate::cloud::endpoints::http_url(&v)
                            .map_err(|e| invalid(format!("{at}.{key}"), e.to_string()))
                    })
                    .transpose()
            };
            let metadata_endpoint = endpoint(c.metadata_endpoint, "metadata_endpoint")?;
            if metadata_endpoint.is_some() && source != CredentialSource::Metadata {
                return Err(invalid(
                    format!("{at}.metadata_endpoint"),
                    "applies to credentials = \"metadata\" only",
                ));
            }
            let sts_endpoint = endpoint(c.sts_endpoint, "sts_endpoint")?;
            let iam_endpoint = endpoint(c.iam_endpoint, "iam_endpoint")?;
            let assume_agency = c
                .assume_agency
                .map(|a| {
                    let key = format!("{at}.assume_agency");
                    let domain = match (a.domain_name, a.domain_id) {
                        (Some(name), None) if !name.trim().is_empty() => AgencyDomain::Name(name),
                        (None, Some(id)) if !id.trim().is_empty() => AgencyDomain::Id(id),
                        _ => {
                            return Err(invalid(
                                &key,
                                "needs exactly one of domain_name and domain_id",
                            ));
                        }
                    };
                    let agency_name = required(a.agency_name, &format!("{key}.agency_name"))?;
                    let duration = a.duration.unwrap_or(Duration::from_secs(3600));
                    if !(900..=86_400).contains(&duration.as_secs()) {
                        return Err(invalid(
                            format!("{key}.duration"),
                            "must be between 15m and 24h",
                        ));
                    }
                    Ok(AssumeAgency {
                        domain,
                        agency_name,
                        duration,
                    })
                })
                .transpose()?;
            let names_env = c.access_key_env.is_some()
                || c.secret_key_env.is_some()
                || c.security_token_env.is_some();
            if source == CredentialSource::Profile && names_env {
                return Err(invalid(
                    format!("{at}.credentials"),
                    "profile reads the credentials file: access_key_env, secret_key_env and security_token_env do not apply",
                ));
            }
            let provider_source = matches!(
                source,
                CredentialSource::Metadata | CredentialSource::PodIdentity | CredentialSource::Oidc
            );
            if provider_source && names_env {
                return Err(invalid(
                    format!("{at}.credentials"),
                    format!(
                        "{} obtains its own credentials: access_key_env, secret_key_env and security_token_env do not apply",
                        source.as_str()
                    ),
                ));
            }
            if (source == CredentialSource::Env || provider_source) && c.credentials_file.is_some()
            {
                return Err(invalid(
                    format!("{at}.credentials_file"),
                    "applies to credentials = \"profile\" or \"auto\" only",
                ));
            }
            let discovery = match c.discovery {
                Some(d) if d.enabled => Some(Discovery {
                    name_pattern: d
                        .name_pattern
                        .map(|p| regex::Regex::new(&p))
                        .transpose()
                        .map_err(|e| {
                            invalid(format!("{at}.discovery.name_pattern"), e.to_string())
                        })?,
                    tags: d
                        .tags
                        .iter()
                        .map(|pair| {
                            pair.split_once('=')
                                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                                .filter(|(k, _)| !k.is_empty() && !k.contains(','))
                                .filter(|(_, v)| !v.contains(','))
                                .ok_or_else(|| {
                                    invalid(
                                        format!("{at}.discovery.tags"),
                                        "each must be key=value (no commas)",
                                    )
                                })
                        })
                        .collect::<Result<_, _>>()?,
                    enterprise_project_id: d.enterprise_project_id,
                    engine_version: d.engine_version,
                }),
                _ => None,
            };
            let mut dcs_instances = Vec::new();
            for (j, inst) in c.dcs_instance.into_iter().enumerate() {
                let key = format!("{at}.dcs_instance[{j}]");
                let id = required(inst.id, &format!("{key}.id"))?;
                if !instance_ids.insert(id.clone()) {
                    return Err(invalid(
                        format!("{key}.id"),
                        format!("{id:?} is listed twice"),
                    ));
                }
                let mut seen = HashSet::new();
                for node in &inst.nodes {
                    if node.trim().is_empty() || !seen.insert(node) {
                        return Err(invalid(
                            format!("{key}.nodes"),
                            "node ids must be non-empty and listed once",
                        ));
                    }
                }
                dcs_instances.push(DcsInstance {
                    id,
                    nodes: inst.nodes,
                });
            }
            let mut dbss_resources = Vec::new();
            for (j, r) in c.dbss_resource.into_iter().enumerate() {
                let key = format!("{at}.dbss_resource[{j}].id");
                let id = required(r.id, &key)?;
                if dbss_resources.contains(&id) {
                    return Err(invalid(key, format!("{id:?} is listed twice")));
                }
                dbss_resources.push(id);
            }
            if dcs_instances.is_empty() && dbss_resources.is_empty() && discovery.is_none() {
                return Err(invalid(
                    &at,
                    "has nothing to scan: add dcs_instance, dbss_resource or discovery",
                ));
            }
            clouds.push(Cloud {
                name,
                region,
                project_id,
                endpoints,
                credentials: EnvNames {
                    access_key: env_name(c.access_key_env, &format!("{at}.access_key_env"))?,
                    secret_key: env_name(c.secret_key_env, &format!("{at}.secret_key_env"))?,
                    security_token: env_name(
                        c.security_token_env,
                        &format!("{at}.security_token_env"),
                    )?,
                },
                credential_source: source,
                credentials_file: c.credentials_file,
                metadata_endpoint,
                sts_endpoint,
                iam_endpoint,
                assume_agency,
                export_tags: {
                    let mut seen = HashSet::new();
                    for key in &c.export_tags {
                        if key.trim().is_empty() || !seen.insert(super::tag_label(key)) {
                            return Err(invalid(
                                format!("{at}.export_tags"),
                                "keys must be non-empty and give distinct labels (tag_ and the key, other characters than letters, digits and _ as _)",
                            ));
                        }
                    }
                    c.export_tags
                },
                slow_log: c.slow_log.unwrap_or(true),
                requests_per_second,
                proxy: c.proxy,
                discovery,
                dcs_instances,
                dbss_resources,
            });
        }
        let mut redis = Vec::new();
        for (i, r) in self.redis.into_iter().enumerate() {
            let name = required(r.name, &format!("redis[{i}].name"))?;
            let at = format!("redis[{name}]");
            if instance_ids.contains(&name) || redis.iter().any(|t: &RedisTarget| t.name == name) {
                return Err(invalid(
                    format!("{at}.name"),
                    "is used twice (names are instance ids)",
                ));
            }
            let url = required(r.url, &format!("{at}.url"))?;
            // Checked first: no message below may echo a URL that holds a secret.
            let secret = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| crate::cloud::endpoints::url_credentials(&u, true));
            if secret.is_some() || crate::redis::url_has_password(&url) {
                return Err(invalid(
                    format!("{at}.url"),
                    format!(
                        "{}: use password_env or password_file",
                        secret.unwrap_or("must not hold a password")
                    ),
                ));
            }
            let node_id =
                crate::redis::host_port(&url).map_err(|e| invalid(format!("{at}.url"), e))?;
            let username = match (
                r.username,
                env_name(r.username_env, &format!("{at}.username_env"))?,
            ) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("{at}.username"),
                        "give username or username_env, not both",
                    ));
                }
                (Some(u), None) => Some(u),
                (None, Some(var)) => Some(std::env::var(&var).map_err(|_| {
                    invalid(format!("{at}.username_env"), format!("{var} is not set"))
                })?),
                (None, None) => None,
            };
            let password = match (
                env_name(r.password_env, &format!("{at}.password_env"))?,
                r.password_file,
            ) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("{at}.password_env"),
                        "give password_env or password_file, not both",
                    ));
                }
                (Some(var), None) => Some(PasswordSource::Env(var)),
                (None, Some(path)) => Some(PasswordSource::File(path)),
                (None, None) => None,
            };
            if r.max_clients == Some(0) {
                return Err(invalid(format!("{at}.max_clients"), "must be at least 1"));
            }
            redis.push(RedisTarget {
                name,
                url,
                node_id,
                username,
                password,
                max_clients: r.max_clients,
                idle_timeout: r.idle_timeout,
                slow_log: r.slow_log.unwrap_or(true),
            });
        }
        let remediation = match self.remediation {
            Some(r) if r.enabled => {
                let token = match (
                    env_name(r.token_env, "remediation.token_env")?,
                    r.token_file,
                ) {
                    (Some(var), None) => TokenSource::Env(var),
                    (None, Some(path)) => TokenSource::File(path),
                    _ => {
                        return Err(invalid(
                            "remediation.token_env",
                            "give token_env or token_file (one of them): the webhook needs a bearer token",
                        ));
                    }
                };
                let mut allow = Vec::new();
                for (i, a) in r.allow.into_iter().enumerate() {
                    let key = format!("remediation.allow[{i}].instance_id");
                    let instance_id = required(a.instance_id, &key)?;
                    if instance_id.contains('*') {
                        return Err(invalid(
                            key,
                            "names one instance: a wildcard is allowed for node_id only",
                        ));
                    }
                    allow.push(AllowedNode {
                        instance_id,
                        node_id: required(a.node_id, &format!("remediation.allow[{i}].node_id"))?,
                    });
                }
                if allow.is_empty() {
                    return Err(invalid(
                        "remediation.allow",
                        "list at least one node the webhook may act on",
                    ));
                }
                let max_actions_per_hour = r.max_actions_per_hour.unwrap_or(10);
                if !(1..=1000).contains(&max_actions_per_hour) {
                    return Err(invalid(
                        "remediation.max_actions_per_hour",
                        "must be between 1 and 1000",
                    ));
                }
                Some(RemediationSettings {
                    dry_run: r.dry_run.unwrap_or(true),
                    cooldown: r.cooldown.unwrap_or(Duration::from_secs(600)),
                    max_actions_per_hour,
                    allow,
                    token,
                })
            }
            _ => None,
        };
        if clouds.is_empty() && redis.is_empty() {
            return Err(invalid(
                "cloud",
                "at least one [[cloud]] or [[redis]] is required",
            ));
        }
        Ok(Config {
            exporter,
            clouds,
            redis,
            remediation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const GOOD: &str = r#"
        [exporter]
        scan_interval = "30s"
        top_clients = 3
        client_addr_field = "peer"
        [[cloud]]
        name = "prod"
        region = "cn-north-4"
        project_id = "p1"
        [[cloud.dcs_instance]]
        id = "i1"
        nodes = ["n1", "n2"]
        [[cloud.dbss_resource]]
        id = "r1"
    "#;

    #[test]
    fn defaults_and_values() {
        let c = Config::from_toml(GOOD).unwrap();
        let e = &c.exporter;
        assert_eq!(e.scan_interval.as_secs(), 30);
        assert_eq!(e.stale_after.as_secs(), 90);
        assert_eq!(e.max_client_addrs, 50);
        assert_eq!(e.top_clients, 3);
        assert_eq!(e.idle_buckets.len(), 12);
        assert_eq!(
            c.clouds[0].endpoints.dcs.as_str(),
            "https://dcs.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(c.clouds[0].dcs_instances[0].nodes, ["n1", "n2"]);
        let with_redis = format!(
            "{GOOD}[[redis]]\nname = \"cache-a\"\nurl = \"redis://10.0.0.5:6380/2\"\npassword_file = \"/run/pw\"\n"
        );
        let r = &Config::from_toml(&with_redis).unwrap().redis[0];
        assert_eq!(r.node_id, "10.0.0.5:6380");
        assert!(matches!(
            r.password,
            Some(super::super::PasswordSource::File(_))
        ));
    }

    fn redis_target(url: &str, name: &str) -> String {
        format!("{GOOD}[[redis]]\nname = \"{name}\"\nurl = \"{url}\"\n")
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                GOOD.replace("top_clients = 3", "top_client = 3"),
                "top_client",
            ),
            (GOOD.replace("\"30s\"", "\"30 parsecs\""), "scan_interval"),
            (
                GOOD.replace("top_clients = 3", "top_clients = 1000"),
                "exporter.top_clients",
            ),
            (
                GOOD.replace("project_id = \"p1\"", ""),
                "cloud[prod].project_id",
            ),
            (
                GOOD.replace("\"n2\"", "\"n1\""),
                "cloud[prod].dcs_instance[0].nodes",
            ),
            (
                GOOD.replace("[exporter]", "[exporter]\nidle_buckets = [5, 1]"),
                "exporter.idle_buckets",
            ),
            (
                GOOD.replace("[exporter]", "[exporter]\nscan_timeout = \"2m\""),
                "exporter.scan_timeout",
            ),
            (
                GOOD.replace("region = \"cn-north-4\"", "region = \"cn north\""),
                "cloud[prod].region",
            ),
            ("[exporter]\n".to_string(), "cloud"),
            (redis_target("redis://:pw@h:6379", "r"), "redis[r].url"),
            (redis_target("redis://h:6379", "i1"), "redis[i1].name"),
            (redis_target("http://h", "r"), "redis[r].url"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
