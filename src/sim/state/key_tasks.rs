//! DCS's own analyses of an instance's keys, as the service keeps them: big-key and hot-key
//! tasks (`waiting`, then `running`, then `success` or `failed` on the service's clock; the
//! newest 100 of each kind), offline analyses of backups, and the instance's keys they read.
//! Records only: the calls on them are in `keys.rs`, the shapes of their answers in
//! `key_answers.rs`.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::ids::uuid_like;
use crate::sim::population::{Keyspace, KeyspaceShape};

/// The tasks of each kind the service keeps: past this, the oldest goes.
pub const MAX_KEPT_TASKS: usize = 100;

const SECOND_MS: i64 = 1000;
const HOUR_MS: i64 = 3600 * SECOND_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A kind of key analysis that runs as a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Big,
    Hot,
}

/// A task's status, as the service names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    Waiting,
    Running,
    Success,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Waiting => "waiting",
            TaskStatus::Running => "running",
            TaskStatus::Success => "success",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TaskStatus::Waiting,
            TaskStatus::Running,
            TaskStatus::Success,
            TaskStatus::Failed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// How answers write one record: the service's time formats and missing fields vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shapes {
    /// `2020-06-15T02:21:18.669Z`, else `2020-06-15T02:21:18Z`.
    pub millis: bool,
    /// A time not reached yet is `null`, else absent.
    pub unset_as_null: bool,
}

impl Shapes {
    fn draw(rng: &mut StdRng) -> Self {
        Self {
            millis: rng.random_bool(0.75),
            unset_as_null: rng.random_bool(0.5),
        }
    }
}

/// A big-key or hot-key analysis, or an offline analysis of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyTask {
    pub id: String,
    /// Started by DCS's own schedule rather than a user.
    pub auto: bool,
    pub created_ms: i64,
    pub start_ms: i64,
    /// `i64::MAX`: it never ends.
    pub end_ms: i64,
    pub fails: bool,
    /// The seed of what it finds.
    pub seed: u64,
    /// Where it sorts in the list: the service does not list newest first.
    pub order: u64,
    pub shapes: Shapes,
}

impl KeyTask {
    pub fn status(&self, now_ms: i64) -> TaskStatus {
        if now_ms < self.start_ms {
            TaskStatus::Waiting
        } else if now_ms < self.end_ms {
            TaskStatus::Running
        } else if self.fails {
            TaskStatus::Failed
        } else {
            TaskStatus::Success
        }
    }

    pub fn in_progress(&self, now_ms: i64) -> bool {
        matches!(
            self.status(now_ms),
            TaskStatus::Waiting | TaskStatus::Running
        )
    }
}

/// One kind of an instance's tasks, oldest first.
#[derive(Clone, Debug, Default)]
pub struct KeyTasks {
    tasks: VecDeque<KeyTask>,
}

impl KeyTasks {
    /// Whether a task is waiting or running.
    pub fn busy(&self, now_ms: i64) -> bool {
        self.tasks.iter().any(|t| t.in_progress(now_ms))
    }

    /// Keeps a new task; the oldest goes past [`MAX_KEPT_TASKS`].
    pub fn push(&mut self, task: KeyTask) {
        self.tasks.push_back(task);
        while self.tasks.len() > MAX_KEPT_TASKS {
            self.tasks.pop_front();
        }
    }

    pub fn get(&self, id: &str) -> Option<&KeyTask> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// In the order the service lists them.
    pub fn listed(&self) -> Vec<&KeyTask> {
        let mut listed: Vec<&KeyTask> = self.tasks.iter().collect();
        listed.sort_by_key(|t| t.order);
        listed
    }
}

/// The node whose backup an offline analysis read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysedNode {
    pub node_id: String,
    pub node_ip: String,
    pub node_type: String,
    pub group_name: Option<String>,
}

/// An offline analysis of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineAnalysis {
    pub task: KeyTask,
    pub backup_id: String,
    pub node: AnalysedNode,
    /// `new_backup` (a backup made for it) or `old_backup`.
    pub analysis_type: &'static str,
}

/// What an instance is doing, for the statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// Since when its command counters count.
    pub since_ms: i64,
    pub gets_per_second: f64,
    pub sets_per_second: f64,
    /// Percent, around which it moves.
    pub cpu: f64,
    pub input_kbps: f64,
    pub output_kbps: f64,
}

/// An instance's keys and the analyses of them.
#[derive(Debug)]
pub struct InstanceKeys {
    pub keyspace: Keyspace,
    pub big: KeyTasks,
    pub hot: KeyTasks,
    pub offline: Vec<OfflineAnalysis>,
    pub load: Load,
    /// Answers write some numbers as strings or `null`.
    pub loose: bool,
    /// Draws of new tasks: ids, seeds, list order, shapes.
    pub rng: StdRng,
}

/// How an instance's keys are made.
pub struct KeysSpec<'a> {
    pub seed: u64,
    pub shape: KeyspaceShape,
    /// Whether hot-key analyses ran before (the policy is LFU).
    pub lfu: bool,
    pub loose: bool,
    /// Data nodes whose backups offline analyses read.
    pub data_nodes: &'a [AnalysedNode],
}

impl InstanceKeys {
    /// The instance's keys, with some days of finished analyses behind them (one of them
    /// failed) so that there is something to read at once.
    pub fn new(spec: &KeysSpec<'_>, now_ms: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let keyspace = Keyspace::generate(rng.random(), &spec.shape, now_ms);
        let count = rng.random_range(6..=9);
        let big = history(&mut rng, count, now_ms);
        let hot = if spec.lfu {
            let count = rng.random_range(4..=7);
            history(&mut rng, count, now_ms)
        } else {
            KeyTasks::default()
        };
        let offline = [(9, "old_backup"), (2, "new_backup")]
            .into_iter()
            .filter_map(|(days_ago, analysis_type)| {
                let node = spec
                    .data_nodes
                    .get(rng.random_range(0..spec.data_nodes.len().max(1)))?;
                let created_ms = now_ms - days_ago * DAY_MS - rng.random_range(0..6 * HOUR_MS);
                let start_ms = created_ms + rng.random_range(5..60) * SECOND_MS;
                let mut task = new_task(&mut rng, created_ms, start_ms);
                task.end_ms = start_ms + rng.random_range(60..600) * SECOND_MS;
                Some(OfflineAnalysis {
                    task,
                    backup_id: uuid_like(&mut rng),
                    node: node.clone(),
                    analysis_type,
                })
            })
            .collect();
        let load = Load {
            since_ms: now_ms - rng.random_range(3..60) * DAY_MS,
            gets_per_second: rng.random_range(500.0..20_000.0),
            sets_per_second: rng.random_range(100.0..5_000.0),
            cpu: rng.random_range(3.0..40.0),
            input_kbps: rng.random_range(100.0..5_000.0),
            output_kbps: rng.random_range(500.0..40_000.0),
        };
        Self {
            keyspace,
            big,
            hot,
            offline,
            load,
            loose: spec.loose,
            rng,
        }
    }

    pub fn tasks(&self, kind: TaskKind) -> &KeyTasks {
        match kind {
            TaskKind::Big => &self.big,
            TaskKind::Hot => &self.hot,
        }
    }

    pub fn tasks_mut(&mut self, kind: TaskKind) -> &mut KeyTasks {
        match kind {
            TaskKind::Big => &mut self.big,
            TaskKind::Hot => &mut self.hot,
        }
    }

    /// A task a user starts now: `waiting` for the first fifth of `duration`, then `running`.
    pub fn start(&mut self, now_ms: i64, duration_ms: i64) -> KeyTask {
        let start_ms = now_ms + duration_ms / 5;
        let mut task = new_task(&mut self.rng, now_ms, start_ms);
        task.end_ms = now_ms + duration_ms.max(1);
        task
    }
}

/// `count` finished tasks, a day or so apart up to yesterday, some on DCS's schedule, one
/// failed.
fn history(rng: &mut StdRng, count: usize, now_ms: i64) -> KeyTasks {
    let failed = rng.random_range(0..count);
    let mut tasks = KeyTasks::default();
    for i in 0..count {
        let days_ago = (count - i) as i64;
        let created_ms = now_ms - days_ago * DAY_MS + rng.random_range(0..4 * HOUR_MS);
        let start_ms = created_ms + rng.random_range(1..8) * SECOND_MS;
        let mut task = new_task(rng, created_ms, start_ms);
        task.auto = rng.random_bool(0.5);
        task.fails = i == failed;
        let runs_s = if task.fails {
            rng.random_range(1..20)
        } else {
            rng.random_range(3..90)
        };
        task.end_ms = start_ms + runs_s * SECOND_MS;
        tasks.push(task);
    }
    tasks
}

/// A manual task created at `created_ms`, starting at `start_ms`, not ending yet.
fn new_task(rng: &mut StdRng, created_ms: i64, start_ms: i64) -> KeyTask {
    KeyTask {
        id: uuid_like(rng),
        auto: false,
        created_ms,
        start_ms,
        end_ms: i64::MAX,
        fails: false,
        seed: rng.random(),
        order: rng.random(),
        shapes: Shapes::draw(rng),
    }
}
