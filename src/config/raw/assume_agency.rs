//! `[cloud.assume_agency]`: another account's agency, assumed with the cloud's credentials.

use std::time::Duration;

use serde::Deserialize;

use super::values::required;
use crate::cloud::credentials::{AgencyDomain, AssumeAgency};
use crate::config::{ConfigError, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssumeAgency {
    domain_name: Option<String>,
    domain_id: Option<String>,
    agency_name: Option<String>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<Duration>,
}

impl RawAssumeAgency {
    /// The agency, checked; `key` is the table's own (`cloud[name].assume_agency`).
    pub(super) fn validate(&self, key: &str) -> Result<AssumeAgency, ConfigError> {
        let domain = match (&self.domain_name, &self.domain_id) {
            (Some(name), None) if !name.trim().is_empty() => AgencyDomain::Name(name.clone()),
            (None, Some(id)) if !id.trim().is_empty() => AgencyDomain::Id(id.clone()),
            _ => {
                return Err(invalid(
                    key,
                    "needs exactly one of domain_name and domain_id",
                ));
            }
        };
        let agency_name = required(self.agency_name.as_deref(), &format!("{key}.agency_name"))?;
        let duration = self.duration.unwrap_or(Duration::from_secs(3600));
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
    }
}
