//! Property tests of the pure parts of the crate, through its public API: session aggregation,
//! the decoders and parsers of untrusted input, and AK/SK signing.

use crate::common::harness::fixed_now;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dcs_session_exporter::aggregate::{
    AggregateSettings, Aggregator, ClientCount, Histogram, NodeAggregate, OTHER, OTHER_NAME,
    SessionKind, UNKNOWN, UNNAMED, aggregate,
};
use dcs_session_exporter::cloud::dbss::AuditJobs;
use dcs_session_exporter::cloud::dcs::{ClientPage, DcsJob, InstancePage, LogicalNodes};
use dcs_session_exporter::cloud::error::ErrorBody;
use dcs_session_exporter::cloud::page_reader::ClientPageRef;
use dcs_session_exporter::cloud::page_reader::{read_page, read_page_with};
use dcs_session_exporter::cloud::signer::{
    ALGORITHM, SignableRequest, canonical_query_string, canonical_request, parse_authorization,
    parse_sdk_date, sdk_date, sign, signed_header_names, verify,
};
use dcs_session_exporter::config::HistogramMode;
use dcs_session_exporter::config::{
    ClientAddrField, Config, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
};
use dcs_session_exporter::metrics::SnapshotCollector;
use dcs_session_exporter::redis::parse_client_list;
use dcs_session_exporter::server::Format;
use dcs_session_exporter::session::{CLIENT_FIELDS, ClientInfo, ClientRef};
use dcs_session_exporter::session::{PageSink, strip_port};
use dcs_session_exporter::slowlog::{SlowCaps, SlowCommands, SlowEntry, SlowLogCursor};
use dcs_session_exporter::snapshot::{Attempt, NodeData, NodeInfo, NodeKey, NodeState, Store};
use percent_encoding::percent_decode_str;
use proptest::collection::{btree_map, vec};
use proptest::option::{of, weighted};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Value, json};

// ----- Generators -----------------------------------------------------------------------------

fn words(s: &'static str) -> Vec<&'static str> {
    s.split_whitespace().collect()
}

/// `ip:port` from a small pool (so addresses repeat), IPv6, unix sockets, any text, or none.
fn address() -> impl Strategy<Value = Option<String>> {
    let ip = select(words("10.0.0.1 10.0.0.2 192.168.1.7 198.19.3.4 172.16.0.9"));
    prop_oneof![
        6 => (ip, 1u16..4).prop_map(|(ip, port)| Some(format!("{ip}:{port}"))),
        1 => (0u16..3).prop_map(|n| Some(format!("[::1]:{n}"))),
        1 => select(words("/x.sock:0 /var/run/redis.sock:0")).prop_map(|s| Some(s.into())),
        1 => "\\PC{0,12}".prop_map(Some),
        1 => Just(None),
    ]
}

fn label(values: &'static str) -> impl Strategy<Value = Option<String>> {
    weighted(0.9, select(words(values)).prop_map(String::from))
}

/// Mostly values that tie (spread over the buckets), sometimes any size, negative or missing.
fn number() -> impl Strategy<Value = Option<i64>> {
    let tying = vec![0, 1, 5, 30, 3600, 90_000, 1 << 20, 1 << 30];
    prop_oneof![
        6 => select(tying).prop_map(Some),
        1 => (0i64..1_000_000_000).prop_map(Some),
        1 => (-3i64..0).prop_map(Some),
        2 => Just(None),
    ]
}

/// Sessions with unique ids, as a node numbers its clients.
fn sessions() -> impl Strategy<Value = Vec<ClientInfo>> {
    let labels = (
        address(),
        address(),
        label("0 1 15"),
        label("default app ro"),
    );
    let more = (
        label("web worker cron api other"),
        label("get subscribe blpop set other"),
        label("N b x P S M O bt U Pb Sx"),
        number(),
    );
    let numbers = (number(), number(), number(), number(), number(), number());
    let session = (labels, more, numbers).prop_map(|(labels, more, numbers)| {
        let ((addr, peer, db, user), (name, cmd, flags, multi)) = (labels, more);
        let (idle, age, omem, qbuf, sub, psub) = numbers;
        ClientInfo {
            addr,
            peer,
            db,
            user,
            name,
            cmd,
            idle,
            age,
            omem,
            qbuf,
            sub,
            psub,
            flags,
            multi,
            ..Default::default()
        }
    });
    vec(session, 0..80).prop_map(|mut v| {
        for (i, c) in v.iter_mut().enumerate() {
            c.id = Some(i.to_string());
        }
        v
    })
}

fn settings() -> impl Strategy<Value = Arc<AggregateSettings>> {
    let field = select(vec![ClientAddrField::Addr, ClientAddrField::Peer]);
    let threshold = select(vec![0i64, 10, 3600, 100_000]);
    (
        0usize..60,
        0usize..8,
        field,
        0usize..6,
        0usize..6,
        threshold,
    )
        .prop_map(
            |(
                max_client_addrs,
                top_clients,
                client_addr_field,
                max_client_names,
                max_client_commands,
                idle_threshold_seconds,
            )| {
                Arc::new(AggregateSettings {
                    max_client_addrs,
                    max_client_names,
                    max_client_commands,
                    idle_threshold_seconds,
                    native_histograms: idle_threshold_seconds % 2 == 0,
                    top_clients,
                    client_addr_field,
                    idle_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
                    age_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
                    bytes_buckets: DEFAULT_BYTES_BUCKETS.to_vec().into(),
                })
            },
        )
}

/// Objects keyed mostly by field names the decoders know.
fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    let mut names = words(
        "time clients count jobs nodes instances instance_num total instance_id status job_id
         begin_time end_time is_access is_remove_ip dimensions node_id error error_code error_msg
         errorCode errorMsg code message request_id capacity port priority_weight",
    );
    names.extend(CLIENT_FIELDS);
    let key = prop_oneof![4 => select(names).prop_map(String::from), 1 => "\\PC{0,6}"];
    vec((key, values), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Any JSON value, up to four levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "-?[0-9]{0,20}".prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            object(inner)
        ]
    })
}

/// A request to sign, with `Host` and a valid `X-Sdk-Date` first. Header names are unique: the
/// last value of a repeated name wins, so their order would rightly matter.
#[derive(Clone, Debug)]
struct Request {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn with<'a>(&'a self, headers: &'a [(String, String)]) -> SignableRequest<'a> {
        let (method, path, query, body) = (self.method, &self.path, &self.query, &self.body);
        SignableRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    let method = select(words("GET post DELETE"));
    let query = vec(("\\PC{0,6}", "\\PC{0,6}"), 0..5);
    let content_type = of(select(words(
        "application/json application/json;v=1 text/plain",
    )));
    let extra = btree_map("[a-z][a-z0-9_-]{0,8}", "[ -~]{0,12}", 0..5);
    let head = (0u64..4_000_000_000, content_type, extra);
    let rest = ("(/[a-z0-9%. _-]{0,8}){0,4}", vec(any::<u8>(), 0..32));
    (method, query, head, rest).prop_map(|(method, query, (secs, ct, extra), (path, body))| {
        let date = sdk_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let mut headers = vec![
            ("Host".into(), "dcs.example.com".into()),
            ("X-Sdk-Date".into(), date),
        ];
        headers.extend(ct.map(|ct| ("Content-Type".into(), ct.into())));
        let reserved = words("host x-sdk-date content-type x-sdk-content-sha256");
        headers.extend(
            extra
                .into_iter()
                .filter(|(n, _)| !reserved.contains(&n.as_str())),
        );
        Request {
            method,
            path,
            query,
            headers,
            body,
        }
    })
}

/// A valid configuration, without `stale_after` (its default is derived).
const CONFIG: &str = r#"[exporter]
scan_interval = "30s"
scan_timeout = "20s"
first_scan_spread = "5s"
max_client_addrs = 50
top_clients = 3
client_addr_field = "peer"
idle_buckets = [1, 5, 30]
[[cloud]]
name = "prod"
region = "cn-north-4"
project_id = "p1"
requests_per_second = 10
proxy = "http://proxy.internal:3128"
[cloud.discovery]
name_pattern = "^prod-"
[[cloud.dcs_instance]]
id = "i1"
nodes = ["n1", "n2"]
[[redis]]
name = "cache"
url = "redis://10.0.0.5:6380/2"
[remediation]
enabled = true
token_env = "TOKEN"
cooldown = "10m"
[[remediation.allow]]
instance_id = "i1"
node_id = "*"
"#;

/// A line of [`CONFIG`] with a value, and text to put in place of the value.
fn config_change() -> impl Strategy<Value = (usize, String)> {
    let lines: Vec<usize> = (CONFIG.lines().enumerate())
        .filter_map(|(i, l)| l.contains(" = ").then_some(i))
        .collect();
    let value = prop_oneof![
        2 => "\\PC{0,16}",
        2 => "[a-zA-Z0-9 ./:^*_-]{0,16}".prop_map(|s| format!("\"{s}\"")),
        2 => (0u64..100, select(words("ns ms s m h d"))).prop_map(|(n, u)| format!("\"{n}{u}\"")),
        2 => any::<u64>().prop_map(|n| format!("\"{n}s\"")),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
        1 => vec(-10.0f64..1e6, 0..5).prop_map(|v| format!("{v:?}")),
    ];
    (select(lines), value)
}

// ----- Checks ---------------------------------------------------------------------------------

/// Per-bucket counts, `+Inf` last, count and sum, against the values observed.
fn check_histogram(h: &Histogram, bounds: &[f64], values: &[i64]) -> Result<(), TestCaseError> {
    let buckets = h.buckets();
    prop_assert_eq!(h.count, values.len() as u64);
    prop_assert_eq!(buckets.len(), bounds.len() + 1);
    prop_assert_eq!(buckets.last().map(|b| b.0), Some(f64::INFINITY));
    let cumulative: u64 = buckets.iter().map(|b| b.1).sum();
    prop_assert_eq!(cumulative, h.count, "+Inf cumulative");
    let mut lower = f64::NEG_INFINITY;
    for &(le, n) in &buckets {
        let within = |v: &&i64| **v as f64 > lower && **v as f64 <= le;
        prop_assert_eq!(
            n,
            values.iter().filter(within).count() as u64,
            "bucket le={}",
            le
        );
        lower = le;
    }
    // Exact whatever the order: the values are integers far below 2^53.
    prop_assert_eq!(h.sum, values.iter().map(|&v| v as f64).sum::<f64>());
    Ok(())
}

/// The aggregate without its top lists.
fn without_tops(mut a: NodeAggregate) -> NodeAggregate {
    (a.top_idle, a.top_output_memory) = (vec![], vec![]);
    a
}

/// `v` in the order of `keys` (shrinks towards the identity, unlike a shuffle).
fn permute<T: Clone>(v: &[T], keys: &[u16]) -> Vec<T> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    order.into_iter().map(|i| v[i].clone()).collect()
}

fn in_pages(s: &Arc<AggregateSettings>, v: &[ClientInfo], size: usize) -> Aggregator {
    let mut a = Aggregator::new(Arc::clone(s));
    accept_pages(&mut a, v, size);
    a
}

fn accept_pages(a: &mut Aggregator, v: &[ClientInfo], size: usize) {
    for page in v.chunks(size) {
        page.iter().for_each(|c| a.accept(&c.view()));
        a.end_page();
    }
}

fn decode_everything(input: &[u8]) {
    let _ = serde_json::from_slice::<ClientPage>(input);
    let _ = serde_json::from_slice::<DcsJob>(input);
    let _ = serde_json::from_slice::<LogicalNodes>(input);
    let _ = serde_json::from_slice::<InstancePage>(input);
    let _ = serde_json::from_slice::<AuditJobs>(input);
    let _ = ErrorBody::parse(input);
}

// ----- Aggregation and signing: 128 cases each ------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128, failure_persistence: None, ..ProptestConfig::default()
    })]

    /// Sessions, histograms and subscriptions add up to what was observed.
    #[test]
    fn aggregate_counts(v in sessions(), s in settings()) {
        let a = aggregate(Arc::clone(&s), &v);
        prop_assert_eq!(a.sessions, v.len() as u64);
        prop_assert_eq!(a.clients.iter().map(|c| c.sessions).sum::<u64>(), v.len() as u64);
        let values = |f: fn(&ClientInfo) -> Option<i64>| v.iter().filter_map(f).collect::<Vec<_>>();
        check_histogram(&a.idle, &DEFAULT_SECONDS_BUCKETS, &values(|c| c.idle))?;
        check_histogram(&a.age, &DEFAULT_SECONDS_BUCKETS, &values(|c| c.age))?;
        check_histogram(&a.output_memory, &DEFAULT_BYTES_BUCKETS, &values(|c| c.omem))?;
        check_histogram(&a.query_buffer, &DEFAULT_BYTES_BUCKETS, &values(|c| c.qbuf))?;
        let omem_max = values(|c| c.omem).into_iter().max().unwrap_or(0).max(0);
        prop_assert_eq!(a.output_memory_max, omem_max as u64);
        let sub: i64 = values(|c| c.sub).into_iter().map(|n| n.max(0)).sum();
        let psub: i64 = values(|c| c.psub).into_iter().map(|n| n.max(0)).sum();
        let subscriptions = (a.channel_subscriptions, a.pattern_subscriptions);
        prop_assert_eq!(subscriptions, (sub as u64, psub as u64));
    }

    /// At most `max_client_addrs` addresses keep a label, those with the most sessions; `other`
    /// holds the rest, only when there are more; folding keeps the totals of each (db, user).
    #[test]
    fn aggregate_folds_addresses(v in sessions(), s in settings()) {
        let a = aggregate(Arc::clone(&s), &v);
        let text = |f: &Option<String>| f.clone().unwrap_or_else(|| UNKNOWN.into());
        let (mut per_addr, mut per_db_user) = (HashMap::<_, u64>::new(), BTreeMap::<_, u64>::new());
        for c in &v {
            let addr = if s.client_addr_field == ClientAddrField::Addr { &c.addr } else { &c.peer };
            let addr = text(&addr.clone().filter(|a| !a.is_empty()));
            *per_addr.entry(strip_port(&addr).to_string()).or_default() += 1;
            *per_db_user.entry((text(&c.db), text(&c.user))).or_default() += 1;
        }
        let key = |c: &ClientCount| (c.client_addr().to_string(), c.db().to_string(), c.user().to_string());
        prop_assert!(a.clients.windows(2).all(|w| key(&w[0]) < key(&w[1])), "sorted, each once");
        let (mut got_addr, mut got_db_user) = (HashMap::<_, u64>::new(), BTreeMap::<_, u64>::new());
        for c in &a.clients {
            *got_addr.entry(c.client_addr()).or_default() += c.sessions;
            *got_db_user.entry((c.db().to_string(), c.user().to_string())).or_default() += c.sessions;
        }
        prop_assert_eq!(got_db_user, per_db_user);
        prop_assert!(got_addr.len() <= s.max_client_addrs + 1);
        prop_assert_eq!(got_addr.contains_key(OTHER), per_addr.len() > s.max_client_addrs);
        let kept: Vec<&str> = got_addr.keys().copied().filter(|a| *a != OTHER).collect();
        prop_assert_eq!(kept.len(), per_addr.len().min(s.max_client_addrs));
        for k in kept {
            // A kept address keeps all its sessions, and no folded one ranks before it.
            prop_assert_eq!(got_addr[k], per_addr[k]);
            for (f, &n) in per_addr.iter().filter(|(f, _)| !got_addr.contains_key(f.as_str())) {
                let after = n < per_addr[k] || (n == per_addr[k] && f.as_str() > k);
                prop_assert!(after, "{} folded, {} kept", f, k);
            }
        }
        // Idle sessions by address: past the threshold and not waiting (blocked, subscribed),
        // under the same labels as the sessions, only where there are some, sorted.
        let mut idle_truth = HashMap::<String, u64>::new();
        for c in &v {
            let flags = c.flags.as_deref().unwrap_or("");
            let subscribed = flags.contains('P') || c.sub.unwrap_or(0) > 0 || c.psub.unwrap_or(0) > 0;
            let waiting = flags.contains('b') || (subscribed && !flags.contains('S') && !flags.contains('M') && !flags.contains('O'));
            if waiting || c.idle.is_none_or(|i| i <= s.idle_threshold_seconds) {
                continue;
            }
            let addr = if s.client_addr_field == ClientAddrField::Addr { &c.addr } else { &c.peer };
            let addr = strip_port(&text(&addr.clone().filter(|a| !a.is_empty()))).to_string();
            let label = if got_addr.contains_key(addr.as_str()) { addr } else { OTHER.to_string() };
            *idle_truth.entry(label).or_default() += 1;
        }
        prop_assert!(a.idle_clients.windows(2).all(|w| w[0].0 < w[1].0), "sorted, each once");
        prop_assert!(a.idle_clients.iter().all(|(_, n)| *n > 0));
        let idle_got: HashMap<String, u64> = a.idle_clients.iter().cloned().collect();
        prop_assert_eq!(idle_got, idle_truth);
    }

    /// Sessions by name and by command: the `max_*` largest, most first, each with all its
    /// sessions, then the fold of the rest only when there is a rest; both sum to the total.
    /// The exclusive kinds sum to the total too; each state counts its sessions.
    #[test]
    fn aggregate_by_name_command_and_kind(v in sessions(), s in settings()) {
        let a = aggregate(Arc::clone(&s), &v);
        let check = |got: &[(String, u64)], field: fn(&ClientInfo) -> &Option<String>, absent: &str, keep: usize, folded: &str| -> Result<(), TestCaseError> {
            let mut truth = HashMap::<String, u64>::new();
            for c in &v {
                let value = field(c).clone().filter(|x| !x.is_empty()).unwrap_or_else(|| absent.into());
                *truth.entry(value).or_default() += 1;
            }
            prop_assert_eq!(got.iter().map(|(_, n)| n).sum::<u64>(), v.len() as u64);
            prop_assert!(got.len() <= keep + 1);
            let folds = truth.len() > keep;
            prop_assert_eq!(got.iter().any(|(k, _)| k == folded) || !folds, true);
            let kept: Vec<&(String, u64)> = got.iter().filter(|(k, _)| k != folded || !folds).collect();
            prop_assert!(kept.len() <= keep.min(truth.len()));
            for (k, n) in &kept {
                if k != folded {
                    prop_assert_eq!(*n, truth[k], "{} keeps all its sessions", k);
                }
            }
            prop_assert!(kept.windows(2).all(|w| w[0].1 >= w[1].1), "most first");
            Ok(())
        };
        check(&a.by_name, |c| &c.name, UNNAMED, s.max_client_names, OTHER_NAME)?;
        check(&a.by_command, |c| &c.cmd, UNKNOWN, s.max_client_commands, OTHER)?;
        let exclusive: u64 = SessionKind::ALL.iter().filter(|k| k.is_exclusive()).map(|k| a.by_kind[*k as usize]).sum();
        prop_assert_eq!(exclusive, v.len() as u64);
        let blocked = v.iter().filter(|c| c.flags.as_deref().is_some_and(|f| f.contains('b'))).count() as u64;
        prop_assert_eq!(a.by_kind[SessionKind::Blocked as usize], blocked);
    }

    /// Slow-log polls over overlapping windows, with entries published late: every entry is
    /// counted once if a poll after the first returns it first, never otherwise; addresses and
    /// commands fold to their caps, and an address with a label keeps all its entries.
    #[test]
    fn slow_log_entries_count_once_and_fold(
        raw in vec((0u8..3, 0u32..2_000, 0u32..300, 0usize..8, 0usize..6, 1u64..5_000), 0..120),
        gaps in vec(30u32..400, 2..10),
        max_addrs in 0usize..6,
        max_commands in 0usize..5,
        max_series in 1usize..40,
    ) {
        let caps = SlowCaps { addrs: max_addrs, commands: max_commands, series: max_series };
        let at = |s: u32| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + u64::from(s));
        let lookback = Duration::from_secs(600);
        // Ids per shard, in time order as a server numbers them.
        let mut entries: Vec<(SlowEntry, u32)> = Vec::new();
        let mut sorted = raw.clone();
        sorted.sort_by_key(|r| r.1);
        for (i, (shard, time, delay, addr, command, micros)) in sorted.into_iter().enumerate() {
            entries.push((SlowEntry {
                id: i as i64,
                time: at(time),
                duration: Duration::from_micros(micros),
                shard: format!("group-{shard}"),
                role: "master".into(),
                client_addr: format!("10.0.0.{addr}"),
                command: ["get", "keys", "sort", "hgetall", "other", "scan"][command].into(),
            }, time + delay));
        }
        let mut cursor = SlowLogCursor::new(lookback);
        let mut slow = SlowCommands::default();
        let mut first_seen: HashMap<i64, usize> = HashMap::new();
        let mut now = 0u32;
        for (poll, gap) in gaps.iter().enumerate() {
            now += gap;
            // What the log shows at `now`: published, and within the window.
            let (floor, _) = cursor.window(at(now));
            let shown: Vec<SlowEntry> = entries
                .iter()
                .filter(|(e, published)| *published <= now && e.time >= floor)
                .map(|(e, _)| e.clone())
                .collect();
            for e in &shown {
                first_seen.entry(e.id).or_insert(poll);
            }
            let new = cursor.take_new(shown, at(now)).new;
            slow.record(&new, &caps);
        }
        let counted: Vec<&SlowEntry> = entries
            .iter()
            .map(|(e, _)| e)
            .filter(|e| first_seen.get(&e.id).is_some_and(|p| *p >= 1))
            .collect();
        prop_assert_eq!(slow.total(), counted.len() as u64);
        prop_assert_eq!(slow.counts.values().sum::<u64>(), counted.len() as u64);
        let addrs: HashSet<&str> = slow.counts.keys().map(|(_, a, _)| a.as_str()).filter(|a| *a != OTHER).collect();
        let commands: HashSet<&str> = slow.counts.keys().map(|(_, _, c)| c.as_str()).filter(|c| *c != OTHER).collect();
        prop_assert!(addrs.len() <= max_addrs && commands.len() <= max_commands);
        // At most the cap, one other/other a shard past it, and other/other/other.
        prop_assert!(slow.counts.len() <= max_series + 4, "{} series", slow.counts.len());
        let capped = slow.counts.len() >= max_series;
        for addr in addrs.into_iter().filter(|_| !capped) {
            let truth = counted.iter().filter(|e| e.client_addr == addr).count() as u64;
            let got: u64 = slow.counts.iter().filter(|((_, a, _), _)| a == addr).map(|(_, n)| n).sum();
            prop_assert_eq!(got, truth, "{} keeps all its entries", addr);
        }
        let micros: u64 = counted.iter().map(|e| e.duration.as_micros() as u64).sum();
        prop_assert!((slow.duration.sum - micros as f64 / 1e6).abs() < 1e-6);
    }

    /// Top lists: largest first, at most `top_clients`, led by the largest value, each label set
    /// once; output memory only of sessions that have some.
    #[test]
    fn aggregate_top_lists(v in sessions(), s in settings()) {
        let a = aggregate(Arc::clone(&s), &v);
        let idle: Vec<i64> = v.iter().filter_map(|c| c.idle).collect();
        let omem: Vec<i64> = v.iter().filter_map(|c| c.omem.filter(|&m| m > 0)).collect();
        prop_assert!(a.top_output_memory.iter().all(|t| t.value > 0));
        for (list, all) in [(&a.top_idle, idle), (&a.top_output_memory, omem)] {
            prop_assert!(list.len() <= s.top_clients);
            prop_assert!(list.windows(2).all(|w| w[0].value >= w[1].value), "sorted");
            prop_assert!(list.iter().all(|t| all.contains(&t.value)));
            if s.top_clients > 0 {
                prop_assert_eq!(list.first().map(|t| t.value), all.iter().copied().max());
            }
            let mut seen = HashSet::new();
            for t in list {
                let labels = (&t.client_addr, &t.client_name, &t.user, &t.db, &t.cmd);
                prop_assert!(seen.insert(labels), "label set repeated: {:?}", labels);
            }
        }
    }

    /// Aggregating the sessions in another order gives the same counts and histograms.
    #[test]
    fn aggregate_ignores_order(v in sessions(), keys in vec(any::<u16>(), 80), s in settings()) {
        let shuffled = aggregate(Arc::clone(&s), &permute(&v, &keys));
        prop_assert_eq!(without_tops(shuffled), without_tops(aggregate(s, &v)));
    }

    /// ... and the same top lists: an equal `NodeAggregate`.
    #[test]
    fn top_lists_ignore_order(v in sessions(), keys in vec(any::<u16>(), 80), s in settings()) {
        let shuffled = aggregate(Arc::clone(&s), &permute(&v, &keys));
        prop_assert_eq!(shuffled, aggregate(s, &v));
    }

    /// Page by page, and again after a restart, as the whole list at once.
    #[test]
    fn pages_aggregate_as_a_whole(v in sessions(), s in settings(), size in 1usize..40) {
        let whole = aggregate(Arc::clone(&s), &v);
        prop_assert_eq!(in_pages(&s, &v, size).finish(), whole.clone());
        let mut a = in_pages(&s, &v[..v.len() / 2], size);
        a.restart();
        accept_pages(&mut a, &v, size);
        prop_assert_eq!(a.finish(), whole);
    }

    /// Header order and the case of header names do not change the signature.
    #[test]
    fn signature_ignores_header_order_and_case(
        r in request(), keys in vec(any::<u16>(), 8), case in any::<u64>(),
    ) {
        let flip = |(i, ch): (usize, char)| match case >> (i % 64) & 1 {
            1 => ch.to_ascii_uppercase(),
            _ => ch.to_ascii_lowercase(),
        };
        let recased: Vec<(String, String)> = (permute(&r.headers, &keys).into_iter())
            .map(|(n, v)| (n.chars().enumerate().map(flip).collect(), v))
            .collect();
        let sig = sign(&r.with(&r.headers), "AK", "SK");
        let other = sign(&r.with(&recased), "AK", "SK");
        prop_assert_eq!(&other.signature, &sig.signature);
        prop_assert_eq!(&other.signed_headers, &sig.signed_headers);
        let all: Vec<_> = r.headers.iter().chain(&sig.added_headers).cloned().collect();
        let canonical = canonical_request(&r.with(&all), &signed_header_names(&all));
        prop_assert_eq!(canonical, sig.canonical_request);
    }

    /// `verify` accepts what `sign` produced (with its added headers) and rejects it once a query
    /// value, the body or a signed header value changes.
    #[test]
    fn verify_accepts_signed_and_rejects_tampered(r in request(), which in any::<Index>()) {
        let sig = sign(&r.with(&r.headers), "AK", "SK");
        let headers: Vec<_> = r.headers.iter().chain(&sig.added_headers).cloned().collect();
        let now = parse_sdk_date(&r.headers[1].1).expect("a valid date");
        let skew = Duration::from_secs(900);
        let check = |r: &Request, headers: &[(String, String)]| {
            verify(&r.with(headers), &sig.authorization, "AK", "SK", now, skew)
        };
        prop_assert_eq!(check(&r, &headers), Ok(()));
        let mut t = r.clone();
        match t.query.get_mut(which.index(r.query.len().max(1))) {
            Some((_, value)) => value.push('x'),
            None => t.query.push(("k".into(), String::new())),
        }
        prop_assert!(check(&t, &headers).is_err(), "query changed");
        // A body that is neither JSON nor BSON is not signed (UNSIGNED-PAYLOAD), by design.
        if sig.added_headers.is_empty() {
            let mut t = r.clone();
            t.body.push(b'x');
            prop_assert!(check(&t, &headers).is_err(), "body changed");
        }
        // Names with `_` are not signed.
        let signed: Vec<usize> =
            (0..headers.len()).filter(|&i| !headers[i].0.contains('_')).collect();
        let mut changed = headers.clone();
        changed[signed[which.index(signed.len())]].1.insert(0, 'x');
        prop_assert!(check(&r, &changed).is_err(), "signed header changed: {:?}", changed);
    }
}

// ----- Parsers of untrusted input: 512 cases each (they are cheap) ----------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512, failure_persistence: None, ..ProptestConfig::default()
    })]

    /// The decoders and the error-body parser take any bytes and any JSON without panicking.
    #[test]
    fn decoders_never_panic(bytes in vec(any::<u8>(), 0..256), value in object(json())) {
        decode_everything(&bytes);
        decode_everything(&serde_json::to_vec(&value).unwrap());
    }

    /// A field of the wrong type is absent, not a failed list: any objects make a list.
    #[test]
    fn lenient_lists_decode(items in vec(object(json()), 0..5), x in json()) {
        let page = json!({"time": x, "clients": items, "count": x});
        prop_assert_eq!(serde_json::from_value::<ClientPage>(page)?.clients.len(), items.len());
        let jobs = json!({"jobs": items});
        prop_assert_eq!(serde_json::from_value::<AuditJobs>(jobs)?.jobs.len(), items.len());
        let page = json!({"instances": items, "instance_num": x});
        prop_assert_eq!(serde_json::from_value::<InstancePage>(page)?.instances.len(), items.len());
    }

    /// The same for the node list.
    #[test]
    fn lenient_nodes_decode(items in vec(object(json()), 0..5)) {
        let nodes: LogicalNodes = serde_json::from_value(json!({"nodes": items}))?;
        prop_assert_eq!(nodes.nodes.len(), items.len());
    }

    /// Well-typed pages decode to what was encoded.
    #[test]
    fn client_pages_round_trip(
        clients in sessions(), time in of("\\PC{0,24}"), count in any::<Option<i64>>(),
    ) {
        let page = ClientPage { time, clients, count };
        let decoded: ClientPage = serde_json::from_slice(&serde_json::to_vec(&page).unwrap())?;
        prop_assert_eq!(decoded, page);
    }

    /// The one-pass page reader gives what the serde decoder gives, or leaves the page to it:
    /// on any JSON (compact or pretty) and any bytes.
    #[test]
    fn page_reader_agrees_with_serde(
        items in vec(object(json()), 0..5), x in json(), bytes in vec(any::<u8>(), 0..256),
    ) {
        let page = json!({"time": x, "clients": items, "count": x});
        for body in [
            serde_json::to_vec(&page).unwrap(),
            serde_json::to_vec_pretty(&page).unwrap(),
            bytes.clone(),
        ] {
            if let Some(fast) = read_page(&body) {
                let slow: ClientPageRef = serde_json::from_slice(&body)?;
                prop_assert_eq!(fast.time, slow.time);
                prop_assert_eq!(fast.count, slow.count);
                prop_assert_eq!(fast.clients, slow.clients);
            }
            // Where the reader gives up, what it handed over is what serde reads first.
            let mut handed = Vec::new();
            if let Err(n) = read_page_with(&body, &mut |c| handed.push(c.clone())) {
                prop_assert_eq!(n, handed.len());
                if let Ok(slow) = serde_json::from_slice::<ClientPageRef>(&body) {
                    prop_assert!(n <= slow.clients.len());
                    prop_assert_eq!(&handed[..], &slow.clients[..n]);
                }
            }
        }
    }

    /// ... and it reads every well-typed page itself, without the serde decoder.
    #[test]
    fn page_reader_reads_pages(
        clients in sessions(), time in of("\\PC{0,24}"), count in any::<Option<i64>>(),
    ) {
        let page = ClientPage { time, clients, count };
        let body = serde_json::to_vec(&page).unwrap();
        let read = read_page(&body).expect("a well-typed page is read in one pass");
        let read = ClientPage {
            time: read.time.map(|t| t.into_owned()),
            clients: read.clients.into_iter().map(ClientRef::into_owned).collect(),
            count: read.count,
        };
        prop_assert_eq!(read, page);
    }

    /// `CLIENT LIST` text: any string parses; well-formed lines give a session each, with their
    /// fields (a number that does not parse is absent).
    #[test]
    fn client_list_parses(
        junk in "\\PC{0,200}",
        lines in vec(btree_map(
            select(words("id addr laddr fd name age idle flags db psub qbuf qbuf-free omem cmd")),
            prop_oneof![any::<i64>().prop_map(|n| n.to_string()), "[a-z0-9.:/=\\[\\]_-]{0,10}"],
            1..8,
        ), 0..10),
        crlf in any::<bool>(),
    ) {
        let _ = parse_client_list(&junk);
        let line = |l: &BTreeMap<&str, String>| {
            l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        };
        let text: Vec<String> = lines.iter().map(line).collect();
        let parsed = parse_client_list(&text.join(if crlf { "\r\n" } else { "\n" }));
        prop_assert_eq!(parsed.len(), lines.len());
        for (c, l) in parsed.iter().zip(&lines) {
            let text = |k: &str| l.get(k).cloned();
            let int = |k: &str| l.get(k).and_then(|v| v.parse::<i64>().ok());
            prop_assert_eq!((&c.id, &c.addr, &c.peer), (&text("id"), &text("addr"), &text("addr")));
            prop_assert_eq!((&c.db, c.idle, c.omem), (&text("db"), int("idle"), int("omem")));
            prop_assert_eq!(c.qbuf_free, int("qbuf-free"));
        }
    }

    /// Any text as a configuration: a result, never a panic.
    #[test]
    fn config_takes_any_text(text in "\\PC{0,300}") {
        let _ = Config::from_toml(&text);
    }

    /// A few values of a valid configuration replaced by random text: a result, never a panic.
    #[test]
    fn config_takes_any_value(changes in vec(config_change(), 1..4)) {
        prop_assert!(Config::from_toml(CONFIG).is_ok());
        let mut lines: Vec<String> = CONFIG.lines().map(String::from).collect();
        for (at, value) in changes {
            let key = lines[at].split_once(" = ").map(|(k, _)| k.to_string()).unwrap_or_default();
            lines[at] = format!("{key} = {value}");
        }
        let _ = Config::from_toml(&lines.join("\n"));
    }

    /// The signer's parsers take any text; dates and Authorization headers round-trip.
    #[test]
    fn signer_parsers(
        text in "\\PC{0,64}", digits in "[0-9]{8}T[0-9]{6}Z", secs in 0u64..253_402_300_800,
        ak in "[A-Za-z0-9]{1,20}", names in vec("[a-z-]{1,8}", 1..5), sig in "[0-9a-f]{64}",
    ) {
        let _ = (parse_authorization(&text), parse_sdk_date(&text), parse_sdk_date(&digits));
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        prop_assert_eq!(parse_sdk_date(&sdk_date(t)), Some(t));
        let signed = names.join(";");
        let header = format!("{ALGORITHM} Access={ak}, SignedHeaders={signed}, Signature={sig}");
        let auth = parse_authorization(&header).expect("a well-formed header parses");
        prop_assert_eq!((auth.access_key, auth.signature), (ak.as_str(), sig.as_str()));
        prop_assert_eq!(auth.signed_headers, names.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// The order of the query pairs does not matter, and every pair is in the string.
    #[test]
    fn canonical_query_ignores_order(
        q in vec((prop_oneof![select(words("a b A é")).prop_map(String::from), "\\PC{0,5}"],
                  "\\PC{0,5}"), 0..8),
        keys in vec(any::<u16>(), 8),
    ) {
        let canonical = canonical_query_string(&q);
        prop_assert_eq!(&canonical_query_string(&permute(&q, &keys)), &canonical);
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let mut pairs: Vec<(String, String)> = (canonical.split('&'))
            .filter(|_| !canonical.is_empty())
            .map(|p| p.split_once('=').map(|(k, v)| (decode(k), decode(v))).unwrap_or_default())
            .collect();
        let mut want = q.clone();
        pairs.sort();
        want.sort();
        prop_assert_eq!(pairs, want);
    }
}

// ----- The exposition writers -------------------------------------------------------------------

/// A label value: mostly short text, sometimes what needs escaping or passes the cap.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9-]{0,12}",
        2 => "[a-z\"\\\\\n λ]{0,8}",
        1 => "\\PC{0,300}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The exporter's writers and prometheus-client's encoders give the same bytes for any
    /// snapshot of nodes, in every format and histogram mode.
    #[test]
    fn the_writers_match_prometheus_clients_encoders(
        nodes in vec(((label_value(), label_value(), label_value()), sessions()), 0..4),
        s in settings(),
        mode in select(vec![HistogramMode::Both, HistogramMode::Native, HistogramMode::Classic]),
        offset in prop_oneof![Just(0.0), -1e9f64..1e9, Just(f64::NAN)],
    ) {
        let store = Arc::new(Store::new());
        store.update(|snap| {
            for ((instance_id, node_id, name), sessions) in &nodes {
                let state = NodeState {
                    info: NodeInfo {
                        instance_name: name.clone(),
                        node_name: name.clone(),
                        max_clients: Some(10_000),
                        ..Default::default()
                    },
                    last_attempt: Some(Attempt {
                        finished: fixed_now(),
                        duration: Duration::from_millis(1234),
                        failure: None,
                    }),
                    data: Some(Arc::new(NodeData {
                        aggregate: aggregate(Arc::clone(&s), sessions),
                        data_time: Some(fixed_now()),
                        scanned: fixed_now(),
                    })),
                    ..Default::default()
                };
                let key = NodeKey { instance_id: instance_id.as_str().into(), node_id: node_id.as_str().into() };
                snap.nodes.insert(key, Arc::new(state));
            }
            snap.clock_offsets.insert("cloud".into(), offset);
            Arc::make_mut(&mut snap.exposition).histograms = mode;
        });
        let targets = || SnapshotCollector::new(Arc::clone(&store), Duration::from_secs(180))
            .with_clock(fixed_now);
        let empty = prometheus_client::registry::Registry::default();
        let mut reference = prometheus_client::registry::Registry::default();
        reference.register_collector(Box::new(targets()));
        for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
            let ours = format.encode(&targets(), &empty).unwrap();
            let theirs = match format {
                Format::Protobuf => {
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&reference).unwrap()
                }
                Format::OpenMetrics => {
                    let mut text = String::new();
                    prometheus_client::encoding::text::encode(&mut text, &reference).unwrap();
                    text.into_bytes()
                }
                Format::Text => {
                    let mut text = String::new();
                    prometheus_client::encoding::prometheus_text::encode(&mut text, &reference).unwrap();
                    text.into_bytes()
                }
            };
            prop_assert!(ours == theirs, "{:?}: {} bytes against {}", format, ours.len(), theirs.len());
        }
    }
}
