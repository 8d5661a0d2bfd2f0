//! The bodies of the key analyses' and statistics' answers, in the service's shapes. Where the
//! documentation leaves a shape open, answers take each form the SDK's types allow: times with
//! and without milliseconds, a time not reached yet `null` or absent, `shard` only on cluster
//! instances; and, on instances with loose answers, a number now and then as a string or `null`.

use serde_json::{Map, Value, json};

use super::key_tasks::{KeyTask, Load, OfflineAnalysis, Shapes, TaskKind, TaskStatus};
use crate::sim::clock::{format_time, format_time_seconds};
use crate::sim::population::{FoundKey, KeyspaceReport};

/// A count or size: a number; in loose answers, the `nth` of them now and then a string or
/// `null`.
pub(super) fn number(n: u64, loose: bool, nth: usize) -> Value {
    match (loose, nth % 7) {
        (true, 2) => Value::String(n.to_string()),
        (true, 5) => Value::Null,
        _ => json!(n),
    }
}

fn time(ms: i64, shapes: Shapes) -> Value {
    Value::String(if shapes.millis {
        format_time(ms)
    } else {
        format_time_seconds(ms)
    })
}

/// A time if reached, else `null` or nothing, as the record's shapes say.
fn put_time(m: &mut Map<String, Value>, name: &str, at: Option<i64>, shapes: Shapes) {
    match at {
        Some(ms) => {
            m.insert(name.into(), time(ms, shapes));
        }
        None if shapes.unset_as_null => {
            m.insert(name.into(), Value::Null);
        }
        None => {}
    }
}

/// A task as a list shows it (offline analyses have no `scan_type`).
pub(super) fn record(task: &KeyTask, with_scan_type: bool, now_ms: i64) -> Map<String, Value> {
    let status = task.status(now_ms);
    let mut m = Map::new();
    m.insert("id".into(), json!(task.id));
    m.insert("status".into(), json!(status.as_str()));
    if with_scan_type {
        let scan_type = if task.auto { "auto" } else { "manual" };
        m.insert("scan_type".into(), json!(scan_type));
    }
    m.insert("created_at".into(), time(task.created_ms, task.shapes));
    let finished = matches!(status, TaskStatus::Success | TaskStatus::Failed);
    let started = finished || status == TaskStatus::Running;
    put_time(
        &mut m,
        "started_at",
        started.then_some(task.start_ms),
        task.shapes,
    );
    put_time(
        &mut m,
        "finished_at",
        finished.then_some(task.end_ms),
        task.shapes,
    );
    m
}

/// A page of tasks: `count` (big and hot keys) or `total` (offline analyses) is the whole
/// list's length, or `None` (a page that does not say).
pub(super) fn page(
    instance_id: &str,
    length_name: &str,
    length: Option<u64>,
    records: Vec<Map<String, Value>>,
    loose: bool,
) -> Value {
    let mut m = Map::new();
    m.insert("instance_id".into(), json!(instance_id));
    if let Some(n) = length {
        m.insert(length_name.into(), number(n, loose, 2));
    }
    m.insert(
        "records".into(),
        Value::Array(records.into_iter().map(Value::Object).collect()),
    );
    Value::Object(m)
}

/// A big-key or hot-key task with the keys it found (none until it succeeds).
pub(super) fn details(
    task: &KeyTask,
    kind: TaskKind,
    instance_id: &str,
    keys: &[FoundKey],
    loose: bool,
    now_ms: i64,
) -> Value {
    let mut m = record(task, true, now_ms);
    m.insert("instance_id".into(), json!(instance_id));
    m.insert("num".into(), number(keys.len() as u64, loose, 0));
    match task.status(now_ms) {
        TaskStatus::Success => {
            let keys = keys
                .iter()
                .enumerate()
                .map(|(i, k)| key(k, kind, loose, i))
                .collect();
            m.insert("keys".into(), Value::Array(keys));
        }
        TaskStatus::Failed => {
            m.insert("keys".into(), json!([]));
        }
        // As the create call answers: no keys yet.
        TaskStatus::Waiting | TaskStatus::Running => {}
    }
    Value::Object(m)
}

/// A key of a big-key or hot-key analysis.
fn key(k: &FoundKey, kind: TaskKind, loose: bool, i: usize) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(k.name));
    m.insert("type".into(), json!(k.key_type.as_str()));
    if let Some(shard) = &k.shard {
        m.insert("shard".into(), json!(shard));
    }
    m.insert("db".into(), number(u64::from(k.db), loose, i + 3));
    m.insert("size".into(), number(k.size, loose, i));
    let unit = if k.key_type.is_collection() {
        "count"
    } else {
        "byte"
    };
    m.insert("unit".into(), json!(unit));
    if kind == TaskKind::Hot {
        m.insert("freq".into(), number(u64::from(k.freq), loose, i + 1));
    }
    Value::Object(m)
}

/// An offline analysis with what it found (nothing until it succeeds).
pub(super) fn offline_details(
    analysis: &OfflineAnalysis,
    instance_id: &str,
    report: &KeyspaceReport,
    loose: bool,
    now_ms: i64,
) -> Value {
    let task = &analysis.task;
    let mut m = record(task, false, now_ms);
    m.remove("status");
    m.remove("created_at");
    m.insert("instance_id".into(), json!(instance_id));
    m.insert("node_id".into(), json!(analysis.node.node_id));
    m.insert("backup_id".into(), json!(analysis.backup_id));
    if let Some(group) = &analysis.node.group_name {
        m.insert("group_name".into(), json!(group));
    }
    m.insert("node_ip".into(), json!(analysis.node.node_ip));
    m.insert("node_type".into(), json!(analysis.node.node_type));
    m.insert("analysis_type".into(), json!(analysis.analysis_type));
    if task.status(now_ms) != TaskStatus::Success {
        return Value::Object(m);
    }
    let prefixes = report
        .families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "key_prefix": f.prefix,
                "type": f.key_type.as_str(),
                "bytes": number(f.bytes, loose, i),
                "num": number(f.keys, loose, i + 1),
            })
        })
        .collect();
    m.insert("largest_key_prefixes".into(), Value::Array(prefixes));
    let largest = report
        .largest
        .iter()
        .map(|k| {
            json!({
                "key": k.name,
                "type": k.key_type.as_str(),
                "bytes": k.bytes,
                "num_of_elem": if k.key_type.is_collection() { k.size } else { 1 },
            })
        })
        .collect();
    m.insert("largest_keys".into(), Value::Array(largest));
    m.insert("total_bytes".into(), number(report.total_bytes, loose, 2));
    m.insert("total_num".into(), number(report.total_keys, loose, 0));
    let type_bytes = report
        .type_bytes
        .iter()
        .map(|(t, n)| json!({"type": t.as_str(), "bytes": n}));
    m.insert("type_bytes".into(), Value::Array(type_bytes.collect()));
    let type_num = report
        .type_keys
        .iter()
        .map(|(t, n)| json!({"type": t.as_str(), "num": n}));
    m.insert("type_num".into(), Value::Array(type_num.collect()));
    Value::Object(m)
}

/// One running instance's statistics: memory in MB, load figures as strings.
pub(super) fn statistic(
    instance_id: &str,
    (keys, bytes): (u64, u64),
    max_memory_mb: u64,
    load: &Load,
    loose: bool,
    now_ms: i64,
) -> Value {
    let up_s = ((now_ms - load.since_ms).max(0) / 1000) as f64;
    // Load moves on a quarter-hour wave around its level.
    let wave = 1.0 + 0.3 * (now_ms as f64 / 900_000.0 * std::f64::consts::TAU).sin();
    let mb = |b: u64| b / (1024 * 1024);
    // The server's own overhead beside the data.
    let used_mb = (mb(bytes) + 30).min(max_memory_mb);
    json!({
        "instance_id": instance_id,
        "keys": number(keys, loose, 2),
        "used_memory": number(used_mb, loose, 5),
        "max_memory": max_memory_mb,
        "cmd_get_count": (load.gets_per_second * up_s) as u64,
        "cmd_set_count": (load.sets_per_second * up_s) as u64,
        "used_cpu": format!("{:.2}", (load.cpu * wave).min(100.0)),
        "input_kbps": format!("{:.2}", load.input_kbps * wave),
        "output_kbps": format!("{:.2}", load.output_kbps * wave),
    })
}
