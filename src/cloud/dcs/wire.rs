//! The DCS answers and requests as the wire carries them: every field optional and read
//! leniently (real answers send numbers as strings and nulls anywhere).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::session::ClientInfo;
use crate::session::lenient;

/// A job's state. DCS sends `INIT`, `RUNNING`, `SUCCESS`, `FAIL`; DBSS adds `READY`; anything
/// else is kept as it came.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum JobStatus {
    Init,
    Ready,
    #[default]
    Running,
    Success,
    Fail,
    Other(String),
}

impl JobStatus {
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Init => "INIT",
            JobStatus::Ready => "READY",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
            JobStatus::Other(s) => s,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Fail)
    }
}

impl From<&str> for JobStatus {
    fn from(s: &str) -> Self {
        match s {
            "INIT" => JobStatus::Init,
            "READY" => JobStatus::Ready,
            "RUNNING" => JobStatus::Running,
            "SUCCESS" => JobStatus::Success,
            "FAIL" | "FAILED" => JobStatus::Fail,
            other => JobStatus::Other(other.to_string()),
        }
    }
}

impl Serialize for JobStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = lenient::opt_string(d)?.unwrap_or_default();
        Ok(JobStatus::from(s.as_str()))
    }
}

/// `{"job_id": ...}`, the answer of calls that start a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub job_id: Option<String>,
}

/// A DCS job as `GET /v2/{project_id}/jobs/{job_id}` answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcsJob {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_type: Option<String>,
    #[serde(default)]
    pub status: JobStatus,
    /// Millisecond epoch as a string; empty while unknown.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub begin_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub end_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fail_reason: Option<String>,
}

/// A millisecond epoch sent as a string (or number); empty or unparsable is absent.
pub fn parse_epoch_millis(value: Option<&str>) -> Option<SystemTime> {
    let ms: u64 = value?.trim().parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// A stored list's `time`: RFC 3339 (`2023-06-15T03:10:01.332Z`, as documented), with or
/// without the zone, or a millisecond epoch.
pub fn parse_list_time(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch_millis(Some(value));
    }
    humantime::parse_rfc3339_weak(value).ok()
}

impl DcsJob {
    pub fn began(&self) -> Option<SystemTime> {
        parse_epoch_millis(self.begin_time.as_deref())
    }

    pub fn ended(&self) -> Option<SystemTime> {
        parse_epoch_millis(self.end_time.as_deref())
    }
}

/// One page of a stored session list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPage {
    /// When the stored list was produced; every page of one list carries the same value.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub time: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub clients: Vec<ClientInfo>,
    /// Sessions in the whole stored list.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
}

/// Sort direction of a session list.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The query of one page of a stored session list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListClientsQuery {
    pub node_id: String,
    pub offset: Option<u64>,
    /// 1 to 1000; the service defaults to 10.
    pub limit: Option<u32>,
    /// Only sessions from this address.
    pub addr: Option<String>,
    /// A [`ClientInfo`] field name.
    pub sort: Option<String>,
    pub order: Option<SortOrder>,
}

impl ListClientsQuery {
    /// Every session of `node_id`, unfiltered, in the service's order.
    pub fn of_node(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_string(),
            ..Self::default()
        }
    }
}

/// What kill-all ends: one node's sessions or every node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillTarget {
    Node(String),
    AllNodes,
}

/// One node of an instance, as `logical-nodes` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicalNode {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub logical_node_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub az_code: Option<String>,
    /// `redis-server` or `redis-proxy`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_role: Option<String>,
    /// `master`, `slave` or `proxy`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_port: Option<String>,
    /// The id the session calls take.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub priority_weight: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_access: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_remove_ip: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub replication_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::any_list")]
    pub dimensions: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicalNodes {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub nodes: Vec<LogicalNode>,
}

/// An instance as the instance list shows it (the fields the exporter uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub engine: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub engine_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// The flavour, which names the architecture: `redis.single.*`, `redis.ha.*`,
    /// `redis.cluster.*`, `redis.proxy.*`, `redis.ha.*.rw.*` and so on.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub spec_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub capacity: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub port: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub enterprise_project_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub enterprise_project_name: Option<String>,
    /// Client IP pass-through: `addr` of a session is then the client's own address; without
    /// it, only `peer` is. Instance details carry it; the list may not.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub transparent_client_ip_enable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub tags: Vec<ResourceTag>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub sharding_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub replica_count: Option<i64>,
    /// Whether the instance keeps a slow log the API serves (`"true"` in the details).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        serialize_with = "lenient::bool_as_string"
    )]
    pub support_slow_log_flag: Option<bool>,
}

/// A resource tag of an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTag {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}

/// An instance's parameters (`GET .../configs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceConfigs {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub config_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub config_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub redis_config: Vec<ConfigParam>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigParam {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub param_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub param_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub param_value: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub default_value: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value_range: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
}

impl InstanceConfigs {
    /// A limit parameter (`maxclients`, `timeout`): `None` when the answer lacks it, else its
    /// value checked as [`lenient::limit_value`] checks it (a whole number from 0 to
    /// `i64::MAX`), or the text that is none.
    pub fn limit(&self, name: &str) -> Option<Result<u64, &str>> {
        let value = self.parameter(name)?;
        Some(lenient::limit_value(value).ok_or(value))
    }

    /// A parameter's value as written, when the answer has it.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.redis_config
            .iter()
            .find(|p| p.param_name.as_deref() == Some(name))?
            .param_value
            .as_deref()
    }

    /// A limit parameter's value, when the answer has a valid one.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.limit(name)?.ok()
    }
}

/// An entry of an instance's slow log. Some fields are filled for some accounts only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowlogItem {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    /// The command line, as the log keeps it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub command: Option<String>,
    /// `2020-06-19T07:06:07Z`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub start_time: Option<String>,
    /// Milliseconds, as a string.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub duration: Option<String>,
    /// The shard (cluster instances).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub shard_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub database_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub node_role: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub client_ip: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowlogPage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub slowlogs: Vec<SlowlogItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub instance_num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub instances: Vec<InstanceSummary>,
}

/// Filters of the instance list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListInstancesQuery {
    pub name: Option<String>,
    pub status: Option<String>,
    /// `key=value` pairs, all of which an instance must carry.
    pub tags: Vec<(String, String)>,
    /// Instances a page; the service caps it.
    pub page_size: Option<u32>,
}
