//! `[remediation]`: the Alertmanager webhook, its token and the nodes it may act on.

use std::time::Duration;

use serde::Deserialize;

use super::values::{env_name, required};
use crate::config::{AllowedNode, ConfigError, RemediationSettings, TokenSource, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemediation {
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

impl RawRemediation {
    /// The webhook's settings, or `None` when it is not enabled (then nothing else of the
    /// table is looked at).
    pub(super) fn validate(self) -> Result<Option<RemediationSettings>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let token = match (
            env_name(self.token_env, "remediation.token_env")?,
            self.token_file,
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
        for (i, a) in self.allow.into_iter().enumerate() {
            let key = format!("remediation.allow[{i}].instance_id");
            let instance_id = required(a.instance_id.as_deref(), &key)?;
            if instance_id.contains('*') {
                return Err(invalid(
                    key,
                    "names one instance: a wildcard is allowed for node_id only",
                ));
            }
            allow.push(AllowedNode {
                instance_id,
                node_id: required(
                    a.node_id.as_deref(),
                    &format!("remediation.allow[{i}].node_id"),
                )?,
            });
        }
        if allow.is_empty() {
            return Err(invalid(
                "remediation.allow",
                "list at least one node the webhook may act on",
            ));
        }
        let max_actions_per_hour = self.max_actions_per_hour.unwrap_or(10);
        if !(1..=1000).contains(&max_actions_per_hour) {
            return Err(invalid(
                "remediation.max_actions_per_hour",
                "must be between 1 and 1000",
            ));
        }
        Ok(Some(RemediationSettings {
            dry_run: self.dry_run.unwrap_or(true),
            cooldown: self.cooldown.unwrap_or(Duration::from_secs(600)),
            max_actions_per_hour,
            allow,
            token,
        }))
    }
}
