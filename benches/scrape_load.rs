//! Load on /metrics: 200 concurrent scrapers for 10 seconds against an exporter process that
//! holds 1,000 scanned nodes. Reports latency percentiles, errors, and the exporter's resident
//! memory before and after.
//!
//!     cargo bench --bench scrape_load
//!
//! Environment: SCRAPERS (200), SECONDS (10), NODES (1000, a multiple of 10).

use std::sync::Arc;
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use tokio::time::Instant;

mod common;

const AK: &str = "AKLOADBENCH";
const SK: &str = "SKloadbench00000000000000001";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let (scrapers, seconds, nodes) = (
        env_or("SCRAPERS", 200),
        env_or("SECONDS", 10),
        env_or("NODES", 1000),
    );
    // Redis Cluster instances of 5 shards with a replica each: 10 nodes that take clients.
    let mut topology = Topology::demo();
    topology.job_duration = Duration::ZERO;
    topology.dbss_resources.clear();
    topology.instances = (0..nodes / 10)
        .map(|i| InstanceSpec {
            name: format!("cluster-{i:03}"),
            id: None,
            architecture: Architecture::Cluster,
            shards: 5,
            replicas: 1,
            proxies: 0,
            sessions_per_node: 300,
            client_hosts: 20,
            ip_pass_through: true,
            engine_version: "6.0".into(),
            redis_urls: Vec::new(),
            ..Default::default()
        })
        .collect();
    let sim = Simulator::new(SimConfig::new(Credentials::new(AK, SK), topology));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = std::env::temp_dir().join(format!("dcs-scrape-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("exporter.toml");
    std::fs::write(
        &config,
        format!(
            "[exporter]\nscan_interval = \"10m\"\nfirst_scan_spread = \"0s\"\nmax_concurrent_scans = 64\n\
             [[cloud]]\nname = \"load\"\nproject_id = \"p\"\ndcs_endpoint = \"{sim_url}\"\ndbss_endpoint = \"{sim_url}\"\n\
             requests_per_second = 5000\n[cloud.discovery]\n"
        ),
    )
    .unwrap();
    let mut child =
        common::spawn_exporter(&config, &[], &[("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)]);
    let pid = child.id();
    let base = common::exporter_base_url(&mut child);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(scrapers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not ready in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready_after = started.elapsed();
    let body = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = body.lines().filter(|l| !l.starts_with('#')).count();
    // One scrape as Prometheus asks (gzip) builds the steady state: one encoding and its
    // compressed copy. Growth under load is measured from there.
    http.get(format!("{base}/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = common::memory_kib(pid).0;

    let until = Instant::now() + Duration::from_secs(seconds as u64);
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..scrapers {
        let (http, url, errors) = (http.clone(), format!("{base}/metrics"), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                // As Prometheus scrapes: asking for gzip.
                let ok = match http
                    .get(&url)
                    .header("Accept-Encoding", "gzip")
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = common::memory_kib(pid).0;
    latencies.sort();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    // Five masters of 300 sessions and five replicas of 30 an instance.
    let sessions = nodes / 10 * (5 * 300 + 5 * 30);
    println!(
        "nodes: {nodes} ({sessions} sessions), ready after {:.1} s, /metrics: {samples} samples, {} KiB",
        ready_after.as_secs_f64(),
        body.len() / 1024
    );
    drop(sim);
    println!(
        "{scrapers} scrapers for {seconds} s: {} scrapes ({:.0}/s), {} errors",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        errors.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "exporter RSS: {:.1} MiB before, {:.1} MiB after ({:+.1} %)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        (rss_after as f64 - rss_before as f64) / rss_before.max(1) as f64 * 100.0
    );
}
