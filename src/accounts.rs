//! One API client per `[[cloud]]`, built once from the validated configuration and shared by
//! the scheduler, the remediation webhook and the operator commands: each account has one rate
//! limiter and one throttling state, whoever calls. A reload keeps the clients of accounts whose
//! settings and credentials did not change, so their adapted rate goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cloud::credentials::providers::{self as p, Fetcher, IdToken, Oidc};
use crate::cloud::credentials::{
    CredentialCell, CredentialSource, CredentialsError, ProfileSection, Provider,
    default_profile_path_in,
};
use crate::cloud::{
    ApiClient, BuildError, ClientOptions, Credentials, RateLimiter, RequestObserver,
};
use crate::config::{Cloud, Config};

/// How a cloud obtains its credentials (from its configuration and the environment; the
/// demo's own).
pub type CredentialsFn = Arc<dyn Fn(&Cloud) -> Result<Provider, CredentialsError> + Send + Sync>;

/// How a cloud obtains its credentials, from its configuration and this process's
/// environment.
pub fn provider_from_env(cloud: &Cloud) -> Result<Provider, CredentialsError> {
    resolve_provider(cloud, &|name: &str| std::env::var(name).ok())
}

/// How a cloud obtains its credentials, with the environment read through `lookup`:
/// its source (for `auto`: the environment, the SDK's credentials file when it exists, pod
/// identity when its variables are set, then OIDC when its variables are set), and then the
/// agency it assumes, if any.
pub fn resolve_provider(
    cloud: &Cloud,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CredentialsError> {
    let base = base_provider(cloud, lookup)?;
    let Some(agency) = &cloud.assume_agency else {
        return Ok(base);
    };
    let iam = service_endpoint(
        cloud.iam_endpoint.as_ref(),
        p::IAM_ENDPOINT_VAR,
        "iam",
        &cloud.region,
        lookup,
    )?;
    Ok(Provider::Agency {
        base: Box::new(base),
        iam,
        agency: agency.clone(),
    })
}

fn base_provider(
    cloud: &Cloud,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CredentialsError> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let profile_path = || {
        cloud
            .credentials_file
            .clone()
            .or_else(|| default_profile_path_in(lookup))
    };
    let from_env = || match Credentials::from_lookup(&cloud.credentials, lookup) {
        Ok(credentials) => Ok(Provider::Static {
            source: CredentialSource::Env,
            credentials,
        }),
        // No keys: a federated id token, as Huawei's SDK reads it from the environment.
        Err(e) => match (set(p::IDP_ID_VAR), set(p::ID_TOKEN_FILE_VAR)) {
            (Some(idp_id), Some(file)) => federated(cloud, None, idp_id, file, lookup),
            _ => Err(e),
        },
    };
    match cloud.credential_source {
        CredentialSource::Env => from_env(),
        CredentialSource::Profile => {
            let path = profile_path().ok_or_else(|| CredentialsError::Profile {
                path: "~/.huaweicloud/credentials".into(),
                problem: "no HOME to find it in: set credentials_file".into(),
            })?;
            from_profile(cloud, &path, lookup)
        }
        CredentialSource::Metadata => Ok(Provider::Metadata {
            endpoint: cloud.metadata_endpoint.clone().unwrap_or_else(|| {
                reqwest::Url::parse(p::DEFAULT_METADATA_ENDPOINT).expect("a valid URL")
            }),
        }),
        CredentialSource::PodIdentity => pod_identity(lookup),
        CredentialSource::Oidc => oidc(cloud, lookup),
        CredentialSource::Auto => match from_env() {
            Ok(provider) => Ok(provider),
            Err(env_error) => {
                if let Some(path) = profile_path().filter(|p| p.exists()) {
                    from_profile(cloud, &path, lookup)
                } else if set(p::POD_IDENTITY_URI_VAR).is_some() {
                    pod_identity(lookup)
                } else if set(p::OIDC_PROVIDER_URN_VAR).is_some()
                    || set(p::OIDC_AGENCY_URN_VAR).is_some()
                {
                    oidc(cloud, lookup)
                } else {
                    Err(env_error)
                }
            }
        },
    }
}

/// The SDK's credentials file at `path`: its keys, else its federated id token (`idp_id`,
/// `id_token_file` and, optionally, `iam_endpoint`).
fn from_profile(
    cloud: &Cloud,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CredentialsError> {
    let problem = |problem: String| CredentialsError::Profile {
        path: path.display().to_string(),
        problem,
    };
    crate::config::warn_if_others_can_read(path, "the credentials file");
    let text = crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES)
        .map_err(|e| problem(e.to_string()))?;
    let section = ProfileSection::parse(&text).map_err(|e| problem(e.to_string()))?;
    match Credentials::from_profile(&section) {
        Ok(credentials) => Ok(Provider::Static {
            source: CredentialSource::Profile,
            credentials,
        }),
        Err(missing) => match (section.get("idp_id"), section.get("id_token_file")) {
            (Some(idp_id), Some(file)) => {
                let iam = section
                    .get("iam_endpoint")
                    .map(|url| {
                        crate::cloud::endpoints::http_url(url)
                            .map_err(|e| problem(format!("iam_endpoint {e}")))
                    })
                    .transpose()?;
                federated(cloud, iam, idp_id.to_string(), file.to_string(), lookup)
            }
            _ => Err(problem(missing.to_string())),
        },
    }
}

/// A federated id token exchanged through IAM: `iam` when the credentials file names one, else
/// the configured or the SDK's or the region's.
fn federated(
    cloud: &Cloud,
    iam: Option<reqwest::Url>,
    idp_id: String,
    file: String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CredentialsError> {
    let configured = iam.as_ref().or(cloud.iam_endpoint.as_ref());
    let iam = service_endpoint(
        configured,
        p::IAM_ENDPOINT_VAR,
        "iam",
        &cloud.region,
        lookup,
    )?;
    Ok(Provider::Federated {
        iam,
        idp_id,
        id_token_file: token_file(CredentialSource::Env, p::ID_TOKEN_FILE_VAR, file)?,
    })
}

fn provider_error(source: CredentialSource, problem: impl Into<String>) -> CredentialsError {
    CredentialsError::Provider {
        source_name: source.as_str(),
        problem: problem.into(),
    }
}

/// A token file that exists, with a warning when every user can read it.
fn token_file(
    source: CredentialSource,
    var: &str,
    path: String,
) -> Result<PathBuf, CredentialsError> {
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(provider_error(
            source,
            format!("{var} names {}, which is not a file", path.display()),
        ));
    }
    crate::config::warn_if_others_can_read(&path, "the token file");
    Ok(path)
}

fn pod_identity(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Provider, CredentialsError> {
    let source = CredentialSource::PodIdentity;
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let (Some(uri), Some(file)) = (
        set(p::POD_IDENTITY_URI_VAR),
        set(p::POD_IDENTITY_TOKEN_FILE_VAR),
    ) else {
        return Err(provider_error(
            source,
            format!(
                "set {} and {} (CCE sets both in pods with an identity)",
                p::POD_IDENTITY_URI_VAR,
                p::POD_IDENTITY_TOKEN_FILE_VAR
            ),
        ));
    };
    let uri = crate::cloud::endpoints::http_url(uri.trim())
        .map_err(|e| provider_error(source, format!("{} {e}", p::POD_IDENTITY_URI_VAR)))?;
    let token_file = token_file(source, p::POD_IDENTITY_TOKEN_FILE_VAR, file)?;
    Ok(Provider::PodIdentity { uri, token_file })
}

fn oidc(
    cloud: &Cloud,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CredentialsError> {
    let source = CredentialSource::Oidc;
    let set = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let need = |name: &str| set(name).ok_or_else(|| provider_error(source, format!("set {name}")));
    let provider_urn = need(p::OIDC_PROVIDER_URN_VAR)?;
    let agency_urn = need(p::OIDC_AGENCY_URN_VAR)?;
    let file_var = [p::OIDC_TOKEN_FILE_VAR, p::OIDC_ID_TOKEN_FILE_VAR]
        .into_iter()
        .find_map(|var| Some((var, set(var)?)));
    let id_token = match (set(p::OIDC_ID_TOKEN_VAR), file_var) {
        (Some(token), _) => IdToken::Value(crate::cloud::Secret::new(token)),
        (None, Some((var, file))) => IdToken::File(token_file(source, var, file)?),
        (None, None) => {
            return Err(provider_error(
                source,
                format!("set {} or {}", p::OIDC_ID_TOKEN_VAR, p::OIDC_TOKEN_FILE_VAR),
            ));
        }
    };
    let duration_seconds = match set(p::OIDC_DURATION_VAR) {
        Some(text) => text.parse::<u64>().ok().filter(|d| *d > 0).ok_or_else(|| {
            provider_error(
                source,
                format!("{} must be a number of seconds", p::OIDC_DURATION_VAR),
            )
        })?,
        None => p::DEFAULT_OIDC_DURATION_SECONDS,
    };
    let sts = service_endpoint(
        cloud.sts_endpoint.as_ref(),
        p::STS_ENDPOINT_VAR,
        "sts",
        &cloud.region,
        lookup,
    )?;
    Ok(Provider::Oidc(Oidc {
        sts,
        provider_urn,
        agency_urn,
        session_name: set(p::OIDC_SESSION_NAME_VAR)
            .unwrap_or_else(|| p::DEFAULT_OIDC_SESSION_NAME.to_string()),
        duration_seconds,
        id_token,
        policy: set(p::OIDC_POLICY_VAR),
        policy_ids: set(p::OIDC_POLICY_IDS_VAR)
            .map(|ids| {
                ids.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// IAM or STS: the configured endpoint, else the SDK's variable, else the region's.
fn service_endpoint(
    configured: Option<&reqwest::Url>,
    var: &str,
    service: &str,
    region: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<reqwest::Url, CredentialsError> {
    if let Some(url) = configured {
        return Ok(url.clone());
    }
    if let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) {
        return crate::cloud::endpoints::http_url(value.trim()).map_err(|e| {
            CredentialsError::Provider {
                source_name: "endpoint",
                problem: format!("{var} {e}"),
            }
        });
    }
    crate::cloud::endpoints::http_url(&format!(
        "https://{service}.{region}.{}",
        crate::cloud::endpoints::DEFAULT_DOMAIN
    ))
    .map_err(|e| CredentialsError::Provider {
        source_name: "endpoint",
        problem: format!("{service} endpoint of region {region:?} {e}"),
    })
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum AccountError {
    /// No client: credentials missing, or the client could not be built.
    #[error("cloud {cloud}: {message}")]
    Unavailable { cloud: String, message: String },
    #[error("cloud {0:?} is not in the configuration")]
    UnknownCloud(String),
}

/// Why an account has no client.
#[derive(Debug, thiserror::Error)]
enum NoClient {
    #[error(transparent)]
    Credentials(CredentialsError),
    #[error(transparent)]
    Build(BuildError),
}

struct Account {
    cloud: Cloud,
    provider: Option<Provider>,
    /// The client, or why there is none.
    client: Result<ApiClient, Arc<NoClient>>,
}

/// Every account of a configuration with its client, and the configuration they come from.
pub struct Accounts {
    accounts: Vec<Account>,
    config: Config,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field(
                "clouds",
                &self
                    .accounts
                    .iter()
                    .map(|a| &a.cloud.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn build(
    cloud: &Cloud,
    provider: Provider,
    observer: Option<Arc<dyn RequestObserver>>,
) -> Result<ApiClient, BuildError> {
    let fetcher = Fetcher::new(cloud.proxy.as_deref())?;
    let credentials = CredentialCell::new(&cloud.name, provider, fetcher);
    let options = ClientOptions {
        proxy: cloud.proxy.clone(),
        observer,
        rate_limiter: Some(Arc::new(RateLimiter::new(cloud.requests_per_second))),
        ..ClientOptions::default()
    };
    ApiClient::with_credentials(
        credentials,
        &cloud.project_id,
        cloud.endpoints.clone(),
        options,
    )
}

impl Accounts {
    pub fn new(
        config: &Config,
        credentials: &CredentialsFn,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Self {
        Self::build(None, config, credentials, observer)
    }

    /// The accounts of `config`, keeping this set's clients where the cloud's settings and
    /// credentials are the same.
    pub fn renew(
        &self,
        config: &Config,
        credentials: &CredentialsFn,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Self {
        Self::build(Some(self), config, credentials, observer)
    }

    fn build(
        previous: Option<&Accounts>,
        config: &Config,
        credentials: &CredentialsFn,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Self {
        let accounts = config
            .clouds
            .iter()
            .map(|cloud| {
                let found = credentials(cloud);
                let kept = previous.and_then(|p| {
                    p.accounts.iter().find(|a| {
                        a.cloud == *cloud
                            && a.client.is_ok()
                            && found.as_ref().ok() == a.provider.as_ref()
                    })
                });
                let client = match (kept, &found) {
                    (Some(kept), _) => kept.client.clone(),
                    (None, Ok(provider)) => build(cloud, provider.clone(), observer.clone())
                        .map_err(|e| Arc::new(NoClient::Build(e))),
                    (None, Err(e)) => Err(Arc::new(NoClient::Credentials(e.clone()))),
                };
                Account {
                    cloud: cloud.clone(),
                    provider: found.ok(),
                    client,
                }
            })
            .collect();
        Self {
            accounts,
            config: config.clone(),
        }
    }

    /// The client of a cloud.
    pub fn client(&self, cloud: &str) -> Result<&ApiClient, AccountError> {
        let account = self
            .accounts
            .iter()
            .find(|a| a.cloud.name == cloud)
            .ok_or_else(|| AccountError::UnknownCloud(cloud.to_string()))?;
        account
            .client
            .as_ref()
            .map_err(|why| AccountError::Unavailable {
                cloud: cloud.to_string(),
                message: why.to_string(),
            })
    }

    /// Each cloud with its client, where it has one.
    pub fn clients(&self) -> impl Iterator<Item = (&Cloud, &ApiClient)> {
        self.accounts
            .iter()
            .filter_map(|a| Some((&a.cloud, a.client.as_ref().ok()?)))
    }

    pub fn clouds(&self) -> impl Iterator<Item = &Cloud> {
        self.accounts.iter().map(|a| &a.cloud)
    }

    /// The configuration these accounts were built from.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// The accounts of the running configuration, replaced whole by a reload.
#[derive(Debug)]
pub struct SharedAccounts(Mutex<Arc<Accounts>>);

impl SharedAccounts {
    pub fn new(accounts: Accounts) -> Self {
        Self(Mutex::new(Arc::new(accounts)))
    }

    pub fn load(&self) -> Arc<Accounts> {
        Arc::clone(&self.0.lock())
    }

    pub fn store(&self, accounts: Arc<Accounts>) {
        *self.0.lock() = accounts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: f64) -> Config {
        Config::from_toml(&format!(
            "[[cloud]]\nname = \"a\"\nregion = \"cn-north-4\"\nproject_id = \"p\"\nrequests_per_second = {rate}\n\
             [[cloud.dcs_instance]]\nid = \"i\"\n\
             [[cloud]]\nname = \"b\"\nregion = \"cn-north-4\"\nproject_id = \"q\"\n[[cloud.dcs_instance]]\nid = \"j\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_renewal_keeps_unchanged_accounts_and_rebuilds_changed_ones() {
        let fixed = |ak: &str, sk: &str| Provider::Static {
            source: CredentialSource::Env,
            credentials: Credentials::new(ak, sk),
        };
        let only_a: CredentialsFn = Arc::new(move |c: &Cloud| {
            if c.name == "a" {
                Ok(fixed("AK", "SK"))
            } else {
                Err(CredentialsError::MissingAccessKey("CLOUD_SDK_AK".into()))
            }
        });
        let accounts = Accounts::new(&config(10.0), &only_a, None);
        let a = accounts.client("a").unwrap().clone();
        assert!(matches!(
            accounts.client("b"),
            Err(AccountError::Unavailable { .. })
        ));
        assert!(matches!(
            accounts.client("c"),
            Err(AccountError::UnknownCloud(_))
        ));
        let same = accounts.renew(&config(10.0), &only_a, None);
        assert!(same.client("a").unwrap().shares_state_with(&a));
        let changed = accounts.renew(&config(20.0), &only_a, None);
        assert!(!changed.client("a").unwrap().shares_state_with(&a));
        let rotated: CredentialsFn = Arc::new(move |_: &Cloud| Ok(fixed("AK", "SK2")));
        let renewed = accounts.renew(&config(10.0), &rotated, None);
        assert!(!renewed.client("a").unwrap().shares_state_with(&a));
        assert!(renewed.client("b").is_ok());
    }
}
