//! DCS calls: session scans, jobs, stored session lists, kills, nodes, instances.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client::{ApiClient, Call, decode};
use super::error::{ApiError, ErrorKind, Operation};
use super::page_reader::{self, ClientPageRef, PageHead};
use crate::session::lenient;
use crate::session::{ClientInfo, ClientRef, PageSink};

/// Largest page the session list API serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// More sessions than any node can hold (50,000 connections at most): a list without a `count`
/// whose pages go past this is taken to be broken.
pub const MAX_LIST_SESSIONS: u64 = 1_000_000;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
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

/// What kill-all ends: one node's sessions or every node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillTarget {
    Node(String),
    AllNodes,
}

#[derive(Serialize)]
struct KillAllBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<&'a str>,
    kill_all_nodes: bool,
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
    /// A parameter's value as a whole number (`maxclients`, `timeout`), when it is one.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.redis_config
            .iter()
            .find(|p| p.param_name.as_deref() == Some(name))
            .and_then(|p| p.param_value.as_deref())
            .and_then(|v| v.trim().parse().ok())
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

/// The most slow-log pages one read takes (100,000 entries, about 30 MB while read): a log
/// that keeps growing while it is paged, or a window of more entries than that, cannot keep the
/// reader or its memory. The oldest are read first; entries past them are not counted.
const MAX_SLOWLOG_PAGES: usize = 100;

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

/// Reads a page of sessions in place from an answer's body, handing each to `each` as soon as
/// it is read: their text is never copied, and a page is never held as records. The one-pass
/// reader takes what it can; where it gives up, the serde decoder reads the page and hands
/// over the sessions the reader had not.
pub fn decode_client_page_with<'a>(
    body: &'a [u8],
    each: &mut dyn FnMut(ClientRef<'a>),
) -> Result<PageHead<'a>, ApiError> {
    match page_reader::read_page_with(body, each) {
        Ok(head) => Ok(head),
        Err(handed_over) => {
            let page: ClientPageRef<'a> = decode(Operation::ListClients, body)?;
            let head = PageHead {
                time: page.time,
                count: page.count,
                sessions: page.clients.len(),
                first_id: page.clients.first().and_then(|c| c.id.clone()),
            };
            page.clients.into_iter().skip(handed_over).for_each(each);
            Ok(head)
        }
    }
}

/// How a whole stored list is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagingOptions {
    pub page_size: u32,
    /// Starts over allowed when the list's `time` changes mid-way.
    pub max_restarts: u32,
}

impl Default for PagingOptions {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_SIZE,
            max_restarts: 3,
        }
    }
}

/// What reading a whole stored list found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredList {
    /// The list's `time`, shared by every page.
    pub time: Option<String>,
    /// Sessions delivered (equal to the announced `count`).
    pub sessions: u64,
    pub pages: u32,
    pub restarts: u32,
}

/// How a job is polled until it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollOptions {
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_millis(500),
            max_wait: Duration::from_secs(5),
        }
    }
}

impl ApiClient {
    fn instance_path<'a>(&'a self, instance_id: &'a str) -> [&'a str; 4] {
        ["v2", self.project_id(), "instances", instance_id]
    }

    /// Starts a scan of a node's sessions; `clean_cache` false reuses a stored list.
    pub async fn start_scan(
        &self,
        instance_id: &str,
        node_id: &str,
        clean_cache: bool,
        deadline: Instant,
    ) -> Result<String, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(
            Operation::ScanClients,
            Method::POST,
            &[v, p, i, id, "clients"],
        )
        .json_body(&serde_json::json!({"node_id": node_id, "clean_cache": clean_cache}));
        job_id(call.operation, self.call_json(&call, deadline).await?)
    }

    pub async fn show_job(&self, job_id: &str, deadline: Instant) -> Result<DcsJob, ApiError> {
        let call = Call::new(
            Operation::ShowJob,
            Method::GET,
            &["v2", self.project_id(), "jobs", job_id],
        );
        self.call_json(&call, deadline).await
    }

    /// Polls a job, waiting half as long again each time, until it ends (`SUCCESS` or `FAIL`) or the
    /// deadline passes. Each look is a call against the account's request rate, so the first is
    /// not at once but when the account's recent jobs had ended (at `first_wait` until one has).
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        poll: &PollOptions,
        deadline: Instant,
    ) -> Result<DcsJob, ApiError> {
        let first = self
            .job_timing
            .first_look()
            .map_or(poll.first_wait, |d| d.max(poll.first_wait));
        if Instant::now() + first < deadline {
            tokio::time::sleep(first).await;
        }
        let mut wait = poll.first_wait.mul_f64(1.5).min(poll.max_wait);
        loop {
            let job = self.show_job(job_id, deadline).await?;
            if job.status.is_finished() {
                if let (Some(began), Some(ended)) = (job.began(), job.ended())
                    && let Ok(took) = ended.duration_since(began)
                {
                    self.job_timing.record(took);
                }
                return Ok(job);
            }
            if Instant::now() + wait >= deadline {
                let running_for = job
                    .began()
                    .and_then(|began| self.service_clock().now().duration_since(began).ok())
                    .map(|d| {
                        format!(
                            " (begun {} ago)",
                            humantime::format_duration(Duration::from_secs(d.as_secs()))
                        )
                    })
                    .unwrap_or_default();
                return Err(ApiError::new(
                    Operation::ShowJob,
                    ErrorKind::Timeout,
                    format!(
                        "job {job_id} still {} at the deadline{running_for}",
                        job.status.as_str()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(1.5).min(poll.max_wait);
        }
    }

    /// One page of a node's stored session list.
    pub async fn list_clients(
        &self,
        instance_id: &str,
        query: &ListClientsQuery,
        deadline: Instant,
    ) -> Result<ClientPage, ApiError> {
        self.call_json(&self.list_clients_call(instance_id, query), deadline)
            .await
    }

    fn list_clients_call(&self, instance_id: &str, query: &ListClientsQuery) -> Call {
        let [v, p, i, id] = self.instance_path(instance_id);
        let mut call = Call::new(
            Operation::ListClients,
            Method::GET,
            &[v, p, i, id, "clients"],
        )
        .query("node_id", &query.node_id);
        if let Some(offset) = query.offset {
            call = call.query("offset", offset);
        }
        if let Some(limit) = query.limit {
            call = call.query("limit", limit);
        }
        if let Some(addr) = &query.addr {
            call = call.query("addr", addr);
        }
        if let Some(sort) = &query.sort {
            call = call.query("sort", sort);
        }
        if let Some(order) = query.order {
            call = call.query("order", order.as_str());
        }
        call
    }

    /// Every page of one stored list, handed to `sink` page by page. All pages must carry the
    /// same `time`; when it changes the list is read again from the start, a bounded number of
    /// times.
    pub async fn read_stored_list(
        &self,
        instance_id: &str,
        node_id: &str,
        paging: &PagingOptions,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<StoredList, ApiError> {
        let query = ListClientsQuery {
            node_id: node_id.to_string(),
            ..Default::default()
        };
        self.read_stored_list_with(instance_id, &query, paging, sink, deadline)
            .await
    }

    /// As [`ApiClient::read_stored_list`], with the filter and order of `base` (its offset and
    /// limit are set page by page).
    pub async fn read_stored_list_with(
        &self,
        instance_id: &str,
        base: &ListClientsQuery,
        paging: &PagingOptions,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<StoredList, ApiError> {
        let limit = paging.page_size.clamp(1, MAX_PAGE_SIZE);
        let inconsistent = |message: String| {
            ApiError::new(Operation::ListClients, ErrorKind::Inconsistent, message)
        };
        let mut restarts = 0;
        'list: loop {
            let mut offset: u64 = 0;
            let mut pages: u32 = 0;
            let mut time: Option<String> = None;
            let mut previous_first_id: Option<String> = None;
            loop {
                let query = ListClientsQuery {
                    offset: Some(offset),
                    limit: Some(limit),
                    ..base.clone()
                };
                let call = self.list_clients_call(instance_id, &query);
                let body = self.call(&call, deadline).await?.body;
                // Sessions go to the sink as they are read, before the page is checked: a page
                // that fails a check fails the read or restarts it, and either way the sink's
                // sessions are dropped.
                let page = decode_client_page_with(&body, &mut |c| sink.accept(c))?;
                if pages > 0 && page.time.as_deref() != time.as_deref() {
                    if restarts >= paging.max_restarts {
                        return Err(inconsistent(format!(
                            "the stored list changed {} times while it was read",
                            restarts + 1
                        )));
                    }
                    restarts += 1;
                    sink.restart();
                    continue 'list;
                }
                if pages == 0 {
                    time = page.time.map(Cow::into_owned);
                }
                pages += 1;
                let received = page.sessions as u64;
                let count = page.count.map(|c| c.max(0) as u64);
                // A page may not hold more than asked: a list that keeps growing past its count
                // would otherwise never end.
                if received > u64::from(limit) {
                    return Err(inconsistent(format!(
                        "a page held {received} sessions, more than the {limit} asked for"
                    )));
                }
                if count.is_some_and(|c| c > MAX_LIST_SESSIONS) {
                    return Err(inconsistent(format!(
                        "the list announced {} sessions, more than any node holds",
                        count.unwrap_or_default()
                    )));
                }
                // A service that ignores `offset` serves page one again and again.
                let first_id = page.first_id.as_deref();
                if pages > 1 && first_id.is_some() && first_id == previous_first_id.as_deref() {
                    return Err(inconsistent(
                        "a page repeated the one before (offset ignored)".to_string(),
                    ));
                }
                previous_first_id = first_id.map(str::to_string);
                sink.end_page();
                offset += received;
                let done = match count {
                    Some(count) if offset >= count => true,
                    Some(count) if received < u64::from(limit) => {
                        return Err(inconsistent(format!(
                            "the list announced {count} sessions but its pages ended at {offset}"
                        )));
                    }
                    Some(_) => false,
                    None if offset > MAX_LIST_SESSIONS => {
                        return Err(inconsistent(format!(
                            "the pages did not end after {offset} sessions"
                        )));
                    }
                    None => received < u64::from(limit),
                };
                if done {
                    return Ok(StoredList {
                        time,
                        sessions: offset,
                        pages,
                        restarts,
                    });
                }
            }
        }
    }

    /// Ends every session of one node, or of every node of the instance.
    pub async fn kill_all_clients(
        &self,
        instance_id: &str,
        target: &KillTarget,
        deadline: Instant,
    ) -> Result<String, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
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
        let call = Call::new(
            Operation::KillAllClients,
            Method::POST,
            &[v, p, i, id, "clients", "kill-all"],
        )
        .json_body(&body);
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
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(
            Operation::KillClients,
            Method::POST,
            &[v, p, i, id, "clients", "kill"],
        )
        .json_body(&serde_json::json!({"node_id": node_id, "client_addrs": peers}));
        self.call(&call, deadline).await.map(drop)
    }

    pub async fn list_logical_nodes(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<LogicalNodes, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(
            Operation::ListLogicalNodes,
            Method::GET,
            &[v, p, i, id, "logical-nodes"],
        );
        self.call_json(&call, deadline).await
    }

    /// One instance's details: tags, enterprise project, client IP pass-through, ...
    pub async fn show_instance(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<InstanceSummary, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(Operation::ShowInstance, Method::GET, &[v, p, i, id]);
        self.call_json(&call, deadline).await
    }

    /// An instance's parameters (`maxclients`, `timeout`, ...).
    pub async fn list_configurations(
        &self,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<InstanceConfigs, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(
            Operation::ListConfigurations,
            Method::GET,
            &[v, p, i, id, "configs"],
        );
        self.call_json(&call, deadline).await
    }

    /// One page of an instance's slow log between two times (milliseconds since the epoch),
    /// oldest first.
    pub async fn list_slowlog(
        &self,
        instance_id: &str,
        (start_ms, end_ms): (u128, u128),
        offset: usize,
        limit: u32,
        deadline: Instant,
    ) -> Result<SlowlogPage, ApiError> {
        let [v, p, i, id] = self.instance_path(instance_id);
        let call = Call::new(
            Operation::ListSlowlog,
            Method::GET,
            &[v, p, i, id, "slowlog"],
        )
        .query("start_time", start_ms)
        .query("end_time", end_ms)
        .query("offset", offset)
        .query("limit", limit.clamp(1, 1000))
        .query("sort_key", "start_time")
        .query("sort_dir", "asc");
        self.call_json(&call, deadline).await
    }

    /// The entries of an instance's slow log between two times, oldest first: every page, up
    /// to [`MAX_SLOWLOG_PAGES`] (logged when the window holds more).
    pub async fn read_slowlog(
        &self,
        instance_id: &str,
        (start, end): (SystemTime, SystemTime),
        deadline: Instant,
    ) -> Result<Vec<SlowlogItem>, ApiError> {
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
        };
        let window = (ms(start), ms(end));
        let mut items = Vec::new();
        for _ in 0..MAX_SLOWLOG_PAGES {
            let page = self
                .list_slowlog(instance_id, window, items.len(), 1000, deadline)
                .await?;
            let received = page.slowlogs.len();
            items.extend(page.slowlogs);
            let total = page.total_num.or(page.count);
            let done = match total {
                Some(total) => items.len() >= total.max(0) as usize,
                None => received < 1000,
            };
            if received == 0 || done {
                return Ok(items);
            }
        }
        tracing::warn!(
            instance_id,
            read = items.len(),
            "the slow log holds more entries in its window than one read takes: the newest are not counted"
        );
        Ok(items)
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
            let mut call = Call::new(
                Operation::ListInstances,
                Method::GET,
                &["v2", self.project_id(), "instances"],
            )
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

fn job_id(operation: Operation, answer: JobRef) -> Result<String, ApiError> {
    answer
        .job_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::new(operation, ErrorKind::Decode, "the answer has no job_id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_page() {
        let page: ClientPage = serde_json::from_str(
            r#"{"time":"2023-06-15T03:10:01.332Z","clients":[{"id":"11677","addr":"198.19.131.14:1637",
            "name":"dcs","cmd":"info","age":376,"idle":376,"flags":"N","fd":"16","db":"0","sub":0,"psub":0,
            "multi":1,"qbuf":0,"qbuf_free":4,"obl":0,"oll":0,"omem":0,"events":"r","network":"vpc",
            "peer":"198.198.0.121:4058","user":"dcs"}],"count":1}"#,
        )
        .unwrap();
        assert_eq!(page.count, Some(1));
        let c = &page.clients[0];
        assert_eq!(c.addr.as_deref(), Some("198.19.131.14:1637"));
        assert_eq!(
            (c.age, c.idle, c.qbuf_free),
            (Some(376), Some(376), Some(4))
        );
        assert_eq!(c.peer.as_deref(), Some("198.198.0.121:4058"));
        let empty: ClientPage = serde_json::from_str(r#"{"clients":null}"#).unwrap();
        assert!(empty.clients.is_empty());
    }

    #[test]
    fn list_times() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_686_798_601_332);
        assert_eq!(parse_list_time("2023-06-15T03:10:01.332Z"), Some(t));
        assert_eq!(parse_list_time("2023-06-15 03:10:01.332"), Some(t));
        assert_eq!(parse_list_time("1686798601332"), Some(t));
        assert_eq!(parse_list_time("yesterday"), None);
    }

    #[test]
    fn job_status_is_open() {
        let job: DcsJob = serde_json::from_str(
            r#"{"job_id":"j","status":"PAUSED","begin_time":"1700000000000","end_time":""}"#,
        )
        .unwrap();
        assert_eq!(job.status, JobStatus::Other("PAUSED".into()));
        assert!(!job.status.is_finished());
        assert_eq!(
            job.began(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(job.ended(), None);
    }
}
