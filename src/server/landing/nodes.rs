//! The landing page's DCS nodes: the fleet at a glance, then the nodes worst first (failed
//! scans, then the fullest against `maxclients`, then the most idle sessions), the first
//! [`LISTED_NODES`] listed and the others counted.

use std::cmp::Reverse;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::html::{ago, count, escape, span};
use crate::snapshot::{NodeData, NodeKey, NodeState, Snapshot};

/// Nodes the page lists; the others are counted. Worst first, so the nodes that need a look
/// are on the page however large the fleet, and a fleet of thousands still makes a page of
/// tens of kilobytes that a browser shows at once; `/metrics` has every node.
pub const LISTED_NODES: usize = 50;

/// DCS's default `maxclients`, which the connection-limit alert assumes for a node whose limit
/// is not known: the page measures such a node against it too.
const DEFAULT_MAX_CLIENTS: u64 = 10_000;

/// Shares of `maxclients`, in basis points, from which a node's bar turns amber, and red: red
/// where the connection-limit alert (90%) fires.
const BUSY_BASIS_POINTS: u64 = 8_000;
const FULL_BASIS_POINTS: u64 = 9_000;

/// How a node's last scan went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Failed,
    Pending,
    Ok,
}

/// One node, with what the page ranks and shows it by.
struct Row<'a> {
    key: &'a NodeKey,
    node: &'a NodeState,
    status: Status,
    /// The last scan's data, unless stale: what `/metrics` shows of the node.
    fresh: Option<&'a NodeData>,
    /// Sessions against the node's limit (or DCS's default), in basis points, while fresh.
    usage: Option<u64>,
    /// Sessions idle past the threshold, while fresh.
    idle: u64,
    /// How old the last data is (the stored list's time, else the scan's), stale or not.
    data_age: Option<Duration>,
}

impl<'a> Row<'a> {
    fn new(key: &'a NodeKey, node: &'a NodeState, stale_after: Duration, now: SystemTime) -> Self {
        let status = match &node.last_attempt {
            None => Status::Pending,
            Some(a) if a.failure.is_some() => Status::Failed,
            Some(_) => Status::Ok,
        };
        let fresh = node.fresh_data(now, stale_after);
        let usage = fresh.map(|d| {
            let limit = node.info.max_clients.unwrap_or(DEFAULT_MAX_CLIENTS).max(1);
            d.aggregate.sessions.saturating_mul(10_000) / limit
        });
        let idle = fresh.map_or(0, |d| d.aggregate.idle_clients.iter().map(|(_, n)| n).sum());
        let data_age = node.data.as_deref().map(|d| {
            now.duration_since(d.data_time.unwrap_or(d.scanned))
                .unwrap_or_default()
        });
        Self {
            key,
            node,
            status,
            fresh,
            usage,
            idle,
            data_age,
        }
    }
}

/// The nodes worst first: failed scans, then the fullest, then the most idle sessions; ties by
/// instance and node id, so the page does not reorder itself between loads.
fn ranked(snap: &Snapshot, stale_after: Duration, now: SystemTime) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = snap
        .nodes
        .iter()
        .map(|(key, node)| Row::new(key, node, stale_after, now))
        .collect();
    rows.sort_by_key(|r| {
        (
            r.status != Status::Failed,
            Reverse(r.usage),
            Reverse(r.idle),
        )
    });
    rows
}

/// The threshold past which a session counts as idle, as the column heads say it.
fn idle_heading(snap: &Snapshot) -> String {
    match snap.idle_session_threshold {
        Some(t) => format!("idle &gt; {}", span(t)),
        None => "idle".into(),
    }
}

/// The fleet at a glance, then the worst nodes.
pub(super) fn section(out: &mut String, snap: &Snapshot, stale_after: Duration, now: SystemTime) {
    let rows = ranked(snap, stale_after, now);
    glance(out, snap, &rows);
    table(out, snap, &rows, now);
}

/// What an operator looks for first: how the scans go, how full and how idle the nodes are,
/// how old the data is.
fn glance(out: &mut String, snap: &Snapshot, rows: &[Row<'_>]) {
    let of = |status| rows.iter().filter(|r| r.status == status).count() as u64;
    let sessions: u64 = rows
        .iter()
        .filter_map(|r| r.fresh)
        .map(|d| d.aggregate.sessions)
        .sum();
    let busy = rows
        .iter()
        .filter(|r| r.usage.is_some_and(|u| u >= BUSY_BASIS_POINTS))
        .count() as u64;
    let idle: u64 = rows.iter().map(|r| r.idle).sum();
    let idle_nodes = rows.iter().filter(|r| r.idle > 0).count() as u64;
    let oldest = rows
        .iter()
        .filter_map(|r| r.data_age)
        .max()
        .map_or_else(|| "none yet".into(), span);
    let _ = write!(
        out,
        "<ul class=\"glance\"><li>DCS nodes<b>{}</b><span class=\"ok\">{} ok</span>, \
         <span class=\"failed\">{} failed</span>, <span class=\"pending\">{} pending</span></li>\
         <li>sessions<b>{}</b>in fresh data</li>\
         <li>nodes at 80% of maxclients or more<b>{}</b>red from 90%</li>\
         <li>sessions {}<b>{}</b>on {} nodes</li><li>oldest data<b>{}</b>{}</li></ul>",
        count(rows.len() as u64),
        count(of(Status::Ok)),
        count(of(Status::Failed)),
        count(of(Status::Pending)),
        count(sessions),
        count(busy),
        idle_heading(snap),
        count(idle),
        count(idle_nodes),
        oldest,
        snap.scan_interval
            .map_or_else(String::new, |i| format!("scans every {}", span(i))),
    );
}

/// The first [`LISTED_NODES`] nodes, and a line that counts the others.
fn table(out: &mut String, snap: &Snapshot, rows: &[Row<'_>], now: SystemTime) {
    let _ = write!(
        out,
        "<h2>DCS nodes, worst first</h2><table id=\"nodes\"><tr><th>instance</th><th>node</th>\
         <th>sessions / maxclients</th><th>{}</th><th>data age</th><th>last scan</th>\
         <th>last error</th></tr>",
        idle_heading(snap)
    );
    for row in rows.iter().take(LISTED_NODES) {
        node_row(out, row, now);
    }
    out.push_str("</table>");
    let rest = &rows[rows.len().min(LISTED_NODES)..];
    if rest.is_empty() {
        return;
    }
    let failed = rest.iter().filter(|r| r.status == Status::Failed).count() as u64;
    let pending = rest.iter().filter(|r| r.status == Status::Pending).count() as u64;
    let busiest = rest.iter().filter_map(|r| r.usage).max().unwrap_or(0);
    let _ = write!(
        out,
        "<p class=\"note\" id=\"more-nodes\">And <b>{}</b> more nodes ({} failed, {} pending), \
         none fuller than {}% of maxclients: every node is on the metrics page.</p>",
        count(rest.len() as u64),
        count(failed),
        count(pending),
        busiest / 100,
    );
}

/// One node's row.
fn node_row(out: &mut String, row: &Row<'_>, now: SystemTime) {
    let Row { key, node, .. } = row;
    let _ = write!(
        out,
        "<tr class=\"node\"><td>{}<small class=\"below\">{}</small></td><td>{}<small class=\"below\">{}</small></td>",
        escape(&node.info.instance_name),
        escape(&key.instance_id),
        escape(&node.info.node_name),
        escape(&key.node_id)
    );
    usage_cell(out, row);
    match row.fresh {
        Some(_) if row.idle > 0 => {
            let _ = write!(out, "<td class=\"num idle\">{}</td>", count(row.idle));
        }
        Some(_) => out.push_str("<td class=\"num\">0</td>"),
        None => out.push_str("<td></td>"),
    }
    match (row.data_age, row.fresh) {
        (Some(age), Some(_)) => {
            let _ = write!(out, "<td class=\"fit\">{}</td>", span(age));
        }
        (Some(age), None) => {
            let _ = write!(out, "<td class=\"fit stale\">{}, stale</td>", span(age));
        }
        (None, _) => out.push_str("<td class=\"fit pending\">none yet</td>"),
    }
    match &node.last_attempt {
        None => out.push_str("<td class=\"fit pending\">pending</td><td></td>"),
        Some(a) => {
            let status = if a.failure.is_none() { "ok" } else { "failed" };
            let error = a
                .failure
                .as_ref()
                .map(|f| format!("{}: {}", f.stage.as_str(), f.message))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<td class=\"fit\"><span class=\"{status}\">{status}</span> {}<small class=\"below\">took {:.2} s</small></td>\
                 <td class=\"failed\">{}</td>",
                ago(a.finished, now),
                a.duration.as_secs_f64(),
                escape(&error)
            );
        }
    }
    out.push_str("</tr>");
}

/// Sessions against `maxclients`: the numbers and a bar (CSS only).
fn usage_cell(out: &mut String, row: &Row<'_>) {
    let (Some(data), Some(usage)) = (row.fresh, row.usage) else {
        out.push_str("<td></td>");
        return;
    };
    let (limit, assumed) = match row.node.info.max_clients {
        Some(limit) => (limit, ""),
        None => (
            DEFAULT_MAX_CLIENTS,
            "<small class=\"below\">maxclients not known: DCS's default</small>",
        ),
    };
    let level = match usage {
        u if u >= FULL_BASIS_POINTS => "full",
        u if u >= BUSY_BASIS_POINTS => "busy",
        _ => "",
    };
    let _ = write!(
        out,
        "<td class=\"fit\">{} / {} ({}%){assumed}<div class=\"bar\">\
         <span class=\"{level}\" style=\"width:{}%\"></span></div></td>",
        count(data.aggregate.sessions),
        count(limit),
        usage / 100,
        usage.min(10_000) / 100,
    );
}
