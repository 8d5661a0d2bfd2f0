//! Reads a DCS instance's slow log on the scan interval and counts each new entry once. A read
//! that fails is counted and logged; it fails no scan.

use std::sync::Arc;

use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::runtime::{CloudRuntime, DatedAhead, Shared, log_outcome, spread};
use crate::cloud::Operation;
use crate::cloud::dcs::{SlowlogError, SlowlogRead};
use crate::failure::{Failure, Stage};
use crate::reason::Reason;
use crate::slowlog::{SlowEntry, SlowLogCursor, lookback};
use crate::snapshot::ContextRead;

/// Polls one instance's slow log, forever; `span` names the instance.
pub(super) async fn slowlog_loop(
    shared: Arc<Shared>,
    cloud: Arc<CloudRuntime>,
    instance_id: String,
    span: tracing::Span,
) {
    let settings = &shared.settings;
    let caps = settings.slow_caps();
    let (api, budget) = (&cloud.api, cloud.config.max_slow_log_read_bytes);
    tokio::time::sleep(spread(
        &(&instance_id, "slowlog"),
        settings.first_scan_spread,
    ))
    .await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut cursor = SlowLogCursor::new(lookback(settings.scan_interval));
    let mut last_failure = None;
    let mut incomplete = false;
    let mut dated_ahead = DatedAhead::default();
    loop {
        ticker.tick().await;
        let deadline = Instant::now() + settings.scan_timeout;
        // The log's times are the service's: the window is judged on its clock.
        let now = api.service_clock().now();
        let result = api
            .read_slowlog(&instance_id, cursor.window(now), budget, deadline)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        let read = match result {
            Ok(read) => read,
            Err(SlowlogError::Api(e)) if e.is_not_supported() => {
                tracing::warn!(
                    "the service refuses the slow log as unsupported: it is not read until the instance's details change: {e}"
                );
                shared
                    .store
                    .update(|s| s.refuse_slow_log(&instance_id, ContextRead::Api(e.operation)));
                break;
            }
            Err(e) => {
                shared.store.count_context_error(
                    &instance_id,
                    ContextRead::Api(Operation::ListSlowlog),
                    e.reason().as_str(),
                );
                log_outcome(&mut last_failure, Some(&failure(e)), "slow log read");
                continue;
            }
        };
        log_outcome(&mut last_failure, None, "slow log read");
        warn_incomplete(&mut incomplete, &read);
        let invalid_duration = read.items.iter().any(SlowEntry::has_invalid_duration);
        let entries = read.items.iter().filter_map(SlowEntry::from_dcs).collect();
        let total = read.items.len();
        drop(read);
        let taken = cursor.take_new(entries, now);
        dated_ahead.update(taken.ahead);
        tracing::debug!(
            read = total,
            new = taken.new.len(),
            remembered = cursor.remembered(),
            "slow log read"
        );
        shared.store.update(|s| {
            if invalid_duration || taken.ahead > 0 {
                // Counted once a read: those entries are left out, the others counted.
                s.count_context_error(
                    &instance_id,
                    ContextRead::Api(Operation::ListSlowlog),
                    Reason::InvalidValue.as_str(),
                );
            }
            s.record_slow_commands(&instance_id, &taken.new, &caps);
        });
    }
    // Refused as unsupported: idle until the next look-up stops this poller (or, when the
    // instance's details change, starts a new one).
    std::future::pending::<()>().await
}

fn failure(e: SlowlogError) -> Failure {
    match e {
        SlowlogError::Api(e) => Failure::from(e),
        over @ SlowlogError::OverBudget { .. } => {
            Failure::new(Stage::List, over.reason(), over.to_string())
        }
    }
}

/// Says when the reads start to leave entries the service announced, and when they stop:
/// not at every poll.
fn warn_incomplete(incomplete: &mut bool, read: &SlowlogRead) {
    if read.missing.is_some() == *incomplete {
        return;
    }
    *incomplete = read.missing.is_some();
    match read.missing {
        Some(announced) => tracing::warn!(
            announced,
            read = read.items.len(),
            "the slow log announced more entries in its window than one read took: the rest are not counted"
        ),
        None => tracing::info!("the slow log's reads take every entry of the window again"),
    }
}
