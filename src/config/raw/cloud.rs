//! `[[cloud]]`: one account and project in one region, how its API is reached and where its
//! credentials come from; its tables are checked in their own files.

use std::collections::HashSet;

use serde::Deserialize;

use super::assume_agency::RawAssumeAgency;
use super::discovery::RawDiscovery;
use super::key_analysis::RawKeyAnalysis;
use super::targets::{RawInstance, RawResource, dbss_resources, dcs_instances};
use super::values::{env_name, required};
use crate::cloud::Endpoints;
use crate::cloud::credentials::{AssumeAgency, CredentialSource, EnvNames};
use crate::config::{Cloud, ConfigError, invalid, tag_label};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCloud {
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
    key_analysis: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    key_analysis_interval: Option<std::time::Duration>,
    key_names: Option<String>,
    key_delimiters: Option<Vec<String>>,
    max_key_series: Option<usize>,
    max_key_prefixes: Option<usize>,
    key_analysis_trigger: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    key_analysis_trigger_interval: Option<std::time::Duration>,
    key_analysis_on_single_node: Option<bool>,
    max_slow_log_read_bytes: Option<u64>,
    requests_per_second: Option<f64>,
    proxy: Option<String>,
    discovery: Option<RawDiscovery>,
    #[serde(default)]
    dcs_instance: Vec<RawInstance>,
    #[serde(default)]
    dbss_resource: Vec<RawResource>,
}

/// The default account rate: Huawei's API gateway allows more, and leaving room keeps other
/// tools of the same account from being throttled.
/// A ceiling: the rate halves on throttling and recovers (see `cloud::ratelimit`). It lets
/// 1,000 nodes be scanned within a minute.
const DEFAULT_REQUESTS_PER_SECOND: f64 = 100.0;

/// How the cloud's API is reached.
struct Api {
    region: String,
    endpoints: Endpoints,
    requests_per_second: f64,
}

/// Where the cloud's credentials come from, and what that source uses.
struct Access {
    source: CredentialSource,
    metadata_endpoint: Option<reqwest::Url>,
    sts_endpoint: Option<reqwest::Url>,
    iam_endpoint: Option<reqwest::Url>,
    assume_agency: Option<AssumeAgency>,
}

impl RawCloud {
    /// The `index`th cloud, checked. `names` holds the names of the clouds before it, and
    /// `instance_ids` the instances they list (the `[[redis]]` names are checked against
    /// them after).
    pub(super) fn validate(
        self,
        index: usize,
        names: &mut HashSet<String>,
        instance_ids: &mut HashSet<String>,
    ) -> Result<Cloud, ConfigError> {
        let at = format!("cloud[{index}]");
        let name = required(self.name.as_deref(), &format!("{at}.name"))?;
        if !names.insert(name.clone()) {
            return Err(invalid(
                format!("{at}.name"),
                format!("{name:?} is used twice"),
            ));
        }
        // Named now: later keys say which cloud by its name, not its place.
        let at = format!("cloud[{name}]");
        let project_id = required(self.project_id.as_deref(), &format!("{at}.project_id"))?;
        let api = self.api(&at)?;
        let access = self.access(&at)?;
        let discovery = match self.discovery {
            Some(d) => d.validate(&at)?,
            None => None,
        };
        let key_analysis = RawKeyAnalysis {
            key_analysis: self.key_analysis,
            key_analysis_interval: self.key_analysis_interval,
            key_names: self.key_names,
            key_delimiters: self.key_delimiters,
            max_key_series: self.max_key_series,
            max_key_prefixes: self.max_key_prefixes,
            key_analysis_trigger: self.key_analysis_trigger,
            key_analysis_trigger_interval: self.key_analysis_trigger_interval,
            key_analysis_on_single_node: self.key_analysis_on_single_node,
        }
        .validate(&at)?;
        let dcs_instances = dcs_instances(self.dcs_instance, &at, instance_ids)?;
        let dbss_resources = dbss_resources(self.dbss_resource, &at)?;
        if dcs_instances.is_empty() && dbss_resources.is_empty() && discovery.is_none() {
            return Err(invalid(
                &at,
                "has nothing to scan: add dcs_instance, dbss_resource or discovery",
            ));
        }
        Ok(Cloud {
            name,
            region: api.region,
            project_id,
            endpoints: api.endpoints,
            credentials: EnvNames {
                access_key: env_name(self.access_key_env, &format!("{at}.access_key_env"))?,
                secret_key: env_name(self.secret_key_env, &format!("{at}.secret_key_env"))?,
                security_token: env_name(
                    self.security_token_env,
                    &format!("{at}.security_token_env"),
                )?,
            },
            credential_source: access.source,
            credentials_file: self.credentials_file,
            metadata_endpoint: access.metadata_endpoint,
            sts_endpoint: access.sts_endpoint,
            iam_endpoint: access.iam_endpoint,
            assume_agency: access.assume_agency,
            export_tags: export_tags(self.export_tags, &at)?,
            slow_log: self.slow_log.unwrap_or(true),
            key_analysis,
            max_slow_log_read_bytes: slow_log_read_bytes(self.max_slow_log_read_bytes, &at)?,
            requests_per_second: api.requests_per_second,
            proxy: self.proxy,
            discovery,
            dcs_instances,
            dbss_resources,
        })
    }

    /// The region and its endpoints (or the endpoints given), the request rate, the proxy.
    fn api(&self, at: &str) -> Result<Api, ConfigError> {
        let region = self
            .region
            .as_deref()
            .map(|r| r.trim().to_string())
            .unwrap_or_default();
        if region.is_empty() && (self.dcs_endpoint.is_none() || self.dbss_endpoint.is_none()) {
            return Err(invalid(
                format!("{at}.region"),
                "is required unless dcs_endpoint and dbss_endpoint are both given",
            ));
        }
        let endpoints = Endpoints::for_region(
            &region,
            self.dcs_endpoint.as_deref(),
            self.dbss_endpoint.as_deref(),
        )
        .map_err(|e| invalid(format!("{at}.region/endpoints"), e.to_string()))?;
        let requests_per_second = self
            .requests_per_second
            .unwrap_or(DEFAULT_REQUESTS_PER_SECOND);
        let lowest = crate::cloud::ratelimit::MIN_PER_SECOND;
        if !(lowest..=10_000.0).contains(&requests_per_second) {
            return Err(invalid(
                format!("{at}.requests_per_second"),
                format!("must be between {lowest} and 10000"),
            ));
        }
        if let Some(proxy) = &self.proxy {
            let url = reqwest::Url::parse(proxy)
                .map_err(|e| invalid(format!("{at}.proxy"), e.to_string()))?;
            if let Some(problem) = crate::cloud::endpoints::url_credentials(&url, false) {
                return Err(invalid(format!("{at}.proxy"), problem));
            }
        }
        Ok(Api {
            region,
            endpoints,
            requests_per_second,
        })
    }

    /// The credential source and its endpoints and agency; a key the source does not use is
    /// an error, since it would look as if it did something.
    fn access(&self, at: &str) -> Result<Access, ConfigError> {
        let source = match self.credentials.as_deref() {
            None => CredentialSource::Auto,
            Some(name) => CredentialSource::parse(name).ok_or_else(|| {
                invalid(
                    format!("{at}.credentials"),
                    format!("must be one of {}", CredentialSource::NAMES.join(", ")),
                )
            })?,
        };
        let endpoint = |value: Option<&str>, key: &str| {
            value
                .map(|v| {
                    crate::cloud::endpoints::http_url(v)
                        .map_err(|e| invalid(format!("{at}.{key}"), e.to_string()))
                })
                .transpose()
        };
        let metadata_endpoint = endpoint(self.metadata_endpoint.as_deref(), "metadata_endpoint")?;
        if metadata_endpoint.is_some() && source != CredentialSource::Metadata {
            return Err(invalid(
                format!("{at}.metadata_endpoint"),
                "applies to credentials = \"metadata\" only",
            ));
        }
        let sts_endpoint = endpoint(self.sts_endpoint.as_deref(), "sts_endpoint")?;
        let iam_endpoint = endpoint(self.iam_endpoint.as_deref(), "iam_endpoint")?;
        let assume_agency = self
            .assume_agency
            .as_ref()
            .map(|a| a.validate(&format!("{at}.assume_agency")))
            .transpose()?;
        let names_env = self.access_key_env.is_some()
            || self.secret_key_env.is_some()
            || self.security_token_env.is_some();
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
        if (source == CredentialSource::Env || provider_source) && self.credentials_file.is_some() {
            return Err(invalid(
                format!("{at}.credentials_file"),
                "applies to credentials = \"profile\" or \"auto\" only",
            ));
        }
        Ok(Access {
            source,
            metadata_endpoint,
            sts_endpoint,
            iam_endpoint,
            assume_agency,
        })
    }
}

/// The slow-log read budget: a read of one page of small entries needs 1 MiB; past 1 GiB a
/// budget bounds nothing.
fn slow_log_read_bytes(value: Option<u64>, at: &str) -> Result<u64, ConfigError> {
    const RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 30);
    let bytes = value.unwrap_or(crate::cloud::dcs::DEFAULT_SLOWLOG_READ_BYTES);
    if !RANGE.contains(&bytes) {
        return Err(invalid(
            format!("{at}.max_slow_log_read_bytes"),
            format!(
                "must be between {} (1 MiB) and {} (1 GiB)",
                RANGE.start(),
                RANGE.end()
            ),
        ));
    }
    Ok(bytes)
}

/// Tag keys for `dcs_instance_info`, each giving a label of its own.
fn export_tags(keys: Vec<String>, at: &str) -> Result<Vec<String>, ConfigError> {
    let mut seen = HashSet::new();
    for key in &keys {
        if key.trim().is_empty() || !seen.insert(tag_label(key)) {
            return Err(invalid(
                format!("{at}.export_tags"),
                "keys must be non-empty and give distinct labels (tag_ and the key, other characters than letters, digits and _ as _)",
            ));
        }
    }
    Ok(keys)
}
