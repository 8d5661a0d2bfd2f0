//! The query parameters the DCS calls take, as received: the service checks them itself, with
//! its own error answers, rather than leave them to the HTTP layer.

use crate::sim::error::{SimError, SimResult};

/// The query of a session list page, as received (unvalidated).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    pub node_id: Option<String>,
    pub offset: Option<String>,
    pub limit: Option<String>,
    pub addr: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
}

/// The query of an instance list, as received (unvalidated).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct InstancesQuery {
    pub offset: Option<String>,
    pub limit: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub instance_id: Option<String>,
    /// `key=value` pairs separated by commas, all of which must match.
    pub tags: Option<String>,
}

/// The query of a key-analysis task list (big keys, hot keys, offline analyses), as received.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct KeyTaskQuery {
    pub offset: Option<String>,
    pub limit: Option<String>,
    pub status: Option<String>,
}

/// A number parameter: `default` when absent or empty, the service's 400 when not an integer.
pub(super) fn parse_number(value: Option<&str>, name: &str, default: i64) -> SimResult<i64> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| SimError::invalid(format!("{name} must be an integer."))),
    }
}
