//! The landing page: what an operator looks for first (how the scans go, how full and how
//! idle the nodes are, how old the data is), the nodes worst first, each DBSS resource's last
//! poll and each account's credentials (never a value). Plain HTML and CSS: no script, no
//! external asset, every upstream text escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::accounts::SharedAccounts;
use crate::snapshot::Snapshot;
use html::{attempt_cells, escape};

mod html;
mod nodes;
#[cfg(test)]
mod tests;

pub use nodes::LISTED_NODES;

/// The project's documentation, linked from the page.
pub const DOCS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/tree/main/docs");

/// The whole page, as of `now`.
pub(super) fn page(
    snap: &Snapshot,
    telemetry_path: &str,
    stale_after: Duration,
    accounts: Option<&SharedAccounts>,
    now: SystemTime,
) -> String {
    let mut out = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>dcs-session-exporter</title>\
         <style>{}</style></head><body><h1>dcs-session-exporter</h1>",
        html::STYLE
    );
    let _ = write!(
        out,
        "<nav><a href=\"{p}\">Metrics ({p})</a><a href=\"{DOCS_URL}\">Documentation</a>\
         <a href=\"/healthz\">/healthz</a><a href=\"/readyz\">/readyz</a>\
         <small>version {} ({})</small></nav>",
        escape(crate::metrics::VERSION),
        escape(crate::metrics::REVISION),
        p = escape(telemetry_path)
    );
    nodes::section(&mut out, snap, stale_after, now);
    dbss_table(&mut out, snap, now);
    if let Some(accounts) = accounts {
        credentials_table(&mut out, &accounts.load(), now);
    }
    out.push_str("</body></html>");
    out
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
