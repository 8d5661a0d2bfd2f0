//! A Redis server: one scan (connect, list the sessions, aggregate them), and what operators
//! and the webhook do to its sessions.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::operations::{KillPlan, ListOptions, Listing, TargetError};
use super::outcome::{Limit, NodeLimits, NodeScanState, ScanOutcome, SlowLogRead};
use super::settings::ScanSettings;
use crate::aggregate::Aggregator;
use crate::cloud::dcs::SortOrder;
use crate::config::RedisTarget;
use crate::redis::{self, RedisEndpoint, RedisFailure, SlowlogMark};
use crate::session::{address_matches, compare_clients};
use crate::slowlog::{SlowEntry, dated_ahead};
use crate::snapshot::{ContextRead, Failure, NodeData, Reason, Stage};

/// One scan of a direct target: connect, list the sessions, aggregate them, read the limits.
/// Its replies share the target's byte budget (`max_scan_bytes`): a reply past it fails the
/// scan as `reply_too_large`, whichever command it answered.
pub async fn scan(
    target: &RedisTarget,
    endpoint: &RedisEndpoint,
    settings: &ScanSettings,
    state: &mut NodeScanState,
    deadline: Instant,
) -> Result<ScanOutcome, Failure> {
    let as_failure = |stage: Stage| move |f: RedisFailure| Failure::redis(stage, f);
    let too_large = |f: RedisFailure| {
        if f.reason == Reason::ReplyTooLarge {
            Err(Failure::redis(Stage::List, f))
        } else {
            Ok(f)
        }
    };
    let mut conn = redis::connect_within(endpoint, target.max_scan_bytes, deadline)
        .await
        .map_err(as_failure(Stage::Scan))?;
    // The first command is where a missing or wrong password shows: that is the connection
    // stage, not the listing.
    let buffer = std::mem::take(&mut state.reply);
    let clients = redis::client_list(&mut conn, buffer, deadline)
        .await
        .map_err(|f| {
            let login = f.reason.is_login();
            as_failure(if login { Stage::Scan } else { Stage::List })(f)
        })?;
    let role = match redis::role(&mut conn, deadline).await {
        Ok(role) => role,
        Err(f) => too_large(f).map(|_| None)?,
    };
    let listed = SystemTime::now();
    let mut aggregator = Aggregator::new(std::sync::Arc::clone(&settings.aggregate));
    for c in clients.sessions() {
        aggregator.observe(&c);
    }
    let buffer = clients.into_buffer();
    // Kept while the replies stay near its size: a server that lost most of its clients gives
    // the memory back.
    if buffer.len() >= buffer.capacity() / 4 {
        state.reply = buffer;
    }
    // The server's own limits; where CONFIG is renamed or forbidden, or answers no limit, the
    // configured ones, which the node takes only where it has no value read before.
    let [max_clients, timeout] = redis::limits(&mut conn, deadline).await;
    let mut limits_error = None;
    let mut limit = |read: Result<u64, RedisFailure>, configured: Option<u64>| match read {
        Ok(value) => Ok(Limit::Read(value)),
        Err(f) => {
            let reason = too_large(f)?.reason;
            limits_error.get_or_insert((ContextRead::ConfigGet, reason));
            Ok::<_, Failure>(Limit::Fallback(configured))
        }
    };
    let limits = NodeLimits {
        max_clients: limit(max_clients, target.max_clients)?,
        idle_timeout: limit(timeout, target.idle_timeout.map(|t| t.as_secs()))?,
    };
    let slow_log = if target.slow_log {
        Some(
            match read_slow_log(&mut conn, &mut state.slow_log, target, deadline).await {
                Ok(read) => read,
                Err(f) => Err(too_large(f)?.reason),
            },
        )
    } else {
        None
    };
    Ok(ScanOutcome {
        slow_log,
        data: NodeData {
            aggregate: aggregator.finish(),
            data_time: Some(listed),
            scanned: listed,
        },
        role,
        limits: Some(limits),
        limits_error,
    })
}

/// The server's slow log: its entries, or `Unchanged` when its mark is the one `last` holds
/// (one round trip instead of the whole log). `last` is the mark of the last read of entries,
/// unless one of them was dated too far ahead to be taken yet: then the next read takes them
/// all again, as the entry may be taken then. A failed check (`SLOWLOG LEN` renamed, say)
/// leaves the connection to the whole read.
async fn read_slow_log(
    conn: &mut redis::Connection,
    last: &mut Option<SlowlogMark>,
    target: &RedisTarget,
    deadline: Instant,
) -> Result<Result<SlowLogRead, Reason>, RedisFailure> {
    if let Some(mark) = *last {
        match redis::slowlog_mark(conn, deadline).await {
            Ok(now) if now == mark => return Ok(Ok(SlowLogRead::Unchanged)),
            Ok(_) => {}
            Err(_) if conn.is_usable() => {}
            Err(f) => return Err(f),
        }
    }
    *last = None;
    let (records, now) = redis::slowlog(conn, deadline).await?;
    // A server time no clock here can hold is no time to judge entries by.
    let Some(now) = u64::try_from(now)
        .ok()
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    else {
        return Ok(Err(Reason::InvalidValue));
    };
    let entries: Vec<_> = records
        .iter()
        .map(|r| SlowEntry::from_redis(r, &target.node_id))
        .collect();
    if !entries.iter().any(|e| dated_ahead(e.time, now)) {
        *last = Some(SlowlogMark::of(&records));
    }
    Ok(Ok(SlowLogRead::Entries(entries, now)))
}

/// The endpoint of a direct target, with its current password.
fn endpoint(target: &RedisTarget) -> Result<RedisEndpoint, TargetError> {
    target.endpoint().map_err(TargetError::Secret)
}

/// Refuses a node other than the server's own.
fn check_node(target: &RedisTarget, node: Option<&str>) -> Result<(), TargetError> {
    match node {
        Some(node) if node != target.node_id => Err(TargetError::UnknownNode {
            instance: target.name.clone(),
            node: node.to_string(),
            known: target.node_id.clone(),
        }),
        _ => Ok(()),
    }
}

/// The server's sessions, filtered, ordered and paged as the DCS API does.
pub(super) async fn list(
    target: &RedisTarget,
    opts: &ListOptions,
    deadline: Instant,
) -> Result<Listing, TargetError> {
    let endpoint = endpoint(target)?;
    check_node(target, opts.node.as_deref())?;
    let mut conn = redis::connect_within(&endpoint, target.max_scan_bytes, deadline).await?;
    let mut clients = redis::client_list(&mut conn, Vec::new(), deadline)
        .await?
        .to_vec();
    let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    clients.retain(|c| opts.addr.as_deref().is_none_or(|a| address_matches(c, a)));
    if let Some(field) = &opts.sort {
        clients.sort_by(|a, b| compare_clients(a, b, field));
        if opts.order == Some(SortOrder::Desc) {
            clients.reverse();
        }
    }
    let count = clients.len() as u64;
    let offset = opts.offset.unwrap_or(0) as usize;
    let limit = opts.limit.map_or(usize::MAX, |l| l as usize);
    let clients = clients.into_iter().skip(offset).take(limit).collect();
    Ok(Listing {
        instance_id: target.name.clone(),
        node_id: target.node_id.clone(),
        time: Some(time),
        count,
        clients,
    })
}

/// Counts the sessions a kill-all would end.
pub(super) async fn plan_kill_all(
    target: &RedisTarget,
    node: Option<&str>,
    all_nodes: bool,
    deadline: Instant,
) -> Result<KillPlan, TargetError> {
    let endpoint = endpoint(target)?;
    check_node(target, node)?;
    let mut conn = redis::connect_within(&endpoint, target.max_scan_bytes, deadline).await?;
    let sessions = redis::client_list(&mut conn, Vec::new(), deadline)
        .await?
        .sessions()
        .count() as u64;
    Ok(KillPlan {
        description: format!("redis {} ({})", target.name, target.node_id),
        sessions,
        nodes: vec![target.node_id.clone()],
        all_nodes,
    })
}

/// Ends every session but the exporter's own.
pub(super) async fn kill_all(
    target: &RedisTarget,
    deadline: Instant,
) -> Result<String, TargetError> {
    let killed = redis::kill_all(&endpoint(target)?, deadline).await?;
    Ok(format!("{killed} sessions ended"))
}

/// Ends the sessions with these `ip:port` addresses.
pub(super) async fn kill_clients(
    target: &RedisTarget,
    addrs: &[String],
    deadline: Instant,
) -> Result<(), TargetError> {
    redis::kill_addrs(&endpoint(target)?, addrs, deadline).await?;
    Ok(())
}
