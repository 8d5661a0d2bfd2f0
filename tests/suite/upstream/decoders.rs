//! Every decoder of what an upstream answers, fed what no upstream should send: the RESP reader
//! arbitrary bytes and hostile shapes (huge declared lengths, deep nesting, endless arrays);
//! every JSON answer type arbitrary JSON with numbers at the edges (1e308, -0.0, 2^64, "NaN" as
//! text, text where numbers go), nulls, deep nesting and huge strings. None panics, and what
//! each yields is bounded by what it was given.

use std::time::SystemTime;

use dcs_session_exporter::cloud::credentials::providers::parse_credentials;
use dcs_session_exporter::cloud::dbss::AuditJobs;
use dcs_session_exporter::cloud::dcs::{
    ClientPage, DcsJob, InstanceConfigs, InstancePage, InstanceSummary, JobRef, LogicalNodes,
    SlowlogPage, decode_client_page_with,
};
use dcs_session_exporter::cloud::error::ErrorBody;
use dcs_session_exporter::cloud::page_reader::read_page;
use dcs_session_exporter::redis::resp::{Budget, MAX_DEPTH, RespError, SLOT, Value, read_value};
use dcs_session_exporter::slowlog::SlowEntry;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

// ----- RESP ------------------------------------------------------------------------------------

/// Reads one reply from `bytes` within `budget` bytes.
fn read_resp(bytes: &[u8], budget: u64) -> Result<Value, RespError> {
    let mut reader = bytes;
    let mut budget = Budget::new(budget);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(read_value(&mut reader, &mut budget))
}

/// A piece of a reply: well formed, or hostile in one of the ways a server can be.
fn resp_piece() -> impl Strategy<Value = Vec<u8>> {
    let huge = select(vec![
        1u64 << 40,
        u64::from(u32::MAX),
        i64::MAX as u64,
        64 << 20,
        100_000,
    ]);
    prop_oneof![
        3 => Just(b":1\r\n".to_vec()),
        2 => "[a-z]{0,12}".prop_map(|s| format!("${}\r\n{s}\r\n", s.len()).into_bytes()),
        2 => (0u8..6).prop_map(|n| format!("*{n}\r\n").into_bytes()),
        1 => Just(b"+OK\r\n".to_vec()),
        1 => Just(b"-ERR x\r\n".to_vec()),
        1 => Just(b"$-1\r\n".to_vec()),
        1 => huge.clone().prop_map(|n| format!("${n}\r\n").into_bytes()),
        1 => huge.prop_map(|n| format!("*{n}\r\n").into_bytes()),
        // Deeper than the reader goes.
        1 => (1..3 * MAX_DEPTH).prop_map(|d| "*1\r\n".repeat(d).into_bytes()),
        // An array that goes on past what it declared, or past any budget.
        1 => (0usize..2000).prop_map(|n| {
            let mut b = format!("*{}\r\n", n / 2).into_bytes();
            b.extend(b":1\r\n".repeat(n));
            b
        }),
        1 => vec(any::<u8>(), 0..16),
        1 => Just(b"$-7\r\n".to_vec()),
        1 => Just(b":99999999999999999999\r\n".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256, failure_persistence: None, ..ProptestConfig::default()
    })]

    /// Any bytes: a value no larger than the budget, or an error; never a panic.
    #[test]
    fn resp_reader_takes_any_bytes(bytes in vec(any::<u8>(), 0..512), budget in 0u64..4096) {
        if let Ok(value) = read_resp(&bytes, budget) {
            prop_assert!(value.size() <= budget, "{} > {budget}", value.size());
        }
    }

    /// Hostile shapes: what is read fits the budget; a declared size past it fails as too
    /// large before it is read.
    #[test]
    fn resp_reader_keeps_within_its_budget(
        pieces in vec(resp_piece(), 1..24),
        budget in prop_oneof![0u64..2048, Just(1u64 << 20)],
    ) {
        let bytes = pieces.concat();
        match read_resp(&bytes, budget) {
            Ok(value) => prop_assert!(value.size() <= budget, "{} > {budget}", value.size()),
            Err(RespError::TooLarge(total)) => prop_assert_eq!(total, budget),
            Err(RespError::Protocol(_) | RespError::Io(_)) => {}
        }
    }

    /// A declared bulk length or array count past the budget is refused unread, with nothing
    /// after it on the wire.
    #[test]
    fn resp_declared_sizes_are_checked_first(
        len in 0u64..(1 << 50),
        kind in select(vec!["$", "*"]),
        budget in 0u64..(1 << 20),
    ) {
        let header = format!("{kind}{len}\r\n");
        let cost = if kind == "$" { len } else { len.saturating_mul(SLOT) };
        let result = read_resp(header.as_bytes(), budget);
        if cost.saturating_add(SLOT) > budget {
            prop_assert!(matches!(result, Err(RespError::TooLarge(_))), "{result:?}");
        } else if len > 0 {
            // Within the budget, the missing body is a broken stream.
            prop_assert!(matches!(result, Err(RespError::Io(_))), "{result:?}");
        }
    }
}

// ----- JSON ------------------------------------------------------------------------------------

/// Field names the answers carry: most generated keys hit a field of some decoder.
const FIELDS: &str = "addr az_code begin_time capacity charge_mode client_ip clients command
    config_status config_time count database_id default_value description dimensions duration
    end_time engine engine_version enterprise_project_id error_code error_msg error_ext_msg
    errorCode errorMsg code message request_id error fail_reason group_id ha_id id instance_id
    instance_num instances ip is_access is_remove_ip job_id job_type jobs key logical_node_id
    name node_id node_ip node_port node_role node_type nodes param_name param_value port
    priority_weight redis_config replica_count resource_id shard_name sharding_count slowlogs
    spec_code start_time status support_slow_log_flag tags time total total_num
    transparent_client_ip_enable value credential credentials access secret securitytoken
    expires_at accessKeyId secretAccessKey securityToken expiration idle age db user flags
    omem qbuf sub psub cmd";

/// JSON text of a leaf: numbers at the edges, text where numbers go, nulls, huge strings.
fn leaf() -> impl Strategy<Value = String> {
    let edges = select(vec![
        "null",
        "true",
        "false",
        "0",
        "-0.0",
        "1e308",
        "-1e308",
        "5e-324",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "9223372036854775807",
        "1e9",
        "\"NaN\"",
        "\"Infinity\"",
        "\"-5\"",
        "\"1e300\"",
        "\"18446744073709551615\"",
        "\"abc\"",
        "\"\"",
        "\"true\"",
        "\"1\"",
        "\"2026-12-06T12:00:00Z\"",
        "\"9999-12-31T23:59:59Z\"",
        "[]",
        "{}",
    ]);
    prop_oneof![
        6 => edges.prop_map(String::from),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        2 => "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => (1usize..200_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        // Nested past serde's depth limit.
        1 => (60usize..200).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
    ]
}

/// A JSON value: objects keyed mostly by known field names, arrays, leaves.
fn json() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = FIELDS.split_whitespace().collect();
    leaf().prop_recursive(4, 64, 6, move |inner| {
        let key = prop_oneof![
            6 => select(names.clone()).prop_map(String::from),
            1 => "\\PC{0,6}",
        ];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            vec((key, inner), 0..8).prop_map(|pairs| {
                let fields: Vec<String> = pairs
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// Decodes `body` as `T`: when it decodes, its debug text stays within a bound linear in the
/// body (each decoded record costs at least two bytes of body: `{}`).
fn bounded<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(body).ok()?;
    let shown = format!("{value:?}").len();
    assert!(
        shown <= 1024 + 400 * body.len(),
        "{} bytes of body became {shown} of {}",
        body.len(),
        std::any::type_name::<T>()
    );
    Some(value)
}

/// Every JSON decoder on one body.
fn decode_every_answer(body: &[u8]) {
    let records = body.len() / 2;
    bounded::<JobRef>(body);
    if let Some(job) = bounded::<DcsJob>(body) {
        let _ = (job.began(), job.ended());
    }
    if let Some(page) = bounded::<ClientPage>(body) {
        assert!(page.clients.len() <= records);
    }
    bounded::<LogicalNodes>(body);
    bounded::<InstancePage>(body);
    bounded::<InstanceSummary>(body);
    bounded::<InstanceConfigs>(body);
    if let Some(page) = bounded::<SlowlogPage>(body) {
        for item in &page.slowlogs {
            if let Some(entry) = SlowEntry::from_dcs(item) {
                assert!(entry.command.len() <= 32);
            }
        }
    }
    if let Some(jobs) = bounded::<AuditJobs>(body) {
        assert!(jobs.jobs.len() <= records);
        for job in &jobs.jobs {
            let _ = (job.began(), job.ended());
        }
    }
    // The stored session page, by its streaming reader and by serde where it gives up.
    if let Some(page) = read_page(body) {
        assert!(page.clients.len() <= records);
    }
    let mut sessions = 0usize;
    let _ = decode_client_page_with(body, &mut |_| sessions += 1);
    assert!(sessions <= records);
    // Error bodies: what they yield is text of the body.
    let error = ErrorBody::parse(body);
    let kept = [&error.code, &error.message, &error.request_id]
        .iter()
        .map(|t| t.as_ref().map_or(0, String::len))
        .sum::<usize>();
    assert!(kept <= 2 * body.len(), "{kept} from {}", body.len());
    // Credential answers: an error says why in a bounded message.
    if let Err(e) = parse_credentials("test", body, SystemTime::now()) {
        assert!(e.to_string().len() <= 4096, "{}", e.to_string().len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128, failure_persistence: None, ..ProptestConfig::default()
    })]

    /// Any JSON with edge numbers, nulls, deep nesting and huge strings, at the top or under
    /// the fields each answer keeps its records in.
    #[test]
    fn json_decoders_take_any_answer(
        value in json(),
        wrap in select(vec![
            "", "clients", "instances", "nodes", "jobs", "slowlogs", "redis_config",
            "credential", "error", "tags",
        ]),
    ) {
        let body = match wrap {
            "" => value,
            key => format!("{{\"{key}\":[{value},{value}],\"count\":1e308,\"time\":-0.0}}"),
        };
        decode_every_answer(body.as_bytes());
    }

    /// Any bytes at all.
    #[test]
    fn json_decoders_take_any_bytes(bytes in vec(any::<u8>(), 0..512)) {
        decode_every_answer(&bytes);
    }
}
