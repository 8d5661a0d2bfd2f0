//! Which nodes to scan: explicit lists, or the nodes that take clients, looked up from the
//! instance's logical nodes; instances listed in the config or discovered by name.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::cloud::ApiClient;
use crate::cloud::dcs::{ListInstancesQuery, LogicalNode};
use crate::config::Cloud;
use crate::snapshot::{NodeInfo, NodeKey, Source};

/// A node to scan and what the metrics say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTarget {
    pub key: NodeKey,
    pub info: NodeInfo,
}

/// What earlier look-ups found, used when a later one fails.
#[derive(Default)]
pub struct Known {
    names: HashMap<String, String>,
    discovered: Vec<String>,
    nodes: HashMap<String, Vec<NodeTarget>>,
}

/// The result of one look-up: the nodes, and `(reason, message)` of what failed.
pub struct Found {
    pub nodes: Vec<NodeTarget>,
    pub errors: Vec<(String, String)>,
}

fn is_proxy(node: &LogicalNode) -> bool {
    node.node_role.as_deref() == Some("redis-proxy") || node.node_type.as_deref() == Some("proxy")
}

/// The nodes clients connect to: the proxies where the instance has them (Proxy Cluster,
/// read/write splitting), otherwise every data node.
pub fn client_nodes(nodes: &[LogicalNode]) -> Vec<&LogicalNode> {
    let proxies: Vec<&LogicalNode> = nodes.iter().filter(|n| is_proxy(n)).collect();
    if proxies.is_empty() {
        nodes.iter().collect()
    } else {
        proxies
    }
}

fn target(
    cloud: &str,
    instance_id: &str,
    instance_name: &str,
    node_id: &str,
    node: Option<&LogicalNode>,
) -> NodeTarget {
    let text = |f: fn(&LogicalNode) -> &Option<String>| {
        node.and_then(|n| f(n).clone()).unwrap_or_default()
    };
    NodeTarget {
        key: NodeKey {
            instance_id: instance_id.into(),
            node_id: node_id.into(),
        },
        info: NodeInfo {
            source: Source::Cloud(cloud.to_string()),
            instance_name: instance_name.to_string(),
            node_name: text(|n| &n.name),
            node_role: text(|n| &n.node_type),
            node_ip: text(|n| &n.node_ip),
            az: text(|n| &n.az_code),
        },
    }
}

pub async fn discover(
    api: &ApiClient,
    cloud: &Cloud,
    known: &mut Known,
    deadline: Instant,
) -> Found {
    let mut errors = Vec::new();
    let names_missing = cloud
        .dcs_instances
        .iter()
        .any(|i| !known.names.contains_key(&i.id));
    if cloud.discovery.is_some() || names_missing {
        match api
            .list_instances(&ListInstancesQuery::default(), deadline)
            .await
        {
            Ok(list) => {
                known.names = list
                    .iter()
                    .filter_map(|i| {
                        Some((i.instance_id.clone()?, i.name.clone().unwrap_or_default()))
                    })
                    .collect();
                if let Some(discovery) = &cloud.discovery {
                    known.discovered = list
                        .iter()
                        // Memcached instances have no session API.
                        .filter(|i| {
                            i.engine
                                .as_deref()
                                .is_none_or(|e| e.eq_ignore_ascii_case("redis"))
                        })
                        .filter(|i| {
                            let name = i.name.as_deref().unwrap_or_default();
                            discovery
                                .name_pattern
                                .as_ref()
                                .is_none_or(|p| p.is_match(name))
                        })
                        .filter_map(|i| i.instance_id.clone())
                        .collect();
                }
            }
            Err(e) => errors.push((e.reason().into_owned(), format!("listing instances: {e}"))),
        }
    }
    let mut instances: Vec<(&str, &[String])> = cloud
        .dcs_instances
        .iter()
        .map(|i| (i.id.as_str(), i.nodes.as_slice()))
        .collect();
    for id in &known.discovered {
        if !cloud.dcs_instances.iter().any(|i| &i.id == id) {
            instances.push((id.as_str(), &[]));
        }
    }
    let mut nodes = Vec::new();
    for (instance_id, explicit) in instances {
        let name = known.names.get(instance_id).cloned().unwrap_or_default();
        let found = match api.list_logical_nodes(instance_id, deadline).await {
            Ok(list) => {
                let by_id: HashMap<&str, &LogicalNode> = list
                    .nodes
                    .iter()
                    .filter_map(|n| Some((n.node_id.as_deref()?, n)))
                    .collect();
                let targets: Vec<NodeTarget> = if explicit.is_empty() {
                    client_nodes(&list.nodes)
                        .into_iter()
                        .filter_map(|n| {
                            Some(target(
                                &cloud.name,
                                instance_id,
                                &name,
                                n.node_id.as_deref()?,
                                Some(n),
                            ))
                        })
                        .collect()
                } else {
                    explicit
                        .iter()
                        .map(|id| {
                            target(
                                &cloud.name,
                                instance_id,
                                &name,
                                id,
                                by_id.get(id.as_str()).copied(),
                            )
                        })
                        .collect()
                };
                known.nodes.insert(instance_id.to_string(), targets.clone());
                targets
            }
            Err(e) => {
                errors.push((
                    e.reason().into_owned(),
                    format!("listing the nodes of instance {instance_id}: {e}"),
                ));
                // Keep scanning what was known; explicit nodes need no look-up to be scanned.
                known.nodes.get(instance_id).cloned().unwrap_or_else(|| {
                    explicit
                        .iter()
                        .map(|id| target(&cloud.name, instance_id, &name, id, None))
                        .collect()
                })
            }
        };
        nodes.extend(found);
    }
    Found { nodes, errors }
}
