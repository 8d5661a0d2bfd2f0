//! Building the state from a topology: each instance's logical nodes, their sessions and
//! replication links, the instance's listing, parameters and slow log. Ids come from one seeded
//! generator, drawn in a fixed order, so that a topology gives the same state on every run.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::dbss::dbss_records;
use super::ids::uuid_like;
use super::key_tasks::{AnalysedNode, InstanceKeys, KeysSpec};
use super::model::{SimInstance, SimNode, SimState};
use crate::cloud::dcs::{ConfigParam, InstanceConfigs, InstanceSummary, LogicalNode, ResourceTag};
use crate::redis::RedisEndpoint;
use crate::sim::clock::millis;
use crate::sim::population::{ClientProfile, KeyspaceShape, Link, Population};
use crate::sim::slowlog::{SimSlowLog, SlowLogSource};
use crate::sim::topology::{Architecture, InstanceSpec, Topology};

impl SimState {
    pub fn new(topology: &Topology, now: SystemTime) -> Self {
        let now_ms = millis(now);
        let mut ids = StdRng::seed_from_u64(topology.seed);
        let mut instances = Vec::new();
        for (i, spec) in topology.instances.iter().enumerate() {
            instances.push(build_instance(
                spec,
                topology.seed,
                i as u64,
                &mut ids,
                now_ms,
            ));
        }
        let instance_index = instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.summary.instance_id.clone().unwrap_or_default(), i))
            .collect();
        // After the instances: their ids are drawn first.
        let dbss = dbss_records(topology, &mut ids, now_ms);
        Self {
            instances,
            instance_index,
            jobs: HashMap::new(),
            job_order: VecDeque::new(),
            pending: Vec::new(),
            dbss,
            dbss_paths: topology.dbss_paths,
            job_duration: topology.job_duration,
            key_task_duration: topology.key_task_duration,
            ids,
        }
    }
}

/// How many shards an instance has, and replicas each shard: as the topology asks, as far as
/// the architecture has them.
#[derive(Clone, Copy)]
struct Shape {
    shards: u32,
    replicas: u32,
}

impl Shape {
    fn of(spec: &InstanceSpec) -> Self {
        let arch = spec.architecture;
        let shards = if matches!(arch, Architecture::Cluster | Architecture::Proxy) {
            spec.shards
        } else {
            1
        };
        let replicas = if arch == Architecture::Single {
            0
        } else {
            spec.replicas
        };
        Self { shards, replicas }
    }
}

/// The `index`-th instance of the topology.
fn build_instance(
    spec: &InstanceSpec,
    seed: u64,
    index: u64,
    ids: &mut StdRng,
    now_ms: i64,
) -> SimInstance {
    let instance_id = spec.id.clone().unwrap_or_else(|| uuid_like(ids));
    let subnet = 1 + index * 2;
    let shape = Shape::of(spec);
    let nodes = logical_nodes(spec, &instance_id, subnet, shape, ids);
    let mut profile_rng = StdRng::seed_from_u64(seed ^ (index + 1).wrapping_mul(0x9E37_79B9));
    let shared = Arc::new(ClientProfile::generate(
        &mut profile_rng,
        spec.client_hosts,
        None,
    ));
    let sim_nodes = sim_nodes(spec, seed, index, &shared, nodes, now_ms);
    let node_index = sim_nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.info.node_id.clone().unwrap_or_default(), i))
        .collect();
    let configs = instance_configs(&instance_id, spec);
    let slow_log = slow_log(spec, seed, index, &shared, shape, now_ms);
    let summary = summary(spec, instance_id, subnet, shape);
    let keys = instance_keys(spec, seed, index, &summary, &sim_nodes, now_ms);
    SimInstance {
        summary,
        keys,
        keeps_slow_log: spec.slow_log,
        slow_log_flag: spec.slow_log_flag,
        slow_log,
        clients: Arc::clone(&shared),
        configs,
        architecture: spec.architecture,
        nodes: sim_nodes,
        node_index,
    }
}

/// The logical nodes of an instance as they are added, each with whether it takes clients.
struct NodeList<'a> {
    spec: &'a InstanceSpec,
    instance_id: &'a str,
    subnet: u64,
    nodes: Vec<(LogicalNode, bool)>,
}

impl NodeList<'_> {
    /// Adds the next node: `role` and `kind` as the service names them, `group` its shard.
    fn add(&mut self, ids: &mut StdRng, role: &str, kind: &str, group: Option<u32>, takes: bool) {
        let (spec, instance_id, subnet) = (self.spec, self.instance_id, self.subnet);
        let az = |i: u32| format!("cn-north-4{}", ["a", "b", "c"][(i % 3) as usize]);
        let n = self.nodes.len() as u32;
        let node_id = uuid_like(ids);
        let group_id = group.map(|g| format!("{instance_id}-group-{g}"));
        // The fields draw their ids in this order: the node's, its logical id, its replication id.
        let info = LogicalNode {
            logical_node_id: Some(uuid_like(ids)),
            name: Some(format!("{}-{:04}", spec.name, n + 1)),
            status: Some("Active".into()),
            az_code: Some(az(n)),
            node_role: Some(role.into()),
            node_type: Some(kind.into()),
            node_ip: Some(format!("192.168.{subnet}.{}", 10 + n)),
            node_port: Some(
                if role == "redis-proxy" {
                    "6379"
                } else {
                    "6380"
                }
                .into(),
            ),
            node_id: Some(node_id.clone()),
            priority_weight: Some(100),
            is_access: Some(takes),
            group_id: group_id.clone(),
            group_name: group.map(|g| format!("group-{g}")),
            is_remove_ip: Some(false),
            replication_id: group_id.map(|_| uuid_like(ids)),
            dimensions: vec![
                serde_json::json!({"name": "dcs_instance_id", "value": instance_id}),
                // Cloud Eye's monitored object: an id of its own, neither the node's id nor
                // its name, as on the real service.
                serde_json::json!({
                    "name": if role == "redis-proxy" { "dcs_cluster_proxy_node" } else { "dcs_cluster_redis_node" },
                    "value": monitored_object_id(&node_id),
                }),
            ],
        };
        self.nodes.push((info, takes));
    }
}

/// Every shard's master and replicas, then the proxies where the architecture has them (they
/// take the clients then, not the data nodes).
fn logical_nodes(
    spec: &InstanceSpec,
    instance_id: &str,
    subnet: u64,
    shape: Shape,
    ids: &mut StdRng,
) -> Vec<(LogicalNode, bool)> {
    let arch = spec.architecture;
    let mut list = NodeList {
        spec,
        instance_id,
        subnet,
        nodes: Vec::new(),
    };
    for shard in 0..shape.shards {
        list.add(
            ids,
            "redis-server",
            "master",
            Some(shard),
            !arch.has_proxies(),
        );
        for _ in 0..shape.replicas {
            list.add(
                ids,
                "redis-server",
                "slave",
                Some(shard),
                !arch.has_proxies(),
            );
        }
    }
    if arch.has_proxies() {
        for _ in 0..spec.proxies {
            list.add(ids, "redis-proxy", "proxy", None, true);
        }
    }
    list.nodes
}

/// Replication links of the nodes that take clients: a master lists its replicas' links, a
/// replica its master's.
fn replication_links(nodes: &[(LogicalNode, bool)]) -> Vec<Vec<(String, Link)>> {
    nodes
        .iter()
        .map(|(info, takes)| {
            let same_group = |other: &LogicalNode| {
                other.group_id.is_some()
                    && other.group_id == info.group_id
                    && other.node_id != info.node_id
            };
            let ip = |n: &LogicalNode| n.node_ip.clone().unwrap_or_default();
            match (takes, info.node_type.as_deref()) {
                (true, Some("master")) => nodes
                    .iter()
                    .filter(|(n, _)| same_group(n) && n.node_type.as_deref() == Some("slave"))
                    .map(|(n, _)| (ip(n), Link::Replica))
                    .collect(),
                (true, Some("slave")) => nodes
                    .iter()
                    .filter(|(n, _)| same_group(n) && n.node_type.as_deref() == Some("master"))
                    .map(|(n, _)| (ip(n), Link::Master))
                    .collect(),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// The nodes with their sessions: the topology's Redis URLs back the first nodes that take
/// clients; the others get a simulated population.
fn sim_nodes(
    spec: &InstanceSpec,
    seed: u64,
    index: u64,
    shared: &Arc<ClientProfile>,
    nodes: Vec<(LogicalNode, bool)>,
    now_ms: i64,
) -> Vec<SimNode> {
    let mut backends = spec.redis_urls.iter();
    let links = replication_links(&nodes);
    nodes
        .into_iter()
        .enumerate()
        .map(|(n, (info, takes))| {
            let backend = if takes { backends.next() } else { None }.map(|url| RedisEndpoint {
                url: url.clone(),
                username: None,
                password: None,
            });
            // Replicas of a directly used instance serve a tenth of the reads.
            let is_replica = info.node_type.as_deref() == Some("slave");
            let target = match (takes, is_replica) {
                (false, _) => 0,
                (true, true) => spec.sessions_per_node / 10,
                (true, false) => spec.sessions_per_node,
            };
            let profile = if spec.ip_pass_through {
                Arc::clone(shared)
            } else {
                let mut p = (**shared).clone();
                p.internal_ip = Some(format!("198.19.{}.{}", 128 + index, 10 + n));
                Arc::new(p)
            };
            let node_seed = seed ^ ((index + 1) << 32) ^ (n as u64 + 1);
            // A real server lists its own links.
            let node_links = if backend.is_some() {
                &[][..]
            } else {
                &links[n][..]
            };
            let population = node_links.iter().fold(
                Population::new(node_seed, profile, target, now_ms),
                |p, (ip, link)| p.with_link(ip, *link),
            );
            SimNode {
                info,
                takes_clients: takes,
                population: population.with_idle_timeout(spec.timeout),
                stored: None,
                scanning: None,
                backend,
            }
        })
        .collect()
}

/// The instance's keys, and DCS's analyses of them: shards named `ip:port` on cluster
/// instances (whose only db is 0), offline analyses of the data nodes' backups.
fn instance_keys(
    spec: &InstanceSpec,
    seed: u64,
    index: u64,
    summary: &InstanceSummary,
    nodes: &[SimNode],
    now_ms: i64,
) -> InstanceKeys {
    let clustered = matches!(
        spec.architecture,
        Architecture::Cluster | Architecture::Proxy
    );
    let data: Vec<&LogicalNode> = nodes
        .iter()
        .map(|n| &n.info)
        .filter(|n| n.node_role.as_deref() == Some("redis-server"))
        .collect();
    let address = |n: &LogicalNode| {
        format!(
            "{}:{}",
            n.node_ip.as_deref().unwrap_or_default(),
            n.node_port.as_deref().unwrap_or_default()
        )
    };
    let shards = data
        .iter()
        .filter(|n| clustered && n.node_type.as_deref() == Some("master"))
        .map(|n| address(n))
        .collect();
    let data_nodes: Vec<AnalysedNode> = data
        .iter()
        .map(|n| AnalysedNode {
            node_id: n.node_id.clone().unwrap_or_default(),
            node_ip: n.node_ip.clone().unwrap_or_default(),
            node_type: n.node_type.clone().unwrap_or_default(),
            group_name: n.group_name.clone().filter(|_| clustered),
        })
        .collect();
    let capacity_gb = summary.capacity.unwrap_or(0).max(0) as u64;
    let policy = spec.maxmemory_policy.as_str();
    let keys_spec = KeysSpec {
        seed: seed ^ (index + 1).wrapping_mul(0x6b65_7973_0000_0001),
        shape: KeyspaceShape {
            shards,
            dbs: if clustered { 1 } else { 16 },
            capacity_bytes: capacity_gb << 30,
            odd_names: spec.loose_key_answers,
        },
        lfu: matches!(policy, "allkeys-lfu" | "volatile-lfu"),
        loose: spec.loose_key_answers,
        data_nodes: &data_nodes,
    };
    InstanceKeys::new(&keys_spec, now_ms)
}

/// The instance's slow log: commands from its client hosts, on each shard.
fn slow_log(
    spec: &InstanceSpec,
    seed: u64,
    index: u64,
    shared: &ClientProfile,
    shape: Shape,
    now_ms: i64,
) -> SimSlowLog {
    SimSlowLog::new(
        seed ^ (index + 1).wrapping_mul(0x510e_c0de),
        SlowLogSource {
            shards: if matches!(
                spec.architecture,
                Architecture::Cluster | Architecture::Proxy
            ) {
                (0..shape.shards)
                    .map(|g| Some(format!("group-{g}")))
                    .collect()
            } else {
                vec![None]
            },
            replicas: shape.replicas > 0,
            hosts: shared
                .hosts
                .iter()
                .map(|h| (h.ip.clone(), h.weight))
                .collect(),
            per_minute: if spec.slow_log {
                spec.slow_commands_per_minute
            } else {
                0.0
            },
        },
        now_ms,
    )
}

/// The instance as the instance list and its details show it.
fn summary(spec: &InstanceSpec, instance_id: String, subnet: u64, shape: Shape) -> InstanceSummary {
    InstanceSummary {
        instance_id: Some(instance_id),
        name: Some(spec.name.clone()),
        engine: Some("Redis".into()),
        engine_version: Some(spec.engine_version.clone()),
        status: Some("RUNNING".into()),
        spec_code: Some(spec.architecture.spec_code().into()),
        capacity: Some(8),
        ip: Some(format!("192.168.{subnet}.2")),
        port: Some(6379),
        enterprise_project_id: Some(spec.enterprise_project_id.clone()),
        enterprise_project_name: Some(if spec.enterprise_project_id == "0" {
            "default".into()
        } else {
            format!(
                "project-{}",
                &spec.enterprise_project_id[..8.min(spec.enterprise_project_id.len())]
            )
        }),
        transparent_client_ip_enable: Some(spec.ip_pass_through),
        tags: spec
            .tags
            .iter()
            .map(|(k, v)| ResourceTag {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
        sharding_count: Some(shape.shards as i64),
        replica_count: Some(shape.replicas as i64 + 1),
        support_slow_log_flag: Some(spec.slow_log),
    }
}

/// A node's Cloud Eye monitored-object id: derived from its id, stable, and different from it.
fn monitored_object_id(node_id: &str) -> String {
    use std::hash::{Hash, Hasher};
    // FxHash: the same on every build, unlike the standard library's.
    let mut hasher = rustc_hash::FxHasher::default();
    ("cloud-eye", node_id).hash(&mut hasher);
    let h = hasher.finish();
    format!(
        "{:08x}-{:04x}-{:04x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xffff
    )
}

/// The parameters `configs` answers, in the service's shape: `maxclients`, `timeout` and
/// `maxmemory-policy` from the topology, and a few others as the real list has them.
fn instance_configs(instance_id: &str, spec: &InstanceSpec) -> InstanceConfigs {
    let param = |id: u32, name: &str, value: String, default: &str, range: &str, what: &str| {
        ConfigParam {
            param_id: Some(id.to_string()),
            param_name: Some(name.into()),
            param_value: Some(value),
            default_value: Some(default.into()),
            // "Interger" is the service's own spelling, as its answers show it.
            value_type: Some(
                if range.contains('-') {
                    "Interger"
                } else {
                    "Enum"
                }
                .into(),
            ),
            value_range: Some(range.into()),
            description: Some(what.into()),
        }
    };
    InstanceConfigs {
        instance_id: Some(instance_id.to_string()),
        config_status: Some("SUCCESS".into()),
        config_time: Some("2026-11-02T08:11:52.000Z".into()),
        status: Some("RUNNING".into()),
        redis_config: vec![
            param(
                1,
                "timeout",
                spec.timeout.to_string(),
                "0",
                "0-7200",
                "Close the connection after a client is idle for N seconds (0 to disable)",
            ),
            param(
                2,
                "maxclients",
                spec.max_clients.to_string(),
                "10000",
                "1000-50000",
                "The maximum number of client connections allowed at a time",
            ),
            param(
                3,
                "maxmemory-policy",
                spec.maxmemory_policy.clone(),
                "volatile-lru",
                "volatile-lru,allkeys-lru,volatile-random,allkeys-random,volatile-ttl,noeviction,volatile-lfu,allkeys-lfu",
                "How Redis selects what to remove when maxmemory is reached",
            ),
            param(
                4,
                "slowlog-log-slower-than",
                "10000".into(),
                "10000",
                "0-1000000",
                "The slow log's threshold in microseconds",
            ),
        ],
    }
}
