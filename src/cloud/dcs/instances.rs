//! Calls about an instance: ending its sessions, its nodes, details, parameters, and the
//! project's instance list (its slow log is read in `slowlog.rs`).

use serde::Serialize;
use tokio::time::Instant;

use super::jobs::job_id;
use super::wire::{
    InstanceConfigs, InstancePage, InstanceSummary, KillTarget, ListInstancesQuery, LogicalNodes,
};
use crate::cloud::client::{ApiClient, Call};
use crate::cloud::error::{ApiError, ErrorKind, Operation};

/// The most bytes an instance's details or its parameters may take. Real answers are a few
/// KiB (details about 2 KiB, some 60 parameters about 20 KiB): 1 MiB leaves them fifty times
/// the room, and keeps a service that answers megabytes from holding 16 MiB (the client's cap
/// for any answer) for each instance at every look-up.
pub const CONTEXT_READ_BUDGET: usize = 1 << 20;

#[derive(Serialize)]
struct KillAllBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<&'a str>,
    kill_all_nodes: bool,
}

impl ApiClient {
    /// Ends every session of one node, or of every node of the instance.
    pub async fn kill_all_clients(
        &self,
        instance_id: &str,
        target: &KillTarget,
        deadline: Instant,
    ) -> Result<String, ApiError> {
        let body = match target {
            KillTarget::Node(node) => KillAllBody {
                node_id: Some(node),
                kill_all_nodes: false,
            },
            KillTarget::AllNodes => KillAllBody {
                node_id: None,
                kill_all_nodes: true,
            },
        };
        let call =
            Call::of(Operation::KillAllClients, &[self.project_id(), instance_id]).json_body(&body);
        job_id(call.operation, self.call_json(&call, deadline).await?)
    }

    /// Ends the sessions with these `peer` addresses on one node.
    pub async fn kill_clients(
        &self,
        instance_id: &str,
        node_id: &str,
        peers: &[String],
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let call = Call::of(Operation::KillClients, &[self.project_id(), instance_id])
            .json_body(&serde_json::json!({"node_id": node_id, "client_addrs": peers}));
        self.call(&call, deadline).await.map(drop)
    }

    pub async fn list_logical_nodes(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<LogicalNodes, ApiError> {
        let call = Call::of(
            Operation::ListLogicalNodes,
            &[self.project_id(), instance_id],
        );
        self.call_json(&call, deadline).await
    }

    /// One instance's details: tags, enterprise project, client IP pass-through, ...
    pub async fn show_instance(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<InstanceSummary, ApiError> {
        let call = Call::of(Operation::ShowInstance, &[self.project_id(), instance_id])
            .budget(CONTEXT_READ_BUDGET);
        self.call_json(&call, deadline).await
    }

    /// An instance's parameters (`maxclients`, `timeout`, ...).
    pub async fn list_configurations(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<InstanceConfigs, ApiError> {
        let call = Call::of(
            Operation::ListConfigurations,
            &[self.project_id(), instance_id],
        )
        .budget(CONTEXT_READ_BUDGET);
        self.call_json(&call, deadline).await
    }

    /// Every instance of the project, all pages.
    pub async fn list_instances(
        &self,
        query: &ListInstancesQuery,
        deadline: Instant,
    ) -> Result<Vec<InstanceSummary>, ApiError> {
        let limit = query.page_size.unwrap_or(100).clamp(1, 1000);
        let mut instances = Vec::new();
        // Bounded: a service that keeps announcing more than it delivers cannot keep us here.
        for _ in 0..10_000 {
            let mut call = Call::of(Operation::ListInstances, &[self.project_id()])
                .query("offset", instances.len())
                .query("limit", limit);
            if let Some(name) = &query.name {
                call = call.query("name", name);
            }
            if let Some(status) = &query.status {
                call = call.query("status", status);
            }
            if !query.tags.is_empty() {
                let tags: Vec<String> =
                    query.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                call = call.query("tags", tags.join(","));
            }
            let page: InstancePage = self.call_json(&call, deadline).await?;
            let received = page.instances.len();
            instances.extend(page.instances);
            // Without a total, a short page is the last.
            let done = match page.instance_num {
                Some(total) => instances.len() >= total.max(0) as usize,
                None => received < limit as usize,
            };
            if received == 0 || done {
                return Ok(instances);
            }
        }
        Err(ApiError::new(
            Operation::ListInstances,
            ErrorKind::Inconsistent,
            "the instance list did not end",
        ))
    }
}
