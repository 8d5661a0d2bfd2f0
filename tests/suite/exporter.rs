//! The exporter against the simulator over real HTTP: every metric compared with values
//! computed here, independently, from the simulator's own data; cardinality, staleness, a
//! failing node, the golden exposition, the command line.

use crate::common::harness;

use harness::Sample;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dcs_session_exporter::aggregate::{AggregateSettings, aggregate};
use dcs_session_exporter::cloud::dbss::JobBean;
use dcs_session_exporter::cloud::dcs::{JobStatus, parse_list_time};
use dcs_session_exporter::cloud::{Credentials, Operation};
use dcs_session_exporter::config::{
    ClientAddrField, Config, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
};
use dcs_session_exporter::metrics::SnapshotCollector;
use dcs_session_exporter::server::Format;
use dcs_session_exporter::session::ClientInfo;
use dcs_session_exporter::sim::state::SimError;
use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
use dcs_session_exporter::sim::{Fault, SimConfig, Simulator, Topology};
use dcs_session_exporter::snapshot::{
    Attempt, DbssState, Failure, NodeData, NodeInfo, NodeKey, NodeState, Reason, Stage, Store,
};
use tokio::time::Instant;

const AK: &str = "AKEXPORTERTEST01";
const SK: &str = "SKexportertest0000000000000001";
const PROJECT: &str = "p-exporter";

/// A simulator and an exporter scanning it, both on loopback.
type Harness = harness::SimAndExporter;

async fn start(topology: Topology, exporter_settings: &str) -> Harness {
    start_with(topology, exporter_settings, "", "", |_| {}).await
}

/// As [`start`], with keys added to the `[[cloud]]` and to its `[cloud.discovery]`, and the
/// simulator prepared (faults) before the exporter starts.
async fn start_with(
    topology: Topology,
    exporter_settings: &str,
    cloud_keys: &str,
    discovery_keys: &str,
    prepare: impl FnOnce(&Simulator),
) -> Harness {
    let mut sim_config = SimConfig::new(Credentials::new(AK, SK), topology);
    sim_config.project_id = Some(PROJECT.into());
    let sim = Simulator::new(sim_config);
    prepare(&sim);
    let sim_url = harness::serve(sim.router()).await;
    let config = Config::from_toml(&format!(
        r#"
        [exporter]
        {exporter_settings}
        [[cloud]]
        name = "test"
        project_id = "{PROJECT}"
        dcs_endpoint = "{sim_url}"
        dbss_endpoint = "{sim_url}"
        requests_per_second = 1000
        {cloud_keys}
        [cloud.discovery]
        enabled = true
        {discovery_keys}
        [[cloud.dbss_resource]]
        id = "dbss-audit-demo"
        "#
    ))
    .unwrap();
    let in_process = harness::exporter(&config, Credentials::new(AK, SK)).await;
    Harness::new(sim, sim_url, in_process)
}

impl Harness {
    async fn scrape(&self) -> Vec<Sample> {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        harness::parse_exposition(&body)
    }

    /// Scrapes until `done` holds, for at most `limit`.
    async fn scrape_until(&self, limit: Duration, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        let until = Instant::now() + limit;
        loop {
            let samples = self.scrape().await;
            if done(&samples) {
                return samples;
            }
            assert!(
                Instant::now() < until,
                "condition not reached within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The nodes that take clients, and each one's stored list, read from the simulator.
    fn stored_lists(&self) -> Vec<(String, String, String, Vec<ClientInfo>)> {
        self.sim.with_state(|s| {
            let now = SystemTime::now();
            let mut lists = Vec::new();
            for instance in s.instance_ids() {
                let nodes = s.logical_nodes(&instance).unwrap().nodes;
                for node in nodes.iter().filter(|n| n.is_access == Some(true)) {
                    let id = node.node_id.clone().unwrap();
                    let (time, clients) = s.stored_sessions(&instance, &id, now).unwrap().unwrap();
                    lists.push((instance.clone(), id, time, clients));
                }
            }
            lists
        })
    }
}

fn of<'a>(samples: &'a [Sample], name: &str, node: &str) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && s.label("node_id") == node)
        .collect()
}

fn value(samples: &[Sample], name: &str, node: &str) -> f64 {
    let found = of(samples, name, node);
    assert_eq!(found.len(), 1, "{name} of {node}: {found:?}");
    found[0].value
}

fn ip(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip)
}

/// Checks a histogram of one node against the values it should hold.
fn check_histogram(samples: &[Sample], name: &str, node: &str, bounds: &[f64], values: &[i64]) {
    let count = value(samples, &format!("{name}_count"), node);
    assert_eq!(count, values.len() as f64, "{name}_count");
    let sum = value(samples, &format!("{name}_sum"), node);
    assert_eq!(sum, values.iter().sum::<i64>() as f64, "{name}_sum");
    let buckets = of(samples, &format!("{name}_bucket"), node);
    assert_eq!(buckets.len(), bounds.len() + 1);
    for bound in bounds {
        let expected = values.iter().filter(|v| (**v as f64) <= *bound).count() as f64;
        let le = buckets
            .iter()
            .find(|b| b.label("le").parse::<f64>().unwrap() == *bound)
            .unwrap();
        assert_eq!(le.value, expected, "{name} le={bound}");
    }
    let inf = buckets.iter().find(|b| b.label("le") == "+Inf").unwrap();
    assert_eq!(inf.value, values.len() as f64);
}

/// The `n` sessions with the largest value, ties by address, as `(ip:port, value)`.
fn top(clients: &[ClientInfo], n: usize, value: impl Fn(&ClientInfo) -> i64) -> Vec<(String, i64)> {
    let mut all: Vec<(String, i64)> = clients
        .iter()
        .map(|c| (c.addr.clone().unwrap(), value(c)))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

fn quiet_topology(sessions: u32) -> Topology {
    harness::demo_topology(Duration::from_millis(50), sessions)
}

/// Scans once and then not again for an hour, so the stored lists hold still while compared.
const SCAN_ONCE: &str = r#"scan_interval = "1h"
first_scan_spread = "0s""#;

#[tokio::test]
async fn every_metric_matches_the_simulated_sessions() {
    let h = start(quiet_topology(600), SCAN_ONCE).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let lists = h.stored_lists();
    assert_eq!(lists.len(), 5, "two HA nodes and three proxies");

    let mut nodes_with_idle = 0;
    for (instance, node, time, clients) in &lists {
        assert!(!clients.is_empty());
        // client_addr_field = "auto": the client's own address is `addr` with client IP
        // pass-through, `peer` without; below, `addr` stands for the field chosen.
        let pass_through = h
            .sim
            .with_state(|s| s.show_instance(instance))
            .unwrap()
            .transparent_client_ip_enable
            .unwrap();
        let clients: &Vec<ClientInfo> = &clients
            .iter()
            .map(|c| ClientInfo {
                addr: if pass_through {
                    c.addr.clone()
                } else {
                    c.peer.clone()
                },
                ..c.clone()
            })
            .collect();
        // Sessions by address, db and user (fewer addresses than max_client_addrs: no folding).
        let mut expected: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for c in clients {
            let key = (
                ip(c.addr.as_deref().unwrap()).to_string(),
                c.db.clone().unwrap(),
                c.user.clone().unwrap(),
            );
            *expected.entry(key).or_default() += 1.0;
        }
        let got: BTreeMap<(String, String, String), f64> = of(&samples, "dcs_clients", node)
            .into_iter()
            .map(|s| {
                assert_eq!(s.label("instance_id"), instance);
                (
                    (
                        s.label("client_addr").to_string(),
                        s.label("db").to_string(),
                        s.label("user").to_string(),
                    ),
                    s.value,
                )
            })
            .collect();
        assert_eq!(got, expected, "dcs_clients of {node}");
        // By name, by last command: at most 20 each, most first, the rest folded; by kind.
        let folded = |field: fn(&ClientInfo) -> Option<String>, absent: &str, fold: &str| {
            let mut counts: BTreeMap<String, f64> = BTreeMap::new();
            for c in clients.iter() {
                let v = field(c)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| absent.into());
                *counts.entry(v).or_default() += 1.0;
            }
            let mut ranked: Vec<(String, f64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let rest: f64 = ranked.iter().skip(20).map(|(_, n)| n).sum();
            let mut kept: BTreeMap<String, f64> = ranked.into_iter().take(20).collect();
            if rest > 0.0 {
                *kept.entry(fold.to_string()).or_default() += rest;
            }
            kept
        };
        let shown = |metric: &str, label: &str| -> BTreeMap<String, f64> {
            of(&samples, metric, node)
                .into_iter()
                .map(|s| (s.label(label).to_string(), s.value))
                .collect()
        };
        assert_eq!(
            shown("dcs_clients_by_name", "client_name"),
            folded(|c| c.name.clone(), "(unnamed)", "(other)"),
            "{node}"
        );
        assert_eq!(
            shown("dcs_clients_by_command", "cmd"),
            folded(|c| c.cmd.clone(), "unknown", "other"),
            "{node}"
        );
        let by_kind = shown("dcs_clients_by_kind", "kind");
        let flagged = |f: char| {
            clients
                .iter()
                .filter(|c| c.flags.as_deref().unwrap_or("").contains(f))
                .count() as f64
        };
        let pubsub = clients
            .iter()
            .filter(|c| c.sub.unwrap_or(0) > 0 || c.psub.unwrap_or(0) > 0)
            .count() as f64;
        assert_eq!(by_kind["pubsub"], pubsub, "{node}");
        assert_eq!(by_kind["transaction"], flagged('x'), "{node}");
        assert_eq!(by_kind["blocked"], flagged('b'), "{node}");
        assert_eq!(by_kind["replica"], flagged('S'), "{node}");
        assert_eq!(by_kind["master"], flagged('M'), "{node}");
        assert_eq!(by_kind["monitor"], flagged('O'), "{node}");
        assert_eq!(by_kind["tracking"], flagged('t'), "{node}");
        // Idle past the hour and not waiting by design, by address.
        let mut idle: BTreeMap<String, f64> = BTreeMap::new();
        for c in clients.iter() {
            let waiting = c.sub.unwrap_or(0) > 0
                || c.psub.unwrap_or(0) > 0
                || c.flags.as_deref().unwrap_or("").contains('b');
            if !waiting && c.idle.unwrap() > 3600 {
                *idle
                    .entry(ip(c.addr.as_deref().unwrap()).to_string())
                    .or_default() += 1.0;
            }
        }
        nodes_with_idle += usize::from(!idle.is_empty());
        assert_eq!(shown("dcs_clients_idle", "client_addr"), idle, "{node}");
        let exclusive: f64 = ["normal", "pubsub", "replica", "master", "monitor"]
            .iter()
            .map(|k| by_kind[*k])
            .sum();
        assert_eq!(exclusive, clients.len() as f64, "{node}");

        let field = |f: fn(&ClientInfo) -> Option<i64>| -> Vec<i64> {
            clients.iter().map(|c| f(c).unwrap()).collect()
        };
        check_histogram(
            &samples,
            "dcs_client_idle_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &field(|c| c.idle),
        );
        // Sessions that wait by design: subscribed, or blocked in a command.
        let waiting: Vec<i64> = clients
            .iter()
            .filter(|c| {
                c.sub.unwrap_or(0) > 0
                    || c.psub.unwrap_or(0) > 0
                    || c.flags.as_deref().unwrap_or("").contains(['P', 'b'])
            })
            .map(|c| c.idle.unwrap())
            .collect();
        check_histogram(
            &samples,
            "dcs_client_idle_waiting_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &waiting,
        );
        check_histogram(
            &samples,
            "dcs_client_age_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &field(|c| c.age),
        );
        check_histogram(
            &samples,
            "dcs_client_output_memory_bytes",
            node,
            &DEFAULT_BYTES_BUCKETS,
            &field(|c| c.omem),
        );
        check_histogram(
            &samples,
            "dcs_client_query_buffer_bytes",
            node,
            &DEFAULT_BYTES_BUCKETS,
            &field(|c| c.qbuf),
        );
        assert_eq!(
            value(&samples, "dcs_client_output_memory_max_bytes", node),
            *field(|c| c.omem).iter().max().unwrap() as f64
        );
        let subs = of(&samples, "dcs_client_subscriptions", node);
        let kind = |k: &str| subs.iter().find(|s| s.label("kind") == k).unwrap().value;
        assert_eq!(kind("channel"), field(|c| c.sub).iter().sum::<i64>() as f64);
        assert_eq!(
            kind("pattern"),
            field(|c| c.psub).iter().sum::<i64>() as f64
        );

        // The five most idle sessions, and the five largest output buffers.
        let shown = |name: &str| -> Vec<(String, i64)> {
            let mut v: Vec<(String, i64)> = of(&samples, name, node)
                .into_iter()
                .map(|s| (s.label("client_addr").to_string(), s.value as i64))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        assert_eq!(
            shown("dcs_top_client_idle_seconds"),
            top(clients, 5, |c| c.idle.unwrap())
        );
        let with_buffers: Vec<ClientInfo> = clients
            .iter()
            .filter(|c| c.omem.unwrap() > 0)
            .cloned()
            .collect();
        assert_eq!(
            shown("dcs_top_client_output_memory_bytes"),
            top(&with_buffers, 5, |c| c.omem.unwrap())
        );
        let most_idle = of(&samples, "dcs_top_client_idle_seconds", node)
            .into_iter()
            .max_by_key(|s| s.value as i64)
            .unwrap();
        let session = clients
            .iter()
            .find(|c| c.addr.as_deref() == Some(most_idle.label("client_addr")))
            .unwrap();
        assert_eq!(
            most_idle.label("client_name"),
            session.name.as_deref().unwrap()
        );
        assert_eq!(most_idle.label("cmd"), session.cmd.as_deref().unwrap());
        assert_eq!(most_idle.label("user"), session.user.as_deref().unwrap());
        assert_eq!(most_idle.label("db"), session.db.as_deref().unwrap());

        let data_time = parse_list_time(time).unwrap();
        let shown_time = value(&samples, "dcs_clients_data_timestamp_seconds", node);
        let expected_time = data_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            (shown_time - expected_time).abs() < 0.001,
            "{shown_time} {expected_time}"
        );
        assert_eq!(value(&samples, "dcs_scan_success", node), 1.0);
        assert!(value(&samples, "dcs_scan_duration_seconds", node) > 0.0);
        assert!(value(&samples, "dcs_scan_last_success_timestamp_seconds", node) >= expected_time);
        assert!(of(&samples, "dcs_scan_errors_total", node).is_empty());
    }
    // The HA instance never closes idle sessions: its nodes have some past the hour.
    assert!(nodes_with_idle >= 2, "{nodes_with_idle}");

    // Node metadata, as the simulator lists the nodes.
    let infos: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "dcs_node_info")
        .collect();
    assert_eq!(infos.len(), 5);
    h.sim.with_state(|s| {
        for info in &infos {
            let nodes = s.logical_nodes(info.label("instance_id")).unwrap().nodes;
            let node = nodes
                .iter()
                .find(|n| n.node_id.as_deref() == Some(info.label("node_id")))
                .unwrap();
            assert_eq!(info.label("node_name"), node.name.as_deref().unwrap());
            assert_eq!(info.label("node_role"), node.node_type.as_deref().unwrap());
            assert_eq!(info.label("node_ip"), node.node_ip.as_deref().unwrap());
            assert_eq!(info.label("az"), node.az_code.as_deref().unwrap());
            assert!(["orders-cache", "sessions-proxy"].contains(&info.label("instance_name")));
        }
    });

    // DBSS, against the simulator's records.
    let jobs: Vec<JobBean> = h
        .sim
        .with_state(|s| s.audit_jobs("dbss-audit-demo", false))
        .unwrap();
    let by_status =
        |status: &str| jobs.iter().filter(|j| j.status.as_str() == status).count() as f64;
    for status in ["SUCCESS", "FAIL", "RUNNING"] {
        let shown = samples
            .iter()
            .find(|s| s.name == "dbss_jobs" && s.label("status") == status)
            .unwrap();
        assert_eq!(shown.value, by_status(status), "{status}");
    }
    for job in &jobs {
        let shown = samples
            .iter()
            .find(|s| {
                s.name == "dbss_job_duration_seconds"
                    && Some(s.label("job_id")) == job.job_id.as_deref()
            })
            .unwrap();
        assert_eq!(shown.label("status"), job.status.as_str());
        match job.end_time {
            Some(end) => assert_eq!(shown.value, (end - job.begin_time.unwrap()) as f64 / 1000.0),
            None => {
                let began = job.began().unwrap();
                let running_for = SystemTime::now()
                    .duration_since(began)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    shown.value > 0.0 && shown.value <= running_for,
                    "{}",
                    shown.value
                );
            }
        }
    }
    let failures: f64 = samples
        .iter()
        .filter(|s| s.name == "dbss_job_failures_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(failures, by_status("FAIL"));
    let failed = jobs.iter().find(|j| j.status == JobStatus::Fail).unwrap();
    assert!(samples.iter().any(|s| s.name == "dbss_job_failures_total"
        && s.label("error_code") == failed.error_code.as_deref().unwrap()));
    assert_eq!(
        samples
            .iter()
            .find(|s| s.name == "dbss_scan_success")
            .unwrap()
            .value,
        1.0
    );

    // The exporter's own metrics.
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for name in [
        "dbss_scan_duration_seconds",
        "dcs_exporter_api_requests_total",
        "dcs_exporter_api_request_duration_seconds_count",
        "dcs_exporter_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(name), "{name} missing");
    }
    let scans: f64 = samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_api_requests_total" && s.label("operation") == "scan_clients"
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(scans, 5.0, "one scan a node");
    println!(
        "demo-like topology: {} samples, {} dcs_clients series for {} sessions",
        samples.len(),
        samples.iter().filter(|s| s.name == "dcs_clients").count(),
        lists.iter().map(|l| l.3.len()).sum::<usize>()
    );
}

#[tokio::test]
async fn ten_thousand_sessions_from_five_thousand_addresses_stay_bounded() {
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(50);
    t.instances = vec![InstanceSpec {
        name: "big".into(),
        id: None,
        architecture: Architecture::Single,
        shards: 1,
        replicas: 0,
        proxies: 0,
        sessions_per_node: 10_000,
        client_hosts: 5_000,
        ip_pass_through: true,
        engine_version: "6.0".into(),
        redis_urls: Vec::new(),
        ..Default::default()
    }];
    let h = start(t, SCAN_ONCE).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let (_, node, _, clients) = h.stored_lists().pop().unwrap();
    // The simulated node churns (sessions leave and arrive as time passes), so the list the
    // scan stored holds about, not exactly, the 10,000 sessions asked for.
    assert!(
        (9_900..=10_100).contains(&clients.len()),
        "{} sessions",
        clients.len()
    );
    let distinct: BTreeSet<&str> = clients
        .iter()
        .map(|c| ip(c.addr.as_deref().unwrap()))
        .collect();
    assert!(distinct.len() > 1000, "{} addresses", distinct.len());

    let series = of(&samples, "dcs_clients", &node);
    let addrs: BTreeSet<&str> = series.iter().map(|s| s.label("client_addr")).collect();
    assert_eq!(addrs.len(), 51, "50 addresses and other");
    assert!(addrs.contains("other"));
    let total: f64 = series.iter().map(|s| s.value).sum();
    assert_eq!(total, clients.len() as f64, "folding keeps the total");
    // The kept addresses are the 50 with the most sessions.
    let mut per_ip: HashMap<&str, usize> = HashMap::new();
    for c in &clients {
        *per_ip.entry(ip(c.addr.as_deref().unwrap())).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = per_ip.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let largest: BTreeSet<&str> = ranked.iter().take(50).map(|(ip, _)| *ip).collect();
    let kept: BTreeSet<&str> = addrs.iter().copied().filter(|a| *a != "other").collect();
    assert_eq!(kept, largest);
    let node_series = samples
        .iter()
        .filter(|s| s.label("node_id") == node)
        .count();
    println!(
        "10,000 sessions from {} addresses: {} dcs_clients series, {node_series} series for the node",
        distinct.len(),
        series.len()
    );
}

#[tokio::test]
async fn failed_scans_keep_the_last_data_until_stale_then_only_status_remains() {
    let h = start(
        quiet_topology(100),
        r#"scan_interval = "1s"
        stale_after = "3s"
        first_scan_spread = "0s""#,
    )
    .await;
    h.wait_ready().await;
    let (_, node, _, _) = h.stored_lists().into_iter().next().unwrap();
    h.sim.inject_fault(
        Fault::new(
            Operation::ScanClients,
            100_000,
            SimError::dcs(403, "DCS.4030", "no permission"),
        )
        .on_node(&node),
    );
    // Failing now, but the last good data is still shown.
    let samples = h
        .scrape_until(Duration::from_secs(10), |s| {
            of(s, "dcs_scan_success", &node)
                .first()
                .is_some_and(|x| x.value == 0.0)
        })
        .await;
    assert!(
        !of(&samples, "dcs_clients", &node).is_empty(),
        "kept until stale"
    );
    // Stale: the data goes, the status stays.
    let samples = h
        .scrape_until(Duration::from_secs(15), |s| {
            of(s, "dcs_clients", &node).is_empty()
        })
        .await;
    for data in [
        "dcs_client_idle_seconds_count",
        "dcs_top_client_idle_seconds",
        "dcs_client_subscriptions",
    ] {
        assert!(of(&samples, data, &node).is_empty(), "{data} still shown");
    }
    assert_eq!(value(&samples, "dcs_scan_success", &node), 0.0);
    assert_eq!(of(&samples, "dcs_node_info", &node).len(), 1);
    assert!(value(&samples, "dcs_scan_last_success_timestamp_seconds", &node) > 0.0);
    let errors = of(&samples, "dcs_scan_errors_total", &node);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].label("stage"), errors[0].label("reason")),
        ("scan", "DCS.4030")
    );
    assert!(errors[0].value >= 2.0);
    // The other nodes are untouched.
    let others: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_success" && s.label("node_id") != node)
        .collect();
    assert_eq!(others.len(), 4);
    assert!(others.iter().all(|s| s.value == 1.0));
    assert!(
        others
            .iter()
            .all(|s| !of(&samples, "dcs_clients", s.label("node_id")).is_empty())
    );
    // The landing page says what failed.
    let (status, page) = h.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("DCS.4030") && page.contains("failed"));

    // Recovery brings the data back.
    h.sim.clear_faults();
    h.scrape_until(Duration::from_secs(10), |s| {
        !of(s, "dcs_clients", &node).is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_node_failing_while_paging_leaves_the_others_intact() {
    let h = start(
        quiet_topology(100),
        r#"scan_interval = "1s"
        first_scan_spread = "0s""#,
    )
    .await;
    let lists = h.stored_lists_after_first_scans().await;
    let failing = &lists[0].1;
    h.sim.inject_fault(
        Fault::new(
            Operation::ListClients,
            100_000,
            SimError::dcs(500, "DCS.5000", "internal"),
        )
        .on_node(failing),
    );
    let samples = h
        .scrape_until(Duration::from_secs(20), |s| {
            of(s, "dcs_scan_errors_total", failing)
                .iter()
                .any(|e| e.label("stage") == "list")
        })
        .await;
    assert_eq!(value(&samples, "dcs_scan_success", failing), 0.0);
    for (_, node, _, _) in &lists[1..] {
        assert_eq!(value(&samples, "dcs_scan_success", node), 1.0, "{node}");
        assert!(of(&samples, "dcs_scan_errors_total", node).is_empty());
    }
}

impl Harness {
    async fn stored_lists_after_first_scans(
        &self,
    ) -> Vec<(String, String, String, Vec<ClientInfo>)> {
        self.wait_ready().await;
        self.stored_lists()
    }
}

#[tokio::test]
async fn metrics_formats_and_endpoints() {
    let h = start(quiet_topology(50), SCAN_ONCE).await;
    assert_eq!(h.get("/healthz").await.0, 200);
    h.wait_ready().await;
    let openmetrics = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    let content_type = openmetrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = openmetrics.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE dcs_scan_errors counter"));
    let classic = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .send()
        .await
        .unwrap();
    assert!(
        classic.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = classic.text().await.unwrap();
    assert!(!body.contains("# EOF"));
    assert!(body.contains("# HELP dcs_clients Client sessions"));
    assert!(body.contains("collected in the background"));
    assert_eq!(h.get("/nothing").await.0, 404);

    // Gzip for scrapers that ask for it (as Prometheus does), plain for those that refuse it.
    let series = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with("dcs_clients{"))
            .map(str::to_string)
            .collect()
    };
    let zipped = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let compressed = zipped.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    let (_, direct) = h.get("/metrics").await;
    assert!(
        compressed.len() * 3 < plain.len(),
        "{} of {}",
        compressed.len(),
        plain.len()
    );
    assert!(!series(&plain).is_empty());
    assert_eq!(series(&plain), series(&direct));
    let refused = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    assert!(refused.text().await.unwrap().contains("dcs_clients{"));

    // Uncompressed scrapes at once, more than are encoded together: each waits its turn and
    // gets the whole exposition.
    let scrapes: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (h.http.clone(), format!("{}/metrics", h.exporter));
            tokio::spawn(async move {
                http.get(url)
                    .header("Accept", "application/openmetrics-text; version=1.0.0")
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            })
        })
        .collect();
    for scrape in scrapes {
        let body = tokio::time::timeout(Duration::from_secs(60), scrape)
            .await
            .expect("every scrape is answered")
            .unwrap();
        assert!(body.ends_with("# EOF\n"), "whole: {} bytes", body.len());
        assert_eq!(series(&body), series(&direct));
    }
}

// ---------------------------------------------------------------------------------------------
// Golden exposition: a snapshot built by hand, encoded with a fixed clock.

/// The instances' ids with the nodes that take clients, from the simulator.
fn instances_and_nodes(
    sim: &Simulator,
) -> Vec<(String, Vec<dcs_session_exporter::cloud::dcs::LogicalNode>)> {
    sim.with_state(|s| {
        s.instance_ids()
            .into_iter()
            .map(|id| {
                let nodes = s.logical_nodes(&id).unwrap().nodes;
                let access = nodes
                    .into_iter()
                    .filter(|n| n.is_access == Some(true))
                    .collect();
                (id, access)
            })
            .collect()
    })
}

#[tokio::test]
async fn limits_and_context_of_each_instance_from_its_details_and_parameters() {
    let h = start_with(
        quiet_topology(20),
        SCAN_ONCE,
        r#"export_tags = ["env", "team", "cost-center"]"#,
        "",
        |_| {},
    )
    .await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let mut pass_through = BTreeSet::new();
    for (instance_id, nodes) in instances_and_nodes(&h.sim) {
        let details = h.sim.with_state(|s| s.show_instance(&instance_id)).unwrap();
        let configs = h
            .sim
            .with_state(|s| s.configurations(&instance_id))
            .unwrap();
        let info: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == "dcs_instance_info" && s.label("instance_id") == instance_id)
            .collect();
        assert_eq!(info.len(), 1, "{instance_id}");
        let info = info[0];
        let tag = |key: &str| {
            details
                .tags
                .iter()
                .find(|t| t.key.as_deref() == Some(key))
                .and_then(|t| t.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            info.label("instance_name"),
            details.name.as_deref().unwrap()
        );
        assert_eq!(
            info.label("engine_version"),
            details.engine_version.as_deref().unwrap()
        );
        assert_eq!(
            info.label("spec_code"),
            details.spec_code.as_deref().unwrap()
        );
        let spec = details.spec_code.as_deref().unwrap();
        let architecture = if spec.contains(".proxy.") {
            "proxy"
        } else {
            "ha"
        };
        assert_eq!(info.label("architecture"), architecture, "{spec}");
        assert_eq!(
            info.label("enterprise_project_id"),
            details.enterprise_project_id.as_deref().unwrap()
        );
        let through = details.transparent_client_ip_enable.unwrap();
        assert_eq!(info.label("client_ip_pass_through"), through.to_string());
        pass_through.insert(through);
        assert_eq!(info.label("tag_env"), tag("env"));
        assert_eq!(info.label("tag_team"), tag("team"));
        assert!(!tag("env").is_empty() && !tag("team").is_empty());
        // Listed but not carried: present and empty, so every series has the same labels.
        assert_eq!(
            info.labels.get("tag_cost_center").map(String::as_str),
            Some("")
        );
        assert_eq!(info.value, 1.0);
        for node in nodes {
            let id = node.node_id.clone().unwrap();
            assert_eq!(
                value(&samples, "dcs_node_max_clients", &id),
                configs.number("maxclients").unwrap() as f64
            );
            assert_eq!(
                value(&samples, "dcs_node_idle_timeout_seconds", &id),
                configs.number("timeout").unwrap() as f64
            );
            let cloud_eye = node.dimensions[1]["value"].as_str().unwrap();
            let node_info = of(&samples, "dcs_node_info", &id);
            assert_eq!(node_info[0].label("cloud_eye_node"), cloud_eye);
        }
    }
    // Scanned once an hour: no scan overran.
    assert!(
        samples
            .iter()
            .filter(|s| s.name == "dcs_scan_skipped_total")
            .all(|s| s.value == 0.0)
    );
    assert_eq!(
        samples
            .iter()
            .find(|s| s.name == "dcs_exporter_scan_interval_seconds")
            .map(|s| s.value),
        Some(3600.0)
    );
    // The demo has an instance of each kind: limits and timeouts differ between them.
    assert_eq!(pass_through, BTreeSet::from([true, false]));
    let limits: BTreeSet<u64> = samples
        .iter()
        .filter(|s| s.name == "dcs_node_max_clients")
        .map(|s| s.value as u64)
        .collect();
    assert_eq!(limits, BTreeSet::from([10_000, 20_000]));
}

/// Slow commands by `(shard, client_addr, command)`.
type SlowCounts = BTreeMap<(String, String, String), f64>;

/// `dcs_slow_commands_total` and the duration histogram of an instance, as computed here from
/// the simulator's slow log: every entry a window returned after the first (which only tells
/// the exporter what was there before it started).
fn expected_slow_commands(sim: &Simulator, instance_id: &str) -> (SlowCounts, Vec<f64>) {
    let (entries, _) = sim
        .with_state(|s| s.slowlog_entries(instance_id, SystemTime::now()))
        .unwrap();
    let mut counts = BTreeMap::new();
    let mut durations = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.first_served.is_some_and(|w| w >= 1))
    {
        let command = e.command.split(' ').next().unwrap().to_lowercase();
        let key = (
            e.shard.clone().unwrap_or_default(),
            e.client_ip.clone(),
            command,
        );
        *counts.entry(key).or_insert(0.0) += 1.0;
        // The service gives whole milliseconds.
        durations.push(e.duration_ms.round() / 1000.0);
    }
    (counts, durations)
}

#[tokio::test]
async fn slow_commands_by_client_count_each_entry_of_the_slow_logs_once() {
    let mut topology = quiet_topology(20);
    for i in &mut topology.instances {
        i.slow_commands_per_minute = 240.0;
    }
    // The first instance keeps no slow log: its details say so, and it is never asked.
    topology.instances[0].slow_log = false;
    let h = start(
        topology,
        r#"scan_interval = "1s"
first_scan_spread = "0s""#,
    )
    .await;
    h.wait_ready().await;
    let ids = h.sim.with_state(|s| s.instance_ids());
    let windows = |id: &str| {
        h.sim
            .with_state(|s| s.slowlog_entries(id, SystemTime::now()))
            .unwrap()
            .1
    };
    let until = Instant::now() + Duration::from_secs(30);
    while windows(&ids[1]) < 4 {
        assert!(
            Instant::now() < until,
            "four reads of the slow log within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A read may land between computing and scraping: compare again until both agree.
    let mut last = None;
    for _ in 0..50 {
        let (counts, durations) = expected_slow_commands(&h.sim, &ids[1]);
        let samples = h.scrape().await;
        let got: SlowCounts = samples
            .iter()
            .filter(|s| s.name == "dcs_slow_commands_total" && s.label("instance_id") == ids[1])
            .map(|s| {
                let key = (
                    s.label("shard").to_string(),
                    s.label("client_addr").to_string(),
                    s.label("command").to_string(),
                );
                (key, s.value)
            })
            .collect();
        let histogram = |suffix: &str, le: Option<&str>| {
            samples
                .iter()
                .find(|s| {
                    s.name == format!("dcs_slow_command_duration_seconds{suffix}")
                        && s.label("instance_id") == ids[1]
                        && le.is_none_or(|le| s.label("le") == le)
                })
                .map(|s| s.value)
        };
        let sum: f64 = durations.iter().sum();
        let within_50ms = durations.iter().filter(|d| **d <= 0.05).count() as f64;
        let agree = got == counts
            && histogram("_count", None) == Some(durations.len() as f64)
            && histogram("_sum", None).is_some_and(|s| (s - sum).abs() < 1e-6)
            && histogram("_bucket", Some("0.05")) == Some(within_50ms);
        if agree {
            assert!(durations.len() >= 5, "entries counted: {}", durations.len());
            // A cluster's entries carry their shard; the log's history was there before.
            let shards: BTreeSet<&str> = counts.keys().map(|(s, _, _)| s.as_str()).collect();
            assert!(shards.len() > 1 && !shards.contains(""), "{shards:?}");
            let (entries, _) = h
                .sim
                .with_state(|s| s.slowlog_entries(&ids[1], SystemTime::now()))
                .unwrap();
            assert!(entries.iter().any(|e| e.first_served == Some(0)));
            assert_eq!(
                windows(&ids[0]),
                0,
                "the instance without a slow log is not asked"
            );
            assert!(samples.iter().all(|s| !(s.name.starts_with("dcs_slow_")
                && s.label("instance_id") == ids[0])));
            return;
        }
        last = Some((got, counts, histogram("_count", None), durations.len()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow-command counters never matched the simulator's slow log: {last:?}");
}

/// Accepted by Prometheus with native histograms on.
const PROTOBUF_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";

/// The protobuf exposition, decoded by tests/data/decode_protobuf.py (written from Prometheus'
/// message definitions, not from the exporter's code).
async fn decoded_protobuf(h: &Harness) -> serde_json::Value {
    let r = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header("Accept", PROTOBUF_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/vnd.google.protobuf"),
        "{content_type}"
    );
    let body = r.bytes().await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/decode_protobuf.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the decoder (installed by .ci/run)");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A decoded family, by name.
fn family_named<'a>(families: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    families
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

/// Samples as `(name, sorted labels, value as written)`.
type TextSamples = BTreeSet<(String, Vec<(String, String)>, String)>;

/// The decoded families as text samples: `(name, labels, value)`, histograms as their classic
/// `_bucket`, `_sum` and `_count` series.
fn samples_of(families: &serde_json::Value) -> TextSamples {
    let mut out = BTreeSet::new();
    for f in families.as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        for m in f["metrics"].as_array().unwrap() {
            let labels: Vec<(String, String)> = m["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let value = |v: f64| format!("{v}");
            if let Some(h) = m.get("histogram") {
                for b in h["buckets"].as_array().unwrap() {
                    let mut l = labels.clone();
                    let bound = b["upper_bound"].as_str().unwrap();
                    let bound = if bound == "+Inf" {
                        bound.to_string()
                    } else {
                        format!("{}", bound.parse::<f64>().unwrap())
                    };
                    l.push(("le".into(), bound));
                    l.sort();
                    let n = b["cumulative_count"].as_f64().unwrap();
                    out.insert((format!("{name}_bucket"), l, value(n)));
                }
                let mut l = labels.clone();
                l.sort();
                out.insert((
                    format!("{name}_sum"),
                    l.clone(),
                    value(h["sum"].as_f64().unwrap()),
                ));
                out.insert((
                    format!("{name}_count"),
                    l,
                    value(h["count"].as_f64().unwrap()),
                ));
            } else {
                let v = ["gauge", "counter", "untyped"]
                    .iter()
                    .find_map(|k| m.get(*k))
                    .and_then(|v| v.as_f64())
                    .unwrap();
                let name = if f["type"] == "counter" && !name.ends_with("_total") {
                    format!("{name}_total")
                } else {
                    name.to_string()
                };
                let mut l = labels;
                l.sort();
                out.insert((name, l, value(v)));
            }
        }
    }
    out
}

/// The native bucket index of a positive value, schema 3: the least `i` with
/// 2^(i/8) >= value.
fn native_index(value: f64) -> i32 {
    let mut i = (value.log2() * 8.0).ceil() as i32;
    while 2f64.powf(f64::from(i - 1) / 8.0) >= value {
        i -= 1;
    }
    while 2f64.powf(f64::from(i) / 8.0) < value {
        i += 1;
    }
    i
}

#[tokio::test]
async fn protobuf_carries_the_text_values_and_native_histograms_of_the_sessions() {
    let h = start(quiet_topology(300), SCAN_ONCE).await;
    h.wait_ready().await;
    let (_, text) = h.get("/metrics").await;
    let families = decoded_protobuf(&h).await;
    // Every value of the text format, as the protobuf one has it (values that move with the
    // clock between the two requests left out).
    let moving = |name: &str| name.starts_with("process_") || name.starts_with("dbss_job_duration");
    let from_text: TextSamples = harness::parse_exposition(&text)
        .into_iter()
        .filter(|s| !moving(&s.name))
        .map(|s| {
            // Bounds as numbers: the text spells 1 MiB 1.048576e+06.
            let mut l: Vec<(String, String)> = s
                .labels
                .into_iter()
                .map(|(k, v)| match (k.as_str(), v.parse::<f64>()) {
                    ("le", Ok(bound)) if v != "+Inf" => (k, format!("{bound}")),
                    _ => (k, v),
                })
                .collect();
            l.sort();
            (s.name, l, format!("{}", s.value))
        })
        .collect();
    let from_protobuf: BTreeSet<_> = samples_of(&families)
        .into_iter()
        .filter(|(name, _, _)| !moving(name))
        .collect();
    // The same series, with the same values (the text's shortest decimal may round the last bit).
    let by_series = |set: &TextSamples| {
        set.iter()
            .map(|(n, l, v)| ((n.clone(), l.clone()), v.parse::<f64>().unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    let (text_values, protobuf_values) = (by_series(&from_text), by_series(&from_protobuf));
    assert_eq!(
        text_values.keys().collect::<Vec<_>>(),
        protobuf_values.keys().collect::<Vec<_>>()
    );
    for (series, v) in &text_values {
        let p = protobuf_values[series];
        assert!((v - p).abs() <= v.abs() * 1e-15, "{series:?}: {v} and {p}");
    }
    assert!(from_text.len() > 500, "{}", from_text.len());
    // Native buckets of each node's idle histogram, against the stored list.
    let idle = family_named(&families, "dcs_client_idle_seconds");
    let lists = h.stored_lists();
    for (_, node, _, clients) in &lists {
        let m = idle["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["labels"]["node_id"] == node.as_str())
            .unwrap();
        let hist = &m["histogram"];
        assert_eq!(hist["schema"], 3);
        let mut expected: BTreeMap<i32, u64> = BTreeMap::new();
        let mut zeros = 0;
        for c in clients {
            match c.idle.unwrap() {
                0 => zeros += 1,
                idle => *expected.entry(native_index(idle as f64)).or_default() += 1,
            }
        }
        let mut got: BTreeMap<i32, u64> = BTreeMap::new();
        let (mut index, mut count) = (0i32, 0i64);
        let mut deltas = hist["positive_deltas"].as_array().unwrap().iter();
        for (k, span) in hist["positive_spans"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let offset = span[0].as_i64().unwrap() as i32;
            index = if k == 0 { offset } else { index + offset };
            for _ in 0..span[1].as_u64().unwrap() {
                count += deltas.next().unwrap().as_i64().unwrap();
                if count > 0 {
                    got.insert(index, count as u64);
                }
                index += 1;
            }
        }
        assert_eq!(hist["zero_count"], zeros, "{node}");
        assert_eq!(got, expected, "{node}");
        assert_eq!(hist["count"], clients.len() as u64);
    }
}

#[tokio::test]
async fn native_only_histograms_and_families_turned_off() {
    let settings = format!(
        "{SCAN_ONCE}\nhistograms = \"native\"\ndisable = [\"query_buffer\", \"age\", \"top_clients\"]"
    );
    let h = start(quiet_topology(50), &settings).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let has = |prefix: &str| samples.iter().any(|s| s.name.starts_with(prefix));
    for gone in [
        "dcs_client_age_seconds",
        "dcs_client_query_buffer_bytes",
        "dcs_top_client_",
    ] {
        assert!(!has(gone), "{gone} is turned off");
    }
    assert!(has("dcs_clients_by_kind") && has("dcs_client_output_memory_bytes"));
    // Text formats keep only +Inf, _sum and _count of a native histogram.
    let bounds: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "dcs_client_idle_seconds_bucket")
        .map(|s| s.label("le"))
        .collect();
    assert_eq!(bounds, BTreeSet::from(["+Inf"]));
    let families = decoded_protobuf(&h).await;
    let idle = family_named(&families, "dcs_client_idle_seconds");
    for m in idle["metrics"].as_array().unwrap() {
        let hist = &m["histogram"];
        assert_eq!(hist["schema"], 3);
        assert!(!hist["positive_spans"].as_array().unwrap().is_empty());
        assert_eq!(hist["buckets"].as_array().unwrap().len(), 1, "+Inf only");
    }
}

#[test]
fn histograms_and_disable_are_checked() {
    for (toml, words) in [
        ("[exporter]\nhistograms = \"sparse\"", "histograms"),
        (
            "[exporter]\ndisable = [\"idle\", \"sessions\"]",
            "\"sessions\" is no family",
        ),
    ] {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(words), "{err}");
    }
}

#[tokio::test]
async fn scans_that_overrun_the_interval_are_counted_as_skipped() {
    // Five nodes, one scan at a time, each scan about 0.6 s: a round takes 3 s, the interval 1 s.
    let mut topology = quiet_topology(20);
    topology.job_duration = Duration::from_millis(600);
    let h = start(
        topology,
        "scan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\nmax_concurrent_scans = 1",
    )
    .await;
    let samples = h
        .scrape_until(Duration::from_secs(30), |samples| {
            samples
                .iter()
                .filter(|s| s.name == "dcs_scan_skipped_total")
                .map(|s| s.value)
                .sum::<f64>()
                >= 5.0
        })
        .await;
    let interval = samples
        .iter()
        .find(|s| s.name == "dcs_exporter_scan_interval_seconds")
        .unwrap()
        .value;
    assert_eq!(interval, 1.0);
    let longest = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_cycle_seconds")
        .map(|s| s.value)
        .fold(0.0, f64::max);
    assert!(longest > interval, "the longest cycle {longest} s");
}

#[tokio::test]
async fn discovery_filters_by_tag_enterprise_project_and_engine_version() {
    let topology = quiet_topology(5);
    let by_name = |name: &str| {
        topology
            .instances
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .clone()
    };
    let (orders, proxy) = (by_name("orders-cache"), by_name("sessions-proxy"));
    let cases = [
        (
            r#"tags = ["team=orders", "env=prod"]"#.to_string(),
            "orders-cache",
        ),
        (r#"tags = ["team=platform"]"#.to_string(), "sessions-proxy"),
        (r#"engine_version = "5""#.to_string(), "sessions-proxy"),
        (
            format!("engine_version = \"{}\"", orders.engine_version),
            "orders-cache",
        ),
        (
            format!(
                "enterprise_project_id = \"{}\"",
                proxy.enterprise_project_id
            ),
            "sessions-proxy",
        ),
    ];
    for (filter, expected) in cases {
        let h = start_with(quiet_topology(5), SCAN_ONCE, "", &filter, |_| {}).await;
        h.wait_ready().await;
        let samples = h.scrape().await;
        let names: BTreeSet<String> = samples
            .iter()
            .filter(|s| s.name == "dcs_node_info")
            .map(|s| s.label("instance_name").to_string())
            .collect();
        assert_eq!(names, BTreeSet::from([expected.to_string()]), "{filter}");
    }
    // Tags that match nothing: nothing is scanned, and the exporter is ready.
    let h = start_with(
        quiet_topology(5),
        SCAN_ONCE,
        "",
        r#"tags = ["team=nobody"]"#,
        |_| {},
    )
    .await;
    h.wait_ready().await;
    assert!(h.scrape().await.iter().all(|s| s.name != "dcs_node_info"));
}

#[tokio::test]
async fn an_instance_whose_parameters_cannot_be_read_keeps_its_session_metrics() {
    let h = start_with(quiet_topology(20), SCAN_ONCE, "", "", |sim| {
        sim.inject_fault(Fault::new(
            Operation::ListConfigurations,
            u32::MAX,
            SimError::dcs(500, "DCS.5000", "Internal error."),
        ));
        sim.inject_fault(Fault::new(
            Operation::ListSlowlog,
            u32::MAX,
            SimError::dcs(403, "DCS.4003", "No permission to list slow logs."),
        ));
    })
    .await;
    h.wait_ready().await;
    // A slow log that cannot be read is counted, and fails no scan.
    let samples = h
        .scrape_until(Duration::from_secs(20), |samples| {
            samples.iter().any(|s| {
                s.name == "dcs_exporter_instance_context_errors_total"
                    && s.label("operation") == "list_slowlog"
                    && s.label("reason") == "DCS.4003"
            })
        })
        .await;
    assert!(samples.iter().all(|s| !s.name.starts_with("dcs_slow_")));
    let nodes: usize = instances_and_nodes(&h.sim)
        .iter()
        .map(|(_, n)| n.len())
        .sum();
    let scanned = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_success" && s.value == 1.0)
        .count();
    assert_eq!(scanned, nodes, "every node scanned");
    assert!(samples.iter().any(|s| s.name == "dcs_clients"));
    assert!(samples.iter().all(|s| s.name != "dcs_node_max_clients"));
    // The details still came through.
    assert_eq!(
        samples
            .iter()
            .filter(|s| s.name == "dcs_instance_info")
            .count(),
        2
    );
    let errors: f64 = samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_instance_context_errors_total"
                && s.label("operation") == "list_configurations"
                && s.label("reason") == "DCS.5000"
        })
        .map(|s| s.value)
        .sum();
    assert!(errors >= 2.0, "{errors}");
}

fn golden_snapshot() -> Arc<Store> {
    golden_snapshot_of(false)
}

/// The golden snapshot; `native`: with native buckets as well.
fn golden_snapshot_of(native: bool) -> Arc<Store> {
    let settings = Arc::new(AggregateSettings {
        max_client_addrs: 2,
        max_client_names: 20,
        max_client_commands: 20,
        idle_threshold_seconds: 3600,
        native_histograms: native,
        top_clients: 2,
        client_addr_field: ClientAddrField::Addr,
        idle_buckets: vec![1.0, 60.0, 3600.0].into(),
        age_buckets: vec![60.0, 86400.0].into(),
        bytes_buckets: vec![0.0, 65536.0].into(),
    });
    let session = |addr: &str, db: &str, user: &str, idle: i64, omem: i64, name: &str| ClientInfo {
        addr: Some(addr.into()),
        db: Some(db.into()),
        user: Some(user.into()),
        idle: Some(idle),
        age: Some(idle * 2 + 5),
        omem: Some(omem),
        qbuf: Some(if idle == 0 { 26 } else { 0 }),
        sub: Some(i64::from(name == "pubsub")),
        psub: Some(0),
        name: Some(name.into()),
        cmd: Some(if name == "pubsub" { "subscribe" } else { "get" }.into()),
        ..Default::default()
    };
    let sessions = vec![
        session("10.0.0.1:5001", "0", "app", 0, 0, "api"),
        session("10.0.0.1:5002", "0", "app", 30, 0, "api"),
        session("10.0.0.1:5003", "1", "app", 7200, 0, "api"),
        session("10.0.0.2:6001", "0", "default", 90000, 0, "cron"),
        session("10.0.0.2:6002", "0", "default", 2, 2_000_000, "pubsub"),
        session("10.0.0.3:7001", "0", "report\"er", 5, 1024, ""),
    ];
    let store = Arc::new(Store::new());
    let now = harness::fixed_now();
    let key = NodeKey {
        instance_id: "inst-1".into(),
        node_id: "node-a".into(),
    };
    store.update(|s| {
        s.discovered.insert("prod".into());
        s.nodes.insert(
            key.clone(),
            Arc::new(NodeState {
                info: NodeInfo {
                    source: dcs_session_exporter::snapshot::Source::Cloud("prod".into()),
                    instance_name: "orders".into(),
                    node_name: "orders-0001".into(),
                    node_role: "master".into(),
                    node_ip: "192.168.0.10".into(),
                    az: "cn-north-4a".into(),
                    cloud_eye_id: "ces-node-a".into(),
                    max_clients: Some(10_000),
                    idle_timeout: Some(0),
                },
                last_attempt: Some(Attempt {
                    finished: now - Duration::from_secs(5),
                    duration: Duration::from_millis(2500),
                    failure: None,
                }),
                data: Some(Arc::new(NodeData {
                    aggregate: aggregate(settings, &sessions),
                    data_time: Some(now - Duration::from_secs(7)),
                    scanned: now - Duration::from_secs(5),
                })),
                errors: BTreeMap::from([((Stage::Job, Reason::Timeout), 2)]),
                skipped: 2,
                last_cycle: Some(Duration::from_millis(61_500)),
            }),
        );
        // A node whose last scan failed long ago: status only.
        s.nodes.insert(
            NodeKey {
                instance_id: "inst-1".into(),
                node_id: "node-b".into(),
            },
            Arc::new(NodeState {
                info: NodeInfo::default(),
                last_attempt: Some(Attempt {
                    finished: now - Duration::from_secs(600),
                    duration: Duration::from_secs(45),
                    failure: Some(Failure {
                        stage: Stage::List,
                        reason: Reason::ApiCode("APIG.0308".into()),
                        message: "throttled".into(),
                    }),
                }),
                data: None,
                errors: BTreeMap::from([((Stage::List, Reason::ApiCode("APIG.0308".into())), 1)]),
                ..Default::default()
            }),
        );
        let mut dbss = DbssState::default();
        let job =
            |id: &str, status: JobStatus, begin: i64, end: Option<i64>, code: Option<&str>| {
                JobBean {
                    job_id: Some(id.into()),
                    status,
                    job_type: Some("CREATE_INSTANCE".into()),
                    begin_time: Some(begin),
                    end_time: end,
                    error_code: code.map(str::to_string),
                    ..Default::default()
                }
            };
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        dbss.record_jobs(
            vec![
                job(
                    "j-ok",
                    JobStatus::Success,
                    ms(now) - 100_000,
                    Some(ms(now) - 40_000),
                    None,
                ),
                job(
                    "j-fail",
                    JobStatus::Fail,
                    ms(now) - 50_000,
                    Some(ms(now) - 20_000),
                    Some("DBSS.1007"),
                ),
                job("j-run", JobStatus::Running, ms(now) - 1_500_000, None, None),
            ],
            now - Duration::from_secs(3),
        );
        dbss.last_attempt = Some(Attempt {
            finished: now - Duration::from_secs(3),
            duration: Duration::from_millis(120),
            failure: None,
        });
        s.dbss.insert("res-1".into(), Arc::new(dbss));
        s.last_discovery.insert("prod".into(), None);
        s.last_discovery
            .insert("backup".into(), Some("listing instances: 403".into()));
        s.clock_offsets.insert("prod".into(), -1.5);
        s.scan_interval = Some(Duration::from_secs(60));
        s.instances.insert(
            "inst-1".into(),
            dcs_session_exporter::snapshot::InstanceContext {
                cloud: "prod".into(),
                instance_name: "orders".into(),
                engine_version: "6.0".into(),
                spec_code: "redis.ha.xu1.large.r2.8".into(),
                architecture: "ha".into(),
                enterprise_project_id: "0".into(),
                client_ip_pass_through: Some(true),
                tags: vec![
                    ("tag_env".into(), "prod".into()),
                    ("tag_cost_center".into(), "".into()),
                ],
                slow_log: true,
            },
        );
        s.context_errors.insert(
            (
                "inst-1".into(),
                dcs_session_exporter::snapshot::ContextRead::Api(Operation::ListConfigurations),
                "DCS.5000".into(),
            ),
            3,
        );
        let mut slow = dcs_session_exporter::slowlog::SlowCommands::default();
        let entry =
            |addr: &str, command: &str, millis: u64| dcs_session_exporter::slowlog::SlowEntry {
                id: 1,
                time: now,
                duration: Duration::from_millis(millis),
                shard: String::new(),
                role: "master".into(),
                client_addr: addr.into(),
                command: command.into(),
            };
        slow.record(
            &[
                entry("10.0.0.5", "keys", 120),
                entry("10.0.0.5", "keys", 30),
                entry("10.0.0.9", "hgetall", 12),
            ],
            &dcs_session_exporter::slowlog::SlowCaps {
                addrs: 1,
                commands: 20,
                series: 200,
            },
        );
        s.slow_commands.insert("inst-1".into(), Arc::new(slow));
    });
    store
}

#[test]
fn golden_exposition() {
    let targets = SnapshotCollector::new(golden_snapshot(), Duration::from_secs(180))
        .with_clock(harness::fixed_now);
    let text = Format::Text
        .encode(&targets, &prometheus_client::registry::Registry::default())
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden.prom");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(path, &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(path).expect("tests/data/golden.prom (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        text, golden,
        "the exposition changed; review, then UPDATE_GOLDEN=1 cargo test golden"
    );
}

/// The exporter's own writers against prometheus-client's encoders, on the same snapshot:
/// byte for byte in every format and histogram mode, with label values that need escaping,
/// cutting, or are empty, and values that are not finite.
#[test]
fn the_writers_match_prometheus_clients_encoders_byte_for_byte() {
    use dcs_session_exporter::config::HistogramMode;
    let store = golden_snapshot_of(true);
    store.update(|s| {
        let (key, node) = s
            .nodes
            .iter()
            .next()
            .map(|(k, n)| (k.clone(), n.clone()))
            .unwrap();
        let mut odd = (*node).clone();
        odd.info.instance_name = "a \\ b \" c\nd λ".into();
        odd.info.node_name = "n".repeat(300);
        odd.info.az = String::new();
        s.nodes.insert(
            NodeKey {
                instance_id: "inst \"2\"".into(),
                node_id: format!("{}\\\n", key.node_id).into(),
            },
            Arc::new(odd),
        );
        s.clock_offsets.insert("nan".into(), f64::NAN);
        s.clock_offsets.insert("inf".into(), f64::INFINITY);
        s.clock_offsets.insert("-inf".into(), f64::NEG_INFINITY);
    });
    let mut checked = 0;
    for mode in [
        HistogramMode::Both,
        HistogramMode::Native,
        HistogramMode::Classic,
    ] {
        store.update(|s| Arc::make_mut(&mut s.exposition).histograms = mode);
        let targets = SnapshotCollector::new(Arc::clone(&store), Duration::from_secs(180))
            .with_clock(harness::fixed_now);
        let empty = prometheus_client::registry::Registry::default();
        let mut reference = prometheus_client::registry::Registry::default();
        reference.register_collector(Box::new(
            SnapshotCollector::new(Arc::clone(&store), Duration::from_secs(180))
                .with_clock(harness::fixed_now),
        ));
        for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
            let ours = format.encode(&targets, &empty).unwrap();
            let theirs = match format {
                Format::Protobuf => {
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&reference)
                        .unwrap()
                }
                Format::OpenMetrics => {
                    let mut text = String::new();
                    prometheus_client::encoding::text::encode(&mut text, &reference).unwrap();
                    text.into_bytes()
                }
                Format::Text => {
                    let mut text = String::new();
                    prometheus_client::encoding::prometheus_text::encode(&mut text, &reference)
                        .unwrap();
                    text.into_bytes()
                }
            };
            if ours != theirs {
                let at = ours
                    .iter()
                    .zip(&theirs)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ours.len().min(theirs.len()));
                let around = |b: &[u8]| {
                    String::from_utf8_lossy(&b[at.saturating_sub(80)..(at + 80).min(b.len())])
                        .into_owned()
                };
                panic!(
                    "{format:?}, {mode:?}: {} bytes against {}, first difference at byte {at}:\nours:   {:?}\ntheirs: {:?}",
                    ours.len(),
                    theirs.len(),
                    around(&ours),
                    around(&theirs)
                );
            }
            assert!(
                ours.len() > 2_000,
                "{format:?} {mode:?}: {} bytes",
                ours.len()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}

// ---------------------------------------------------------------------------------------------
// The command line

fn exporter_binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
    cmd.env_remove("CLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_AK");
    cmd
}

#[test]
fn check_config_validates_the_example_and_names_bad_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/exporter.toml");
    let ok = exporter_binary()
        .args(["check-config", "--config", example])
        .env("CLOUD_SDK_AK", "ak")
        .env("CLOUD_SDK_SK", "sk")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("valid") && out.contains("DBSS resource"));
    assert!(
        !out.contains("ak") || !out.contains("=ak"),
        "no secret is printed"
    );

    let no_creds = exporter_binary()
        .args(["check-config", "--config", example])
        .env_remove("CLOUD_SDK_SK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .output()
        .unwrap();
    assert!(!no_creds.status.success());
    assert!(String::from_utf8_lossy(&no_creds.stderr).contains("CLOUD_SDK_AK"));

    let dir = std::env::temp_dir().join(format!("dcs-exporter-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("top_clients = 5", "top_clients = \"five\"");
    std::fs::write(&bad, text).unwrap();
    let out = exporter_binary()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("top_clients"));
    std::fs::remove_dir_all(&dir).unwrap();
}
