//! One node's scans: on its own timer, within the shared permits, each outcome published.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::outcome::{NodeScanState, ScanOutcome, SlowLogRead};
use super::runtime::{DatedAhead, Shared, log_outcome, spread};
use super::target::Target;
use crate::cloud::ApiClient;
use crate::cloud::credentials::Recoveries;
use crate::slowlog::{SlowCaps, SlowLogCursor, Taken, lookback};
use crate::snapshot::{Attempt, ContextRead, Failure, NodeInfo, NodeKey, Reason, Source, Store};

/// Scans one target on its own timer, forever, and publishes each outcome. After a failed
/// scan, a recovery of the target's credentials brings the next scan forward.
async fn scan_loop<F, Fut>(
    shared: Arc<Shared>,
    key: NodeKey,
    span: tracing::Span,
    mut recoveries: Option<Recoveries>,
    scan: F,
) where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = Result<ScanOutcome, Failure>>,
{
    let settings = &shared.settings;
    tokio::time::sleep(spread(&key, settings.first_scan_spread)).await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_failure = None;
    let mut overran = false;
    let mut slow_cursor = SlowLogCursor::new(lookback(settings.scan_interval));
    let mut dated_ahead = DatedAhead::default();
    let caps = settings.slow_caps();
    loop {
        let due = tokio::select! {
            due = ticker.tick() => due,
            () = next_recovery(&mut recoveries), if last_failure.is_some() => {
                ticker.reset();
                Instant::now()
            }
        };
        if let Some(recoveries) = &mut recoveries {
            // A recovery before this scan is no reason for another.
            recoveries.mark_seen();
        }
        let Ok(_permit) = shared.permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        let mut result = scan(started + settings.scan_timeout)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        // Ticks that came due while this one waited and ran: each is a scan skipped.
        let cycle = due.elapsed();
        let skipped = (cycle.as_nanos() / settings.scan_interval.as_nanos().max(1)) as u64;
        {
            let _entered = span.enter();
            // Said when it starts and when it ends, not at every scan.
            if (skipped > 0) != overran {
                overran = skipped > 0;
                if overran {
                    tracing::warn!(
                        cycle_ms = cycle.as_millis() as u64,
                        skipped,
                        "scans overrun the interval: raise scan_interval or max_concurrent_scans"
                    );
                } else {
                    tracing::info!("scans fit the interval again");
                }
            }
            if let Ok(outcome) = &result {
                tracing::debug!(
                    sessions = outcome.data.aggregate.sessions,
                    duration_ms = duration.as_millis() as u64,
                    "scanned"
                );
            }
            log_outcome(&mut last_failure, result.as_ref().err(), "scan");
        }
        let slow_log = match &mut result {
            Ok(outcome) => outcome.slow_log.take(),
            Err(_) => None,
        }
        .map(|read| {
            read.map(|read| match read {
                SlowLogRead::Entries(entries, now) => slow_cursor.take_new(entries, now),
                SlowLogRead::Unchanged => Taken::default(),
            })
        });
        if let Some(Ok(taken)) = &slow_log {
            let _entered = span.enter();
            dated_ahead.update(taken.ahead);
        }
        let timing = Timing {
            duration,
            cycle,
            skipped,
        };
        publish(&shared.store, &key, result, slow_log, timing, &caps);
    }
}

/// The next recovery of a target's credentials; never, for a target without.
async fn next_recovery(recoveries: &mut Option<Recoveries>) {
    match recoveries {
        Some(recoveries) => recoveries.next().await,
        None => std::future::pending().await,
    }
}

/// How long a scan took, its cycle, and the scans skipped meanwhile.
struct Timing {
    duration: Duration,
    cycle: Duration,
    skipped: u64,
}

/// Publishes a scan's outcome in one update of the store: the attempt, the data, the node's
/// role and limits, the context errors, the new slow commands.
fn publish(
    store: &Store,
    key: &NodeKey,
    result: Result<ScanOutcome, Failure>,
    slow_log: Option<Result<Taken, Reason>>,
    timing: Timing,
    caps: &SlowCaps,
) {
    store.update(|s| {
        if let Ok(ScanOutcome {
            limits_error: Some((operation, reason)),
            ..
        }) = &result
        {
            s.count_context_error(&key.instance_id, *operation, reason.as_str());
        }
        match &slow_log {
            Some(Ok(taken)) => {
                if taken.ahead > 0 {
                    // Counted once a read: the entries are refused, the others counted.
                    let invalid = Reason::InvalidValue;
                    s.count_context_error(
                        &key.instance_id,
                        ContextRead::SlowlogGet,
                        invalid.as_str(),
                    );
                }
                s.record_slow_commands(&key.instance_id, &taken.new, caps);
            }
            Some(Err(reason)) => {
                s.count_context_error(&key.instance_id, ContextRead::SlowlogGet, reason.as_str())
            }
            None => {}
        }
        // A scan that ends just after its node was removed must not bring it back.
        let Some(node) = s.nodes.get_mut(key) else {
            return;
        };
        let node = Arc::make_mut(node);
        let failure = result.as_ref().err().cloned();
        if let Some(f) = &failure {
            // Error codes past the node's bound count as `other`.
            let reason = f.reason.clone().bounded(node.errors.keys().map(|(_, r)| r));
            *node.errors.entry((f.stage, reason)).or_insert(0) += 1;
        }
        node.last_attempt = Some(Attempt {
            finished: SystemTime::now(),
            duration: timing.duration,
            failure,
        });
        node.skipped += timing.skipped;
        node.last_cycle = Some(timing.cycle);
        if let Ok(outcome) = result {
            node.data = Some(Arc::new(outcome.data));
            if let Some(role) = outcome.role {
                node.info.node_role = role;
            }
            if let Some(limits) = outcome.limits {
                limits.max_clients.apply(&mut node.info.max_clients);
                limits.idle_timeout.apply(&mut node.info.idle_timeout);
            }
        }
    });
}

/// Scans one node of `target` on its own timer, forever. `cloud` names a DCS target's
/// account, whose clock offset the scans keep up to date.
pub(super) async fn node_loop(
    shared: Arc<Shared>,
    target: Arc<Target>,
    cloud: Option<String>,
    key: NodeKey,
    span: tracing::Span,
) {
    let recoveries = target.api().map(|api| api.credentials().recoveries());
    // What the node's scans keep from one to the next.
    let state: Arc<tokio::sync::Mutex<NodeScanState>> = Arc::default();
    let scan = {
        let (shared, key) = (Arc::clone(&shared), key.clone());
        move |deadline| {
            let (shared, target, key, state, cloud) = (
                Arc::clone(&shared),
                Arc::clone(&target),
                key.clone(),
                Arc::clone(&state),
                cloud.clone(),
            );
            async move {
                let mut state = state.lock().await;
                let snapshot = shared.store.load();
                let settings = target.scan_settings(&shared.scan, &snapshot);
                let previous = snapshot.nodes.get(&key).and_then(|n| n.data.clone());
                drop(snapshot);
                let result = target
                    .scan(
                        &key.node_id,
                        &settings,
                        &mut state,
                        previous.as_deref(),
                        deadline,
                    )
                    .await;
                if let (Some(api), Some(cloud)) = (target.api(), &cloud) {
                    record_clock_offset(&shared.store, cloud, api);
                }
                result
            }
        }
    };
    scan_loop(shared, key, span, recoveries, scan).await;
}

/// Publishes an account's clock offset when it moved by more than the error of its estimate.
fn record_clock_offset(store: &Store, name: &str, api: &ApiClient) {
    let Some(offset) = api.service_clock().offset_seconds() else {
        return;
    };
    let known = store.load().clock_offsets.get(name).copied();
    if known.is_none_or(|k| (k - offset).abs() > 1.0) {
        store.update(|s| {
            s.clock_offsets.insert(name.to_string(), offset);
        });
    }
}

/// Puts a direct target's node in the store before its first scan, so readiness waits for it.
pub(super) fn register_direct(store: &Store, target: &Target) -> NodeKey {
    let node_id = target.direct_node().unwrap_or_default();
    let key = NodeKey {
        instance_id: target.instance_id().into(),
        node_id: node_id.into(),
    };
    let host = node_id
        .rsplit_once(':')
        .map_or(node_id, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    store.insert_node(&key, |n| {
        n.info = NodeInfo {
            source: Source::Direct,
            instance_name: target.instance_id().to_string(),
            node_name: node_id.to_string(),
            node_role: String::new(),
            node_ip: host,
            ..NodeInfo::default()
        };
    });
    key
}
