//! Capacity planning: the API calls one cloud account's collection makes in a scan interval,
//! derived from the schedule the collection follows, and the largest fleet the account's
//! request rate can scan.
//!
//! The schedule (`collect/`): every `scan_interval` each node is scanned (one call starts a
//! scan job, the job is polled until it ends, and every page of the stored list is read), each
//! instance's slow log is read and each DBSS resource polled. Every `discovery_interval` the
//! project's instance list is read (with `[cloud.discovery]`), then each instance's details,
//! parameters and logical nodes, and, with key analysis, the running instances' statistics
//! once. Every `key_analysis_interval` each instance's three analysis lists are read; an
//! analysis's details only when a newer one finished, which the schedule does not set.

use std::time::Duration;

use crate::cloud::JobTiming;
use crate::cloud::dcs::PollOptions;
use crate::config::{Cloud, ExporterSettings};

/// How long a scan job is assumed to take (DCS's take seconds). Only an account's first job
/// depends on it: the client learns how long jobs take and looks first a little after that,
/// so a job that takes as long as those before it is looked at once.
pub const ASSUMED_JOB_DURATION: Duration = Duration::from_secs(3);
/// Instances a page of the project's instance list holds (the client's page size).
pub const INSTANCE_LIST_PAGE: u64 = 100;
/// Lists read every key-analysis interval: big keys, hot keys, offline analyses.
const KEY_ANALYSIS_LISTS: f64 = 3.0;
/// Reads of each instance every discovery: details, parameters, logical nodes.
const CONTEXT_READS: f64 = 3.0;
/// Calls an analysis started by a trigger costs: the start, and its details once finished.
const CALLS_PER_TRIGGERED_ANALYSIS: f64 = 2.0;
/// The largest fleet searched for, in instances.
const MAX_PLANNED_INSTANCES: u64 = 10_000_000;

/// What sets one account's calls: its intervals, paging and rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub scan_interval: Duration,
    pub discovery_interval: Duration,
    /// Sessions a page of a stored list holds.
    pub page_size: u32,
    pub requests_per_second: f64,
    /// Looks at a scan job until it has ended.
    pub polls_per_job: u32,
    /// The project's instance list is read at every discovery (`[cloud.discovery]`).
    pub lists_instances: bool,
    /// Instances' slow logs are read (where their details do not say they keep none).
    pub slow_log: bool,
    /// Every instance's analyses are read this often (`None`: `key_analysis = false`).
    pub key_analysis_interval: Option<Duration>,
    /// Analyses started on each instance (`None`: none are started).
    pub key_analysis_trigger: Option<Trigger>,
}

/// Analyses the exporter starts on each instance: `kinds` of them every `interval`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trigger {
    pub kinds: u32,
    pub interval: Duration,
}

impl Schedule {
    /// The schedule of `cloud` under the exporter's `settings`.
    pub fn of(settings: &ExporterSettings, cloud: &Cloud) -> Self {
        Self {
            scan_interval: settings.scan_interval,
            discovery_interval: settings.discovery_interval,
            page_size: settings
                .page_size
                .clamp(1, crate::cloud::dcs::MAX_PAGE_SIZE),
            requests_per_second: cloud.requests_per_second,
            polls_per_job: polls_per_job(ASSUMED_JOB_DURATION, &PollOptions::default(), true),
            lists_instances: cloud.discovery.is_some(),
            slow_log: cloud.slow_log,
            key_analysis_interval: cloud.key_analysis.as_ref().map(|k| k.interval),
            // At most one start of each kind an instance a trigger interval (the guards refuse
            // more), so this is the term's ceiling.
            key_analysis_trigger: cloud
                .key_analysis
                .as_ref()
                .filter(|k| !k.trigger.scans.is_empty())
                .map(|k| Trigger {
                    kinds: k.trigger.scans.len() as u32,
                    interval: k.trigger.interval,
                }),
        }
    }

    /// How many times something done every `every` happens in one scan interval.
    fn per_interval(&self, every: Duration) -> f64 {
        if every.is_zero() {
            return 0.0;
        }
        self.scan_interval.as_secs_f64() / every.as_secs_f64()
    }

    /// Requests a second that `budget` needs.
    pub fn needed_rate(&self, budget: &Budget) -> f64 {
        budget.total() / self.scan_interval.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Whether the account's rate carries `budget`.
    pub fn fits(&self, budget: &Budget) -> bool {
        self.needed_rate(budget) <= self.requests_per_second
    }
}

/// The pages of a stored list of `sessions` (at least one: an empty list is read too).
pub fn pages(sessions: u64, page_size: u32) -> u64 {
    sessions.div_ceil(u64::from(page_size.max(1))).max(1)
}

/// The looks at a scan job that takes `job` until one sees it ended, as the client polls:
/// first after the time the account's jobs took (`learned`: one job has ended, as long as
/// this one) or `first_wait`, then at waits growing by half up to `max_wait`.
pub fn polls_per_job(job: Duration, poll: &PollOptions, learned: bool) -> u32 {
    let timing = JobTiming::default();
    if learned {
        timing.record(job);
    }
    let mut at = timing
        .first_look()
        .map_or(poll.first_wait, |d| d.max(poll.first_wait));
    let mut wait = poll.first_wait.mul_f64(1.5).min(poll.max_wait);
    let mut polls = 1;
    // Bounded: a job of an hour is looked at some 700 times at 5 s.
    while at < job && polls < 10_000 {
        at += wait;
        wait = wait.mul_f64(1.5).min(poll.max_wait);
        polls += 1;
    }
    polls
}

/// What one account scans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fleet {
    /// Instances whose details, parameters and nodes every discovery reads.
    pub instances: u64,
    /// Instances in the project's list (its pages are read when the schedule lists them).
    pub listed_instances: u64,
    /// Nodes scanned.
    pub nodes: u64,
    /// Pages of the nodes' stored lists, all nodes together (at least one a node).
    pub pages: u64,
    pub slow_log_instances: u64,
    pub analysed_instances: u64,
    pub dbss_resources: u64,
}

impl Fleet {
    /// Adds a node whose last scan found `sessions` (`None`: not scanned yet, one page).
    pub fn add_node(&mut self, sessions: Option<u64>, page_size: u32) {
        self.nodes += 1;
        self.pages += sessions.map_or(1, |s| pages(s, page_size));
    }

    /// The same shape with `instances` instances: nodes, pages and features in the same
    /// proportion (rounded up), the DBSS resources as they are. A fleet without instances
    /// scales as instances of one node of one page, with the features `schedule` turns on.
    pub fn scaled(&self, instances: u64, schedule: &Schedule) -> Fleet {
        let base = self.instances.max(1) as f64;
        let ratio = instances as f64 / base;
        let per = |n: u64, fallback: bool| -> u64 {
            let n = if self.instances == 0 {
                u64::from(fallback)
            } else {
                n
            };
            (n as f64 * ratio).ceil() as u64
        };
        Fleet {
            instances,
            listed_instances: per(self.listed_instances.max(self.instances), true),
            nodes: per(self.nodes, true),
            pages: per(self.pages, true),
            slow_log_instances: per(self.slow_log_instances, schedule.slow_log),
            analysed_instances: per(
                self.analysed_instances,
                schedule.key_analysis_interval.is_some(),
            ),
            dbss_resources: self.dbss_resources,
        }
    }
}

/// The calls of one scan interval, by what makes them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    /// One a node: the scan job's start.
    pub scan_starts: f64,
    pub job_polls: f64,
    /// Every page of every node's stored list.
    pub session_pages: f64,
    /// One read an instance whose slow log is read (a page holds 1,000 entries).
    pub slow_logs: f64,
    pub dbss_polls: f64,
    /// The instance list's pages and each instance's details, parameters and nodes.
    pub discovery: f64,
    /// The running instances' statistics, once a discovery with key analysis.
    pub statistics: f64,
    /// Each instance's three analysis lists.
    pub key_analysis: f64,
    /// Analyses started and their details read; 0 when none are started.
    pub key_analysis_trigger: f64,
}

impl Budget {
    /// The terms with their names, in a fixed order.
    pub fn terms(&self) -> [(&'static str, f64); 9] {
        [
            ("scan starts", self.scan_starts),
            ("job polls", self.job_polls),
            ("session pages", self.session_pages),
            ("slow logs", self.slow_logs),
            ("DBSS polls", self.dbss_polls),
            ("discovery", self.discovery),
            ("statistics", self.statistics),
            ("key analyses", self.key_analysis),
            ("key-analysis triggers", self.key_analysis_trigger),
        ]
    }

    pub fn total(&self) -> f64 {
        self.terms().iter().map(|(_, calls)| calls).sum()
    }
}

/// The calls `fleet` costs in one scan interval of `schedule`.
pub fn budget(schedule: &Schedule, fleet: &Fleet) -> Budget {
    let discoveries = schedule.per_interval(schedule.discovery_interval);
    let list_pages = if schedule.lists_instances {
        fleet.listed_instances.div_ceil(INSTANCE_LIST_PAGE).max(1) as f64
    } else {
        // Read once at the start, for the names of the instances configured.
        0.0
    };
    let analysed = fleet.analysed_instances as f64;
    let (key_analysis, statistics) = match schedule.key_analysis_interval {
        Some(every) if fleet.analysed_instances > 0 => (
            analysed * KEY_ANALYSIS_LISTS * schedule.per_interval(every),
            discoveries,
        ),
        _ => (0.0, 0.0),
    };
    let key_analysis_trigger = match schedule.key_analysis_trigger {
        Some(t) if schedule.key_analysis_interval.is_some() => {
            analysed
                * f64::from(t.kinds)
                * CALLS_PER_TRIGGERED_ANALYSIS
                * schedule.per_interval(t.interval)
        }
        _ => 0.0,
    };
    let nodes = fleet.nodes as f64;
    Budget {
        scan_starts: nodes,
        job_polls: nodes * f64::from(schedule.polls_per_job),
        session_pages: fleet.pages as f64,
        slow_logs: fleet.slow_log_instances as f64,
        dbss_polls: fleet.dbss_resources as f64,
        discovery: (list_pages + fleet.instances as f64 * CONTEXT_READS) * discoveries,
        statistics,
        key_analysis,
        key_analysis_trigger,
    }
}

/// The most instances of `shape` the schedule's rate carries (0 when not even none fit).
pub fn largest_fleet(schedule: &Schedule, shape: &Fleet) -> u64 {
    let fits = |n: u64| schedule.fits(&budget(schedule, &shape.scaled(n, schedule)));
    if !fits(0) {
        return 0;
    }
    let (mut low, mut high) = (0, MAX_PLANNED_INSTANCES);
    if fits(high) {
        return high;
    }
    // `low` fits, `high` does not.
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

/// One cloud's schedule and what it scans, as the collection last found it.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudPlan {
    pub schedule: Schedule,
    pub fleet: Fleet,
}

impl CloudPlan {
    /// The plan of `cloud` from its configuration alone: each instance listed with its
    /// explicit nodes or, without, as one node; a page a node. Instances that discovery would
    /// find are not counted.
    pub fn configured(settings: &ExporterSettings, cloud: &Cloud) -> Self {
        let schedule = Schedule::of(settings, cloud);
        let instances = cloud.dcs_instances.len() as u64;
        let mut fleet = Fleet {
            instances,
            listed_instances: instances,
            slow_log_instances: if cloud.slow_log { instances } else { 0 },
            analysed_instances: if cloud.key_analysis.is_some() {
                instances
            } else {
                0
            },
            dbss_resources: cloud.dbss_resources.len() as u64,
            ..Fleet::default()
        };
        for instance in &cloud.dcs_instances {
            for _ in 0..instance.nodes.len().max(1) {
                fleet.add_node(None, schedule.page_size);
            }
        }
        Self { schedule, fleet }
    }

    pub fn budget(&self) -> Budget {
        budget(&self.schedule, &self.fleet)
    }

    /// The budget, what it needs, and the largest fleet that fits, as lines to print (each
    /// indented by two spaces).
    pub fn report(&self) -> String {
        let (schedule, fleet) = (&self.schedule, &self.fleet);
        let budget = self.budget();
        let needed = schedule.needed_rate(&budget);
        let terms: Vec<String> = budget
            .terms()
            .iter()
            .map(|(name, calls)| format!("{name} {}", round(*calls)))
            .collect();
        let largest = largest_fleet(schedule, fleet);
        let largest_nodes = fleet.scaled(largest, schedule).nodes;
        format!(
            "  API calls every {} (scan_interval), for {} instance(s), {} node(s), {} page(s) of sessions:\n    {}\n  \
             total {} calls: {} requests/s needed of {} requests/s configured ({}%)\n  \
             the largest fleet of this shape that fits: {largest} instance(s), {largest_nodes} node(s)\n",
            humantime::format_duration(schedule.scan_interval),
            fleet.instances,
            fleet.nodes,
            fleet.pages,
            terms.join(", "),
            round(budget.total()),
            round(needed),
            round(schedule.requests_per_second),
            round(100.0 * needed / schedule.requests_per_second.max(f64::MIN_POSITIVE)),
        )
    }
}

/// A number with at most two decimals, without trailing zeros.
fn round(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
