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

mod capacity;
mod cli;
mod context;
mod exposition;
mod scans;
