//! Whether a big-key or hot-key analysis of an instance may be started now, and when the
//! exporter's own starts fall due: the guards `key_analysis_trigger` and `keys --run` share.

use std::time::{Duration, SystemTime};

use crate::cloud::dcs::{KeyScan, KeyTaskRecord, parse_list_time};
use crate::reason::Reason;

/// The `maxmemory-policy` values under which Redis keeps the LFU counters hot-key analyses read.
pub const LFU_POLICIES: [&str; 2] = ["allkeys-lfu", "volatile-lfu"];

/// What the guard knows of an instance.
#[derive(Clone, Copy, Debug)]
pub struct StartFacts<'a> {
    /// `single`, `ha`, `cluster`, `proxy`, `rw_split` or `unknown`, from its spec code.
    pub architecture: &'a str,
    /// Its `maxmemory-policy` parameter; `None` when it could not be read.
    pub maxmemory_policy: Option<&'a str>,
    /// The tasks of the kind to start, as the last list read them.
    pub tasks: &'a [KeyTaskRecord],
    /// `key_analysis_on_single_node`.
    pub on_single_node: bool,
}

/// Why an analysis is not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("one of the instance's analyses of this kind is waiting or running")]
    TaskInProgress,
    #[error(
        "a single-node instance: the analysis would cost its only node up to a tenth of its throughput (key_analysis_on_single_node = true allows it)"
    )]
    SingleNode,
    #[error("hot keys need maxmemory-policy allkeys-lfu or volatile-lfu, and the instance has {0}")]
    NotLfu(PolicyName),
    #[error("the instance's maxmemory-policy could not be read")]
    PolicyUnknown,
}

/// A `maxmemory-policy` known not to be LFU, kept only when it is one of Redis's own names (the
/// value is upstream text, and it reaches messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyName(&'static str);

impl std::fmt::Display for PolicyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Redis's eviction policies.
const POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-lfu",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
];

impl Refusal {
    /// The `reason` label of its count.
    pub fn reason(self) -> Reason {
        match self {
            Refusal::TaskInProgress => Reason::TaskInProgress,
            Refusal::SingleNode => Reason::SingleNode,
            Refusal::NotLfu(_) => Reason::NotLfu,
            Refusal::PolicyUnknown => Reason::PolicyUnknown,
        }
    }
}

/// Whether `scan` may be started on the instance: never on a single-node instance unless
/// allowed, hot keys only under an LFU policy (one that cannot be read refuses), never while
/// one of the kind's tasks is waiting or running.
pub fn may_start(scan: KeyScan, facts: &StartFacts<'_>) -> Result<(), Refusal> {
    if facts.architecture == "single" && !facts.on_single_node {
        return Err(Refusal::SingleNode);
    }
    if scan == KeyScan::Hot {
        let policy = facts
            .maxmemory_policy
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .ok_or(Refusal::PolicyUnknown)?;
        if !LFU_POLICIES.contains(&policy.as_str()) {
            let name = POLICIES
                .into_iter()
                .find(|known| *known == policy)
                .unwrap_or("another policy");
            return Err(Refusal::NotLfu(PolicyName(name)));
        }
    }
    if facts.tasks.iter().any(KeyTaskRecord::in_progress) {
        return Err(Refusal::TaskInProgress);
    }
    Ok(())
}

/// When the exporter's starts of one kind on one instance fall due: once an `interval`, at an
/// `offset` into it that the instance keeps (so a fleet's starts are spread over the interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    pub offset: Duration,
}

impl Schedule {
    /// The due time at or before `now`: the start of the period `now` is in.
    pub fn period_start(&self, now: SystemTime) -> SystemTime {
        let interval = self.interval.as_millis().max(1);
        let offset = self.offset.as_millis() % interval;
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let into = (since_epoch + interval - offset) % interval;
        let start = since_epoch - into.min(since_epoch);
        SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(start).unwrap_or(u64::MAX))
    }

    /// Whether a start is due, the tasks listed: not when one of them was created within the
    /// last half interval (the exporter's own last start, DCS's schedule's, or a person's), so
    /// a restart or a clock apart by minutes does not start a second one.
    pub fn due(&self, tasks: &[KeyTaskRecord], now: SystemTime) -> bool {
        let recent = now.checked_sub(self.interval / 2).unwrap_or(now);
        !tasks.iter().any(|t| {
            [&t.created_at, &t.started_at, &t.finished_at]
                .into_iter()
                .find_map(|at| at.as_deref().and_then(parse_list_time))
                .is_some_and(|created| created > recent)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str, created_at: &str) -> KeyTaskRecord {
        KeyTaskRecord {
            id: Some("t".into()),
            status: Some(status.into()),
            created_at: Some(created_at.into()),
            ..KeyTaskRecord::default()
        }
    }

    fn facts<'a>(
        architecture: &'a str,
        policy: Option<&'a str>,
        tasks: &'a [KeyTaskRecord],
    ) -> StartFacts<'a> {
        StartFacts {
            architecture,
            maxmemory_policy: policy,
            tasks,
            on_single_node: false,
        }
    }

    #[test]
    fn the_guards_refuse_with_their_reasons() {
        let done = [task("success", "2026-01-01T00:00:00Z")];
        let lfu = Some("allkeys-lfu");
        assert_eq!(may_start(KeyScan::Big, &facts("ha", None, &done)), Ok(()));
        assert_eq!(
            may_start(KeyScan::Hot, &facts("cluster", lfu, &done)),
            Ok(())
        );
        assert_eq!(
            may_start(KeyScan::Hot, &facts("ha", Some(" Volatile-LFU "), &[])),
            Ok(())
        );
        assert_eq!(
            may_start(KeyScan::Big, &facts("single", lfu, &done)),
            Err(Refusal::SingleNode)
        );
        let allowed = StartFacts {
            on_single_node: true,
            ..facts("single", lfu, &done)
        };
        assert_eq!(may_start(KeyScan::Hot, &allowed), Ok(()));
        let refused = may_start(KeyScan::Hot, &facts("ha", Some("volatile-lru"), &done));
        assert_eq!(refused, Err(Refusal::NotLfu(PolicyName("volatile-lru"))));
        assert!(refused.unwrap_err().to_string().contains("volatile-lru"));
        // Upstream text that is no policy does not reach the message.
        let odd = may_start(KeyScan::Hot, &facts("ha", Some("\u{1b}[2Jx"), &done)).unwrap_err();
        assert_eq!(odd.reason(), Reason::NotLfu);
        assert!(!odd.to_string().contains('\u{1b}'));
        // The policy matters to hot keys only.
        assert_eq!(
            may_start(KeyScan::Big, &facts("ha", Some("noeviction"), &done)),
            Ok(())
        );
        for unreadable in [None, Some(""), Some("  ")] {
            assert_eq!(
                may_start(KeyScan::Hot, &facts("ha", unreadable, &done)),
                Err(Refusal::PolicyUnknown)
            );
        }
        for status in ["waiting", "RUNNING", " running "] {
            let busy = [done[0].clone(), task(status, "2026-01-02T00:00:00Z")];
            let refused = may_start(KeyScan::Big, &facts("ha", lfu, &busy));
            assert_eq!(refused, Err(Refusal::TaskInProgress), "{status}");
        }
        let reasons = [
            Refusal::TaskInProgress,
            Refusal::SingleNode,
            Refusal::NotLfu(PolicyName("noeviction")),
            Refusal::PolicyUnknown,
        ]
        .map(|r| r.reason().to_string());
        assert_eq!(
            reasons,
            [
                "task_in_progress",
                "single_node",
                "not_lfu",
                "policy_unknown"
            ]
        );
    }

    #[test]
    fn starts_fall_due_once_an_interval_at_the_instance_offset() {
        let hour = Duration::from_secs(3600);
        let schedule = Schedule {
            interval: 24 * hour,
            offset: 5 * hour,
        };
        let at = |s: &str| humantime::parse_rfc3339(s).unwrap();
        assert_eq!(
            schedule.period_start(at("2026-03-10T12:00:00Z")),
            at("2026-03-10T05:00:00Z")
        );
        assert_eq!(
            schedule.period_start(at("2026-03-10T04:59:59Z")),
            at("2026-03-09T05:00:00Z")
        );
        assert_eq!(
            schedule.period_start(at("2026-03-10T05:00:00Z")),
            at("2026-03-10T05:00:00Z")
        );
        let now = at("2026-03-10T12:00:00Z");
        assert!(schedule.due(&[], now));
        // An analysis of a day ago, or without a time, does not hold the next.
        let old = [
            task("success", "2026-03-09T06:00:00Z"),
            KeyTaskRecord::default(),
        ];
        assert!(schedule.due(&old, now));
        // One created within the last half interval does, whoever started it.
        let recent = [task("success", "2026-03-10T01:00:00.000Z")];
        assert!(!schedule.due(&recent, now));
        let by_epoch = [task("failed", "1773140400000")];
        assert!(!schedule.due(&by_epoch, now));
    }
}
