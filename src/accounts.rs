//! One API client per `[[cloud]]`, built once from the validated configuration and shared by
//! the scheduler, the remediation webhook and the operator commands: each account has one rate
//! limiter and one throttling state, whoever calls. A reload keeps the clients of accounts whose
//! settings and credentials did not change, so their adapted rate goes on.

use std::sync::{Arc, Mutex};

use crate::cloud::credentials::{CredentialSource, CredentialsError, default_profile_path};
use crate::cloud::{ApiClient, ClientOptions, Credentials, RateLimiter, RequestObserver};
use crate::config::{Cloud, Config};

/// Where a cloud's credentials come from (the environment; the demo's own).
pub type CredentialsFn = Arc<dyn Fn(&Cloud) -> Result<Credentials, CredentialsError> + Send + Sync>;

/// Credentials of a cloud from its source: the environment (its own variable names when
/// configured, else the standard ones), the SDK's credentials file, or (`auto`) the
/// environment and then the file, when it exists.
pub fn credentials_from_env(cloud: &Cloud) -> Result<Credentials, CredentialsError> {
    let profile_path = || cloud.credentials_file.clone().or_else(default_profile_path);
    match cloud.credential_source {
        CredentialSource::Env => Credentials::from_env_names(&cloud.credentials),
        CredentialSource::Profile => {
            let path = profile_path().ok_or_else(|| CredentialsError::Profile {
                path: "~/.huaweicloud/credentials".into(),
                problem: "no HOME to find it in: set credentials_file".into(),
            })?;
            from_profile(&path)
        }
        CredentialSource::Auto => match Credentials::from_env_names(&cloud.credentials) {
            Ok(creds) => Ok(creds),
            Err(env_error) => match profile_path().filter(|p| p.exists()) {
                Some(path) => from_profile(&path),
                None => Err(env_error),
            },
        },
    }
}

/// The SDK's credentials file at `path`.
fn from_profile(path: &std::path::Path) -> Result<Credentials, CredentialsError> {
    let problem = |problem: String| CredentialsError::Profile {
        path: path.display().to_string(),
        problem,
    };
    crate::config::warn_if_others_can_read(path, "the credentials file");
    let text = crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES)
        .map_err(|e| problem(e.to_string()))?;
    Credentials::from_profile_text(&text).map_err(problem)
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum AccountError {
    /// No client: credentials missing, or the client could not be built.
    #[error("cloud {cloud}: {message}")]
    Unavailable { cloud: String, message: String },
    #[error("cloud {0:?} is not in the configuration")]
    UnknownCloud(String),
}

struct Account {
    cloud: Cloud,
    credentials: Option<Credentials>,
    client: Result<ApiClient, String>,
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
    credentials: Credentials,
    observer: Option<Arc<dyn RequestObserver>>,
) -> Result<ApiClient, String> {
    let options = ClientOptions {
        proxy: cloud.proxy.clone(),
        observer,
        rate_limiter: Some(Arc::new(RateLimiter::new(cloud.requests_per_second))),
        ..ClientOptions::default()
    };
    ApiClient::new(
        credentials,
        &cloud.project_id,
        cloud.endpoints.clone(),
        options,
    )
    .map_err(|e| e.to_string())
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
                            && found.as_ref().ok() == a.credentials.as_ref()
                    })
                });
                let client = match (kept, &found) {
                    (Some(kept), _) => kept.client.clone(),
                    (None, Ok(creds)) => build(cloud, creds.clone(), observer.clone()),
                    (None, Err(e)) => Err(e.to_string()),
                };
                Account {
                    cloud: cloud.clone(),
                    credentials: found.ok(),
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
            .map_err(|message| AccountError::Unavailable {
                cloud: cloud.to_string(),
                message: message.clone(),
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
        Arc::clone(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn store(&self, accounts: Arc<Accounts>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = accounts;
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
        let only_a: CredentialsFn = Arc::new(|c: &Cloud| {
            if c.name == "a" {
                Ok(Credentials::new("AK", "SK"))
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
        let rotated: CredentialsFn = Arc::new(|_: &Cloud| Ok(Credentials::new("AK", "SK2")));
        let renewed = accounts.renew(&config(10.0), &rotated, None);
        assert!(!renewed.client("a").unwrap().shares_state_with(&a));
        assert!(renewed.client("b").is_ok());
    }
}
