//! What the simulator serves: instances, their nodes, sessions per node, job timing, DBSS
//! resources. Read from a small TOML file, with a built-in default.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::fault_kind::FaultKindName;

/// The architecture of a DCS instance, which decides its nodes and which of them take clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// One data node.
    Single,
    /// A master and its replicas.
    Ha,
    /// Redis Cluster: shards of a master and replicas, clients on every data node.
    Cluster,
    /// Proxy Cluster: clients on the proxies, shards behind them.
    Proxy,
    /// Read/write splitting: clients on the proxies, a master and replicas behind them.
    RwSplit,
}

impl Architecture {
    /// Clients connect to proxies, not to data nodes.
    pub fn has_proxies(self) -> bool {
        matches!(self, Architecture::Proxy | Architecture::RwSplit)
    }

    pub fn spec_code(self) -> &'static str {
        match self {
            Architecture::Single => "redis.single.xu1.large.4",
            Architecture::Ha => "redis.ha.xu1.large.r2.4",
            Architecture::Cluster => "redis.cluster.xu1.large.r2.8",
            Architecture::Proxy => "redis.proxy.xu1.large.8",
            Architecture::RwSplit => "redis.ha.xu1.large.p2.4",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub name: String,
    /// Derived from the seed and the name when not given.
    pub id: Option<String>,
    pub architecture: Architecture,
    /// Data shards (Cluster, Proxy); one otherwise.
    #[serde(default = "one")]
    pub shards: u32,
    /// Replicas per shard (not for Single).
    #[serde(default = "one")]
    pub replicas: u32,
    /// Proxy nodes (Proxy, RwSplit).
    #[serde(default = "default_proxies")]
    pub proxies: u32,
    /// Sessions on each node that takes clients.
    #[serde(default = "default_sessions")]
    pub sessions_per_node: u32,
    /// Distinct client machines the sessions come from.
    #[serde(default = "default_client_hosts")]
    pub client_hosts: u32,
    /// Without pass-through, `addr` shows an internal 198.19.x.x address and only `peer`
    /// names the client.
    #[serde(default = "yes")]
    pub ip_pass_through: bool,
    #[serde(default = "default_engine_version")]
    pub engine_version: String,
    /// Real Redis servers behind the nodes that take clients, in node order: their scans list
    /// the real sessions (`CLIENT LIST`) and their kills end them (`CLIENT KILL`).
    #[serde(default)]
    pub redis_urls: Vec<String>,
    /// The instance's `maxclients` parameter (`configs`).
    #[serde(default = "default_max_clients")]
    pub max_clients: u32,
    /// The instance's `timeout` parameter in seconds: 0, idle sessions are never closed.
    #[serde(default)]
    pub timeout: u32,
    /// Resource tags (instance details and list, and the list's `tags` filter).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default = "default_enterprise_project")]
    pub enterprise_project_id: String,
    /// Whether the instance keeps a slow log the API serves (`support_slow_log_flag`).
    #[serde(default = "yes")]
    pub slow_log: bool,
    /// How its details spell `support_slow_log_flag`, which Huawei does not document.
    #[serde(default)]
    pub slow_log_flag: SlowLogFlag,
    /// Entries its slow log gains a minute, on average.
    #[serde(default = "default_slow_commands_per_minute")]
    pub slow_commands_per_minute: f64,
    /// The instance's `maxmemory-policy` parameter (`configs`): hot-key analyses need
    /// `allkeys-lfu` or `volatile-lfu`.
    #[serde(default = "default_maxmemory_policy")]
    pub maxmemory_policy: String,
    /// Key analyses and statistics answer some numbers as strings and some as `null`, and a
    /// few key names are odd (a newline, a megabyte long), as the exporter must survive.
    #[serde(default)]
    pub loose_key_answers: bool,
}

impl Default for InstanceSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            id: None,
            architecture: Architecture::Ha,
            shards: 1,
            replicas: 1,
            proxies: default_proxies(),
            sessions_per_node: default_sessions(),
            client_hosts: default_client_hosts(),
            ip_pass_through: true,
            engine_version: default_engine_version(),
            redis_urls: Vec::new(),
            max_clients: default_max_clients(),
            timeout: 0,
            tags: Default::default(),
            enterprise_project_id: default_enterprise_project(),
            slow_log: true,
            slow_log_flag: SlowLogFlag::default(),
            slow_commands_per_minute: default_slow_commands_per_minute(),
            maxmemory_policy: default_maxmemory_policy(),
            loose_key_answers: false,
        }
    }
}

/// A DBSS audit resource and the job records it answers with.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbssResourceSpec {
    pub id: String,
    #[serde(default = "default_dbss_succeeded")]
    pub succeeded: u32,
    #[serde(default = "one")]
    pub failed: u32,
    #[serde(default = "one")]
    pub running: u32,
}

/// How an instance's details spell `support_slow_log_flag`. Huawei's SDK models type it as a
/// string without saying its values, and public fixtures of real answers show `null`: a
/// client has to read every spelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowLogFlag {
    /// `"true"` / `"false"`.
    #[default]
    Text,
    /// `true` / `false`.
    Bool,
    /// `"1"` / `"0"`.
    Digit,
    /// `null`, whether or not the instance keeps a slow log.
    Null,
    /// No such field.
    Absent,
}

impl SlowLogFlag {
    /// The flag's value for an instance that keeps a slow log or not; `None`, no field.
    pub fn spell(self, keeps: bool) -> Option<serde_json::Value> {
        use serde_json::Value;
        match self {
            SlowLogFlag::Text => Some(Value::from(if keeps { "true" } else { "false" })),
            SlowLogFlag::Bool => Some(Value::from(keeps)),
            SlowLogFlag::Digit => Some(Value::from(if keeps { "1" } else { "0" })),
            SlowLogFlag::Null => Some(Value::Null),
            SlowLogFlag::Absent => None,
        }
    }
}

/// Which DBSS job paths are served: both, or only the deprecated one (as older regions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbssPaths {
    #[default]
    Both,
    LegacyOnly,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Seeds ids and sessions: the same seed serves the same data.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long a scan or kill job takes: `INIT` for its first fifth, then `RUNNING`, then done.
    #[serde(default = "default_job_duration", with = "humantime_serde")]
    pub job_duration: Duration,
    /// How long a big-key or hot-key analysis takes: `waiting` for its first fifth, then
    /// `running`, then `success`.
    #[serde(default = "default_key_task_duration", with = "humantime_serde")]
    pub key_task_duration: Duration,
    /// Added to every answer, as the network and the gateway add it to the real service's.
    #[serde(default, with = "humantime_serde")]
    pub api_latency: Duration,
    /// How long the temporary credentials it issues last (metadata, pod identity, STS, IAM);
    /// the duration each request asks for when not set.
    #[serde(default, with = "humantime_serde")]
    pub credential_lifetime: Option<Duration>,
    #[serde(default)]
    pub dbss_paths: DbssPaths,
    #[serde(default, rename = "instance")]
    pub instances: Vec<InstanceSpec>,
    #[serde(default, rename = "dbss_resource")]
    pub dbss_resources: Vec<DbssResourceSpec>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
}

/// A fault injected from the start, on one node (or every call of an operation).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The instance's name; with `node`, the fault hits only that node.
    pub instance: Option<String>,
    /// The n-th node of the instance that takes clients (from 1).
    pub node: Option<usize>,
    /// An API operation: scan_clients, show_job, list_clients, kill_all_clients, kill_clients,
    /// list_logical_nodes, list_instances, list_audit_jobs, the key analyses' (list_, show_,
    /// create_big_key_task(s), ..._hot_key_..., list_/show_offline_key_analys(es|is)) and
    /// list_instance_statistics.
    pub operation: String,
    /// error, hang, slow, truncated_body, wrong_types, huge_body, job_stuck, job_fails,
    /// time_changes, count_too_large, endless_pages, empty_keys (job_stuck and job_fails also
    /// hold or fail the key analyses created; count_too_large and endless_pages also shape
    /// their task lists; empty_keys empties the keys of a key analysis's details).
    pub kind: String,
    /// For `error`: the HTTP status and error code (APIG.* codes answer in the gateway's shape).
    pub status: Option<u16>,
    pub code: Option<String>,
    /// For `slow`.
    #[serde(default, with = "humantime_serde")]
    pub delay: Option<Duration>,
    /// For `huge_body`.
    pub bytes: Option<usize>,
    /// How many calls; 0 or absent: every call.
    #[serde(default)]
    pub times: u32,
    /// Only one matching call in this many (`times` counts those hit): a node that fails now
    /// and then.
    pub every: Option<u32>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_proxies() -> u32 {
    2
}
fn default_sessions() -> u32 {
    1000
}
fn default_client_hosts() -> u32 {
    6
}
fn default_engine_version() -> String {
    "6.0".into()
}
/// DCS's default `maxclients`.
fn default_max_clients() -> u32 {
    10_000
}
/// The default enterprise project.
fn default_slow_commands_per_minute() -> f64 {
    6.0
}

fn default_enterprise_project() -> String {
    "0".into()
}
fn default_dbss_succeeded() -> u32 {
    3
}
fn default_seed() -> u64 {
    42
}
fn default_job_duration() -> Duration {
    Duration::from_secs(2)
}
fn default_key_task_duration() -> Duration {
    Duration::from_secs(5)
}
/// DCS's default for cluster instances (single-node and master/standby ones default to
/// `noeviction` in some versions).
fn default_maxmemory_policy() -> String {
    "volatile-lru".into()
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("topology file {path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("topology: {0}")]
    Invalid(String),
}

/// Upper bounds that keep a typo from asking for terabytes.
const MAX_SESSIONS_PER_NODE: u32 = 200_000;
const MAX_NODES_PER_INSTANCE: u32 = 1_000;

impl Topology {
    pub fn from_file(path: &Path) -> Result<Self, TopologyError> {
        let shown = path.display().to_string();
        let text =
            crate::config::read_bounded(path, crate::config::MAX_FILE_BYTES).map_err(|source| {
                TopologyError::Read {
                    path: shown.clone(),
                    source,
                }
            })?;
        let topology: Topology = toml::from_str(&text).map_err(|source| TopologyError::Parse {
            path: shown,
            source: Box::new(source),
        })?;
        topology.validate()?;
        Ok(topology)
    }

    /// Two instances with five nodes that take clients (an HA pair and three proxies), a few
    /// thousand sessions, and a DBSS resource with succeeded, failed and running jobs.
    pub fn demo() -> Self {
        Self {
            seed: default_seed(),
            job_duration: default_job_duration(),
            key_task_duration: default_key_task_duration(),
            api_latency: Duration::ZERO,
            // Short, so that the landing page shows the demo's credentials being renewed.
            credential_lifetime: Some(Duration::from_secs(300)),
            dbss_paths: DbssPaths::Both,
            instances: vec![
                InstanceSpec {
                    name: "orders-cache".into(),
                    id: None,
                    architecture: Architecture::Ha,
                    shards: 1,
                    replicas: 1,
                    proxies: 0,
                    sessions_per_node: 1500,
                    client_hosts: 5,
                    ip_pass_through: true,
                    engine_version: "6.0".into(),
                    redis_urls: Vec::new(),
                    max_clients: 10_000,
                    // Idle sessions are never closed: the default.
                    timeout: 0,
                    tags: [("env", "prod"), ("team", "orders")]
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .into(),
                    enterprise_project_id: "0".into(),
                    slow_log: true,
                    slow_log_flag: SlowLogFlag::Text,
                    slow_commands_per_minute: 4.0,
                    // Hot-key analyses run here, and are refused on the other instance.
                    maxmemory_policy: "allkeys-lfu".into(),
                    loose_key_answers: false,
                },
                InstanceSpec {
                    name: "sessions-proxy".into(),
                    id: None,
                    architecture: Architecture::Proxy,
                    shards: 3,
                    replicas: 1,
                    proxies: 3,
                    sessions_per_node: 2000,
                    client_hosts: 12,
                    ip_pass_through: false,
                    engine_version: "5.0".into(),
                    redis_urls: Vec::new(),
                    max_clients: 20_000,
                    timeout: 3600,
                    tags: [("env", "staging"), ("team", "platform")]
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .into(),
                    enterprise_project_id: "5bd6bba7-4a8e-4a1e-9e6c-0a3c7d2f6e11".into(),
                    slow_log: true,
                    slow_log_flag: SlowLogFlag::Text,
                    slow_commands_per_minute: 10.0,
                    maxmemory_policy: default_maxmemory_policy(),
                    loose_key_answers: false,
                },
            ],
            dbss_resources: vec![DbssResourceSpec {
                id: "dbss-audit-demo".into(),
                succeeded: 3,
                failed: 1,
                running: 1,
            }],
            faults: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), TopologyError> {
        let invalid = |msg: String| Err(TopologyError::Invalid(msg));
        let mut names = std::collections::HashSet::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let at = format!("instance[{i}] ({})", inst.name);
            if inst.name.trim().is_empty() {
                return invalid(format!("instance[{i}].name is empty"));
            }
            if !names.insert(inst.name.as_str()) {
                return invalid(format!("{at}: the name is used twice"));
            }
            if inst.shards == 0 {
                return invalid(format!("{at}.shards must be at least 1"));
            }
            if inst.architecture.has_proxies() && inst.proxies == 0 {
                return invalid(format!(
                    "{at}.proxies must be at least 1 for this architecture"
                ));
            }
            if inst.client_hosts == 0 || inst.client_hosts > 60_000 {
                return invalid(format!("{at}.client_hosts must be between 1 and 60000"));
            }
            if inst.sessions_per_node > MAX_SESSIONS_PER_NODE {
                return invalid(format!(
                    "{at}.sessions_per_node must be at most {MAX_SESSIONS_PER_NODE}"
                ));
            }
            for url in &inst.redis_urls {
                crate::redis::host_port(url)
                    .map_err(|e| TopologyError::Invalid(format!("{at}.redis_urls: {e}")))?;
            }
            let nodes =
                u64::from(inst.shards) * (u64::from(inst.replicas) + 1) + u64::from(inst.proxies);
            if nodes > u64::from(MAX_NODES_PER_INSTANCE) {
                return invalid(format!("{at} has more than {MAX_NODES_PER_INSTANCE} nodes"));
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            if f.operation.parse::<crate::cloud::Operation>().is_err() {
                return invalid(format!(
                    "fault[{i}].operation {:?} is not an API operation",
                    f.operation
                ));
            }
            if f.kind.parse::<FaultKindName>().is_err() {
                return invalid(format!(
                    "fault[{i}].kind {:?} is not one of {}",
                    f.kind,
                    <FaultKindName as strum::VariantNames>::VARIANTS.join(", ")
                ));
            }
            if let Some(name) = &f.instance
                && !self.instances.iter().any(|inst| &inst.name == name)
            {
                return invalid(format!(
                    "fault[{i}].instance {name:?} is not in the topology"
                ));
            }
        }
        if self
            .credential_lifetime
            .is_some_and(|l| l < Duration::from_secs(10) || l > Duration::from_secs(86_400))
        {
            return invalid("credential_lifetime must be between 10s and 24h".into());
        }
        if self.api_latency > Duration::from_secs(60) {
            return invalid("api_latency must be at most 1m".into());
        }
        if self.job_duration > Duration::from_secs(3600) {
            return invalid("job_duration must be at most 1h".into());
        }
        if self.key_task_duration > Duration::from_secs(3600) {
            return invalid("key_task_duration must be at most 1h".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_file_and_names_bad_keys() {
        let t: Topology = toml::from_str(
            r#"
            seed = 7
            job_duration = "150ms"
            [[instance]]
            name = "a"
            architecture = "cluster"
            shards = 2
            [[dbss_resource]]
            id = "r1"
            "#,
        )
        .unwrap();
        assert_eq!(t.job_duration, Duration::from_millis(150));
        assert_eq!(t.instances[0].shards, 2);
        assert_eq!(t.instances[0].sessions_per_node, 1000);
        assert!(t.validate().is_ok());
        let bad =
            toml::from_str::<Topology>("[[instance]]\nname='a'\narchitecture='ha'\nshard=1\n");
        assert!(bad.unwrap_err().to_string().contains("shard"));
        Topology::demo().validate().unwrap();
    }
}
