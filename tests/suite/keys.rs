//! What the sessions touch: DCS's big-key, hot-key and offline key analyses and the instances'
//! statistics, read from the simulator by the real binary, named and bounded as configured.

use crate::common::{harness, process};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::SimConfig;
use harness::{Sample, scrape, wait_for};
use process::{Dir, Exporter};

const AK: &str = "AKKEYANALYSES";
const SK: &str = "SKkeyanalyses0000000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];

const QUICK: &str =
    "[exporter]\nscan_interval = \"5s\"\ndiscovery_interval = \"5s\"\nfirst_scan_spread = \"0s\"\n";

/// An exporter of every instance of a simulator, with `keys` added to its `[[cloud]]`.
async fn start(
    dir: &Dir,
    keys: &str,
) -> (
    Exporter,
    std::sync::Arc<dcs_session_exporter::sim::Simulator>,
) {
    let (sim, url) = harness::serve_sim(SimConfig::new(
        Credentials::new(AK, SK),
        harness::quick_topology(),
    ))
    .await;
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}{keys}\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", &url)
        ),
    );
    (
        Exporter::start(&["--config", file.to_str().unwrap()], &ENV),
        sim,
    )
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).map_or("", String::as_str)
}

/// Waits until every instance shows its big-key and prefix analyses.
async fn analysed(exporter: &Exporter) -> Vec<Sample> {
    wait_for(
        Duration::from_secs(60),
        "the analyses on /metrics",
        || async {
            let samples = scrape(&exporter.base).await;
            let kinds: BTreeSet<_> = samples
                .iter()
                .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
                .map(|s| label(s, "analysis").to_string())
                .collect();
            let memory = samples
                .iter()
                .any(|s| s.name == "dcs_instance_memory_max_bytes");
            (kinds.contains("big") && kinds.contains("prefix") && memory).then_some(samples)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_analyses_become_bounded_series() {
    let dir = Dir::new("keys-full");
    let (exporter, _sim) = start(&dir, "max_key_series = 5\nmax_key_prefixes = 3\n").await;
    let samples = analysed(&exporter).await;
    let of = |name: &'static str| samples.iter().filter(move |s| s.name == name);
    // At most 5 keys a measure an instance, the largest first in the simulator's data.
    let mut per_instance: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for name in [
        "dcs_big_key_bytes",
        "dcs_big_key_elements",
        "dcs_hot_key_frequency",
    ] {
        for s in of(name) {
            *per_instance
                .entry((name, label(s, "instance_id")))
                .or_default() += 1;
            assert!(!label(s, "key").is_empty(), "{s:?}");
            assert!(label(s, "key").chars().count() <= 128, "{s:?}");
        }
    }
    assert!(
        per_instance.keys().any(|(n, _)| *n == "dcs_big_key_bytes"),
        "no big string key: {per_instance:?}"
    );
    assert!(
        per_instance.values().all(|&n| (1..=5).contains(&n)),
        "{per_instance:?}"
    );
    for s in of("dcs_big_key_elements") {
        assert!(["list", "set", "zset", "hash", "stream", "other"].contains(&label(s, "type")));
    }
    for s in of("dcs_hot_key_frequency") {
        assert!((0.0..=255.0).contains(&s.value), "{s:?}");
    }
    // Three prefixes an instance and a type, the rest folded into `other`.
    let mut prefixes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in of("dcs_key_prefix_bytes") {
        prefixes
            .entry(label(s, "instance_id"))
            .or_default()
            .insert(label(s, "prefix"));
    }
    assert!(!prefixes.is_empty());
    for (instance, names) in &prefixes {
        let own = names.iter().filter(|p| **p != "other").count();
        assert!(own <= 3, "{instance}: {names:?}");
    }
    // Memory against its limit, from the statistics.
    for s in of("dcs_instance_memory_used_bytes") {
        let max = of("dcs_instance_memory_max_bytes")
            .find(|m| label(m, "instance_id") == label(s, "instance_id"))
            .map(|m| m.value);
        assert!(
            max.is_some_and(|max| max > 0.0 && s.value <= max),
            "{s:?} {max:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_names_are_sixteen_hex_digits() {
    let dir = Dir::new("keys-hash");
    let (exporter, _sim) = start(&dir, "key_names = \"hash\"\n").await;
    let samples = analysed(&exporter).await;
    let keys: Vec<&str> = samples
        .iter()
        .filter(|s| s.name.starts_with("dcs_big_key_") || s.name == "dcs_hot_key_frequency")
        .map(|s| label(s, "key"))
        .collect();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(
            key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_analysis_off_reads_nothing() {
    let dir = Dir::new("keys-off");
    let (exporter, _sim) = start(&dir, "key_analysis = false\n").await;
    // Once the nodes are scanned, no key family.
    wait_for(Duration::from_secs(60), "scans", || async {
        let samples = scrape(&exporter.base).await;
        samples
            .iter()
            .any(|s| s.name == "dcs_scan_success" && s.value == 1.0)
            .then_some(())
    })
    .await;
    let samples = scrape(&exporter.base).await;
    assert!(
        !samples
            .iter()
            .any(|s| s.name.starts_with("dcs_big_key") || s.name.starts_with("dcs_key_")),
        "key series with key_analysis = false"
    );
}

/// Instances for the starting tests, by name: the guards each meets. Ids are fixed, so the
/// tests can name them.
fn trigger_topology() -> dcs_session_exporter::sim::Topology {
    use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
    let mut topology = harness::demo_topology(Duration::from_millis(50), 10);
    topology.key_task_duration = Duration::from_secs(2);
    let instance = |name: &str, architecture, policy: &str| InstanceSpec {
        name: name.into(),
        id: Some(instance_id(name)),
        architecture,
        replicas: 1,
        sessions_per_node: 10,
        maxmemory_policy: policy.into(),
        ..InstanceSpec::default()
    };
    topology.instances = vec![
        instance("started", Architecture::Ha, "allkeys-lfu"),
        instance("single", Architecture::Single, "allkeys-lfu"),
        instance("lru", Architecture::Ha, "volatile-lru"),
        instance("busy", Architecture::Ha, "volatile-lfu"),
        instance("blank", Architecture::Ha, ""),
    ];
    topology
}

fn instance_id(name: &str) -> String {
    format!("{name:0>12}-0000-4000-8000-000000000000")
}

/// Counts of `dcs_exporter_instance_context_errors_total` of the start calls, by instance
/// name, operation and reason.
fn start_refusals(samples: &[Sample]) -> BTreeMap<(String, String, String), f64> {
    let names: BTreeMap<String, &str> = ["started", "single", "lru", "busy", "blank"]
        .into_iter()
        .map(|n| (instance_id(n), n))
        .collect();
    samples
        .iter()
        .filter(|s| s.name == "dcs_exporter_instance_context_errors_total")
        .filter(|s| label(s, "operation").starts_with("create_"))
        .map(|s| {
            let name = names.get(label(s, "instance_id")).copied().unwrap_or("?");
            let key = (
                name.to_string(),
                label(s, "operation").to_string(),
                label(s, "reason").to_string(),
            );
            (key, s.value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_start_where_the_guards_allow_and_refusals_count_once() {
    use dcs_session_exporter::cloud::Operation;
    use dcs_session_exporter::sim::state::{TaskKind, TaskShaping, codes};
    use dcs_session_exporter::sim::{Fault, SimError};
    let began = std::time::SystemTime::now();
    let (sim, url) =
        harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), trigger_topology())).await;
    // A hot-key analysis of `busy` runs for ever, started two hours ago.
    sim.with_state(|s| {
        let two_hours_ago = sim.now() - Duration::from_secs(7200);
        s.create_key_task(
            &instance_id("busy"),
            TaskKind::Hot,
            TaskShaping::Stuck,
            two_hours_ago,
        )
    })
    .unwrap();
    // The service refuses the one hot-key start the guards let through (`started`'s) as it
    // refuses one on an instance without LFU counters.
    sim.inject_fault(Fault::new(
        Operation::CreateHotKeyTask,
        100,
        SimError::dcs(
            400,
            codes::HOTKEY_NOT_SUPPORTED,
            "Does not support hotkey analyze.",
        ),
    ));
    let dir = Dir::new("keys-trigger");
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}key_analysis_interval = \"1m\"\nkey_analysis_trigger = [\"big\", \"hot\"]\n\
             key_analysis_trigger_interval = \"1h\"\n\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", &url)
        ),
    );
    let exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--log.level", "info"],
        &ENV,
    );
    let expected: BTreeMap<(String, String, String), f64> = [
        ("single", "create_big_key_task", "single_node"),
        ("single", "create_hot_key_task", "single_node"),
        ("lru", "create_hot_key_task", "not_lfu"),
        ("busy", "create_hot_key_task", "task_in_progress"),
        ("blank", "create_hot_key_task", "policy_unknown"),
        (
            "started",
            "create_hot_key_task",
            codes::HOTKEY_NOT_SUPPORTED,
        ),
    ]
    .into_iter()
    .map(|(n, o, r)| ((n.to_string(), o.to_string(), r.to_string()), 1.0))
    .collect();
    let first = wait_for(Duration::from_secs(60), "the refusals counted", || async {
        let refusals = start_refusals(&scrape(&exporter.base).await);
        (refusals.len() >= expected.len()).then_some(refusals)
    })
    .await;
    assert_eq!(first, expected);
    // The big-key starts the guards allow: `started`'s runs waiting -> running -> success in
    // the simulator, and the poller's next read shows it.
    let started_big = wait_for(Duration::from_secs(30), "the big-key starts", || async {
        let started = ["started", "lru", "busy", "blank", "single"]
            .map(|n| created_since(&sim, &instance_id(n), began).len());
        (started[..4].iter().all(|&n| n == 1)).then_some(started)
    })
    .await;
    assert_eq!(
        started_big,
        [1, 1, 1, 1, 0],
        "one start each, none on the single node"
    );
    let began_s = began
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let shown = wait_for(
        Duration::from_secs(100),
        "the started analysis shown",
        || async {
            let samples = scrape(&exporter.base).await;
            let shown = samples.iter().any(|s| {
                s.name == "dcs_key_analysis_timestamp_seconds"
                    && label(s, "instance_id") == instance_id("started")
                    && label(s, "analysis") == "big"
                    && s.value >= began_s
            });
            shown.then_some(samples)
        },
    )
    .await;
    // A read later, each refusal still counted once, and nothing else started or refused.
    assert_eq!(start_refusals(&shown), expected);
    let log = exporter.log().join("\n");
    assert_eq!(
        log.matches("started a big key analysis").count(),
        4,
        "{log}"
    );
    assert_eq!(
        log.matches("not started:").count(),
        expected.len(),
        "each refusal logged once: {log}"
    );
}

/// The big-key tasks of an instance the simulator created at or after `since`.
fn created_since(
    sim: &dcs_session_exporter::sim::Simulator,
    instance_id: &str,
    since: std::time::SystemTime,
) -> Vec<serde_json::Value> {
    use dcs_session_exporter::sim::state::{KeyTaskQuery, ListShaping, TaskKind};
    let page = sim.with_state(|s| {
        let query = KeyTaskQuery {
            limit: Some("1000".into()),
            ..KeyTaskQuery::default()
        };
        s.list_key_tasks(
            instance_id,
            TaskKind::Big,
            &query,
            ListShaping::Normal,
            sim.now(),
        )
        .unwrap()
    });
    // Some answers write times to the second.
    let since = since - Duration::from_secs(1);
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["created_at"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .is_some_and(|t| t >= since)
        })
        .cloned()
        .collect()
}

/// Runs `keys` against the simulator at `url` (a blocking wait, off the runtime's threads).
async fn keys_command(url: &str, dir: &Dir, args: &[&str]) -> (Option<i32>, String, String) {
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{}\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", url)
        ),
    );
    let mut all = vec!["keys", "--config", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let all: Vec<String> = all.into_iter().map(String::from).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        process::run(&args, &ENV)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_command_prints_analyses_and_runs_one() {
    let began = std::time::SystemTime::now();
    let (sim, url) =
        harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), trigger_topology())).await;
    let dir = Dir::new("keys-command");
    let started = instance_id("started");
    // The table: every kind, keys beside their hash digits.
    let (code, table, err) = keys_command(&url, &dir, &["--instance", &started]).await;
    assert_eq!(code, Some(0), "{err}");
    for title in [
        "big keys of instance",
        "hot keys of instance",
        "key prefixes",
    ] {
        assert!(table.contains(title), "{title}: {table}");
    }
    assert!(table.contains("NAME") && table.contains("HASH") && table.contains(" bytes"));
    // JSON: the hash is the key's name's, as the `hash` naming gives it.
    let (code, json, err) =
        keys_command(&url, &dir, &["--instance", &started, "--big", "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys = report["analyses"][0]["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let name = key["name"].as_str().unwrap();
        assert_eq!(key["hash"], dcs_session_exporter::keys::key_hash(name));
    }
    // CSV: one header, a row a key, every row as wide as the header.
    let (code, csv, err) =
        keys_command(&url, &dir, &["--instance", &started, "--hot", "--csv"]).await;
    assert_eq!(code, Some(0), "{err}");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("analysis,task_id,finished_at,name,hash")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.starts_with("hot,")),
        "{csv}"
    );
    // --run: started (waiting, then running), waited for, printed.
    let (code, ran, err) = keys_command(
        &url,
        &dir,
        &["--instance", &started, "--big", "--run", "--json"],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("started big key analysis"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&ran).unwrap();
    let task_id = report["analyses"][0]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = created_since(&sim, &started, began);
    assert_eq!(created.len(), 1, "{created:?}");
    let record = &created[0];
    assert_eq!(record["id"], task_id.as_str());
    assert_eq!(
        (&record["scan_type"], &record["status"]),
        (&"manual".into(), &"success".into())
    );
    // --run refused: by the guards (a single node; an LFU policy missing), exit 3, nothing started.
    for (name, kind, reason) in [
        ("single", "--big", "single_node"),
        ("lru", "--hot", "not_lfu"),
    ] {
        let (code, out, err) = keys_command(
            &url,
            &dir,
            &["--instance", &instance_id(name), kind, "--run"],
        )
        .await;
        assert_eq!(code, Some(3), "{name}: {out}{err}");
        assert!(
            err.contains(reason) && !err.contains("waiting up to"),
            "{name}: {err}"
        );
    }
}
