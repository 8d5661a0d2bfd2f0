//! The simulated services' state and rules: instances, nodes, jobs, stored session lists, DBSS
//! records. Pure logic on a given time; the HTTP layer maps its answers and errors.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::population::{ClientProfile, Link, Population, Session, render};
use super::slowlog::{SimSlowEntry, SimSlowLog, SlowLogSource, SlowlogQuery};
use super::topology::{Architecture, DbssPaths, InstanceSpec, Topology};
use crate::cloud::dbss::JobBean;
use crate::cloud::dcs::{
    ClientPage, DcsJob, InstancePage, InstanceSummary, JobStatus, LogicalNode, LogicalNodes,
    MAX_PAGE_SIZE, SlowlogPage, SortOrder,
};
use crate::redis::RedisEndpoint;
use crate::session::{CLIENT_FIELDS, ClientInfo, address_matches, compare_clients};

// Moved out, still named here by the rest of the crate, the tests and the benches.
pub use super::clock::{format_time, format_time_seconds, millis};
pub use super::error::{ErrorShape, SimError, SimResult, api_not_found, codes};

/// A node's stored session list: the sessions as a scan found them.
struct StoredList {
    time_ms: i64,
    sessions: StoredSessions,
    /// The list as JSON, rendered the first time a plain page is read.
    rendered: Option<RenderedList>,
}

/// Every session of a list as JSON, comma-separated, so that any page is one slice.
struct RenderedList {
    json: String,
    /// Where each session's JSON starts; one more entry for the end.
    starts: Vec<usize>,
}

impl RenderedList {
    fn new(sessions: impl Iterator<Item = ClientInfo>) -> Self {
        let mut json = String::new();
        let mut starts = Vec::new();
        for session in sessions {
            if !starts.is_empty() {
                json.push(',');
            }
            starts.push(json.len());
            // A ClientInfo always serializes.
            json.push_str(&serde_json::to_string(&session).unwrap_or_else(|_| "{}".into()));
        }
        starts.push(json.len());
        Self { json, starts }
    }

    /// Sessions `offset..offset + limit`, comma-separated.
    fn page(&self, offset: usize, limit: usize) -> &str {
        let sessions = self.starts.len() - 1;
        let (first, end) = (
            offset.min(sessions),
            offset.saturating_add(limit).min(sessions),
        );
        if first == end {
            return "";
        }
        self.json[self.starts[first]..self.starts[end]].trim_end_matches(',')
    }
}

enum StoredSessions {
    /// From the node's simulated population, rendered when read.
    Generated(Vec<Session>),
    /// From a real Redis server's `CLIENT LIST`.
    Real(Vec<ClientInfo>),
}

impl StoredList {
    fn new(time_ms: i64, sessions: StoredSessions) -> Self {
        Self {
            time_ms,
            sessions,
            rendered: None,
        }
    }

    fn len(&self) -> usize {
        match &self.sessions {
            StoredSessions::Generated(s) => s.len(),
            StoredSessions::Real(c) => c.len(),
        }
    }

    /// Sessions `offset..offset + limit`, as the list shows them.
    fn page(&self, profile: &ClientProfile, offset: usize, limit: usize) -> Vec<ClientInfo> {
        match &self.sessions {
            StoredSessions::Generated(s) => s
                .iter()
                .skip(offset)
                .take(limit)
                .map(|s| render(profile, s, self.time_ms))
                .collect(),
            StoredSessions::Real(c) => c.iter().skip(offset).take(limit).cloned().collect(),
        }
    }

    fn all(&self, profile: &ClientProfile) -> Vec<ClientInfo> {
        self.page(profile, 0, usize::MAX)
    }
}

/// A checked request for a page of sessions.
struct PageRequest<'q> {
    offset: usize,
    limit: usize,
    order: SortOrder,
    sort: Option<&'q str>,
    filter: Option<&'q str>,
}

/// The service's answer when no scan has made a node's stored list.
fn no_stored_list() -> SimError {
    SimError::dcs(
        500,
        codes::INTERNAL,
        "The session list of this node has not been queried. Query it first.",
    )
}

struct SimNode {
    info: LogicalNode,
    takes_clients: bool,
    population: Population,
    stored: Option<StoredList>,
    /// The scan job under way, if any.
    scanning: Option<String>,
    /// A real Redis server behind this node.
    backend: Option<RedisEndpoint>,
}

struct SimInstance {
    summary: InstanceSummary,
    slow_log: SimSlowLog,
    /// The machines its clients run on.
    clients: Arc<ClientProfile>,
    configs: crate::cloud::dcs::InstanceConfigs,
    architecture: Architecture,
    nodes: Vec<SimNode>,
    node_index: HashMap<String, usize>,
}

enum JobKind {
    Scan {
        instance: usize,
        node: usize,
        refresh: bool,
    },
    KillAll {
        instance: usize,
        nodes: Vec<usize>,
    },
}

struct SimJob {
    id: String,
    kind: JobKind,
    begin_ms: i64,
    /// When the job ends; for a job on a real server, the least it takes.
    end_ms: i64,
    applied: bool,
    /// A job on a real server ends when the server has answered: `None` until then, then
    /// `Ok` or the failure reason.
    driven: Option<Option<Result<(), String>>>,
}

/// What the caller must do on real servers for a job it started.
#[derive(Clone, Debug)]
pub struct RealWork {
    pub job_id: String,
    pub endpoints: Vec<RedisEndpoint>,
}

impl SimJob {
    fn job_type(&self) -> &'static str {
        match self.kind {
            JobKind::Scan { .. } => "ScanClients",
            JobKind::KillAll { .. } => "KillAllClients",
        }
    }
}

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

/// A real server behind a node whose slow log the caller reads: its endpoint, the node's shard
/// (clusters) and its role.
pub type SlowLogBackend = (RedisEndpoint, Option<String>, String);

/// Jobs kept for polling after they end.
const MAX_KEPT_JOBS: usize = 10_000;

pub struct SimState {
    instances: Vec<SimInstance>,
    instance_index: HashMap<String, usize>,
    jobs: HashMap<String, SimJob>,
    /// Job ids, oldest first, for pruning.
    job_order: VecDeque<String>,
    /// Jobs whose effect is not applied yet.
    pending: Vec<String>,
    dbss: HashMap<String, Vec<JobBean>>,
    dbss_paths: DbssPaths,
    job_duration: Duration,
    ids: StdRng,
}

/// A UUID-looking id (8-4-4-4-12 hex), as DCS ids are.
fn uuid_like(rng: &mut StdRng) -> String {
    let h = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A 32-hex-digit id, as job ids are.
fn hex32(rng: &mut StdRng) -> String {
    format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
}

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
        let dbss = topology
            .dbss_resources
            .iter()
            .map(|r| {
                let mut jobs = Vec::new();
                let mut job = |status: JobStatus, begin_ago_s: i64, took_s: Option<i64>| {
                    let begin = now_ms - begin_ago_s * 1000;
                    jobs.push(JobBean {
                        job_id: Some(hex32(&mut ids)),
                        status: status.clone(),
                        job_type: Some("CREATE_INSTANCE".into()),
                        server_id: Some(uuid_like(&mut ids)),
                        server_name: Some(format!("DBSS-{}-{}", r.id, jobs.len() + 1)),
                        resource_id: Some(r.id.clone()),
                        begin_time: Some(begin),
                        end_time: took_s.map(|t| begin + t * 1000),
                        charge_mode: Some(
                            if jobs.len() % 2 == 0 {
                                "Demand"
                            } else {
                                "Period"
                            }
                            .into(),
                        ),
                        error_code: (status == JobStatus::Fail).then(|| "DBSS.1007".into()),
                        fail_reason: (status == JobStatus::Fail)
                            .then(|| "Insufficient resources in the selected AZ.".into()),
                        ha_id: Some(uuid_like(&mut ids)),
                        ha_name: None,
                    });
                };
                for k in 0..r.succeeded {
                    let k = i64::from(k);
                    job(JobStatus::Success, 86_400 * (k + 2), Some(45 + 30 * k));
                }
                for k in 0..r.failed {
                    job(JobStatus::Fail, 7_200 + 600 * i64::from(k), Some(300));
                }
                for k in 0..r.running {
                    job(JobStatus::Running, 1_500 + 60 * i64::from(k), None);
                }
                (r.id.clone(), jobs)
            })
            .collect();
        Self {
            instances,
            instance_index,
            jobs: HashMap::new(),
            job_order: VecDeque::new(),
            pending: Vec::new(),
            dbss,
            dbss_paths: topology.dbss_paths,
            job_duration: topology.job_duration,
            ids,
        }
    }

    /// Applies the effects of jobs that have ended by `now_ms`, in the order they ended.
    fn advance(&mut self, now_ms: i64) {
        if self.pending.is_empty() {
            return;
        }
        let mut due: Vec<(i64, String)> = Vec::new();
        self.pending.retain(|id| match self.jobs.get(id) {
            Some(job) if job.end_ms <= now_ms => {
                due.push((job.end_ms, id.clone()));
                false
            }
            Some(_) => true,
            None => false,
        });
        due.sort();
        for (_, id) in due {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            job.applied = true;
            let end_ms = job.end_ms;
            match &job.kind {
                JobKind::Scan {
                    instance,
                    node,
                    refresh,
                } => {
                    let node = &mut self.instances[*instance].nodes[*node];
                    if node.scanning.as_deref() == Some(id.as_str()) {
                        node.scanning = None;
                    }
                    if *refresh || node.stored.is_none() {
                        node.population.advance_to(end_ms);
                        node.stored = Some(StoredList::new(
                            end_ms,
                            StoredSessions::Generated(node.population.sessions().to_vec()),
                        ));
                    }
                }
                JobKind::KillAll { instance, nodes } => {
                    for &n in nodes {
                        let node = &mut self.instances[*instance].nodes[n];
                        node.population.advance_to(end_ms);
                        node.population.clear();
                    }
                }
            }
        }
    }

    fn instance(&self, instance_id: &str) -> SimResult<usize> {
        self.instance_index
            .get(instance_id)
            .copied()
            .ok_or_else(|| {
                SimError::dcs(
                    404,
                    codes::INSTANCE_NOT_FOUND,
                    format!("The DCS instance {instance_id} does not exist."),
                )
            })
    }

    /// A node that takes clients: data nodes, or proxies where the instance has them.
    fn client_node(&self, instance: usize, node_id: Option<&str>) -> SimResult<usize> {
        let node_id = node_id
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SimError::invalid("node_id is required."))?;
        let inst = &self.instances[instance];
        let &index = inst.node_index.get(node_id).ok_or_else(|| {
            SimError::invalid(format!("node_id {node_id} is not a node of this instance."))
        })?;
        if !inst.nodes[index].takes_clients {
            return Err(SimError::invalid(if inst.architecture.has_proxies() {
                format!("node_id {node_id} must be a proxy node for this instance type.")
            } else {
                format!("node_id {node_id} does not serve clients.")
            }));
        }
        Ok(index)
    }

    fn new_job(&mut self, kind: JobKind, now_ms: i64, driven: bool) -> String {
        let id = hex32(&mut self.ids);
        let end_ms = now_ms + self.job_duration.as_millis() as i64;
        self.jobs.insert(
            id.clone(),
            SimJob {
                id: id.clone(),
                kind,
                begin_ms: now_ms,
                end_ms,
                applied: false,
                driven: driven.then_some(None),
            },
        );
        if !driven {
            self.pending.push(id.clone());
        }
        self.job_order.push_back(id.clone());
        while self.job_order.len() > MAX_KEPT_JOBS {
            let Some(oldest) = self.job_order.front() else {
                break;
            };
            if self.jobs.get(oldest).is_some_and(|j| !j.applied) {
                break;
            }
            let oldest = self.job_order.pop_front().unwrap_or_default();
            self.jobs.remove(&oldest);
        }
        id
    }

    /// `POST .../clients`: starts a scan of a node.
    pub fn start_scan(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        clean_cache: bool,
        now: SystemTime,
    ) -> SimResult<String> {
        self.start_scan_on(instance_id, node_id, clean_cache, now)
            .map(|(id, _)| id)
    }

    /// As [`SimState::start_scan`]; on a node backed by a real server, the caller lists its
    /// sessions and calls [`SimState::finish_real_job`].
    pub fn start_scan_on(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        clean_cache: bool,
        now: SystemTime,
    ) -> SimResult<(String, Option<RealWork>)> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, node_id)?;
        if self.instances[instance].nodes[node].scanning.is_some() {
            return Err(SimError::dcs(
                400,
                codes::TASK_STATE,
                "This operation is not allowed when the task is in the current state.",
            ));
        }
        let backend = self.instances[instance].nodes[node].backend.clone();
        let id = self.new_job(
            JobKind::Scan {
                instance,
                node,
                refresh: clean_cache,
            },
            now_ms,
            backend.is_some(),
        );
        self.instances[instance].nodes[node].scanning = Some(id.clone());
        let work = backend.map(|b| RealWork {
            job_id: id.clone(),
            endpoints: vec![b],
        });
        Ok((id, work))
    }

    /// Keeps a job `RUNNING` for ever (a fault): it never ends, so the node's next scans are
    /// refused with `DCS.4957`.
    pub fn hold_job(&mut self, job_id: &str) {
        self.pending.retain(|id| id != job_id);
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.driven = Some(None);
            // Never ends, and nothing (a real server's answer included) ends it; marked
            // applied so that old jobs can still be pruned past it.
            job.applied = true;
        }
    }

    /// Ends a job on a real server: `Ok` with the sessions listed (a scan) or nothing (a
    /// kill), or the failure.
    pub fn finish_real_job(
        &mut self,
        job_id: &str,
        result: Result<Option<Vec<ClientInfo>>, String>,
        now: SystemTime,
    ) {
        let now_ms = millis(now);
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        // A job already ended (a fault made it fail) stays as it ended.
        if job.applied {
            return;
        }
        job.end_ms = job.end_ms.max(now_ms);
        job.applied = true;
        let end_ms = job.end_ms;
        job.driven = Some(Some(result.as_ref().map(|_| ()).map_err(Clone::clone)));
        if let JobKind::Scan { instance, node, .. } = job.kind {
            let node = &mut self.instances[instance].nodes[node];
            if node.scanning.as_deref() == Some(job_id) {
                node.scanning = None;
            }
            if let Ok(Some(clients)) = result {
                node.stored = Some(StoredList::new(end_ms, StoredSessions::Real(clients)));
            }
        }
    }

    /// `GET /v2/{project_id}/jobs/{job_id}`.
    pub fn show_job(&mut self, job_id: &str, now: SystemTime) -> SimResult<DcsJob> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let job = self.jobs.get(job_id).ok_or_else(|| {
            SimError::dcs(
                404,
                codes::JOB_NOT_FOUND,
                format!("The job {job_id} does not exist."),
            )
        })?;
        let init_until = job.begin_ms + (job.end_ms - job.begin_ms) / 5;
        let (status, fail_reason) = match &job.driven {
            Some(Some(Ok(()))) => (JobStatus::Success, None),
            Some(Some(Err(reason))) => (JobStatus::Fail, Some(reason.clone())),
            _ if now_ms < init_until => (JobStatus::Init, None),
            Some(None) => (JobStatus::Running, None),
            None if now_ms >= job.end_ms => (JobStatus::Success, None),
            None => (JobStatus::Running, None),
        };
        let finished = status.is_finished();
        Ok(DcsJob {
            job_id: Some(job.id.clone()),
            job_type: Some(job.job_type().to_string()),
            status,
            begin_time: Some(job.begin_ms.to_string()),
            end_time: Some(if finished {
                job.end_ms.to_string()
            } else {
                String::new()
            }),
            fail_reason,
        })
    }

    /// `GET .../clients`: one page of a node's stored session list.
    pub fn list_clients(
        &mut self,
        instance_id: &str,
        query: &ListQuery,
        now: SystemTime,
    ) -> SimResult<ClientPage> {
        let (instance, node, page) = self.page_request(instance_id, query, now)?;
        let node = &self.instances[instance].nodes[node];
        let stored = node.stored.as_ref().ok_or_else(no_stored_list)?;
        let profile = node.population.profile();
        let (offset, limit) = (page.offset, page.limit);
        let (clients, count) = if page.filter.is_none() && page.sort.is_none() {
            // The common case renders only the page asked for.
            (stored.page(profile, offset, limit), stored.len())
        } else {
            let mut all: Vec<ClientInfo> = stored.all(profile);
            all.retain(|c| page.filter.is_none_or(|f| address_matches(c, f)));
            if let Some(field) = page.sort {
                all.sort_by(|a, b| compare_clients(a, b, field));
                if page.order == SortOrder::Desc {
                    all.reverse();
                }
            }
            let count = all.len();
            (all.into_iter().skip(offset).take(limit).collect(), count)
        };
        Ok(ClientPage {
            time: Some(format_time(stored.time_ms)),
            clients,
            count: Some(count as i64),
        })
    }

    /// As [`SimState::list_clients`], as the JSON body, for pages neither filtered nor
    /// ordered (`None` for the others). The list is rendered once, when its first page is
    /// read; a page is then a slice of it, so that a busy simulator costs little.
    pub fn list_clients_body(
        &mut self,
        instance_id: &str,
        query: &ListQuery,
        now: SystemTime,
    ) -> SimResult<Option<String>> {
        let (instance, node, page) = self.page_request(instance_id, query, now)?;
        if page.filter.is_some() || page.sort.is_some() {
            return Ok(None);
        }
        let node = &mut self.instances[instance].nodes[node];
        let profile = node.population.profile();
        let stored = node.stored.as_mut().ok_or_else(no_stored_list)?;
        if stored.rendered.is_none() {
            stored.rendered = Some(RenderedList::new(stored.all(profile).into_iter()));
        }
        let rendered = stored
            .rendered
            .as_ref()
            .map_or("", |r| r.page(page.offset, page.limit));
        let time = serde_json::Value::String(format_time(stored.time_ms));
        Ok(Some(format!(
            r#"{{"time":{time},"clients":[{rendered}],"count":{}}}"#,
            stored.len()
        )))
    }

    /// The node and page a session-list call asks for, checked as the service checks them.
    fn page_request<'q>(
        &mut self,
        instance_id: &str,
        query: &'q ListQuery,
        now: SystemTime,
    ) -> SimResult<(usize, usize, PageRequest<'q>)> {
        self.advance(millis(now));
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, query.node_id.as_deref())?;
        let offset = parse_number(query.offset.as_deref(), "offset", 0)?;
        if offset < 0 {
            return Err(SimError::invalid("offset must be at least 0."));
        }
        let limit = parse_number(query.limit.as_deref(), "limit", 10)?;
        if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&limit) {
            return Err(SimError::invalid(format!(
                "limit must be between 1 and {MAX_PAGE_SIZE}."
            )));
        }
        let order = match query.order.as_deref() {
            None | Some("") | Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some(other) => {
                return Err(SimError::invalid(format!(
                    "order {other:?} must be asc or desc."
                )));
            }
        };
        let sort = match query.sort.as_deref().filter(|s| !s.is_empty()) {
            Some(field) if CLIENT_FIELDS.contains(&field) => Some(field),
            Some(field) => {
                return Err(SimError::invalid(format!(
                    "sort {field:?} is not a session field."
                )));
            }
            None => None,
        };
        let page = PageRequest {
            offset: offset as usize,
            limit: limit as usize,
            order,
            sort,
            filter: query.addr.as_deref().filter(|a| !a.is_empty()),
        };
        Ok((instance, node, page))
    }

    /// `POST .../clients/kill-all`.
    pub fn kill_all(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        all_nodes: bool,
        now: SystemTime,
    ) -> SimResult<String> {
        self.kill_all_on(instance_id, node_id, all_nodes, now)
            .map(|(id, _)| id)
    }

    /// As [`SimState::kill_all`]; when nodes are backed by real servers, the caller ends
    /// their sessions and calls [`SimState::finish_real_job`].
    pub fn kill_all_on(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        all_nodes: bool,
        now: SystemTime,
    ) -> SimResult<(String, Option<RealWork>)> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let nodes = if all_nodes {
            let inst = &self.instances[instance];
            (0..inst.nodes.len())
                .filter(|&n| inst.nodes[n].takes_clients)
                .collect()
        } else {
            if node_id.is_none_or(str::is_empty) {
                return Err(SimError::invalid(
                    "node_id is required when kill_all_nodes is false.",
                ));
            }
            vec![self.client_node(instance, node_id)?]
        };
        let endpoints: Vec<RedisEndpoint> = nodes
            .iter()
            .filter_map(|&n| self.instances[instance].nodes[n].backend.clone())
            .collect();
        let real = !endpoints.is_empty();
        let id = self.new_job(JobKind::KillAll { instance, nodes }, now_ms, real);
        let work = real.then(|| RealWork {
            job_id: id.clone(),
            endpoints,
        });
        Ok((id, work))
    }

    /// `POST .../clients/kill`: ends the sessions with these peer addresses at once. On a
    /// node backed by a real server, the caller ends them there (the endpoint is returned).
    pub fn kill_clients(
        &mut self,
        instance_id: &str,
        node_id: Option<&str>,
        peers: &[String],
        now: SystemTime,
    ) -> SimResult<Result<usize, RedisEndpoint>> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, node_id)?;
        if peers.is_empty() {
            return Err(SimError::invalid(
                "client_addrs must name at least one session.",
            ));
        }
        if let Some(backend) = &self.instances[instance].nodes[node].backend {
            return Ok(Err(backend.clone()));
        }
        let peers: HashSet<String> = peers.iter().cloned().collect();
        let population = &mut self.instances[instance].nodes[node].population;
        population.advance_to(now_ms);
        Ok(Ok(population.remove_peers(&peers)))
    }

    pub fn logical_nodes(&mut self, instance_id: &str) -> SimResult<LogicalNodes> {
        let instance = &self.instances[self.instance(instance_id)?];
        Ok(LogicalNodes {
            instance_id: Some(instance_id.to_string()),
            total: Some(instance.nodes.len() as i64),
            nodes: instance.nodes.iter().map(|n| n.info.clone()).collect(),
        })
    }

    /// One instance's details.
    pub fn show_instance(&self, instance_id: &str) -> SimResult<InstanceSummary> {
        Ok(self.instances[self.instance(instance_id)?].summary.clone())
    }

    /// A page of an instance's slow log; where real servers back its nodes, their endpoints
    /// (with each node's shard and role), whose logs the caller reads and pages with
    /// [`super::slowlog::page`].
    pub fn slowlog(
        &mut self,
        instance_id: &str,
        query: &SlowlogQuery,
        now: SystemTime,
    ) -> SimResult<Result<SlowlogPage, Vec<SlowLogBackend>>> {
        let index = self.instance(instance_id)?;
        let instance = &mut self.instances[index];
        if instance.summary.support_slow_log_flag != Some(true) {
            return Err(SimError::dcs(
                400,
                codes::INVALID_PARAMETER,
                "This instance does not support slow logs.",
            ));
        }
        let checked = query.check()?;
        let backends: Vec<_> = instance
            .nodes
            .iter()
            .filter_map(|n| {
                let backend = n.backend.clone()?;
                let shard = (instance.architecture == Architecture::Cluster)
                    .then(|| n.info.group_name.clone())
                    .flatten();
                Some((backend, shard, n.info.node_type.clone().unwrap_or_default()))
            })
            .collect();
        if !backends.is_empty() {
            return Ok(Err(backends));
        }
        Ok(Ok(instance.slow_log.query(&checked, millis(now))))
    }

    /// An instance's slow log as kept, and how many windows it served.
    pub fn slowlog_entries(
        &mut self,
        instance_id: &str,
        now: SystemTime,
    ) -> SimResult<(Vec<SimSlowEntry>, usize)> {
        let index = self.instance(instance_id)?;
        let instance = &mut self.instances[index];
        instance.slow_log.advance_to(millis(now));
        Ok((
            instance.slow_log.entries(),
            instance.slow_log.windows_served(),
        ))
    }

    /// One instance's parameters.
    pub fn configurations(
        &self,
        instance_id: &str,
    ) -> SimResult<crate::cloud::dcs::InstanceConfigs> {
        Ok(self.instances[self.instance(instance_id)?].configs.clone())
    }

    pub fn list_instances(&self, query: &InstancesQuery) -> SimResult<InstancePage> {
        let offset = parse_number(query.offset.as_deref(), "offset", 0)?;
        let limit = parse_number(query.limit.as_deref(), "limit", 10)?;
        if offset < 0 || !(1..=1000).contains(&limit) {
            return Err(SimError::invalid(
                "offset must be at least 0 and limit between 1 and 1000.",
            ));
        }
        let mut tags = Vec::new();
        for pair in query.tags.as_deref().unwrap_or_default().split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                SimError::invalid("tags must be key=value pairs separated by commas.")
            })?;
            tags.push((key.trim(), value.trim()));
        }
        let matching: Vec<&InstanceSummary> = self
            .instances
            .iter()
            .map(|i| &i.summary)
            .filter(|s| {
                tags.iter().all(|(k, v)| {
                    s.tags
                        .iter()
                        .any(|t| t.key.as_deref() == Some(k) && t.value.as_deref() == Some(v))
                })
            })
            .filter(|s| {
                let name = s.name.as_deref().unwrap_or_default();
                query.name.as_deref().is_none_or(|n| name.contains(n))
                    && query
                        .status
                        .as_deref()
                        .is_none_or(|st| s.status.as_deref() == Some(st))
                    && query
                        .instance_id
                        .as_deref()
                        .is_none_or(|id| s.instance_id.as_deref() == Some(id))
            })
            .collect();
        Ok(InstancePage {
            instance_num: Some(matching.len() as i64),
            instances: matching
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .cloned()
                .collect(),
        })
    }

    /// The DBSS job records of a resource; `legacy_path` tells which path was called.
    pub fn audit_jobs(&self, resource_id: &str, legacy_path: bool) -> SimResult<Vec<JobBean>> {
        if !legacy_path && self.dbss_paths == DbssPaths::LegacyOnly {
            return Err(api_not_found());
        }
        self.dbss.get(resource_id).cloned().ok_or_else(|| SimError {
            status: 404,
            shape: ErrorShape::Dbss,
            code: codes::DBSS_NOT_FOUND.into(),
            message: format!("The resource {resource_id} does not exist."),
        })
    }

    /// The id of the `index`-th node (from 1) that takes clients of the instance named.
    pub fn client_node_by_name(&self, name: &str, index: usize) -> Option<String> {
        let instance = self
            .instances
            .iter()
            .find(|i| i.summary.name.as_deref() == Some(name))?;
        instance
            .nodes
            .iter()
            .filter(|n| n.takes_clients)
            .nth(index.checked_sub(1)?)
            .and_then(|n| n.info.node_id.clone())
    }

    /// The client machines as kube-state-metrics shows them (the instance's `env` tag is their
    /// namespace).
    pub fn kube_state_metrics(&self) -> String {
        let namespaces: Vec<String> = self
            .instances
            .iter()
            .map(|i| {
                i.summary
                    .tags
                    .iter()
                    .find(|t| t.key.as_deref() == Some("env"))
                    .and_then(|t| t.value.clone())
                    .unwrap_or_else(|| "default".into())
            })
            .collect();
        let clients: Vec<super::kube::Clients<'_>> = self
            .instances
            .iter()
            .zip(&namespaces)
            .map(|(i, namespace)| super::kube::Clients {
                namespace,
                hosts: &i.clients.hosts,
            })
            .collect();
        super::kube::render(&clients)
    }

    /// The ids of every instance, in topology order.
    pub fn instance_ids(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|i| i.summary.instance_id.clone())
            .collect()
    }

    /// The sessions a node has right now, as a scan would find them.
    pub fn live_sessions(
        &mut self,
        instance_id: &str,
        node_id: &str,
        now: SystemTime,
    ) -> SimResult<Vec<ClientInfo>> {
        let now_ms = millis(now);
        self.advance(now_ms);
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, Some(node_id))?;
        let population = &mut self.instances[instance].nodes[node].population;
        population.advance_to(now_ms);
        Ok(population
            .sessions()
            .iter()
            .map(|s| render(population.profile(), s, now_ms))
            .collect())
    }

    /// A node's stored session list (what the next pages will show), with its time.
    pub fn stored_sessions(
        &mut self,
        instance_id: &str,
        node_id: &str,
        now: SystemTime,
    ) -> SimResult<Option<(String, Vec<ClientInfo>)>> {
        self.advance(millis(now));
        let instance = self.instance(instance_id)?;
        let node = &self.instances[instance].nodes[self.client_node(instance, Some(node_id))?];
        Ok(node.stored.as_ref().map(|stored| {
            let profile = node.population.profile();
            (format_time(stored.time_ms), stored.all(profile))
        }))
    }
}

fn build_instance(
    spec: &InstanceSpec,
    seed: u64,
    index: u64,
    ids: &mut StdRng,
    now_ms: i64,
) -> SimInstance {
    let instance_id = spec.id.clone().unwrap_or_else(|| uuid_like(ids));
    let arch = spec.architecture;
    let az = |i: u32| format!("cn-north-4{}", ["a", "b", "c"][(i % 3) as usize]);
    let subnet = 1 + index * 2;
    let mut nodes = Vec::new();
    let mut add = |ids: &mut StdRng, role: &str, kind: &str, group: Option<u32>, takes: bool| {
        let n = nodes.len() as u32;
        let node_id = uuid_like(ids);
        let group_id = group.map(|g| format!("{instance_id}-group-{g}"));
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
        nodes.push((info, takes));
    };
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
    for shard in 0..shards {
        add(
            ids,
            "redis-server",
            "master",
            Some(shard),
            !arch.has_proxies(),
        );
        for _ in 0..replicas {
            add(
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
            add(ids, "redis-proxy", "proxy", None, true);
        }
    }
    let mut profile_rng = StdRng::seed_from_u64(seed ^ (index + 1).wrapping_mul(0x9E37_79B9));
    let shared = Arc::new(ClientProfile::generate(
        &mut profile_rng,
        spec.client_hosts,
        None,
    ));
    let mut backends = spec.redis_urls.iter();
    // Replication links of the nodes that take clients: a master lists its replicas' links,
    // a replica its master's.
    let links: Vec<Vec<(String, Link)>> = nodes
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
        .collect();
    let sim_nodes: Vec<SimNode> = nodes
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
                Arc::clone(&shared)
            } else {
                let mut p = (*shared).clone();
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
        .collect();
    let node_index = sim_nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.info.node_id.clone().unwrap_or_default(), i))
        .collect();
    let configs = instance_configs(&instance_id, spec);
    let slow_log = SimSlowLog::new(
        seed ^ (index + 1).wrapping_mul(0x510e_c0de),
        SlowLogSource {
            shards: if matches!(arch, Architecture::Cluster | Architecture::Proxy) {
                (0..shards).map(|g| Some(format!("group-{g}"))).collect()
            } else {
                vec![None]
            },
            replicas: replicas > 0,
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
    );
    SimInstance {
        summary: InstanceSummary {
            instance_id: Some(instance_id),
            name: Some(spec.name.clone()),
            engine: Some("Redis".into()),
            engine_version: Some(spec.engine_version.clone()),
            status: Some("RUNNING".into()),
            spec_code: Some(arch.spec_code().into()),
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
                .map(|(k, v)| crate::cloud::dcs::ResourceTag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
            sharding_count: Some(shards as i64),
            replica_count: Some(replicas as i64 + 1),
            support_slow_log_flag: Some(spec.slow_log),
        },
        slow_log,
        clients: Arc::clone(&shared),
        configs,
        architecture: arch,
        nodes: sim_nodes,
        node_index,
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

/// The parameters `configs` answers, in the service's shape: `maxclients` and `timeout` from
/// the topology, and a few others as the real list has them.
fn instance_configs(
    instance_id: &str,
    spec: &super::topology::InstanceSpec,
) -> crate::cloud::dcs::InstanceConfigs {
    let param = |id: u32, name: &str, value: String, default: &str, range: &str, what: &str| {
        crate::cloud::dcs::ConfigParam {
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
    crate::cloud::dcs::InstanceConfigs {
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
                "volatile-lru".into(),
                "volatile-lru",
                "volatile-lru,allkeys-lru,volatile-random,allkeys-random,volatile-ttl,noeviction",
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

fn parse_number(value: Option<&str>, name: &str, default: i64) -> SimResult<i64> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| SimError::invalid(format!("{name} must be an integer."))),
    }
}
