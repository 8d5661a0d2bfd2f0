//! Reads DCS's own analyses of an instance's keys (big keys, hot keys, key prefixes from a
//! backup) every `key_analysis_interval`: each kind's task list, then the newest successful
//! task's details only when it is not the one shown. A failed read is counted and logged once;
//! what was shown stays.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::key_trigger::Starter;
use super::runtime::{CloudRuntime, Shared, log_outcome, spread};
use crate::cloud::dcs::{AnalysisKind, KeyTaskRecord};
use crate::cloud::{ApiClient, ApiError, Operation};
use crate::config::KeyAnalysis;
use crate::failure::Failure;
use crate::keys::{self, InstanceKeys, InstanceMemory};
use crate::reason::Reason;
use crate::snapshot::{ContextRead, Store};
use crate::supervisor::{Task, supervise};
use crate::upstream_text;

/// A cloud's key-analysis pollers, one an instance this replica owns.
#[derive(Default)]
pub(super) struct KeyPollers {
    running: HashMap<String, AbortHandle>,
    tasks: JoinSet<()>,
}

impl KeyPollers {
    /// Polls exactly these instances: stops the pollers of the others, starts the missing.
    pub fn keep(
        &mut self,
        shared: &Arc<Shared>,
        cloud: &Arc<CloudRuntime>,
        wanted: &HashSet<String>,
    ) {
        self.running.retain(|id, task| {
            let kept = wanted.contains(id);
            if !kept {
                task.abort();
            }
            kept
        });
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            let id = ended.map_or_else(|e| e.id(), |(id, ())| id);
            self.running.retain(|_, task| task.id() != id);
        }
        let Some(settings) = &cloud.config.key_analysis else {
            return;
        };
        for instance_id in wanted {
            if self.running.contains_key(instance_id) {
                continue;
            }
            let span = tracing::info_span!("key_analysis", instance_id = %instance_id);
            let named = tracing::error_span!("key_analysis", instance_id = %instance_id);
            let (shared, api, id, settings) = (
                Arc::clone(shared),
                cloud.api.clone(),
                instance_id.clone(),
                settings.clone(),
            );
            let task = self
                .tasks
                .spawn(supervise(Task::KeyAnalysis, named, move || {
                    key_analysis_loop(
                        Arc::clone(&shared),
                        api.clone(),
                        id.clone(),
                        settings.clone(),
                        span.clone(),
                    )
                }));
            self.running.insert(instance_id.clone(), task);
        }
    }
}

/// Reads the running instances' memory and keys (one call for the whole project) and keeps
/// those of `instances`; a failed read is logged, and what was read before stays.
pub(super) async fn read_statistics(
    shared: &Shared,
    cloud: &CloudRuntime,
    instances: &HashSet<String>,
    deadline: Instant,
) {
    let statistics = match cloud.api.list_instance_statistics(deadline).await {
        Ok(statistics) => statistics,
        Err(e) => {
            tracing::warn!(cloud = %cloud.config.name, reason = %e.reason(), "instance statistics: {e}");
            return;
        }
    };
    shared.store.update(|s| {
        crate::snapshot::retain(&mut s.instance_memory, |id, _| {
            instances.contains(id)
                || s.instances
                    .get(id)
                    .is_none_or(|c| c.cloud != cloud.config.name)
        });
        for statistic in &statistics.statistics {
            let Some(id) = statistic
                .instance_id
                .as_deref()
                .filter(|id| instances.contains(*id))
            else {
                continue;
            };
            let memory = InstanceMemory::from_statistic(statistic);
            if memory.any_invalid(statistic) {
                s.count_context_error(
                    id,
                    ContextRead::Api(Operation::ListInstanceStatistics),
                    Reason::InvalidValue.as_str(),
                );
            }
            s.instance_memory.insert(id.to_string(), memory);
        }
    });
}

/// What one instance's poller remembers between reads.
struct Poller {
    shared: Arc<Shared>,
    api: ApiClient,
    instance_id: String,
    settings: KeyAnalysis,
    /// The last failure of each kind's read, so that a repeated one is logged once.
    last_failure: [Option<String>; 3],
    /// The tasks of each kind a reason was counted for (failed, stuck, details that contradict
    /// themselves), so that each is counted and logged once; only tasks still listed are kept.
    counted: [HashSet<(String, Reason)>; 3],
    /// Starts the analyses `key_analysis_trigger` names, when it names any.
    starter: Option<Starter>,
}

/// Polls one instance's key analyses, forever; `span` names the instance.
async fn key_analysis_loop(
    shared: Arc<Shared>,
    api: ApiClient,
    instance_id: String,
    settings: KeyAnalysis,
    span: tracing::Span,
) {
    tokio::time::sleep(spread(
        &(&instance_id, "keys"),
        shared.settings.first_scan_spread,
    ))
    .await;
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let starter = Starter::new(
        Arc::clone(&shared),
        api.clone(),
        instance_id.clone(),
        settings.trigger.clone(),
    );
    let mut poller = Poller {
        shared,
        api,
        instance_id,
        settings,
        last_failure: Default::default(),
        counted: Default::default(),
        starter,
    };
    loop {
        ticker.tick().await;
        for kind in AnalysisKind::ALL {
            poller.read(*kind).instrument(span.clone()).await;
        }
    }
}

impl Poller {
    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Reads one kind: the task list, and the newest success's details when it is new; then,
    /// on that list, starts an analysis of the kind when one is due.
    async fn read(&mut self, kind: AnalysisKind) {
        let deadline = Instant::now() + self.shared.settings.scan_timeout;
        let listed = self
            .api
            .list_key_tasks(&self.instance_id, kind, deadline)
            .await;
        let outcome = match listed {
            Ok(records) => {
                let shown = self.show_newest(kind, &records, deadline).await;
                if let Some(starter) = &mut self.starter {
                    starter.after_list(kind, &records, deadline).await;
                }
                shown
            }
            Err(e) => Err(e),
        };
        let slot = &mut self.last_failure[kind as usize];
        let what = format!("{} key analysis read", kind.as_str());
        match outcome {
            Ok(()) => log_outcome(slot, None, &what),
            Err(e) => {
                self.shared.store.count_context_error(
                    &self.instance_id,
                    ContextRead::Api(e.operation),
                    e.reason().as_str(),
                );
                log_outcome(slot, Some(&Failure::from(e)), &what);
            }
        }
    }

    async fn show_newest(
        &mut self,
        kind: AnalysisKind,
        records: &[KeyTaskRecord],
        deadline: Instant,
    ) -> Result<(), ApiError> {
        self.note_findings(kind, records);
        let id = self.instance_id.as_str();
        let Some(newest) = keys::newest_success(records) else {
            tracing::debug!(
                tasks = records.len(),
                kind = kind.as_str(),
                "no successful analysis yet"
            );
            return Ok(());
        };
        let task_id = newest.id.clone().unwrap_or_default();
        let refused = (
            upstream_text::clean(task_id.trim(), &[]),
            Reason::Inconsistent,
        );
        if self.shown(kind).as_deref() == Some(task_id.as_str())
            || self.counted[kind as usize].contains(&refused)
        {
            return Ok(());
        }
        let limits = &self.settings.limits;
        let (_, show) = kind.operations();
        let invalid = match kind {
            AnalysisKind::Big | AnalysisKind::Hot => {
                let detail = self.api.show_key_task(id, kind, &task_id, deadline).await?;
                if keys::contradicts_itself(&detail) {
                    // What was shown stays; these details are not read again.
                    tracing::warn!(
                        kind = kind.as_str(),
                        task_id = %refused.0,
                        num = detail.num,
                        "a key analysis lists no keys but says it found some: not shown"
                    );
                    self.store().count_context_error(
                        id,
                        ContextRead::Api(show),
                        refused.1.as_str(),
                    );
                    self.counted[kind as usize].insert(refused);
                    return Ok(());
                }
                let read = keys::key_result(kind, &detail, limits);
                // The list's record is the one chosen: the details may leave its times out.
                let mut result = read.result;
                result.task_id = task_id;
                result.finished = result.finished.or_else(|| keys::task_time(newest));
                self.publish(|k| match kind {
                    AnalysisKind::Big => k.big = Some(result),
                    _ => k.hot = Some(result),
                });
                read.invalid
            }
            AnalysisKind::Prefix => {
                let analysis = self
                    .api
                    .show_offline_analysis(id, &task_id, deadline)
                    .await?;
                let read = keys::prefix_result(&analysis, limits);
                let mut result = read.result;
                result.task_id = task_id;
                result.finished = result.finished.or_else(|| keys::task_time(newest));
                self.publish(|k| k.prefix = Some(result));
                read.invalid
            }
        };
        if invalid > 0 {
            // Counted once a read: the keys with unbelievable numbers are left out.
            tracing::debug!(
                invalid,
                kind = kind.as_str(),
                "keys left out of an analysis"
            );
            self.store().count_context_error(
                id,
                ContextRead::Api(show),
                Reason::InvalidValue.as_str(),
            );
        }
        Ok(())
    }

    /// Counts, once a task, the list's newest failure and its stuck tasks; forgets the tasks
    /// no longer listed.
    fn note_findings(&mut self, kind: AnalysisKind, records: &[KeyTaskRecord]) {
        let listed: HashSet<String> = records
            .iter()
            .filter_map(|r| r.id.as_deref())
            .map(|id| upstream_text::clean(id.trim(), &[]))
            .collect();
        let counted = &mut self.counted[kind as usize];
        counted.retain(|(task_id, _)| listed.contains(task_id));
        let (list, _) = kind.operations();
        for finding in keys::list_findings(records, SystemTime::now()) {
            let keys::Finding { task_id, reason } = finding;
            if !counted.insert((task_id.clone(), reason.clone())) {
                continue;
            }
            let kind = kind.as_str();
            match reason {
                Reason::TaskStuck => tracing::warn!(
                    kind,
                    %task_id,
                    "a key analysis has been waiting or running for more than {}h",
                    keys::STUCK_AFTER.as_secs() / 3600
                ),
                _ => tracing::warn!(kind, %task_id, "the newest key analysis failed"),
            }
            self.shared.store.count_context_error(
                &self.instance_id,
                ContextRead::Api(list),
                reason.as_str(),
            );
        }
    }

    /// The task id of the analysis of this kind shown now.
    fn shown(&self, kind: AnalysisKind) -> Option<String> {
        let snapshot = self.store().load();
        let keys = snapshot.keys.get(&self.instance_id)?;
        match kind {
            AnalysisKind::Big => keys.big.as_ref().map(|r| r.task_id.clone()),
            AnalysisKind::Hot => keys.hot.as_ref().map(|r| r.task_id.clone()),
            AnalysisKind::Prefix => keys.prefix.as_ref().map(|r| r.task_id.clone()),
        }
    }

    fn publish(&self, f: impl FnOnce(&mut InstanceKeys)) {
        self.store().update(|s| {
            f(Arc::make_mut(
                s.keys.entry(self.instance_id.clone()).or_default(),
            ))
        });
    }
}
