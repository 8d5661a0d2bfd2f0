//! Starts the big-key and hot-key analyses `key_analysis_trigger` names, one instance at a
//! time, from its key-analysis poller: once an interval at the instance's place in it, decided
//! on the task list the poller has just read, guarded as `keys::trigger` says. Each decision
//! that starts nothing is counted once and logged once; nothing is ever deleted.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::runtime::{Shared, spread};
use crate::cloud::ApiClient;
use crate::cloud::dcs::{AnalysisKind, KeyScan, KeyTaskRecord};
use crate::config::KeyTrigger;
use crate::keys::trigger::{Schedule, StartFacts, may_start};
use crate::snapshot::ContextRead;

/// One instance's starts: what was decided in which period, and what was last said.
pub(super) struct Starter {
    shared: Arc<Shared>,
    api: ApiClient,
    instance_id: String,
    settings: KeyTrigger,
    /// By kind (`KeyScan as usize`): the period last decided in, so a decision is made (and
    /// counted) once a period, not once a read.
    decided: [Option<SystemTime>; 2],
    /// By kind: the reason the last decision started nothing, so a repeated one is logged
    /// at debug level only.
    last_refusal: [Option<String>; 2],
}

impl Starter {
    /// `None` when the cloud starts no analysis.
    pub fn new(
        shared: Arc<Shared>,
        api: ApiClient,
        instance_id: String,
        settings: KeyTrigger,
    ) -> Option<Self> {
        if settings.scans.is_empty() {
            return None;
        }
        Some(Starter {
            shared,
            api,
            instance_id,
            settings,
            decided: [None, None],
            last_refusal: [None, None],
        })
    }

    fn schedule(&self, scan: KeyScan) -> Schedule {
        let interval = self.settings.interval;
        Schedule {
            interval,
            offset: spread(&(&self.instance_id, "trigger", scan.analysis()), interval),
        }
    }

    /// After a read of `kind`'s task list: starts one when its period's start is due and the
    /// guards allow it.
    pub async fn after_list(
        &mut self,
        kind: AnalysisKind,
        tasks: &[KeyTaskRecord],
        deadline: Instant,
    ) {
        let Some(scan) = self
            .settings
            .scans
            .iter()
            .copied()
            .find(|s| s.analysis() == kind)
        else {
            return;
        };
        let schedule = self.schedule(scan);
        let now = SystemTime::now();
        let period = schedule.period_start(now);
        if self.decided[scan as usize] == Some(period) {
            return;
        }
        self.decided[scan as usize] = Some(period);
        if !schedule.due(tasks, now) {
            tracing::debug!(
                kind = kind.as_str(),
                "an analysis was started within the last half interval: none started"
            );
            return;
        }
        let snapshot = self.shared.store.load();
        let context = snapshot.instances.get(&self.instance_id);
        let facts = StartFacts {
            architecture: context.map_or("unknown", |c| c.architecture.as_str()),
            maxmemory_policy: context.and_then(|c| c.maxmemory_policy.as_deref()),
            tasks,
            on_single_node: self.settings.on_single_node,
        };
        let what = format!("{} key analysis", kind.as_str());
        if let Err(refusal) = may_start(scan, &facts) {
            self.refused(scan, refusal.reason().as_str(), &refusal.to_string(), &what);
            return;
        }
        match self
            .api
            .start_key_task(&self.instance_id, scan, deadline)
            .await
        {
            Ok(task) => {
                self.last_refusal[scan as usize] = None;
                tracing::info!(
                    task_id = task.id.as_deref().unwrap_or(""),
                    status = task.status.as_deref().unwrap_or(""),
                    "started a {what}"
                );
            }
            Err(e) => self.refused(scan, e.reason().as_str(), &e.to_string(), &what),
        }
    }

    /// Counts a decision that started nothing, and logs it unless the last said the same.
    fn refused(&mut self, scan: KeyScan, reason: &str, message: &str, what: &str) {
        self.shared.store.count_context_error(
            &self.instance_id,
            ContextRead::Api(scan.start_operation()),
            reason,
        );
        let last = &mut self.last_refusal[scan as usize];
        if last.as_deref() == Some(reason) {
            tracing::debug!(reason, "{what} not started again: {message}");
        } else {
            tracing::warn!(reason, "{what} not started: {message}");
        }
        *last = Some(reason.to_string());
    }
}
