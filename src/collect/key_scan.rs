//! A `[[redis]]` target's own walk of its keys (`key_scan`): `SCAN` over every database that
//! holds keys, paced at `keys_per_second`, each batch's keys typed and measured in pipelines,
//! only the largest kept. A walk goes in steps of at most `scan_timeout`, one every
//! `scan_interval`, each on its own connection and resuming at the cursor the last one saved;
//! its result is published when the walk is whole, so the families always show one complete
//! walk. A new walk starts every `interval`. It runs as its own task, beside the target's
//! session scans, without taking their permits.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::Instrument;

use super::runtime::{Shared, log_outcome, spread};
use crate::config::{KeyScanSettings, RedisTarget};
use crate::failure::{Failure, Stage};
use crate::keys::InstanceKeys;
use crate::keys::walk::WalkFound;
use crate::reason::Reason;
use crate::redis::keys::{self as commands, KeyCommand};
use crate::redis::{self, Connection, RedisFailure};
use crate::snapshot::ContextRead;

/// The most keys one `SCAN` asks for: a batch's pipelines stay a few hundred KB.
const MAX_BATCH: u32 = 1000;

/// A walk under way.
struct Walk {
    /// The databases that held keys when it started, and the one it is in.
    dbs: Vec<u32>,
    db_index: usize,
    cursor: u64,
    /// Whether the LFU counters are read.
    hot: bool,
    found: WalkFound,
    /// Commands refused during this walk: each counted once a walk.
    refused: HashSet<KeyCommand>,
}

/// A whole walk's result.
pub struct WalkResult {
    pub keys: InstanceKeys,
    /// Keys measured.
    pub measured: u64,
}

/// What one step did.
#[derive(Default)]
pub struct StepReport {
    /// The walk's result, when this step ended it.
    pub finished: Option<WalkResult>,
    /// Reads that failed, each once a walk (a refused command) or once a step.
    pub errors: Vec<(ContextRead, RedisFailure)>,
    /// Keys measured in this step.
    pub measured: u64,
    /// The walk was given up: the next starts at `interval`.
    pub abandoned: bool,
}

/// A target's walks: the one under way, resumed step after step.
pub struct KeyWalk {
    target: Arc<RedisTarget>,
    settings: KeyScanSettings,
    walk: Option<Walk>,
}

impl KeyWalk {
    /// `None` when the target does not walk its keys.
    pub fn new(target: Arc<RedisTarget>) -> Option<Self> {
        let settings = target.key_scan.clone()?;
        Some(KeyWalk {
            target,
            settings,
            walk: None,
        })
    }

    /// Keys a `SCAN` asks for: about a tenth of a second's worth, so the pace is even.
    fn batch(&self) -> u32 {
        (self.settings.keys_per_second / 10).clamp(10, MAX_BATCH)
    }

    /// Walks on until `until`, or to the walk's end.
    pub async fn step(&mut self, until: Instant) -> StepReport {
        let mut report = StepReport::default();
        let connected = match self.target.endpoint() {
            Ok(endpoint) => {
                redis::connect_within(&endpoint, self.target.max_scan_bytes, until).await
            }
            Err(e) => Err(RedisFailure {
                reason: Reason::Password,
                message: e.to_string(),
            }),
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(f) => {
                report
                    .errors
                    .push((ContextRead::KeyScan(KeyCommand::Scan), f));
                return report;
            }
        };
        commands::no_touch(&mut conn, until).await;
        if self.walk.is_none() {
            self.walk = Some(self.start(&mut conn, until, &mut report).await);
        }
        if let Err((command, f)) = self.walk_on(&mut conn, until, &mut report).await {
            // The end of the step cutting a batch short is no failure: the batch is done again.
            if !(f.reason == Reason::Timeout && Instant::now() >= until) {
                if f.reason == Reason::ReplyTooLarge {
                    // The same batch would pass the budget again: this walk cannot go on.
                    self.walk = None;
                    report.abandoned = true;
                }
                report.errors.push((ContextRead::KeyScan(command), f));
            }
        }
        report
    }

    /// A new walk: the databases holding keys and whether the policy keeps LFU counters.
    async fn start(&self, conn: &mut Connection, until: Instant, report: &mut StepReport) -> Walk {
        let dbs = match commands::databases(conn, until).await {
            Ok(dbs) => dbs,
            Err(f) => {
                report
                    .errors
                    .push((ContextRead::KeyScan(KeyCommand::InfoKeyspace), f));
                // The database the URL selects.
                crate::redis::RedisUrl::parse(&self.target.url)
                    .ok()
                    .and_then(|u| u32::try_from(u.db).ok())
                    .into_iter()
                    .collect()
            }
        };
        let hot = match commands::eviction_policy(conn, until).await {
            Ok(policy) => commands::is_lfu(&policy),
            Err(f) => {
                report.errors.push((ContextRead::ConfigGet, f));
                false
            }
        };
        Walk {
            dbs,
            db_index: 0,
            cursor: 0,
            hot,
            found: WalkFound::new(self.settings.limits.clone()),
            refused: HashSet::new(),
        }
    }

    /// Batches at the pace, until `until` or the walk's end (then its result is in `report`).
    async fn walk_on(
        &mut self,
        conn: &mut Connection,
        until: Instant,
        report: &mut StepReport,
    ) -> Result<(), (KeyCommand, RedisFailure)> {
        let (batch, per_second) = (self.batch(), u64::from(self.settings.keys_per_second));
        let started = Instant::now();
        let mut selected = None;
        loop {
            let next_db = match self.walk.as_ref() {
                None => return Ok(()),
                Some(walk) => walk.dbs.get(walk.db_index).copied(),
            };
            let Some(db) = next_db else {
                self.finish(report);
                return Ok(());
            };
            let Some(walk) = self.walk.as_mut() else {
                return Ok(());
            };
            let due = started + Duration::from_micros(report.measured * 1_000_000 / per_second);
            if due >= until {
                return Ok(());
            }
            tokio::time::sleep_until(due).await;
            if selected != Some(db) {
                commands::select(conn, db, until)
                    .await
                    .map_err(|f| (KeyCommand::Select, f))?;
                selected = Some(db);
            }
            // The budget bounds one batch: the batches before it are dropped.
            conn.renew_budget();
            let (next, names) = commands::scan(conn, walk.cursor, batch, until)
                .await
                .map_err(|f| (KeyCommand::Scan, f))?;
            // An empty batch costs a round trip: it counts as one key towards the pace.
            let taken = names.len().max(1) as u64;
            let frequency = walk.hot && !walk.refused.contains(&KeyCommand::ObjectFreq);
            let probed = commands::probe(conn, names, frequency, until)
                .await
                .map_err(|f| (KeyCommand::Type, f))?;
            for (command, f) in probed.refused {
                if command == KeyCommand::ObjectFreq {
                    // Without the counters of every key there is no telling which are hot.
                    walk.hot = false;
                }
                if walk.refused.insert(command) {
                    report.errors.push((ContextRead::KeyScan(command), f));
                }
            }
            walk.found.add(db, &probed.keys);
            report.measured += taken;
            walk.cursor = next;
            if next == 0 {
                walk.db_index += 1;
            }
        }
    }
}

impl KeyWalk {
    /// Ends the walk under way: its result goes in `report`.
    fn finish(&mut self, report: &mut StepReport) {
        let Some(walk) = self.walk.take() else {
            return;
        };
        let measured = walk.found.keys;
        let (big, hot) = walk
            .found
            .finish(&self.target.node_id, SystemTime::now(), walk.hot);
        report.finished = Some(WalkResult {
            keys: InstanceKeys {
                big: Some(big),
                hot,
                prefix: None,
            },
            measured,
        });
    }
}

/// Walks one target's keys, forever; `span` names the target.
pub(super) async fn key_scan_loop(
    shared: Arc<Shared>,
    target: Arc<RedisTarget>,
    span: tracing::Span,
) {
    let Some(mut walker) = KeyWalk::new(Arc::clone(&target)) else {
        return;
    };
    let settings = &shared.settings;
    tokio::time::sleep(spread(
        &(&target.name, "key_scan"),
        settings.first_scan_spread,
    ))
    .await;
    // The last failure of each read, so that a repeated one is logged once.
    let mut last_failures: Vec<(ContextRead, Option<String>)> = Vec::new();
    loop {
        let walk_started = Instant::now();
        loop {
            let step_started = Instant::now();
            let report = walker
                .step(step_started + settings.scan_timeout)
                .instrument(span.clone())
                .await;
            for (read, f) in &report.errors {
                shared
                    .store
                    .count_context_error(&target.name, *read, f.reason.as_str());
                let slot = match last_failures.iter().position(|(r, _)| r == read) {
                    Some(i) => &mut last_failures[i].1,
                    None => {
                        last_failures.push((*read, None));
                        &mut last_failures.last_mut().expect("just pushed").1
                    }
                };
                let what = format!("key walk ({})", read.as_str());
                let failure = Failure::redis(Stage::Scan, f.clone());
                span.in_scope(|| log_outcome(slot, Some(&failure), &what));
            }
            if let Some(done) = report.finished {
                span.in_scope(|| {
                    tracing::debug!(keys = done.measured, "a key walk ended");
                });
                shared.store.update(|s| {
                    s.keys.insert(target.name.clone(), Arc::new(done.keys));
                });
                break;
            }
            if report.abandoned {
                break;
            }
            tokio::time::sleep_until(step_started + settings.scan_interval).await;
        }
        tokio::time::sleep_until(walk_started + walker.settings.interval).await;
    }
}
