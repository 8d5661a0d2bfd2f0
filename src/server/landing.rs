//! The landing page: every node's and DBSS resource's last scan, and each account's
//! credentials (never a value).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::accounts::SharedAccounts;
use crate::snapshot::{Attempt, Snapshot};

/// The whole page, as of `now`.
pub(super) fn page(
    snap: &Snapshot,
    telemetry_path: &str,
    stale_after: Duration,
    accounts: Option<&SharedAccounts>,
    now: SystemTime,
) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>dcs-session-exporter</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.failed{color:#b00}.ok{color:#070}</style>\
         </head><body><h1>dcs-session-exporter</h1>",
    );
    let _ = write!(
        out,
        "<p>Version {} ({}). Metrics: <a href=\"{p}\">{p}</a>. Health: <a href=\"/healthz\">/healthz</a>, \
         <a href=\"/readyz\">/readyz</a>.</p>",
        crate::metrics::VERSION,
        crate::metrics::REVISION,
        p = escape(telemetry_path)
    );
    nodes_table(&mut out, snap, stale_after, now);
    dbss_table(&mut out, snap, now);
    if let Some(accounts) = accounts {
        credentials_table(&mut out, &accounts.load(), now);
    }
    out.push_str("</body></html>");
    out
}

/// Each DCS node: its last scan, its sessions while fresh, its last error.
fn nodes_table(out: &mut String, snap: &Snapshot, stale_after: Duration, now: SystemTime) {
    out.push_str(
        "<h2>DCS nodes</h2><table><tr><th>instance</th><th>node</th>\
         <th>last scan</th><th>duration</th><th>when</th><th>sessions</th><th>data age</th><th>last error</th></tr>",
    );
    for (key, node) in &snap.nodes {
        let _ = write!(
            out,
            "<tr><td>{} <small>{}</small></td><td>{} <small>{}</small></td>",
            escape(&node.info.instance_name),
            escape(&key.instance_id),
            escape(&node.info.node_name),
            escape(&key.node_id)
        );
        attempt_cells(out, node.last_attempt.as_ref(), now);
        match node.fresh_data(now, stale_after) {
            Some(d) => {
                let age = d.data_time.map(|t| ago(t, now)).unwrap_or_default();
                let _ = write!(out, "<td>{}</td><td>{age}</td>", d.aggregate.sessions);
            }
            None => out.push_str("<td></td><td></td>"),
        }
        let error = node
            .last_attempt
            .as_ref()
            .and_then(|a| a.failure.as_ref())
            .map(|f| format!("{}: {}", f.stage.as_str(), f.message))
            .unwrap_or_default();
        let _ = write!(out, "<td>{}</td></tr>", escape(&error));
    }
    out.push_str("</table>");
}

/// Each DBSS resource: its last poll, its jobs, its last error.
fn dbss_table(out: &mut String, snap: &Snapshot, now: SystemTime) {
    out.push_str("<h2>DBSS resources</h2><table><tr><th>resource</th><th>last poll</th><th>duration</th><th>when</th><th>jobs</th><th>last error</th></tr>");
    for (resource, d) in &snap.dbss {
        let _ = write!(out, "<tr><td>{}</td>", escape(resource));
        attempt_cells(out, d.last_attempt.as_ref(), now);
        let error = d
            .last_attempt
            .as_ref()
            .and_then(|a| a.failure.as_ref())
            .map(|f| f.message.clone())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td></tr>",
            d.jobs.len(),
            escape(&error)
        );
    }
    out.push_str("</table>");
}

/// Each account's credentials: where they come from, when they expire, how renewals went;
/// never a value.
fn credentials_table(out: &mut String, accounts: &crate::accounts::Accounts, now: SystemTime) {
    out.push_str("<h2>Accounts</h2><table><tr><th>cloud</th><th>credentials</th><th>expire</th><th>renewals</th><th>last renewal error</th></tr>");
    for cloud in accounts.clouds() {
        let _ = write!(out, "<tr><td>{}</td>", escape(&cloud.name));
        let client = match accounts.client(&cloud.name) {
            Ok(client) => client,
            Err(e) => {
                let _ = write!(
                    out,
                    "<td class=\"failed\" colspan=\"4\">{}</td></tr>",
                    escape(&e.to_string())
                );
                continue;
            }
        };
        let status = client.credentials().status();
        let expiry = match status.expires_at {
            Some(end) => {
                let left = end.duration_since(now).unwrap_or_default().as_secs();
                format!(
                    "{} (in {})",
                    humantime::format_rfc3339_seconds(end),
                    humantime::format_duration(std::time::Duration::from_secs(left))
                )
            }
            None if status.temporary => "not obtained yet".into(),
            None => "never (static keys)".into(),
        };
        let renewals = status
            .refreshes
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(result, n)| format!("{n} {result}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "<td>{} <small>{}</small></td><td>{}</td><td>{}</td><td class=\"failed\">{}</td></tr>",
            escape(status.source),
            escape(&status.description),
            escape(&expiry),
            escape(&renewals),
            escape(status.last_error.as_deref().unwrap_or_default())
        );
    }
    out.push_str("</table>");
}

/// Text made safe inside HTML, attribute values included.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How long before `now`, in whole seconds.
fn ago(t: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(t).unwrap_or_default().as_secs();
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string() + " ago"
}

/// The status, duration and time of a last scan or poll (or "pending").
fn attempt_cells(out: &mut String, attempt: Option<&Attempt>, now: SystemTime) {
    match attempt {
        None => out.push_str("<td>pending</td><td></td><td></td>"),
        Some(a) => {
            let status = if a.failure.is_none() { "ok" } else { "failed" };
            let _ = write!(
                out,
                "<td class=\"{status}\">{status}</td><td>{:.2} s</td><td>{}</td>",
                a.duration.as_secs_f64(),
                ago(a.finished, now)
            );
        }
    }
}
