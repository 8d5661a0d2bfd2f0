//! A DCS slow log that misbehaves: durations out of range, pages past any budget, a
//! `total_num` that lies, entries dated past the service's clock; and a poller that panics.
//! Each through the real binary, against the simulator whose slow-log call is answered by the
//! test (on loopback), with bounded waits.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::IntoResponse;
use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::{SimConfig, Simulator};
use parking_lot::Mutex;

use crate::common::harness::{self, Sample, scrape, wait_for};
use crate::common::process::{Dir, Exporter, run};

const AK: &str = "AKUPSTREAMSLOWLOG";
const SK: &str = "SKupstreamslowlog0000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];
const EVERY_SECOND: &str = "scan_interval = \"1s\"";

/// A slow-log call as the fake received it.
#[derive(Clone, Debug)]
struct Query {
    instance_id: String,
    offset: usize,
    /// The window's end, milliseconds since the epoch: the service's now.
    end_ms: u64,
}

impl Query {
    fn end(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.end_ms)
    }
}

type Answer = Arc<dyn Fn(&Query) -> String + Send + Sync>;

/// The simulator, its slow-log call answered by `answer`; every such call is kept.
struct FakeDcs {
    sim: Arc<Simulator>,
    url: String,
    calls: Arc<Mutex<Vec<Query>>>,
}

impl FakeDcs {
    async fn start(answer: Answer) -> Self {
        let sim = Simulator::new(SimConfig::new(
            Credentials::new(AK, SK),
            harness::quick_topology(),
        ));
        let calls: Arc<Mutex<Vec<Query>>> = Arc::default();
        let kept = Arc::clone(&calls);
        let app = sim.router().layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let (answer, kept) = (Arc::clone(&answer), Arc::clone(&kept));
                async move {
                    match slowlog_query(&req) {
                        Some(query) => {
                            kept.lock().push(query.clone());
                            let body = answer(&query);
                            ([("content-type", "application/json")], body).into_response()
                        }
                        None => next.run(req).await,
                    }
                }
            },
        ));
        let url = harness::serve(app).await;
        Self { sim, url, calls }
    }

    fn instance_ids(&self) -> Vec<String> {
        self.sim.with_state(|s| s.instance_ids())
    }

    /// The calls for `instance_id`, and of them the reads (the first page of a window).
    fn calls_of(&self, instance_id: &str) -> (usize, usize) {
        let calls = self.calls.lock();
        let mine = calls.iter().filter(|q| q.instance_id == instance_id);
        let reads = mine.clone().filter(|q| q.offset == 0).count();
        (mine.count(), reads)
    }

    /// The exporter on this fake, with `settings` in its `[exporter]` (the scan interval at
    /// least); `log_level` as `--log.level` takes it.
    fn exporter(
        &self,
        dir: &Dir,
        settings: &str,
        log_level: &str,
        env: &[(&str, &str)],
    ) -> Exporter {
        let file = dir.write(
            "exporter.toml",
            &format!(
                "[exporter]\nfirst_scan_spread = \"0s\"\n{settings}\n{}[cloud.discovery]\n",
                harness::cloud_toml("sim", "p", &self.url)
            ),
        );
        let env: Vec<(&str, &str)> = ENV.iter().chain(env).copied().collect();
        Exporter::start(
            &["--config", file.to_str().unwrap(), "--log.level", log_level],
            &env,
        )
    }
}

/// `/v2/{project}/instances/{id}/slowlog?...`, read.
fn slowlog_query(req: &Request) -> Option<Query> {
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    let ["v2", _, "instances", instance_id, "slowlog"] = segments[..] else {
        return None;
    };
    let param = |name: &str| {
        req.uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == name).then(|| value.parse::<u64>().ok()).flatten()
            })
    };
    Some(Query {
        instance_id: instance_id.to_string(),
        offset: usize::try_from(param("offset")?).ok()?,
        end_ms: param("end_time")?,
    })
}

/// An entry as the API writes it.
fn entry(id: u64, at: SystemTime, duration: &str, command: &str) -> String {
    serde_json::json!({
        "id": id,
        "command": command,
        "start_time": humantime::format_rfc3339_seconds(at).to_string(),
        "duration": duration,
        "shard_name": "group-0",
        "node_role": "master",
        "client_ip": "10.0.0.9:5000",
    })
    .to_string()
}

fn page(total: u64, entries: &[String]) -> String {
    format!(
        r#"{{"total_num":{total},"count":{},"slowlogs":[{}]}}"#,
        entries.len(),
        entries.join(",")
    )
}

fn empty_page() -> String {
    page(0, &[])
}

/// A number of the window's poll: entries made from it are new at each poll.
fn poll_id(q: &Query) -> u64 {
    q.end_ms / 1000 * 10_000
}

fn sum(samples: &[Sample], name: &str, instance_id: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && s.label("instance_id") == instance_id)
        .filter(|s| labels.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
        .sum()
}

fn context_errors(samples: &[Sample], instance_id: &str, reason: &str) -> f64 {
    sum(
        samples,
        "dcs_exporter_instance_context_errors_total",
        instance_id,
        &[("operation", "list_slowlog"), ("reason", reason)],
    )
}

fn lines_with(exporter: &Exporter, text: &str) -> Vec<String> {
    exporter
        .log()
        .into_iter()
        .filter(|l| l.contains(text))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_log_duration_of_1e300_is_counted_invalid_and_the_poller_lives_on() {
    let fake = FakeDcs::start(Arc::new(|q: &Query| {
        let at = q.end() - Duration::from_secs(1);
        let id = poll_id(q);
        page(
            3,
            &[
                entry(id, at, "12", "KEYS *"),
                entry(id + 1, at, "1e300", "SORT jobs"),
                entry(id + 2, at, "30", "HGETALL user:1"),
            ],
        )
    }))
    .await;
    let dir = Dir::new("slowlog-1e300");
    let exporter = fake.exporter(&dir, EVERY_SECOND, "warn", &[]);
    let ids = fake.instance_ids();
    // The first read only learns the log; each later one counts its two good entries.
    let samples = wait_for(
        Duration::from_secs(40),
        "three reads counted on each instance",
        || async {
            let samples = scrape(&exporter.base).await;
            ids.iter()
                .all(|id| {
                    sum(&samples, "dcs_slow_commands_total", id, &[]) >= 6.0
                        && context_errors(&samples, id, "invalid_value") >= 4.0
                })
                .then_some(samples)
        },
    )
    .await;
    for id in &ids {
        let counted = |command| {
            sum(
                &samples,
                "dcs_slow_commands_total",
                id,
                &[("command", command)],
            )
        };
        assert!(counted("keys") >= 3.0 && counted("hgetall") >= 3.0, "{id}");
        assert_eq!(
            counted("sort"),
            0.0,
            "{id}: the entry out of range is left out"
        );
    }
    let panics: f64 = samples
        .iter()
        .filter(|s| s.name == "dcs_exporter_task_panics_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(panics, 0.0);
    assert!(
        lines_with(&exporter, "panicked").is_empty(),
        "{:#?}",
        exporter.log()
    );
}

/// Full pages of 1,000 entries of 15 KB each (15 MB a page) for ever, each page new, for the
/// instance `victim` names: one read would keep 1.5 GB without a budget.
fn huge_pages(victim: Arc<OnceLock<String>>) -> Answer {
    // Written once, the id spliced in: a page is 15 MB of copying, not of JSON escaping.
    let (head, tail) = entry(
        0,
        SystemTime::UNIX_EPOCH,
        "12",
        &format!("SET k {}", "v".repeat(15_000)),
    )
    .split_once(r#""id":0"#)
    .map(|(h, t)| (h.to_string(), t.to_string()))
    .unwrap();
    Arc::new(move |q: &Query| {
        if victim.get() != Some(&q.instance_id) {
            return empty_page();
        }
        let at = humantime::format_rfc3339_seconds(q.end() - Duration::from_secs(1)).to_string();
        let tail = tail.replace("1970-01-01T00:00:00Z", &at);
        let first = poll_id(q) * 1_000 + q.offset as u64;
        let mut body = String::with_capacity(1000 * (head.len() + tail.len() + 32) + 64);
        body.push_str(r#"{"total_num":100000,"slowlogs":["#);
        for i in 0..1000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&head);
            body.push_str(&format!(r#""id":{}"#, first + i));
            body.push_str(&tail);
        }
        body.push_str("]}");
        body
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_log_read_past_its_byte_budget_is_dropped_counted_and_memory_stays_bounded() {
    let chosen: Arc<OnceLock<String>> = Arc::default();
    let fake = FakeDcs::start(huge_pages(Arc::clone(&chosen))).await;
    let ids = fake.instance_ids();
    let victim = chosen.get_or_init(|| ids[0].clone()).clone();
    let dir = Dir::new("slowlog-budget");
    let exporter = fake.exporter(
        &dir,
        "scan_interval = \"5s\"\nscan_timeout = \"5s\"",
        "warn",
        &[],
    );
    let mut peak_kib = 0;
    let samples = wait_for(
        Duration::from_secs(90),
        "three reads dropped as reply_too_large",
        || {
            peak_kib = peak_kib.max(exporter.status_number("VmRSS"));
            // Past this, the reads keep what they should have dropped.
            assert!(peak_kib < 200 << 10, "RSS {} MiB", peak_kib >> 10);
            async {
                let samples = scrape(&exporter.base).await;
                (context_errors(&samples, &victim, "reply_too_large") >= 3.0).then_some(samples)
            }
        },
    )
    .await;
    let (calls, reads) = fake.calls_of(&victim);
    eprintln!(
        "budget: peak RSS {} MiB, {calls} calls in {reads} reads",
        peak_kib >> 10
    );
    // 15 MB pages against a 32 MiB budget: the third page ends each read.
    assert!(calls <= 3 * reads, "{calls} calls in {reads} reads");
    assert_eq!(sum(&samples, "dcs_slow_commands_total", &victim, &[]), 0.0);
    assert_eq!(
        lines_with(&exporter, "max_slow_log_read_bytes").len(),
        1,
        "logged once while it persists: {:#?}",
        exporter.log()
    );
    // The other instance's reads are whole.
    assert_eq!(context_errors(&samples, &ids[1], "reply_too_large"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_log_whose_total_lies_costs_a_call_or_two_a_read_and_one_warning() {
    let short: Arc<OnceLock<String>> = Arc::default();
    let chosen = Arc::clone(&short);
    let fake = FakeDcs::start(Arc::new(move |q: &Query| {
        let at = q.end() - Duration::from_secs(1);
        // Whatever the offset: the same entries, and a count that says a million.
        let n = if chosen.get() == Some(&q.instance_id) {
            10
        } else {
            1000
        };
        let entries: Vec<String> = (0..n)
            .map(|i| entry(poll_id(q) + i, at, "12", "GET k"))
            .collect();
        page(1_000_000, &entries)
    }))
    .await;
    let ids = fake.instance_ids();
    short.get_or_init(|| ids[0].clone());
    let repeated = ids[1].clone();
    let dir = Dir::new("slowlog-total");
    let exporter = fake.exporter(&dir, EVERY_SECOND, "warn", &[]);
    wait_for(Duration::from_secs(40), "five reads of each", || async {
        ids.iter().all(|id| fake.calls_of(id).1 >= 5).then_some(())
    })
    .await;
    let (short_calls, short_reads) = fake.calls_of(&ids[0]);
    let (repeated_calls, repeated_reads) = fake.calls_of(&repeated);
    eprintln!(
        "lying total: {short_calls} calls in {short_reads} reads (short pages), \
         {repeated_calls} in {repeated_reads} (repeated full pages)"
    );
    // A short page is the last; a page that repeats the one before ends the read. One read
    // may be under way as the calls are counted.
    assert!(
        short_calls <= short_reads + 1,
        "{short_calls} in {short_reads}"
    );
    assert!(
        repeated_calls <= 2 * repeated_reads + 1,
        "{repeated_calls} in {repeated_reads}"
    );
    let samples = scrape(&exporter.base).await;
    for id in &ids {
        assert!(
            sum(&samples, "dcs_slow_commands_total", id, &[]) > 0.0,
            "{id}"
        );
    }
    // Said once an instance, not at every poll.
    let warned = lines_with(&exporter, "announced more entries");
    assert_eq!(warned.len(), 2, "{:#?}", exporter.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_log_entries_dated_past_the_service_clock_are_refused_and_not_remembered() {
    let fake = FakeDcs::start(Arc::new(|q: &Query| {
        let now = q.end();
        let id = poll_id(q);
        let year_9000 = SystemTime::UNIX_EPOCH + Duration::from_secs(221_845_392_000);
        let mut entries = vec![
            entry(id, now - Duration::from_secs(1), "12", "GET k"),
            entry(id + 1, now + Duration::from_secs(3_600), "12", "KEYS *"),
        ];
        entries.extend((0..500).map(|i| entry(id + 2 + i, year_9000, "12", "SORT jobs")));
        page(entries.len() as u64, &entries)
    }))
    .await;
    let dir = Dir::new("slowlog-ahead");
    let exporter = fake.exporter(
        &dir,
        EVERY_SECOND,
        "warn,dcs_session_exporter::collect::slowlog=debug",
        &[],
    );
    let ids = fake.instance_ids();
    let samples = wait_for(
        Duration::from_secs(40),
        "five reads of each instance",
        || async {
            let samples = scrape(&exporter.base).await;
            ids.iter()
                .all(|id| {
                    context_errors(&samples, id, "invalid_value") >= 5.0
                        && sum(&samples, "dcs_slow_commands_total", id, &[]) >= 4.0
                })
                .then_some(samples)
        },
    )
    .await;
    for id in &ids {
        let counted = |command| {
            sum(
                &samples,
                "dcs_slow_commands_total",
                id,
                &[("command", command)],
            )
        };
        assert!(counted("get") >= 4.0, "{id}");
        assert_eq!(
            (counted("keys"), counted("sort")),
            (0.0, 0.0),
            "{id}: entries dated ahead"
        );
    }
    // What a poller remembers is the window's entries: one a read here, not 502.
    let remembered: Vec<u64> = lines_with(&exporter, "msg=\"slow log read\"")
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|pair| pair.strip_prefix("remembered="))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    assert!(remembered.len() >= 10, "{:#?}", exporter.log());
    assert!(remembered.iter().all(|&n| n < 100), "{remembered:?}");
    let warned = lines_with(&exporter, "dated past the log's clock");
    assert_eq!(warned.len(), 2, "once an instance: {:#?}", exporter.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_poller_is_logged_counted_and_started_again() {
    let fake = FakeDcs::start(Arc::new(|q: &Query| {
        let at = q.end() - Duration::from_secs(1);
        page(1, &[entry(poll_id(q), at, "12", "GET k")])
    }))
    .await;
    let dir = Dir::new("slowlog-panic");
    // Debug builds only: the first two slow-log pollers to start panic as they start.
    let exporter = fake.exporter(
        &dir,
        EVERY_SECOND,
        "warn",
        &[("DCS_EXPORTER_DEBUG_PANIC", "slow_log:2")],
    );
    let ids = fake.instance_ids();
    let samples = wait_for(
        Duration::from_secs(40),
        "every instance's slow log counted after the panics",
        || async {
            let samples = scrape(&exporter.base).await;
            ids.iter()
                .all(|id| sum(&samples, "dcs_slow_commands_total", id, &[]) >= 2.0)
                .then_some(samples)
        },
    )
    .await;
    let panics = |task: &str| {
        samples
            .iter()
            .find(|s| s.name == "dcs_exporter_task_panics_total" && s.label("task") == task)
            .map(|s| s.value)
    };
    assert_eq!(panics("slow_log"), Some(2.0));
    for task in ["scan", "discovery", "dbss", "credentials"] {
        assert_eq!(panics(task), Some(0.0), "{task}");
    }
    let log = exporter.log();
    let logged: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("a task panicked"))
        .collect();
    assert_eq!(logged.len(), 2, "{log:#?}");
    for line in logged {
        assert!(line.starts_with("ts="), "{line}");
        assert!(line.contains("level=error"), "{line}");
        assert!(line.contains("task=slow_log"), "{line}");
        assert!(line.contains("restart_in_ms="), "{line}");
        assert!(
            ids.iter()
                .any(|id| line.contains(&format!("instance_id={id}"))),
            "{line}"
        );
    }
    // Every line of the log is the log's own: no backtrace, no "thread ... panicked at".
    assert!(log.iter().all(|l| l.starts_with("ts=")), "{log:#?}");
}

#[test]
fn check_config_refuses_a_slow_log_budget_out_of_range() {
    let dir = Dir::new("slowlog-budget-config");
    let config = |budget: &str| {
        format!(
            "[[cloud]]\nname = \"c\"\nregion = \"cn-north-4\"\nproject_id = \"p\"\n\
             max_slow_log_read_bytes = {budget}\n[[cloud.dcs_instance]]\nid = \"i\"\n"
        )
    };
    for budget in ["0", "1000", "2147483648", "-1", "\"32MiB\""] {
        let file = dir.write("invalid.toml", &config(budget));
        let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
        assert_eq!(code, Some(2), "{budget}: {err}");
        assert!(err.contains("max_slow_log_read_bytes"), "{budget}: {err}");
    }
    let file = dir.write("invalid.toml", &config("0"));
    let (_, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
    assert!(
        err.contains("between 1048576 (1 MiB) and 1073741824 (1 GiB)"),
        "{err}"
    );
    for budget in ["1048576", "33554432", "1073741824"] {
        let file = dir.write("valid.toml", &config(budget));
        let (code, out, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
        assert_eq!(code, Some(0), "{budget}: {out}{err}");
    }
}
