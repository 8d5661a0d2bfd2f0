//! Jobs: scans and kill-alls start as jobs that take the topology's job duration; their effect
//! (a new stored list, emptied nodes) applies when they end, in the order they end. Jobs on
//! real servers end when the caller reports the servers' answer.

use std::time::SystemTime;

use super::ids::hex32;
use super::model::{JobKind, RealWork, SimJob, SimState};
use super::stored::{StoredList, StoredSessions};
use crate::cloud::dcs::{DcsJob, JobStatus};
use crate::redis::RedisEndpoint;
use crate::session::ClientInfo;
use crate::sim::clock::millis;
use crate::sim::error::{RealWorkError, SimError, SimResult, codes};

/// Jobs kept for polling after they end.
const MAX_KEPT_JOBS: usize = 10_000;

impl SimState {
    /// Applies the effects of jobs that have ended by `now_ms`, in the order they ended.
    pub(super) fn advance(&mut self, now_ms: i64) {
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
        result: Result<Option<Vec<ClientInfo>>, RealWorkError>,
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
            Some(Some(Err(reason))) => (JobStatus::Fail, Some(reason.to_string())),
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
}
