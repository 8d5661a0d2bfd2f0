//! `[[redis]]`: a self-managed Redis scanned directly, and the secrets it is reached with.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::values::{env_name, required};
use crate::config::{ConfigError, PasswordSource, RedisTarget, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedis {
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
    max_scan_bytes: Option<u64>,
    key_scan: Option<super::key_scan::RawKeyScan>,
}

/// The least `max_scan_bytes` taken: a `CLIENT LIST` of a few hundred sessions.
const MIN_SCAN_BYTES: u64 = 64 * 1024;

impl RawRedis {
    /// The `index`th target, checked. Its name is the `instance_id` of its series, so it
    /// differs from every listed instance (`instance_ids`) and every target `before` it.
    pub(super) fn validate(
        self,
        index: usize,
        instance_ids: &HashSet<String>,
        before: &[RedisTarget],
    ) -> Result<RedisTarget, ConfigError> {
        let name = required(self.name.as_deref(), &format!("redis[{index}].name"))?;
        let at = format!("redis[{name}]");
        if instance_ids.contains(&name) || before.iter().any(|t| t.name == name) {
            return Err(invalid(
                format!("{at}.name"),
                "is used twice (names are instance ids)",
            ));
        }
        let url = required(self.url.as_deref(), &format!("{at}.url"))?;
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
        let node_id = crate::redis::host_port(&url)
            .map_err(|e| invalid(format!("{at}.url"), e.to_string()))?;
        let username = username(self.username, self.username_env, &at)?;
        let password = password(self.password_env, self.password_file, &at)?;
        if self.max_clients == Some(0) {
            return Err(invalid(format!("{at}.max_clients"), "must be at least 1"));
        }
        let max_scan_bytes = self
            .max_scan_bytes
            .unwrap_or(crate::redis::DEFAULT_MAX_SCAN_BYTES);
        if max_scan_bytes < MIN_SCAN_BYTES {
            return Err(invalid(
                format!("{at}.max_scan_bytes"),
                format!("must be at least {MIN_SCAN_BYTES} (64 KiB)"),
            ));
        }
        let key_scan = self.key_scan.map(|k| k.validate(&at)).transpose()?;
        Ok(RedisTarget {
            name,
            url,
            node_id,
            username,
            password,
            max_clients: self.max_clients,
            idle_timeout: self.idle_timeout,
            slow_log: self.slow_log.unwrap_or(true),
            max_scan_bytes,
            key_scan,
        })
    }
}

/// The user name as given, or read now from its variable; not both.
fn username(
    given: Option<String>,
    variable: Option<String>,
    at: &str,
) -> Result<Option<String>, ConfigError> {
    match (given, env_name(variable, &format!("{at}.username_env"))?) {
        (Some(_), Some(_)) => Err(invalid(
            format!("{at}.username"),
            "give username or username_env, not both",
        )),
        (Some(u), None) => Ok(Some(u)),
        (None, Some(var)) => Ok(Some(std::env::var(&var).map_err(|_| {
            invalid(format!("{at}.username_env"), format!("{var} is not set"))
        })?)),
        (None, None) => Ok(None),
    }
}

/// Where the password is read from (at each connection, so a rotated one is picked up); not
/// both places.
fn password(
    variable: Option<String>,
    file: Option<std::path::PathBuf>,
    at: &str,
) -> Result<Option<PasswordSource>, ConfigError> {
    match (env_name(variable, &format!("{at}.password_env"))?, file) {
        (Some(_), Some(_)) => Err(invalid(
            format!("{at}.password_env"),
            "give password_env or password_file, not both",
        )),
        (Some(var), None) => Ok(Some(PasswordSource::Env(var))),
        (None, Some(path)) => Ok(Some(PasswordSource::File(path))),
        (None, None) => Ok(None),
    }
}
