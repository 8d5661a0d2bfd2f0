//! Whole-process collection: the simulator (in this process, serving each stored list
//! rendered once) and the exporter (a child process, measured from /proc) collecting full
//! cycles of every node.
//!
//!     cargo bench --bench cycle
//!
//! Scenarios (a, b and c by default; CYCLE_SCENARIOS=a,n200 picks some):
//! - a: 100 nodes x 10,000 sessions;
//! - b: 1,000 nodes x 1,000 sessions;
//! - c: as b, with 50 ms of latency on every API answer;
//! - n200, n10000: 200 and 10,000 nodes x 20 sessions, where the cost a node (its calls, job
//!   polls, publication) outweighs the cost a session.
//!
//! Scenarios a to c run the exporter at its default settings (60 s interval, request rate,
//! concurrency); the n scenarios spread first scans over most of the interval and raise the
//! request rate and concurrent scans so that 10,000 nodes fit it. Each waits for two cycles.
//! Reported: wall time of each cycle, exporter CPU seconds per million sessions and
//! milliseconds per node scan in the second (steady) cycle, peak RSS, and `/metrics` size,
//! samples and the time one scrape takes to encode and send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use tokio::time::Instant;

mod common;

const AK: &str = "AKCYCLEBENCH";
const SK: &str = "SKcyclebench0000000000000001";
/// No cycle of any scenario may take longer; the bench gives up past it.
const MAX_CYCLE: Duration = Duration::from_secs(300);

struct Scenario {
    name: &'static str,
    nodes: u32,
    sessions_per_node: u32,
    latency: Duration,
    /// Settings beside the defaults: `[exporter]` keys, then `[[cloud]]` keys.
    exporter: &'static str,
    cloud: &'static str,
}

/// Scan starts spread over most of the interval; rate and concurrency with room for 10,000
/// nodes a minute (about 4 calls and 2 s of job a node).
const MANY_NODES_EXPORTER: &str = "first_scan_spread = \"50s\"\nmax_concurrent_scans = 1000\n";
const MANY_NODES_CLOUD: &str = "requests_per_second = 2000\n";

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "a",
        nodes: 100,
        sessions_per_node: 10_000,
        latency: Duration::ZERO,
        exporter: "",
        cloud: "",
    },
    Scenario {
        name: "b",
        nodes: 1000,
        sessions_per_node: 1000,
        latency: Duration::ZERO,
        exporter: "",
        cloud: "",
    },
    Scenario {
        name: "c",
        nodes: 1000,
        sessions_per_node: 1000,
        latency: Duration::from_millis(50),
        exporter: "",
        cloud: "",
    },
    Scenario {
        name: "n200",
        nodes: 200,
        sessions_per_node: 20,
        latency: Duration::ZERO,
        exporter: MANY_NODES_EXPORTER,
        cloud: MANY_NODES_CLOUD,
    },
    Scenario {
        name: "n10000",
        nodes: 10_000,
        sessions_per_node: 20,
        latency: Duration::ZERO,
        exporter: MANY_NODES_EXPORTER,
        cloud: MANY_NODES_CLOUD,
    },
];

/// What the simulator has served, counted as the answers leave.
#[derive(Default)]
struct Served {
    /// Scan jobs started, and when each started.
    scans: Vec<Instant>,
    /// Whole lists read (the page holding a list's last session was sent), with their sizes.
    lists: Vec<(Instant, u64)>,
}

/// `(offset, limit)` of a list call's query.
fn paging(query: &str) -> (u64, u64) {
    let mut map = HashMap::new();
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            map.insert(k, v.parse::<u64>().unwrap_or(0));
        }
    }
    (
        map.get("offset").copied().unwrap_or(0),
        map.get("limit").copied().unwrap_or(10),
    )
}

async fn count(served: Arc<Mutex<Served>>, request: Request, next: Next) -> Response {
    let is_clients = request.uri().path().ends_with("/clients");
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or_default().to_string();
    let response = next.run(request).await;
    if !is_clients || response.status() != 200 {
        return response;
    }
    if method == axum::http::Method::POST {
        served.lock().unwrap().scans.push(Instant::now());
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    // A rendered page ends with `"count":N}`.
    let total: u64 = std::str::from_utf8(&bytes[bytes.len().saturating_sub(32)..])
        .ok()
        .and_then(|tail| tail.rsplit_once("\"count\":"))
        .and_then(|(_, n)| n.trim_end_matches('}').parse().ok())
        .unwrap_or(0);
    let (offset, limit) = paging(&query);
    if offset + limit >= total {
        served.lock().unwrap().lists.push((Instant::now(), total));
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Kills the exporter however the bench ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn topology(s: &Scenario) -> Topology {
    let mut topology = Topology::demo();
    topology.dbss_resources.clear();
    topology.api_latency = s.latency;
    // Redis Cluster instances of 10 shards without replicas: 10 nodes of the same size each
    // (a replica's simulated sessions are fewer).
    topology.instances = (0..s.nodes / 10)
        .map(|i| InstanceSpec {
            name: format!("cluster-{i:03}"),
            id: None,
            architecture: Architecture::Cluster,
            shards: 10,
            replicas: 0,
            proxies: 0,
            sessions_per_node: s.sessions_per_node,
            client_hosts: 20,
            ip_pass_through: true,
            engine_version: "6.0".into(),
            redis_urls: Vec::new(),
            ..Default::default()
        })
        .collect();
    topology
}

/// Waits until `done` holds of what was served.
async fn wait_for(served: &Mutex<Served>, what: &str, done: impl Fn(&Served) -> bool) {
    let started = Instant::now();
    while !done(&served.lock().unwrap()) {
        assert!(
            started.elapsed() < MAX_CYCLE,
            "{what}: not within {MAX_CYCLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(s: &Scenario) {
    let sim = Simulator::new(SimConfig::new(Credentials::new(AK, SK), topology(s)));
    let served = Arc::new(Mutex::new(Served::default()));
    let router = sim.router().layer(middleware::from_fn({
        let served = Arc::clone(&served);
        move |request: Request, next: Next| count(Arc::clone(&served), request, next)
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = std::env::temp_dir().join(format!("dcs-cycle-{}-{}", s.name, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("exporter.toml");
    // The cloud, and every other setting at its default unless the scenario says.
    std::fs::write(
        &config,
        format!(
            "[exporter]\n{}[[cloud]]\nname = \"bench\"\nproject_id = \"p\"\ndcs_endpoint = \"{sim_url}\"\n\
             dbss_endpoint = \"{sim_url}\"\n{}[cloud.discovery]\n",
            s.exporter, s.cloud
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut child = Child(common::spawn_exporter(
        &config,
        &[],
        &[("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)],
    ));
    let pid = child.0.id();
    let nodes = s.nodes as usize;
    let base = common::exporter_base_url(&mut child.0);

    wait_for(&served, "cycle 1", |v| v.lists.len() >= nodes).await;
    let (cycle1, cpu1, sessions1) = {
        let v = served.lock().unwrap();
        let sessions: u64 = v.lists.iter().map(|l| l.1).sum();
        (
            v.lists[nodes - 1].0 - started,
            common::cpu_seconds(pid),
            sessions,
        )
    };
    wait_for(&served, "cycle 2", |v| v.lists.len() >= 2 * nodes).await;
    // The last page's sessions are aggregated after it is sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu2 = common::cpu_seconds(pid);
    let (cycle2, sessions2) = {
        let v = served.lock().unwrap();
        let sessions: u64 = v.lists[nodes..2 * nodes].iter().map(|l| l.1).sum();
        (v.lists[2 * nodes - 1].0 - v.scans[nodes], sessions)
    };

    let collecting_peak = common::memory_kib(pid).1;
    let http = reqwest::Client::new();
    let scrape_started = Instant::now();
    let body = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = scrape_started.elapsed();
    let samples = body.lines().filter(|l| !l.starts_with('#')).count();
    let peak_plain = common::memory_kib(pid).1;
    // As Prometheus scrapes: gzip, which the exporter keeps for the scrapers that follow.
    let gzip_started = Instant::now();
    let gzipped = http
        .get(format!("{base}/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let gzip_scrape = gzip_started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = common::memory_kib(pid).1;
    let rss_after = common::memory_kib(pid).0;
    drop(child);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);

    let per_million = (cpu2 - cpu1) / sessions2.max(1) as f64 * 1e6;
    let per_node_ms = (cpu2 - cpu1) / nodes as f64 * 1e3;
    println!(
        "scenario {}: {} nodes x {} sessions, API latency {} ms",
        s.name,
        s.nodes,
        s.sessions_per_node,
        s.latency.as_millis()
    );
    println!(
        "  cycle 1 (cold: start, discovery, scans): {:.1} s, {sessions1} sessions, exporter CPU {cpu1:.2} s",
        cycle1.as_secs_f64()
    );
    println!(
        "  cycle 2 (steady): {:.1} s, {sessions2} sessions, exporter CPU {:.2} s = {per_million:.2} s per million sessions ({:.2} us a session), {per_node_ms:.3} ms a node scan",
        cycle2.as_secs_f64(),
        cpu2 - cpu1,
        per_million
    );
    println!(
        "  peak RSS {:.1} MiB collecting, {:.1} MiB after an uncompressed scrape, {:.1} MiB after a gzip one (RSS then {:.1} MiB); /metrics {samples} samples, {} KiB, scraped in {:.0} ms; gzipped {} KiB in {:.0} ms",
        collecting_peak as f64 / 1024.0,
        peak_plain as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        body.len() / 1024,
        scrape.as_secs_f64() * 1e3,
        gzipped / 1024,
        gzip_scrape.as_secs_f64() * 1e3
    );
    println!(
        "  | {} | {} x {} | {} ms | {:.1} s | {:.1} s | {per_million:.2} | {:.1} / {:.1} MiB | {samples} / {} KiB / {:.0} ms |",
        s.name,
        s.nodes,
        s.sessions_per_node,
        s.latency.as_millis(),
        cycle1.as_secs_f64(),
        cycle2.as_secs_f64(),
        collecting_peak as f64 / 1024.0,
        peak as f64 / 1024.0,
        body.len() / 1024,
        scrape.as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let chosen = std::env::var("CYCLE_SCENARIOS").unwrap_or_else(|_| "a,b,c".into());
    for s in SCENARIOS
        .iter()
        .filter(|s| chosen.split(',').any(|c| c == s.name))
    {
        run(s).await;
    }
}
