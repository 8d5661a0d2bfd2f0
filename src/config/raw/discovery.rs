//! `[cloud.discovery]`: every DCS instance of the project, filtered by name, tags, enterprise
//! project and engine version.

use serde::Deserialize;

use crate::config::{ConfigError, Discovery, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    #[serde(default = "yes")]
    enabled: bool,
    name_pattern: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    enterprise_project_id: Option<String>,
    engine_version: Option<String>,
}

/// A table that is there turns discovery on unless it says `enabled = false`.
fn yes() -> bool {
    true
}

impl RawDiscovery {
    /// The filters, checked, or `None` when turned off (then nothing else of the table is
    /// looked at); `at` names the cloud (`cloud[name]`).
    pub(super) fn validate(self, at: &str) -> Result<Option<Discovery>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        Ok(Some(Discovery {
            name_pattern: self
                .name_pattern
                .map(|p| regex::Regex::new(&p))
                .transpose()
                .map_err(|e| invalid(format!("{at}.discovery.name_pattern"), e.to_string()))?,
            tags: self
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
            enterprise_project_id: self.enterprise_project_id,
            engine_version: self.engine_version,
        }))
    }
}
