//! The operator commands' side: finding the target an instance names, and showing its
//! sessions as a table, JSON or CSV. What is done to the sessions is the target's
//! ([`Target`]).

use std::fmt::Write as _;

use crate::accounts::Accounts;
use crate::collect::{Listing, Target, TargetError, direct_targets};
use crate::config::Cloud;
use crate::session::{CLIENT_FIELDS, ClientInfo};

/// Finds the instance among the accounts: a direct target's name, a listed DCS instance, or
/// (with discovery) an instance of the named or only cloud. Its calls go through the account's
/// shared client.
pub fn resolve(
    accounts: &Accounts,
    instance: &str,
    cloud: Option<&str>,
) -> Result<Target, TargetError> {
    // A named cloud is asked for: a direct target of the same name is not meant.
    if cloud.is_none()
        && let Some(target) = direct_targets(accounts.config())
            .into_iter()
            .find(|t| t.instance_id() == instance)
    {
        return Ok(target);
    }
    let cloud = instance_cloud(accounts, instance, cloud)?;
    Ok(Target::Dcs {
        api: accounts
            .client(&cloud.name)
            .map_err(TargetError::Account)?
            .clone(),
        instance_id: instance.to_string(),
    })
}

/// The cloud a DCS instance is reached through: the named one, the one that lists it, or the
/// only cloud when it discovers its instances.
pub fn instance_cloud<'a>(
    accounts: &'a Accounts,
    instance: &str,
    cloud: Option<&str>,
) -> Result<&'a Cloud, TargetError> {
    let chosen = match cloud {
        Some(name) => Some(
            accounts
                .clouds()
                .find(|c| c.name == name)
                .ok_or_else(|| TargetError::UnknownCloud(name.to_string()))?,
        ),
        None => accounts
            .clouds()
            .find(|c| c.dcs_instances.iter().any(|i| i.id == instance))
            .or_else(|| {
                let mut clouds = accounts.clouds();
                match (clouds.next(), clouds.next()) {
                    (Some(only), None) if only.discovery.is_some() => Some(only),
                    _ => None,
                }
            }),
    };
    chosen.ok_or_else(|| TargetError::UnknownInstance(instance.to_string()))
}

/// Why a command stopped without doing its work, but without failing (its exit status is 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Output formats of `clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// A field as text; empty when the session does not have it.
fn field(c: &ClientInfo, name: &str) -> String {
    c.value(name)
        .map(|v| v.to_text().into_owned())
        .unwrap_or_default()
}

/// The columns of the table: what an operator looks at first.
const TABLE_COLUMNS: [&str; 12] = [
    "id", "addr", "peer", "name", "user", "db", "age", "idle", "cmd", "flags", "sub", "omem",
];

/// A CSV cell. Text a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab or CR
/// first) is prefixed with `'`: client names come from whoever connects.
pub fn csv_cell(value: &str) -> String {
    let formula =
        value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err();
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A table cell with control characters shown as `?`: an escape sequence in a client name
/// must not drive the operator's terminal.
fn table_cell(value: String) -> String {
    if value.chars().any(char::is_control) {
        value
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    } else {
        value
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn render(listing: &Listing, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(listing).unwrap_or_default() + "\n",
        OutputFormat::Csv => {
            let mut out = CLIENT_FIELDS.join(",") + "\n";
            for c in &listing.clients {
                let row: Vec<String> = CLIENT_FIELDS
                    .iter()
                    .map(|f| csv_cell(&field(c, f)))
                    .collect();
                out.push_str(&row.join(","));
                out.push('\n');
            }
            out
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = listing
                .clients
                .iter()
                .map(|c| {
                    TABLE_COLUMNS
                        .iter()
                        .map(|f| table_cell(field(c, f)))
                        .collect()
                })
                .collect();
            let header: Vec<String> = TABLE_COLUMNS.iter().map(|h| h.to_uppercase()).collect();
            let mut out = table(&header, &rows);
            let _ = writeln!(
                out,
                "{} of {} sessions, instance {} node {}, listed {}",
                listing.clients.len(),
                listing.count,
                listing.instance_id,
                listing.node_id,
                listing.time.as_deref().unwrap_or("at an unknown time")
            );
            out
        }
    }
}
