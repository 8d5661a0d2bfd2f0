//! What an analysis's answers say besides its keys, as reasons: the newest task of a list
//! failed, a task has been waiting or running for longer than any analysis takes, or a
//! task's details contradict themselves. Each is counted once a task by the poller.

use std::time::{Duration, SystemTime};

use crate::cloud::dcs::{KeyTaskDetail, KeyTaskRecord, parse_list_time};
use crate::reason::Reason;
use crate::upstream_text;

/// How long a task may wait and run before it is taken to be stuck. DCS's analyses take
/// minutes, a big-key scan of a large instance an hour or so; DCS starts no other task of the
/// kind while one runs, so a stuck one holds every later analysis back.
pub const STUCK_AFTER: Duration = Duration::from_secs(6 * 3600);

/// A task of a list and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The task's id, cut and cleaned (it is upstream text, and goes to logs).
    pub task_id: String,
    /// [`Reason::JobFailed`] or [`Reason::TaskStuck`].
    pub reason: Reason,
}

/// The failures a task list shows at `now`: the newest task (by creation) when it failed, and
/// every task waiting or running since more than [`STUCK_AFTER`]. Tasks without an id are
/// left out: nothing could tell them apart from one read to the next.
pub fn list_findings(records: &[KeyTaskRecord], now: SystemTime) -> Vec<Finding> {
    let at = |t: &Option<String>| t.as_deref().and_then(parse_list_time);
    let id = |r: &KeyTaskRecord| {
        r.id.as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| upstream_text::clean(id, &[]))
    };
    let mut found = Vec::new();
    let newest = records.iter().filter(|r| id(r).is_some()).max_by(|a, b| {
        (at(&a.created_at), at(&a.finished_at), &a.id).cmp(&(
            at(&b.created_at),
            at(&b.finished_at),
            &b.id,
        ))
    });
    if let Some(newest) = newest.filter(|r| r.failed()) {
        found.extend(id(newest).map(|task_id| Finding {
            task_id,
            reason: Reason::JobFailed,
        }));
    }
    for record in records.iter().filter(|r| r.in_progress()) {
        let since = at(&record.created_at).or_else(|| at(&record.started_at));
        let waited = since.and_then(|s| now.duration_since(s).ok());
        if waited.is_some_and(|w| w > STUCK_AFTER) {
            found.extend(id(record).map(|task_id| Finding {
                task_id,
                reason: Reason::TaskStuck,
            }));
        }
    }
    found
}

/// Whether a successful task's details contradict themselves: no keys listed while `num`
/// says there are some. Such details are not shown (what was shown stays); details with no
/// keys and a `num` of 0, or none, are an analysis that found nothing, and are shown.
pub fn contradicts_itself(detail: &KeyTaskDetail) -> bool {
    detail.keys.is_empty() && detail.num.is_some_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: &str, created: &str) -> KeyTaskRecord {
        KeyTaskRecord {
            id: Some(id.to_string()),
            status: Some(status.to_string()),
            created_at: Some(created.to_string()),
            ..KeyTaskRecord::default()
        }
    }

    fn at(text: &str) -> SystemTime {
        parse_list_time(text).unwrap()
    }

    #[test]
    fn the_newest_failure_and_stuck_tasks() {
        let now = at("2026-12-05T12:00:00Z");
        let list = [
            record("old-ok", "success", "2026-12-01T00:00:00Z"),
            record("newest", "FAILED", "2026-12-05T11:00:00Z"),
            record("failed-before", "failed", "2026-12-04T00:00:00Z"),
            record("stuck", "running", "2026-12-05T05:59:59Z"),
            record("recent", "waiting", "2026-12-05T06:00:01Z"),
        ];
        let found = list_findings(&list, now);
        let said: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.task_id.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(said, [("newest", "job_failed"), ("stuck", "task_stuck")]);
        // A success after the failures: nothing failed last.
        let mut healed = list.to_vec();
        healed.push(record("ok", "success", "2026-12-05T11:30:00Z"));
        healed.retain(|r| r.id.as_deref() != Some("stuck"));
        assert!(list_findings(&healed, now).is_empty());
        // A hundred failures: one finding, the newest.
        let failures: Vec<KeyTaskRecord> = (0..100)
            .map(|i| {
                let created = format!("2026-12-0{}T{:02}:00:00Z", 1 + i / 24, i % 24);
                record(&format!("f{i}"), "failed", &created)
            })
            .collect();
        let found = list_findings(&failures, now);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].task_id, "f99");
        // An id of a megabyte with a newline is cut and cleaned.
        let long = record(&format!("a\n{}", "x".repeat(1 << 20)), "failed", "");
        let found = list_findings(&[long], now);
        assert!(found[0].task_id.chars().count() <= upstream_text::MAX_UPSTREAM_CHARS + 1);
        assert!(!found[0].task_id.contains('\n'));
    }

    #[test]
    fn empty_keys_contradict_only_a_positive_num() {
        let detail = |num: Option<i64>| KeyTaskDetail {
            num,
            ..KeyTaskDetail::default()
        };
        assert!(contradicts_itself(&detail(Some(12))));
        assert!(!contradicts_itself(&detail(Some(0))));
        assert!(!contradicts_itself(&detail(None)));
    }
}
