//! What `keys` prints: the analyses as rows (each key named in full, beside the hash digits
//! the `hash` naming puts in labels), as a table, JSON or CSV, with text from the service
//! escaped so that it cannot drive the terminal or break a row.

use serde::Serialize;

use crate::cloud::dcs::{AnalysisKind, KeyTaskDetail, OfflineAnalysis};
use crate::keys::key_hash;
use crate::operator::{OutputFormat, csv_cell, table};

/// One analysis as printed.
#[derive(Debug, Default, Serialize)]
pub(super) struct Analysis {
    pub(super) analysis: &'static str,
    /// `None` when no analysis of the kind succeeded (or it could not be read).
    pub(super) task_id: Option<String>,
    pub(super) finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) keys: Option<Vec<KeyRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) prefixes: Option<Vec<PrefixRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct KeyRow {
    pub(super) name: String,
    pub(super) hash: String,
    #[serde(rename = "type")]
    pub(super) key_type: Option<String>,
    pub(super) shard: Option<String>,
    pub(super) db: Option<i64>,
    pub(super) size: Option<i64>,
    pub(super) unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) freq: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(super) struct PrefixRow {
    pub(super) prefix: String,
    pub(super) hash: String,
    #[serde(rename = "type")]
    pub(super) key_type: Option<String>,
    pub(super) bytes: Option<i64>,
    pub(super) keys: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) instance_id: String,
    pub(super) analyses: Vec<Analysis>,
}

impl Analysis {
    /// No analysis of the kind succeeded.
    pub(super) fn none(kind: AnalysisKind) -> Self {
        Analysis {
            analysis: kind.as_str(),
            keys: (kind != AnalysisKind::Prefix).then(Vec::new),
            prefixes: (kind == AnalysisKind::Prefix).then(Vec::new),
            ..Analysis::default()
        }
    }
}

pub(super) fn key_analysis(kind: AnalysisKind, detail: &KeyTaskDetail) -> Analysis {
    let mut keys: Vec<KeyRow> = detail
        .keys
        .iter()
        .map(|k| {
            let name = k.name.clone().unwrap_or_default();
            KeyRow {
                hash: key_hash(&name),
                name,
                key_type: k.key_type.clone(),
                shard: k.shard.clone(),
                db: k.db,
                size: k.size,
                unit: k.unit.clone(),
                freq: k.freq,
            }
        })
        .collect();
    // The hottest first; the largest first by unit (bytes and elements do not compare).
    match kind {
        AnalysisKind::Hot => keys.sort_by(|a, b| (b.freq, &a.name).cmp(&(a.freq, &b.name))),
        _ => keys.sort_by(|a, b| (&a.unit, b.size, &a.name).cmp(&(&b.unit, a.size, &b.name))),
    }
    Analysis {
        analysis: kind.as_str(),
        task_id: detail.record.id.clone(),
        finished_at: detail.record.finished_at.clone(),
        keys: Some(keys),
        ..Analysis::default()
    }
}

pub(super) fn prefix_analysis(analysis: &OfflineAnalysis) -> Analysis {
    let mut prefixes: Vec<PrefixRow> = analysis
        .largest_key_prefixes
        .iter()
        .map(|p| {
            let prefix = p.key_prefix.clone().unwrap_or_default();
            PrefixRow {
                hash: key_hash(&prefix),
                prefix,
                key_type: p.key_type.clone(),
                bytes: p.bytes,
                keys: p.num,
            }
        })
        .collect();
    prefixes.sort_by(|a, b| (b.bytes, &a.prefix).cmp(&(a.bytes, &b.prefix)));
    Analysis {
        analysis: AnalysisKind::Prefix.as_str(),
        task_id: analysis.id.clone(),
        finished_at: analysis.finished_at.clone(),
        prefixes: Some(prefixes),
        ..Analysis::default()
    }
}

/// Text from the service as the terminal or a CSV cell may show it: control characters,
/// direction overrides and backslashes written as escapes (`\n`, `\u{1b}`, `\\`), so that a
/// key name cannot move the cursor, reorder the line or end a row.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c == '\\' || c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn text(value: &Option<String>) -> String {
    value.as_deref().map(escaped).unwrap_or_default()
}

fn number(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The columns of the CSV form: every kind's rows in one table.
const CSV_COLUMNS: [&str; 13] = [
    "analysis",
    "task_id",
    "finished_at",
    "name",
    "hash",
    "type",
    "shard",
    "db",
    "size",
    "unit",
    "freq",
    "bytes",
    "keys",
];

pub(super) fn render(report: &Report, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        OutputFormat::Csv => {
            let mut out = CSV_COLUMNS.join(",") + "\n";
            for a in &report.analyses {
                let task = [
                    a.analysis.to_string(),
                    text(&a.task_id),
                    text(&a.finished_at),
                ];
                let rows = a.keys.iter().flatten().map(|k| {
                    [
                        escaped(&k.name),
                        k.hash.clone(),
                        text(&k.key_type),
                        text(&k.shard),
                        number(k.db),
                        number(k.size),
                        text(&k.unit),
                        number(k.freq),
                        String::new(),
                        String::new(),
                    ]
                });
                let prefixes = a.prefixes.iter().flatten().map(|p| {
                    [
                        escaped(&p.prefix),
                        p.hash.clone(),
                        text(&p.key_type),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        number(p.bytes),
                        number(p.keys),
                    ]
                });
                for row in rows.chain(prefixes) {
                    let cells: Vec<String> = task.iter().chain(&row).map(|c| csv_cell(c)).collect();
                    out.push_str(&cells.join(","));
                    out.push('\n');
                }
            }
            out
        }
        OutputFormat::Table => {
            let mut out = String::new();
            for a in &report.analyses {
                out.push_str(&table_of(a, &report.instance_id));
            }
            out
        }
    }
}

/// One analysis as a titled table.
fn table_of(a: &Analysis, instance_id: &str) -> String {
    let what = match a.analysis {
        "big" => "big keys",
        "hot" => "hot keys",
        _ => "key prefixes (offline analysis of a backup)",
    };
    if let Some(error) = &a.error {
        return format!("{what} of instance {instance_id}: cannot be read: {error}\n\n");
    }
    let Some(task_id) = &a.task_id else {
        return format!("{what} of instance {instance_id}: no successful analysis\n\n");
    };
    let header = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let (header, rows): (Vec<String>, Vec<Vec<String>>) = match (&a.keys, &a.prefixes) {
        (Some(keys), _) => {
            let last = if a.analysis == "hot" { "FREQ" } else { "SIZE" };
            let rows = keys
                .iter()
                .map(|k| {
                    let measure = match (a.analysis, k.unit.as_deref()) {
                        ("hot", _) => number(k.freq),
                        (_, Some("byte")) => format!("{} bytes", number(k.size)),
                        (_, Some("count")) => format!("{} elements", number(k.size)),
                        _ => format!("{} {}", number(k.size), text(&k.unit)),
                    };
                    vec![
                        escaped(&k.name),
                        k.hash.clone(),
                        text(&k.key_type),
                        text(&k.shard),
                        number(k.db),
                        measure,
                    ]
                })
                .collect();
            (header(&["NAME", "HASH", "TYPE", "SHARD", "DB", last]), rows)
        }
        (_, prefixes) => {
            let rows = prefixes
                .iter()
                .flatten()
                .map(|p| {
                    vec![
                        escaped(&p.prefix),
                        p.hash.clone(),
                        text(&p.key_type),
                        number(p.bytes),
                        number(p.keys),
                    ]
                })
                .collect();
            (header(&["PREFIX", "HASH", "TYPE", "BYTES", "KEYS"]), rows)
        }
    };
    format!(
        "{what} of instance {instance_id}: analysis {}, finished {}\n{}\n",
        escaped(task_id),
        a.finished_at
            .as_deref()
            .map_or("at an unknown time".to_string(), escaped),
        table(&header, &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_drive_the_terminal_or_break_a_row() {
        assert_eq!(escaped("user:1"), "user:1");
        assert_eq!(escaped("a\nb\r\u{1b}[2J"), "a\\nb\\r\\u{1b}[2J");
        assert_eq!(escaped("back\\slash"), "back\\\\slash");
        assert_eq!(escaped("\u{202e}evil"), "\\u{202e}evil");
        let report = Report {
            instance_id: "i".into(),
            analyses: vec![Analysis {
                analysis: "big",
                task_id: Some("t1".into()),
                keys: Some(vec![KeyRow {
                    name: "=cmd|'/c calc'!A1\n,x".into(),
                    hash: key_hash("x"),
                    key_type: Some("string".into()),
                    shard: None,
                    db: Some(0),
                    size: Some(12),
                    unit: Some("byte".into()),
                    freq: None,
                }]),
                ..Analysis::default()
            }],
        };
        let csv = render(&report, OutputFormat::Csv);
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(csv.contains("\"'=cmd|'/c calc'!A1\\n,x\""), "{csv}");
        let table = render(&report, OutputFormat::Table);
        assert!(
            table.contains("12 bytes") && !table.contains("A1\n"),
            "{table}"
        );
    }
}
