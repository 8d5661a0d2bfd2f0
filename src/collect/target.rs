//! Where sessions live, behind one interface: the nodes of a DCS instance through its account's
//! shared API client, or a Redis server over a connection. The scheduler scans through it; the
//! operator commands and the remediation webhook list and end sessions through it.

use tokio::time::Instant;

use super::settings::ScanSettings;
use crate::cloud::ApiClient;
use crate::config::RedisTarget;
use crate::snapshot::{Failure, NodeData, Stage};

pub enum Target {
    /// A DCS instance, whose nodes are scanned one by one.
    Dcs { api: ApiClient, instance_id: String },
    /// A direct Redis target: one node, `host:port`.
    Redis(RedisTarget),
}

/// A successful scan: the data, and the node's role when the scan learns it.
pub struct ScanOutcome {
    pub data: NodeData,
    pub role: Option<String>,
}

impl Target {
    /// The `instance_id` of its series.
    pub fn instance_id(&self) -> &str {
        match self {
            Target::Dcs { instance_id, .. } => instance_id,
            Target::Redis(target) => &target.name,
        }
    }

    /// Scans one node. `pending` is the node's scan job that outlived an earlier scan (DCS).
    pub async fn scan(
        &self,
        node_id: &str,
        settings: &ScanSettings,
        pending: &mut Option<String>,
        deadline: Instant,
    ) -> Result<ScanOutcome, Failure> {
        match self {
            Target::Dcs { api, instance_id } => {
                super::dcs::scan_node(api, instance_id, node_id, settings, pending, deadline)
                    .await
                    .map(|data| ScanOutcome { data, role: None })
            }
            Target::Redis(target) => {
                // Read at every scan, so a rotated password is picked up.
                let endpoint = target
                    .endpoint()
                    .map_err(|message| Failure::new(Stage::Scan, "password", message))?;
                super::redis::scan(&endpoint, settings, deadline)
                    .await
                    .map(|(data, role)| ScanOutcome { data, role })
            }
        }
    }
}
