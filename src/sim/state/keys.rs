//! DCS's analyses of an instance's keys, as calls: big-key and hot-key tasks (list, one with
//! its keys, start one), offline analyses of backups (list, one), and every running instance's
//! statistics. Checked and refused as the service does; the bodies' shapes are `key_answers`'.

use std::time::SystemTime;

use serde_json::{Map, Value};

use super::key_answers::{details, offline_details, page, record, statistic};
use super::key_tasks::{KeyTask, TaskKind, TaskStatus};
use super::model::SimState;
use super::params::{KeyTaskQuery, parse_number};
use crate::sim::clock::millis;
use crate::sim::error::{SimError, SimResult, codes};

/// The policies under which hot-key analyses run: they read LFU counters.
const LFU_POLICIES: [&str; 2] = ["allkeys-lfu", "volatile-lfu"];

/// How a fault shapes a task list's answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListShaping {
    #[default]
    Normal,
    /// `count` larger than the pages deliver.
    CountTooLarge,
    /// Full pages for ever, without a `count`.
    EndlessPages,
}

/// How a fault shapes a task created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskShaping {
    #[default]
    Normal,
    /// It runs for ever.
    Stuck,
    /// It ends `failed`.
    Fails,
}

/// A page request, checked.
struct PageRequest {
    offset: usize,
    limit: usize,
    status: Option<TaskStatus>,
}

fn page_request(query: &KeyTaskQuery) -> SimResult<PageRequest> {
    let offset = parse_number(query.offset.as_deref(), "offset", 0)?;
    let limit = parse_number(query.limit.as_deref(), "limit", 10)?;
    if offset < 0 || !(1..=1000).contains(&limit) {
        return Err(SimError::invalid(
            "offset must be at least 0 and limit between 1 and 1000.",
        ));
    }
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
            SimError::invalid(format!(
                "status {s:?} must be waiting, running, success or failed."
            ))
        })?),
    };
    Ok(PageRequest {
        offset: offset as usize,
        limit: limit as usize,
        status,
    })
}

/// The service's refusal of a kind of analysis on this instance.
fn not_supported(kind: TaskKind) -> SimError {
    match kind {
        TaskKind::Big => SimError::dcs(
            400,
            codes::BIGKEY_NOT_SUPPORTED,
            "Does not support bigkey analyze.",
        ),
        TaskKind::Hot => SimError::dcs(
            400,
            codes::HOTKEY_NOT_SUPPORTED,
            "Does not support hotkey analyze.",
        ),
    }
}

impl SimState {
    /// The instance, where analyses of this kind are served (not on Redis 3.0).
    fn analysed(&self, instance_id: &str, kind: Option<TaskKind>) -> SimResult<usize> {
        let index = self.instance(instance_id)?;
        let version = self.instances[index].summary.engine_version.as_deref();
        match kind {
            Some(kind) if version.is_some_and(|v| v.starts_with("3.")) => Err(not_supported(kind)),
            _ => Ok(index),
        }
    }

    /// `GET .../bigkey-tasks` or `.../hotkey-tasks`: a page of the tasks, in the service's
    /// order (not newest first).
    pub fn list_key_tasks(
        &self,
        instance_id: &str,
        kind: TaskKind,
        query: &KeyTaskQuery,
        shaping: ListShaping,
        now: SystemTime,
    ) -> SimResult<Value> {
        let index = self.analysed(instance_id, Some(kind))?;
        let request = page_request(query)?;
        let keys = &self.instances[index].keys;
        let now_ms = millis(now);
        let tasks: Vec<&KeyTask> = keys
            .tasks(kind)
            .listed()
            .into_iter()
            .filter(|t| request.status.is_none_or(|s| t.status(now_ms) == s))
            .collect();
        let records = tasks.iter().map(|t| record(t, true, now_ms)).collect();
        Ok(task_page(
            instance_id,
            "count",
            records,
            &request,
            shaping,
            keys.loose,
        ))
    }

    /// `GET .../bigkey-task/{id}` or `.../hotkey-task/{id}`: the task with the keys it found.
    pub fn show_key_task(
        &self,
        instance_id: &str,
        kind: TaskKind,
        task_id: &str,
        now: SystemTime,
    ) -> SimResult<Value> {
        let index = self.analysed(instance_id, Some(kind))?;
        let keys = &self.instances[index].keys;
        let task = keys.tasks(kind).get(task_id).ok_or_else(|| match kind {
            TaskKind::Big => SimError::dcs(
                400,
                codes::BIGKEY_NOT_FOUND,
                "The bigkey id does not exist.",
            ),
            TaskKind::Hot => SimError::dcs(
                400,
                codes::HOTKEY_NOT_FOUND,
                "The hotkey id does not exist.",
            ),
        })?;
        let now_ms = millis(now);
        let found = match (task.status(now_ms), kind) {
            (TaskStatus::Success, TaskKind::Big) => keys.keyspace.big_keys(task.seed, task.end_ms),
            (TaskStatus::Success, TaskKind::Hot) => keys.keyspace.hot_keys(task.seed, task.end_ms),
            _ => Vec::new(),
        };
        Ok(details(task, kind, instance_id, &found, keys.loose, now_ms))
    }

    /// `POST .../bigkey-task` or `.../hotkey-task`: a new task, `waiting`. Refused while one
    /// of its kind is waiting or running, and for hot keys unless the instance's
    /// `maxmemory-policy` is an LFU one.
    pub fn create_key_task(
        &mut self,
        instance_id: &str,
        kind: TaskKind,
        shaping: TaskShaping,
        now: SystemTime,
    ) -> SimResult<Value> {
        let index = self.analysed(instance_id, Some(kind))?;
        let now_ms = millis(now);
        let duration_ms = i64::try_from(self.key_task_duration.as_millis()).unwrap_or(i64::MAX);
        let instance = &mut self.instances[index];
        if kind == TaskKind::Hot {
            let policy = instance
                .configs
                .redis_config
                .iter()
                .find(|p| p.param_name.as_deref() == Some("maxmemory-policy"))
                .and_then(|p| p.param_value.as_deref());
            if !policy.is_some_and(|p| LFU_POLICIES.contains(&p)) {
                return Err(not_supported(kind));
            }
        }
        let keys = &mut instance.keys;
        if keys.tasks(kind).busy(now_ms) {
            return Err(match kind {
                TaskKind::Big => SimError::dcs(
                    400,
                    codes::BIGKEY_RUNNING,
                    "Instance bigkey analyze is running.",
                ),
                TaskKind::Hot => SimError::dcs(
                    400,
                    codes::TASK_STATE,
                    "This operation is not allowed when the task is in the current state.",
                ),
            });
        }
        let mut task = keys.start(now_ms, duration_ms);
        match shaping {
            TaskShaping::Normal => {}
            TaskShaping::Stuck => task.end_ms = i64::MAX,
            TaskShaping::Fails => task.fails = true,
        }
        let answer = details(&task, kind, instance_id, &[], keys.loose, now_ms);
        keys.tasks_mut(kind).push(task);
        Ok(answer)
    }

    /// `GET .../offline/key-analysis`: a page of the offline analyses.
    pub fn list_offline_analyses(
        &self,
        instance_id: &str,
        query: &KeyTaskQuery,
        shaping: ListShaping,
        now: SystemTime,
    ) -> SimResult<Value> {
        let index = self.analysed(instance_id, None)?;
        let request = page_request(query)?;
        let keys = &self.instances[index].keys;
        let now_ms = millis(now);
        let mut tasks: Vec<&KeyTask> = keys
            .offline
            .iter()
            .map(|a| &a.task)
            .filter(|t| request.status.is_none_or(|s| t.status(now_ms) == s))
            .collect();
        tasks.sort_by_key(|t| t.order);
        let records = tasks.iter().map(|t| record(t, false, now_ms)).collect();
        Ok(task_page(
            instance_id,
            "total",
            records,
            &request,
            shaping,
            keys.loose,
        ))
    }

    /// `GET .../offline/key-analysis/{task_id}`: what an offline analysis found.
    pub fn show_offline_analysis(
        &self,
        instance_id: &str,
        task_id: &str,
        now: SystemTime,
    ) -> SimResult<Value> {
        let index = self.analysed(instance_id, None)?;
        let keys = &self.instances[index].keys;
        let analysis = keys
            .offline
            .iter()
            .find(|a| a.task.id == task_id)
            .ok_or_else(|| {
                SimError::dcs(
                    400,
                    codes::OFFLINE_ANALYSIS_NOT_FOUND,
                    "The offline key analysis task does not exist.",
                )
            })?;
        let report = keys
            .keyspace
            .report(analysis.task.seed, analysis.task.start_ms);
        Ok(offline_details(
            analysis,
            instance_id,
            &report,
            keys.loose,
            millis(now),
        ))
    }

    /// `GET /v2/{project_id}/instances/statistic`: every running instance's keys, memory and
    /// load.
    pub fn instance_statistics(&self, now: SystemTime) -> Value {
        let now_ms = millis(now);
        let statistics: Vec<Value> = self
            .instances
            .iter()
            .filter(|i| i.summary.status.as_deref() == Some("RUNNING"))
            .map(|i| {
                let max_mb = i.summary.capacity.map_or(0, |gb| gb.max(0) as u64 * 1024);
                statistic(
                    i.summary.instance_id.as_deref().unwrap_or_default(),
                    i.keys.keyspace.totals(now_ms),
                    max_mb,
                    &i.keys.load,
                    i.keys.loose,
                    now_ms,
                )
            })
            .collect();
        serde_json::json!({ "statistics": statistics })
    }
}

/// A page of the records (all of them, in list order) as the request and a fault's shaping
/// ask.
fn task_page(
    instance_id: &str,
    length_name: &str,
    records: Vec<Map<String, Value>>,
    request: &PageRequest,
    shaping: ListShaping,
    loose: bool,
) -> Value {
    let length = records.len() as u64;
    let window = |records: Vec<Map<String, Value>>| -> Vec<Map<String, Value>> {
        records
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect()
    };
    match shaping {
        ListShaping::Normal => page(
            instance_id,
            length_name,
            Some(length),
            window(records),
            loose,
        ),
        ListShaping::CountTooLarge => page(
            instance_id,
            length_name,
            Some(length + 50),
            window(records),
            loose,
        ),
        ListShaping::EndlessPages => {
            let full = if records.is_empty() { 0 } else { request.limit };
            let endless = records.iter().cycle().take(full).cloned().collect();
            page(instance_id, length_name, None, endless, loose)
        }
    }
}
