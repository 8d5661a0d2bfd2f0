//! Reads a DCS instance's slow log on the scan interval and counts each new entry once. A read
//! that fails is counted and logged; it fails no scan.

use std::sync::Arc;

use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::runtime::{Shared, log_outcome, spread};
use crate::cloud::{ApiClient, Operation};
use crate::failure::Failure;
use crate::slowlog::{SlowEntry, SlowLogCursor, lookback};
use crate::snapshot::ContextRead;

/// Polls one instance's slow log, forever.
pub(super) async fn slowlog_loop(shared: Arc<Shared>, api: ApiClient, instance_id: String) {
    let settings = &shared.settings;
    let caps = settings.slow_caps();
    tokio::time::sleep(spread(
        &(&instance_id, "slowlog"),
        settings.first_scan_spread,
    ))
    .await;
    let mut ticker = tokio::time::interval(settings.scan_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut cursor = SlowLogCursor::new(lookback(settings.scan_interval));
    let mut last_failure = None;
    let span = tracing::info_span!("slowlog_poll", instance_id = %instance_id);
    loop {
        ticker.tick().await;
        let deadline = Instant::now() + settings.scan_timeout;
        // The log's times are the service's: the window is judged on its clock.
        let now = api.service_clock().now();
        let result = api
            .read_slowlog(&instance_id, cursor.window(now), deadline)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match result {
            Ok(items) => {
                if items.iter().any(SlowEntry::has_invalid_duration) {
                    // Counted once a read: the entries are left out, the others counted.
                    shared.store.count_context_error(
                        &instance_id,
                        ContextRead::Api(Operation::ListSlowlog),
                        crate::reason::Reason::InvalidValue.as_str(),
                    );
                }
                let entries = items.iter().filter_map(SlowEntry::from_dcs).collect();
                let new = cursor.take_new(entries, now);
                tracing::debug!(read = items.len(), new = new.len(), "slow log read");
                shared.store.record_slow_commands(&instance_id, &new, &caps);
                log_outcome(&mut last_failure, None, "slow log read");
            }
            Err(e) if e.is_not_supported() => {
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
                    ContextRead::Api(e.operation),
                    e.reason().as_str(),
                );
                let failure = Failure::from(e);
                log_outcome(&mut last_failure, Some(&failure), "slow log read");
            }
        }
    }
    // Refused as unsupported: idle until the next look-up stops this poller (or, when the
    // instance's details change, starts a new one).
    std::future::pending::<()>().await
}
