//! `[[cloud.dcs_instance]]` and `[[cloud.dbss_resource]]`: what a cloud scans, listed by id.

use std::collections::HashSet;

use serde::Deserialize;

use super::values::required;
use crate::config::{ConfigError, DcsInstance, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    id: Option<String>,
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResource {
    id: Option<String>,
}

/// The instances a cloud lists; `instance_ids` holds those of every cloud so far, since an
/// instance scanned twice would give its series twice.
pub(super) fn dcs_instances(
    listed: Vec<RawInstance>,
    at: &str,
    instance_ids: &mut HashSet<String>,
) -> Result<Vec<DcsInstance>, ConfigError> {
    let mut dcs_instances = Vec::new();
    for (j, inst) in listed.into_iter().enumerate() {
        let key = format!("{at}.dcs_instance[{j}]");
        let id = required(inst.id.as_deref(), &format!("{key}.id"))?;
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
    Ok(dcs_instances)
}

/// The DBSS resources a cloud lists, each once.
pub(super) fn dbss_resources(
    listed: Vec<RawResource>,
    at: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut dbss_resources = Vec::new();
    for (j, r) in listed.into_iter().enumerate() {
        let key = format!("{at}.dbss_resource[{j}].id");
        let id = required(r.id.as_deref(), &key)?;
        if dbss_resources.contains(&id) {
            return Err(invalid(key, format!("{id:?} is listed twice")));
        }
        dbss_resources.push(id);
    }
    Ok(dbss_resources)
}
