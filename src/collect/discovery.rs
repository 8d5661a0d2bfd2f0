//! Which nodes to scan: explicit lists, or the nodes that take clients, looked up from the
//! instance's logical nodes; instances listed in the config or discovered by name.

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use crate::cloud::dcs::{InstanceConfigs, InstanceSummary, ListInstancesQuery, LogicalNode};
use crate::cloud::{ApiClient, Operation};
use crate::config::Cloud;
use crate::reason::Reason;
use crate::snapshot::{ContextRead, InstanceContext, NodeInfo, NodeKey, Source};
use crate::upstream_text::clean;

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
    instances: HashMap<String, InstanceContext>,
    /// `(maxclients, timeout)` of each instance.
    limits: HashMap<String, (Option<u64>, Option<u64>)>,
    /// Instances whose parameters hold an invalid limit, already warned about.
    invalid_limits: HashSet<String>,
    /// `maxmemory-policy` of each instance whose parameters were read.
    policies: HashMap<String, Option<String>>,
}

/// The result of one look-up: the nodes, and `(reason, message)` of what failed.
pub struct Found {
    pub nodes: Vec<NodeTarget>,
    pub errors: Vec<(String, String)>,
    /// The instances' context, by id.
    pub instances: Vec<(String, InstanceContext)>,
    /// Reads of instance details and parameters that failed: `(instance_id, operation,
    /// reason)`. Those keep what was read before, and fail no scan.
    pub context_errors: Vec<(String, ContextRead, String)>,
    /// Instances whose details, parameters and nodes were read (or tried).
    pub looked_up: usize,
    /// Instances in the project's list, as last read.
    pub listed: usize,
}

/// The architecture a spec code names (`redis.ha.xu1.large.r2.2`, `redis.proxy...`).
pub fn architecture(spec_code: &str) -> &'static str {
    let parts: Vec<&str> = spec_code.split('.').collect();
    if parts.contains(&"rw") {
        "rw_split"
    } else if parts.contains(&"proxy") {
        "proxy"
    } else if parts.contains(&"cluster") {
        "cluster"
    } else if parts.contains(&"single") {
        "single"
    } else if parts.contains(&"ha") {
        "ha"
    } else {
        "unknown"
    }
}

fn context(cloud: &Cloud, details: &InstanceSummary) -> InstanceContext {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let spec_code = text(&details.spec_code);
    InstanceContext {
        cloud: cloud.name.clone(),
        instance_name: text(&details.name),
        engine_version: text(&details.engine_version),
        architecture: architecture(&spec_code).to_string(),
        spec_code,
        enterprise_project_id: text(&details.enterprise_project_id),
        client_ip_pass_through: details.transparent_client_ip_enable,
        // Unknown (null, absent, a spelling not understood) means "try": the read itself
        // tells, and a refusal as unsupported turns it off.
        slow_log: cloud.slow_log && details.support_slow_log_flag != Some(false),
        slow_log_flag: details.support_slow_log_flag,
        maxmemory_policy: None,
        tags: cloud
            .export_tags
            .iter()
            .map(|key| {
                let value = details
                    .tags
                    .iter()
                    .find(|t| t.key.as_deref() == Some(key.as_str()))
                    .and_then(|t| t.value.clone())
                    .unwrap_or_default();
                (crate::config::tag_label(key), value)
            })
            .collect(),
    }
}

/// The node's Cloud Eye dimension: the one that is not the instance's.
fn cloud_eye_id(node: &LogicalNode) -> String {
    node.dimensions
        .iter()
        .filter(|d| d["name"].as_str() != Some("dcs_instance_id"))
        .find_map(|d| d["value"].as_str())
        .unwrap_or_default()
        .to_string()
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
            cloud_eye_id: node.map(cloud_eye_id).unwrap_or_default(),
            max_clients: None,
            idle_timeout: None,
        },
    }
}

/// Details and parameters of an instance: read anew, else what was read before.
async fn read_context(
    api: &ApiClient,
    cloud: &Cloud,
    instance_id: &str,
    known: &mut Known,
    errors: &mut Vec<(String, ContextRead, String)>,
    deadline: Instant,
) {
    match api.show_instance(instance_id, deadline).await {
        Ok(details) => {
            let context = context(cloud, &details);
            let before = known.instances.get(instance_id).map(|c| c.slow_log_flag);
            if cloud.slow_log && context.slow_log_flag == Some(false) && before != Some(Some(false))
            {
                tracing::info!(
                    cloud = %cloud.name,
                    instance_id,
                    "the slow log is not read: the instance's details say it keeps none (support_slow_log_flag)"
                );
            }
            known.instances.insert(instance_id.to_string(), context);
        }
        Err(e) => {
            tracing::warn!(cloud = %cloud.name, instance_id, "reading the instance's details: {e}");
            errors.push((
                instance_id.to_string(),
                ContextRead::Api(e.operation),
                e.reason().to_string(),
            ));
        }
    }
    match api.list_configurations(instance_id, deadline).await {
        Ok(configs) => {
            let policy = configs.parameter("maxmemory-policy").map(|p| clean(p, &[]));
            known.policies.insert(instance_id.to_string(), policy);
            if !take_limits(cloud, instance_id, &configs, known) {
                errors.push((
                    instance_id.to_string(),
                    ContextRead::Api(Operation::ListConfigurations),
                    Reason::InvalidValue.to_string(),
                ));
            }
        }
        Err(e) => {
            tracing::warn!(cloud = %cloud.name, instance_id, "reading the instance's parameters: {e}");
            errors.push((
                instance_id.to_string(),
                ContextRead::Api(e.operation),
                e.reason().to_string(),
            ));
        }
    }
}

/// Keeps an instance's limits from its parameters; false when one of them is no limit (out of
/// range, negative, no whole number), whose value known before is kept. Warns once while the
/// parameters stay invalid.
fn take_limits(
    cloud: &Cloud,
    instance_id: &str,
    configs: &InstanceConfigs,
    known: &mut Known,
) -> bool {
    let before = known.limits.get(instance_id).copied().unwrap_or_default();
    let mut invalid = Vec::new();
    let mut read = |name: &str, before: Option<u64>| match configs.limit(name) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(text)) => {
            invalid.push(format!("{name} = {:?}", clean(text, &[])));
            before
        }
    };
    let limits = (read("maxclients", before.0), read("timeout", before.1));
    known.limits.insert(instance_id.to_string(), limits);
    if invalid.is_empty() {
        known.invalid_limits.remove(instance_id);
        return true;
    }
    if known.invalid_limits.insert(instance_id.to_string()) {
        tracing::warn!(
            cloud = %cloud.name,
            instance_id,
            "the instance's parameters hold no valid limit ({}): the value read before is kept",
            invalid.join(", ")
        );
    }
    false
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
    if (cloud.discovery.is_some() || names_missing)
        && let Err(e) = list_instances(api, cloud, known, deadline).await
    {
        errors.push(e);
    }
    let mut instances: Vec<(&str, &[String])> = cloud
        .dcs_instances
        .iter()
        .map(|i| (i.id.as_str(), i.nodes.as_slice()))
        .collect();
    let discovered = known.discovered.clone();
    for id in &discovered {
        if !cloud.dcs_instances.iter().any(|i| &i.id == id) {
            instances.push((id.as_str(), &[]));
        }
    }
    let mut nodes = Vec::new();
    let mut context_errors = Vec::new();
    let mut contexts = Vec::new();
    let looked_up = instances.len();
    for (instance_id, explicit) in instances {
        read_context(
            api,
            cloud,
            instance_id,
            known,
            &mut context_errors,
            deadline,
        )
        .await;
        let name = known
            .instances
            .get(instance_id)
            .map(|c| c.instance_name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| known.names.get(instance_id).cloned())
            .unwrap_or_default();
        if let Some(context) = known.instances.get(instance_id) {
            let mut context = context.clone();
            // A failed read of the parameters keeps the policy read before.
            context.maxmemory_policy = known.policies.get(instance_id).cloned().flatten();
            contexts.push((instance_id.to_string(), context));
        }
        let (max_clients, idle_timeout) =
            known.limits.get(instance_id).copied().unwrap_or_default();
        let instance = Instance {
            cloud: &cloud.name,
            id: instance_id,
            name: &name,
            explicit,
        };
        let found = instance_nodes(api, &instance, known, &mut errors, deadline).await;
        nodes.extend(found.into_iter().map(|mut t| {
            t.info.max_clients = max_clients;
            t.info.idle_timeout = idle_timeout;
            t
        }));
    }
    Found {
        nodes,
        errors,
        instances: contexts,
        context_errors,
        looked_up,
        listed: known.names.len(),
    }
}

/// Lists the account's instances: their names, and those discovery accepts. Fails with
/// `(reason, message)`.
async fn list_instances(
    api: &ApiClient,
    cloud: &Cloud,
    known: &mut Known,
    deadline: Instant,
) -> Result<(), (String, String)> {
    let query = ListInstancesQuery {
        tags: cloud
            .discovery
            .as_ref()
            .map(|d| d.tags.clone())
            .unwrap_or_default(),
        ..ListInstancesQuery::default()
    };
    let list = api
        .list_instances(&query, deadline)
        .await
        .map_err(|e| (e.reason().to_string(), format!("listing instances: {e}")))?;
    known.names = list
        .iter()
        .filter_map(|i| Some((i.instance_id.clone()?, i.name.clone().unwrap_or_default())))
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
            .filter(|i| discovery.accepts(i))
            .filter_map(|i| i.instance_id.clone())
            .collect();
    }
    Ok(())
}

/// An instance whose nodes are looked up.
struct Instance<'a> {
    cloud: &'a str,
    id: &'a str,
    name: &'a str,
    /// The nodes the configuration lists; empty for "the nodes that take clients".
    explicit: &'a [String],
}

/// The instance's nodes to scan, from its logical nodes; on a failed look-up, those known
/// before (or the explicit ones), with the error added to `errors`.
async fn instance_nodes(
    api: &ApiClient,
    instance: &Instance<'_>,
    known: &mut Known,
    errors: &mut Vec<(String, String)>,
    deadline: Instant,
) -> Vec<NodeTarget> {
    let &Instance {
        cloud,
        id: instance_id,
        name,
        explicit,
    } = instance;
    match api.list_logical_nodes(instance_id, deadline).await {
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
                            cloud,
                            instance_id,
                            name,
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
                            cloud,
                            instance_id,
                            name,
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
                e.reason().to_string(),
                format!("listing the nodes of instance {instance_id}: {e}"),
            ));
            // Keep scanning what was known; explicit nodes need no look-up to be scanned.
            known.nodes.get(instance_id).cloned().unwrap_or_else(|| {
                explicit
                    .iter()
                    .map(|id| target(cloud, instance_id, name, id, None))
                    .collect()
            })
        }
    }
}
