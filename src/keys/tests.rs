use super::*;

fn record(id: &str, status: &str, created: &str, finished: &str) -> KeyTaskRecord {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    KeyTaskRecord {
        id: opt(id),
        status: opt(status),
        scan_type: None,
        created_at: opt(created),
        started_at: None,
        finished_at: opt(finished),
    }
}

#[test]
fn newest_success_whatever_the_order() {
    let records = [
        record(
            "a",
            "success",
            "2026-12-01T00:00:00Z",
            "2026-12-01T00:05:00Z",
        ),
        record("b", "SUCCESS", "2026-12-02T00:00:00Z", ""),
        record(
            "c",
            "failed",
            "2026-12-03T00:00:00Z",
            "2026-12-03T00:01:00Z",
        ),
        record("d", "running", "2026-12-04T00:00:00Z", ""),
        record(
            "e",
            "success",
            "2026-11-01T00:00:00Z",
            "2026-12-02T00:00:01.5Z",
        ),
        record(
            "",
            "success",
            "2026-12-09T00:00:00Z",
            "2026-12-09T00:01:00Z",
        ),
    ];
    for rotation in 0..records.len() {
        let mut list = records.to_vec();
        list.rotate_left(rotation);
        list.reverse();
        // e finished last; b has no finished_at, so it ranks below any that has one.
        assert_eq!(
            newest_success(&list).and_then(|r| r.id.as_deref()),
            Some("e")
        );
    }
    assert!(newest_success(&records[2..4]).is_none());
    assert!(newest_success(&[]).is_none());
}

fn key(name: Option<&str>, key_type: &str, size: Option<i64>, unit: &str) -> AnalysedKey {
    AnalysedKey {
        name: name.map(str::to_string),
        key_type: Some(key_type.to_string()),
        shard: Some("192.168.0.1:6379".into()),
        db: Some(0),
        size,
        unit: Some(unit.to_string()),
        freq: None,
    }
}

#[test]
fn big_keys_bounded_and_named() {
    let mut keys = vec![
        key(Some("user:1"), "string", Some(10), "byte"),
        key(Some("user:2"), "string", Some(30), "byte"),
        key(Some("queue"), "list", Some(5_000_000), "count"),
        key(Some("weird"), "HyperLogLog", Some(7), "count"),
        key(None, "string", Some(1), "byte"),
        key(Some("neg"), "hash", Some(-4), "count"),
        key(Some("null"), "hash", None, "count"),
    ];
    for n in 0..100 {
        keys.push(key(Some(&format!("h{n}")), "hash", Some(n), "count"));
    }
    let detail = KeyTaskDetail {
        record: record(
            "t1",
            "success",
            "2026-12-01T00:00:00Z",
            "2026-12-01T00:01:00Z",
        ),
        instance_id: None,
        num: Some(107),
        keys,
    };
    let limits = KeyLimits {
        naming: KeyNaming {
            names: KeyNames::Prefix,
            delimiters: vec![":".into()],
        },
        max_keys: 3,
        max_prefixes: 20,
    };
    let read = key_result(AnalysisKind::Big, &detail, &limits);
    assert_eq!(read.invalid, 3);
    let bytes = &read.result.series[&Measure::Bytes];
    // user:1 and user:2 share the label "user": the larger is kept.
    assert_eq!(bytes.len(), 1);
    assert_eq!((bytes[0].key.as_str(), bytes[0].value), ("user", 30));
    let elements = &read.result.series[&Measure::Elements];
    assert_eq!(
        elements
            .iter()
            .map(|s| (s.key.as_str(), s.key_type.as_str(), s.value))
            .collect::<Vec<_>>(),
        [
            ("queue", "list", 5_000_000),
            ("h99", "hash", 99),
            ("h98", "hash", 98)
        ]
    );
    assert_eq!(read.result.task_id, "t1");
    assert!(read.result.finished.is_some());
}

#[test]
fn hot_keys_take_the_counter_in_range() {
    let hot = |freq: Option<i64>| AnalysedKey {
        freq,
        ..key(Some("k"), "string", Some(1), "byte")
    };
    let detail = KeyTaskDetail {
        keys: vec![hot(Some(200)), hot(Some(256)), hot(None), hot(Some(-1))],
        ..KeyTaskDetail::default()
    };
    let read = key_result(AnalysisKind::Hot, &detail, &KeyLimits::default());
    assert_eq!(read.invalid, 3);
    let series = &read.result.series[&Measure::Frequency];
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].value, 200);
}

#[test]
fn prefixes_fold_into_other_by_type() {
    use crate::cloud::dcs::{KeyPrefix, TypeTotal};
    let prefix = |p: &str, t: &str, bytes: i64| KeyPrefix {
        key_prefix: Some(p.into()),
        key_type: Some(t.into()),
        bytes: Some(bytes),
        num: Some(2),
    };
    let analysis = OfflineAnalysis {
        id: Some("o1".into()),
        finished_at: Some("2026-12-01T00:00:00Z".into()),
        largest_key_prefixes: vec![
            prefix("a", "string", 5_000_000_000),
            prefix("b", "hash", 40),
            prefix("c", "hash", 30),
            prefix("d", "string", 20),
            prefix("e", "hash", 10),
        ],
        type_bytes: vec![TypeTotal {
            key_type: Some("string".into()),
            bytes: Some(6_000_000_000),
            num: None,
        }],
        type_num: vec![TypeTotal {
            key_type: Some("string".into()),
            bytes: None,
            num: Some(-1),
        }],
        ..OfflineAnalysis::default()
    };
    let limits = KeyLimits {
        max_prefixes: 2,
        ..KeyLimits::default()
    };
    let read = prefix_result(&analysis, &limits);
    assert_eq!(read.invalid, 1);
    let shown: Vec<_> = read
        .result
        .prefixes
        .iter()
        .map(|p| (p.prefix.as_str(), p.key_type.as_str(), p.bytes, p.keys))
        .collect();
    assert_eq!(
        shown,
        [
            ("a", "string", 5_000_000_000, 2),
            ("b", "hash", 40, 2),
            ("other", "hash", 40, 4),
            ("other", "string", 20, 2),
        ]
    );
    assert_eq!(
        read.result.by_type.get("string"),
        Some(&(Some(6_000_000_000), None))
    );
}
