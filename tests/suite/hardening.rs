//! What a hostile network, a skewed clock, a failed first call and a careless operator do to
//! the exporter: each through the real binary (or the real HTTP face), on loopback, with
//! bounded waits.

use crate::common::{harness, process, redis_server};

use std::collections::BTreeSet;
use std::time::Duration;

use dcs_session_exporter::cloud::{Credentials, Operation};
use dcs_session_exporter::sim::state::{ErrorShape, SimError};
use dcs_session_exporter::sim::{Fault, SimConfig, Simulator};
use harness::{Sample, http, scrape, wait_for};
use process::{Dir, Exporter, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const AK: &str = "AKHARDENING";
const SK: &str = "SKhardening00000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];
const TOKEN: &str = "webhook-token-0123456789";

fn sim_config() -> SimConfig {
    SimConfig::new(Credentials::new(AK, SK), harness::quick_topology())
}

/// A cloud `name` on the simulator, scanning what `rest` says.
fn cloud(name: &str, sim_url: &str, rest: &str) -> String {
    harness::cloud_toml(name, "p", sim_url) + rest
}

fn exporter_section(settings: &str) -> String {
    format!("[exporter]\nfirst_scan_spread = \"0s\"\n{settings}\n")
}

fn values<'a>(samples: &'a [Sample], name: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.name == name).collect()
}

/// The node ids with `dcs_scan_success 1`.
fn succeeded(samples: &[Sample]) -> BTreeSet<String> {
    values(samples, "dcs_scan_success")
        .into_iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.label("node_id").to_string())
        .collect()
}

fn all_client_nodes(sim: &Simulator) -> BTreeSet<String> {
    sim.with_state(|s| {
        s.instance_ids()
            .iter()
            .flat_map(|i| s.logical_nodes(i).unwrap().nodes)
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    })
}

/// Sends raw bytes and reads the answer's status line, at most `limit` after sending.
async fn raw_status(addr: &str, request: &[u8], limit: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(request).await.ok()?;
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(limit, stream.read(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    text.lines().next().map(str::to_string)
}

/// Waits (at most `limit`) for the server to close a connection it was sent `sent` on.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(started + limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

// 1. A flood of wrong passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_flood_leaves_the_right_scraper_and_the_probes_answered() {
    let dir = Dir::new("flood");
    let hash = bcrypt::hash("open sesame", 8).unwrap();
    let web = dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {hash}\n"),
    );
    let mut exporter =
        Exporter::start(&["--demo", "--web.config.file", web.to_str().unwrap()], &[]);
    let url = format!("{}/metrics", exporter.base);
    let health = format!("{}/healthz", exporter.base);
    let scraper = http();
    let scrape = || async {
        let started = Instant::now();
        let answer = scraper
            .get(&url)
            .basic_auth("prometheus", Some("open sesame"))
            .send()
            .await
            .expect("the scraper is answered");
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        started.elapsed()
    };
    // Prometheus has scraped before the flood starts.
    scrape().await;
    // 20 clients guess every 50 ms for 5 s and give up on each guess after 200 ms.
    let flood_until = Instant::now() + Duration::from_secs(5);
    let mut flood = tokio::task::JoinSet::new();
    for client in 0..20 {
        let url = url.clone();
        flood.spawn(async move {
            let guesser = reqwest::Client::builder()
                .timeout(Duration::from_millis(200))
                .build()
                .unwrap();
            let mut n = 0u32;
            while Instant::now() < flood_until {
                let _ = guesser
                    .get(&url)
                    .basic_auth("prometheus", Some(format!("guess-{client}-{n}")))
                    .send()
                    .await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            n
        });
    }
    let (mut worst_scrape, mut worst_probe, mut most_threads) = (Duration::ZERO, Duration::ZERO, 0);
    while Instant::now() < flood_until + Duration::from_secs(1) {
        worst_scrape = worst_scrape.max(scrape().await);
        let started = Instant::now();
        assert_eq!(http().get(&health).send().await.unwrap().status(), 200);
        worst_probe = worst_probe.max(started.elapsed());
        most_threads = most_threads.max(exporter.status_number("Threads"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let guesses: u32 = flood.join_all().await.into_iter().sum();
    println!(
        "{guesses} wrong guesses: slowest scrape {worst_scrape:?}, slowest probe {worst_probe:?}, at most {most_threads} threads"
    );
    // Before: 88 s for the scraper, 515 threads. The bound tells a served scraper from a
    // starved one on a loaded 2-core machine; it is no speed target.
    assert!(worst_scrape < Duration::from_secs(10), "{worst_scrape:?}");
    assert!(worst_probe < Duration::from_secs(10), "{worst_probe:?}");
    assert!(most_threads < 64, "{most_threads} threads");
    // A wrong password is still refused, and an unknown user too.
    let wrong = http()
        .get(&url)
        .basic_auth("prometheus", Some("open simsim"))
        .send()
        .await
        .unwrap();
    assert!(
        [401, 503].contains(&wrong.status().as_u16()),
        "{}",
        wrong.status()
    );
    // SIGTERM ends the process within seconds, with guesses in flight.
    for n in 0..10 {
        let url = url.clone();
        tokio::spawn(async move {
            let _ = http()
                .get(&url)
                .basic_auth("prometheus", Some(format!("late-{n}")))
                .send()
                .await;
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    exporter.signal("TERM");
    let status = exporter.wait_exit(Duration::from_secs(30));
    assert!(status.is_some(), "SIGTERM did not end the process");
}

// 2. A service clock behind the local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_difference_does_not_empty_the_nodes() {
    let mut config = sim_config();
    config.clock_offset_ms = -40_000;
    let (sim, sim_url) = harness::serve_sim(config).await;
    let dir = Dir::new("clock");
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("scan_interval = \"5s\"")
            + &cloud("sim", &sim_url, "[cloud.discovery]\n")),
    );
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &ENV);
    let nodes = all_client_nodes(&sim);
    let samples = wait_for(Duration::from_secs(30), "every node scanned", || async {
        let samples = scrape(&exporter.base).await;
        (succeeded(&samples) == nodes).then_some(samples)
    })
    .await;
    // Every call succeeded, and the lists are fresh on the service's clock: no stale_list.
    let stale: Vec<_> = values(&samples, "dcs_scan_errors_total")
        .into_iter()
        .filter(|s| s.label("reason") == "stale_list")
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
    assert!(!values(&samples, "dcs_clients").is_empty());
    let offset = values(&samples, "dcs_exporter_clock_offset_seconds");
    assert_eq!(offset.len(), 1, "{offset:?}");
    assert_eq!(offset[0].label("cloud"), "sim");
    assert!(
        (-42.0..=-38.0).contains(&offset[0].value),
        "offset {}",
        offset[0].value
    );
    // Warned once, however many answers told it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warnings = exporter
        .log()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("clock"))
        .count();
    assert_eq!(warnings, 1, "{:#?}", exporter.log());
}

// 3. A failed first discovery, then a failed later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_is_retried_soon_and_readiness_waits_for_it() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let refused = SimError {
        status: 403,
        shape: ErrorShape::Gateway,
        code: "APIG.0203".into(),
        message: "injected".into(),
    };
    sim.inject_fault(Fault::new(Operation::ListInstances, 2, refused.clone()));
    let dir = Dir::new("discovery");
    // The default discovery interval: ten minutes.
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("scan_interval = \"1s\"")
            + &cloud("sim", &sim_url, "[cloud.discovery]\n")),
    );
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &ENV);
    let ready = format!("{}/readyz", exporter.base);
    let body = wait_for(
        Duration::from_secs(10),
        "readyz names the failure",
        || async {
            let answer = http().get(&ready).send().await.unwrap();
            assert_eq!(answer.status(), 503, "ready before any discovery succeeded");
            let body = answer.text().await.unwrap();
            body.contains("APIG.0203").then_some(body)
        },
    )
    .await;
    assert!(body.contains("cloud sim"), "{body}");
    let gauge = |samples: &[Sample]| {
        values(samples, "dcs_exporter_discovery_success")
            .first()
            .map(|s| s.value)
    };
    assert_eq!(gauge(&scrape(&exporter.base).await), Some(0.0));
    // Retried within seconds, not at the next discovery in ten minutes.
    wait_for(Duration::from_secs(30), "ready", || async {
        (http().get(&ready).send().await.unwrap().status() == 200).then_some(())
    })
    .await;
    let nodes = all_client_nodes(&sim);
    wait_for(Duration::from_secs(20), "every node scanned", || async {
        (succeeded(&scrape(&exporter.base).await) == nodes).then_some(())
    })
    .await;
    assert_eq!(gauge(&scrape(&exporter.base).await), Some(1.0));
    drop(exporter);

    // A later discovery that fails keeps the nodes known before.
    let file = dir.write(
        "exporter2.toml",
        &(exporter_section("scan_interval = \"1s\"\ndiscovery_interval = \"1s\"")
            + &cloud("sim", &sim_url, "[cloud.discovery]\n")),
    );
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &ENV);
    wait_for(Duration::from_secs(20), "every node scanned", || async {
        (succeeded(&scrape(&exporter.base).await) == nodes).then_some(())
    })
    .await;
    sim.inject_fault(Fault::new(Operation::ListInstances, 1_000, refused.clone()));
    sim.inject_fault(Fault::new(Operation::ListLogicalNodes, 1_000, refused));
    wait_for(Duration::from_secs(20), "discovery failing", || async {
        (gauge(&scrape(&exporter.base).await) == Some(0.0)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let samples = scrape(&exporter.base).await;
    assert_eq!(
        succeeded(&samples),
        nodes,
        "the known nodes are still scanned"
    );
    let ready = format!("{}/readyz", exporter.base);
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 200);
}

// 4, 10 and 13. The webhook: token before body, bounded bodies, capped labels, any-case
// scheme, its calls counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_reads_no_body_before_the_token_and_bounds_what_it_reads() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let (instance, node) = sim.with_state(|s| {
        let instance = s.instance_ids()[0].clone();
        let node = s.logical_nodes(&instance).unwrap().nodes[0]
            .node_id
            .clone()
            .unwrap();
        (instance, node)
    });
    let dir = Dir::new("webhook");
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("scan_interval = \"1s\"")
            + &cloud("sim", &sim_url, "[cloud.discovery]\n")
            + &format!(
                "[remediation]\nenabled = true\ndry_run = false\ntoken_env = \"HOOK_TOKEN\"\n\
                 [[remediation.allow]]\ninstance_id = \"{instance}\"\nnode_id = \"{node}\"\n"
            )),
    );
    let env = [ENV[0], ENV[1], ("HOOK_TOKEN", TOKEN)];
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &env);
    let addr = host_port(&exporter.base);
    let hook = format!("{}/remediation/alertmanager", exporter.base);
    wait_for(Duration::from_secs(20), "the node scanned", || async {
        succeeded(&scrape(&exporter.base).await)
            .contains(&node)
            .then_some(())
    })
    .await;

    // Without a token: refused from the headers, before a byte of the body is read.
    let head = |auth: &str, length: usize| {
        format!(
            "POST /remediation/alertmanager HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        .into_bytes()
    };
    let status = raw_status(&addr, &head("", 2_000_000), Duration::from_secs(5)).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 401 ")),
        "{status:?}"
    );
    // Many unauthenticated 2 MB bodies cost no memory (before: 2 MB each, kept).
    let rss_before = exporter.status_number("VmRSS");
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (addr, request) = (addr.clone(), head("", 2_000_000));
        senders.spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&addr).await else {
                return;
            };
            let mut request = request;
            request.extend(std::iter::repeat_n(b' ', 2_000_000));
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&request)).await;
        });
    }
    senders.join_all().await;
    let grown_kib = exporter.status_number("VmRSS").saturating_sub(rss_before);
    println!("RSS grew by {grown_kib} KiB after 100 unauthenticated 2 MB bodies");
    assert!(grown_kib < 40 * 1024, "RSS grew by {grown_kib} KiB");

    // With the token: a body over the cap is refused, a body that never ends times out.
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let mut big = head(&auth, 2_000_000);
    big.extend(std::iter::repeat_n(b' ', 2_000_000));
    let status = raw_status(&addr, &big, Duration::from_secs(10)).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 413 ")),
        "{status:?}"
    );
    let started = Instant::now();
    let status = raw_status(&addr, &head(&auth, 100), Duration::from_secs(20)).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 408 ")),
        "{status:?}"
    );
    println!(
        "a body that never came was given up after {:?}",
        started.elapsed()
    );

    // A lower-case scheme is the same scheme; a huge label value is cut.
    let long_id = "i".repeat(600_000);
    let alert = |instance: &str, node: &str, fingerprint: &str| {
        serde_json::json!({
            "version": "4",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "DcsIdle", "instance_id": instance, "node_id": node},
                "startsAt": "2026-12-01T00:00:00Z",
                "fingerprint": fingerprint,
            }],
        })
    };
    let answer = http()
        .post(&hook)
        .header("authorization", format!("bearer {TOKEN}"))
        .json(&alert(&long_id, &node, "f1"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().len() < 10_000);
    // An allowed node: a kill-all, whose calls count with the scans'.
    let answer = http()
        .post(&hook)
        .bearer_auth(TOKEN)
        .json(&alert(&instance, &node, "f2"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let samples = wait_for(
        Duration::from_secs(20),
        "the kill's calls counted",
        || async {
            let samples = scrape(&exporter.base).await;
            values(&samples, "dcs_exporter_api_requests_total")
                .iter()
                .any(|s| s.label("operation") == "kill_all_clients")
                .then_some(samples)
        },
    )
    .await;
    let refused: Vec<&Sample> = values(&samples, "dcs_remediation_actions_total")
        .into_iter()
        .filter(|s| s.label("result") == "refused_not_allowed")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].label("instance_id").chars().count(), 256);
    let size = http()
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(size < 200_000, "/metrics is {size} bytes");
}

// 5. Silent, half-sent and idle connections; a descriptor limit; shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_and_cannot_use_up_descriptors() {
    let mut shell = std::process::Command::new("sh");
    shell.args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\"", process::BINARY]);
    let mut exporter = Exporter::start_with(shell, &["--demo"], &[]);
    let addr = host_port(&exporter.base);
    // 150 connections that never send a byte (before: every scrape then failed with "Too
    // many open files").
    let mut silent = Vec::new();
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let addr = addr.clone();
        connecting.spawn(async move {
            tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok)
        });
    }
    for stream in connecting.join_all().await.into_iter().flatten() {
        silent.push(stream);
    }
    let started = Instant::now();
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("a scrape gets through while silent connections are open");
    assert_eq!(answer.status(), 200);
    println!(
        "{} silent connections open; a scrape was answered after {:?}",
        silent.len(),
        started.elapsed()
    );
    drop(silent);

    // A silent connection, half-sent headers and an idle keep-alive connection are closed.
    let mut quiet = TcpStream::connect(&addr).await.unwrap();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 256];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    for (what, stream) in [
        ("silent", &mut quiet),
        ("half-sent", &mut half),
        ("idle", &mut idle),
    ] {
        let closed = closed_within(stream, Duration::from_secs(30)).await;
        println!("{what} connection closed after {closed:?}");
        assert!(closed.is_some(), "the {what} connection stayed open");
    }

    // SIGTERM does not wait for half-sent requests (before: 30 s).
    let mut pending = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        pending.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    exporter.signal("TERM");
    let status = exporter.wait_exit(Duration::from_secs(8));
    println!("stopped {:?} after SIGTERM", started.elapsed());
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

// 6. A cloud named like an internal identity; one instance through two clouds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_named_redis_is_scanned_reloaded_pruned_and_acted_on_like_any_other() {
    let Some(redis) = redis_server::start_or_skip(&[]) else {
        return;
    };
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let (instance, master) = sim.with_state(|s| {
        let instance = s.instance_ids()[0].clone();
        let master = s.logical_nodes(&instance).unwrap().nodes[0]
            .node_id
            .clone()
            .unwrap();
        (instance, master)
    });
    let cache_node = format!("127.0.0.1:{}", redis.port);
    let dir = Dir::new("named-redis");
    let cache = format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url);
    let remediation = format!(
        "[remediation]\nenabled = true\ndry_run = false\ncooldown = \"0s\"\ntoken_env = \"HOOK_TOKEN\"\n\
         [[remediation.allow]]\ninstance_id = \"{instance}\"\nnode_id = \"{master}\"\n\
         [[remediation.allow]]\ninstance_id = \"cache\"\nnode_id = \"*\"\n"
    );
    let config = |with_cache: bool| {
        exporter_section("scan_interval = \"1s\"")
            + &cloud("redis", &sim_url, "[cloud.discovery]\n")
            + if with_cache { &cache } else { "" }
            + &remediation
    };
    let file = dir.write("exporter.toml", &config(true));
    let env = [ENV[0], ENV[1], ("HOOK_TOKEN", TOKEN)];
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &env);
    let cloud_nodes = all_client_nodes(&sim);
    let mut wanted = cloud_nodes.clone();
    wanted.insert(cache_node.clone());
    wait_for(Duration::from_secs(30), "every target scanned", || async {
        (succeeded(&scrape(&exporter.base).await) == wanted).then_some(())
    })
    .await;
    // Several discoveries and a reload later, the direct target is still there (before: its
    // series were erased by the cloud's first discovery).
    exporter.signal("HUP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(succeeded(&scrape(&exporter.base).await), wanted);

    // The webhook acts on both: the cloud's node through its API, the direct target directly.
    for (fingerprint, instance_id, node_id) in [
        ("f-cloud", instance.as_str(), master.as_str()),
        ("f-cache", "cache", cache_node.as_str()),
    ] {
        let answer = http()
            .post(format!("{}/remediation/alertmanager", exporter.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({
                "version": "4",
                "alerts": [{"status": "firing", "fingerprint": fingerprint, "startsAt": "2026-12-01T00:00:00Z",
                            "labels": {"alertname": "DcsIdle", "instance_id": instance_id, "node_id": node_id}}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    wait_for(Duration::from_secs(30), "both acted", || async {
        let samples = scrape(&exporter.base).await;
        let acted: BTreeSet<String> = values(&samples, "dcs_remediation_actions_total")
            .into_iter()
            .filter(|s| s.label("result") == "acted")
            .map(|s| s.label("instance_id").to_string())
            .collect();
        (acted == BTreeSet::from([instance.clone(), "cache".to_string()])).then_some(())
    })
    .await;

    // A reload without the direct target prunes it, and only it.
    std::fs::write(&file, config(false)).unwrap();
    exporter.signal("HUP");
    wait_for(
        Duration::from_secs(20),
        "the direct target pruned",
        || async { (succeeded(&scrape(&exporter.base).await) == cloud_nodes).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_reached_through_two_clouds_is_scanned_once() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let dir = Dir::new("two-clouds");
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("scan_interval = \"1s\"")
            + &cloud("east", &sim_url, "[cloud.discovery]\n")
            + &cloud("west", &sim_url, "[cloud.discovery]\n")),
    );
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &ENV);
    let nodes = all_client_nodes(&sim);
    wait_for(Duration::from_secs(30), "every node scanned", || async {
        (succeeded(&scrape(&exporter.base).await) == nodes).then_some(())
    })
    .await;
    // Five scans each (before: two loops on one node, failing every other scan).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let samples = scrape(&exporter.base).await;
    assert_eq!(succeeded(&samples), nodes);
    let errors = values(&samples, "dcs_scan_errors_total");
    assert!(errors.is_empty(), "{errors:?}");
    let warned: Vec<String> = exporter
        .log()
        .into_iter()
        .filter(|l| l.contains("also found through cloud"))
        .collect();
    assert_eq!(warned.len(), nodes.len(), "{warned:#?}");
    assert!(
        warned
            .iter()
            .all(|l| l.contains("cloud=east") || l.contains("cloud=west"))
    );
}

// 7. Secrets in configuration errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_never_echo_secrets() {
    const SECRET: &str = "Sup3rSecretPw";
    let dir = Dir::new("config-secrets");
    let base = "[[cloud]]\nname = \"c\"\nregion = \"cn-north-4\"\nproject_id = \"p\"\n[[cloud.dcs_instance]]\nid = \"i\"\n";
    let cases = [
        // A TOML error on the line of a password.
        format!("{base}[[redis]]\nname = \"r\"\nurl = \"redis://:{SECRET}@h:6379\" oops\n"),
        format!("{base}[[redis]]\nname = \"r\"\nurl = \"redis://:{SECRET}@h:6379\"\n"),
        format!("{base}[[redis]]\nname = \"r\"\nurl = \"redis://h:6379/?password={SECRET}\"\n"),
        base.replace(
            "region = \"cn-north-4\"",
            &format!("region = \"cn-north-4\"\ndcs_endpoint = \"http://h/?password={SECRET}\""),
        ),
        base.replace(
            "region = \"cn-north-4\"",
            &format!("region = \"cn-north-4\"\ndbss_endpoint = \"http://u:{SECRET}@h/\""),
        ),
        base.replace(
            "region = \"cn-north-4\"",
            &format!("region = \"cn-north-4\"\nproxy = \"http://u:{SECRET}@proxy:3128\""),
        ),
        // A wrong type, where the value is a secret.
        format!("{base}[remediation]\nenabled = true\ntoken_env = [\"{SECRET}\"]\n"),
    ];
    for (i, text) in cases.iter().enumerate() {
        let file = dir.write(&format!("bad{i}.toml"), text);
        let (code, out, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
        assert_eq!(code, Some(2), "case {i}: {out}{err}");
        assert!(
            !out.contains(SECRET) && !err.contains(SECRET),
            "case {i}: {out}{err}"
        );
        assert!(err.len() < 400, "case {i}: a short reason: {err}");
    }
    // The first names the line and the key, not the line's text.
    let file = dir.write("bad0.toml", &cases[0]);
    let (_, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
    assert!(err.contains("line 9") && err.contains("key url"), "{err}");

    // An unauthenticated reload of such a file answers a short reason, and logs no secret.
    let (_, sim_url) = harness::serve_sim(sim_config()).await;
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("") + &cloud("sim", &sim_url, "[cloud.discovery]\n")),
    );
    let exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--web.enable-lifecycle"],
        &ENV,
    );
    std::fs::write(&file, &cases[0]).unwrap();
    let answer = http()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let body = answer.text().await.unwrap();
    assert!(!body.contains(SECRET) && body.len() < 400, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = exporter.log().join("\n");
    assert!(
        log.contains("reload failed") && !log.contains(SECRET),
        "{log}"
    );
}

/// A logfmt line as go-logfmt reads it, strictly: `key=value` pairs separated by one space,
/// bare values without space, `=` or `"`, quoted values with `\\`, `\"`, `\n`, `\r`, `\t`
/// and `\uXXXX` escapes.
fn parse_logfmt(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    while chars.peek().is_some() {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            if c <= ' ' || c == '"' || c.is_control() {
                return Err(format!("bad key character {c:?} in {line:?}"));
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() || chars.next() != Some('=') {
            return Err(format!("a key without '=' in {line:?}"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("an unterminated quote in {line:?}")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .map_err(|_| format!("bad \\u escape in {line:?}"))?;
                            value.push(char::from_u32(code).ok_or("bad code point")?);
                        }
                        other => return Err(format!("bad escape {other:?} in {line:?}")),
                    },
                    Some(c) if c.is_control() => {
                        return Err(format!("a raw control character in {line:?}"));
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                if c == '=' || c == '"' || c.is_control() {
                    return Err(format!("bad bare value character {c:?} in {line:?}"));
                }
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return Err(format!("an empty bare value for {key} in {line:?}"));
            }
        }
        pairs.push((key, value));
        match chars.next() {
            None => break,
            Some(' ') if chars.peek().is_some() => {}
            Some(c) => return Err(format!("{c:?} after a value in {line:?}")),
        }
    }
    Ok(pairs)
}

// 8. The log is logfmt, and cannot be forged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_is_logfmt_and_values_cannot_forge_lines() {
    let (_, sim_url) = harness::serve_sim(sim_config()).await;
    let dir = Dir::new("logfmt");
    let file = dir.write(
        "exporter.toml",
        &(exporter_section("scan_interval = \"1s\"")
            + &cloud("sim", &sim_url, "[cloud.discovery]\n")
            + "[remediation]\nenabled = true\ntoken_env = \"HOOK_TOKEN\"\n\
               [[remediation.allow]]\ninstance_id = \"a\"\nnode_id = \"*\"\n"),
    );
    let env = [ENV[0], ENV[1], ("HOOK_TOKEN", TOKEN)];
    let mut exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--log.level", "trace"],
        &env,
    );
    let forged = "x\nts=2026-01-01T00:00:00Z level=error msg=\"forged\" node_id=\"y";
    let answer = http()
        .post(format!("{}/remediation/alertmanager", exporter.base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "version": "4",
            "alerts": [{"status": "firing", "labels": {"alertname": "A b=c \"d\"", "instance_id": forged, "node_id": "n"}}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    exporter.signal("TERM");
    assert!(exporter.wait_exit(Duration::from_secs(8)).is_some());
    let lines = exporter.log();
    assert!(lines.len() > 20, "a trace run logs: {lines:#?}");
    let mut decision = None;
    for line in &lines {
        let pairs = parse_logfmt(line).unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<&str> = pairs.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ts", "level", "target", "msg"], "{line}");
        assert!(
            humantime::parse_rfc3339(&pairs[0].1).is_ok(),
            "ts {:?}",
            pairs[0].1
        );
        assert!(
            ["error", "warn", "info", "debug", "trace"].contains(&pairs[1].1.as_str()),
            "{line}"
        );
        assert!(
            !pairs[0].1.starts_with("2026-01-01"),
            "a forged line: {line}"
        );
        if pairs
            .iter()
            .any(|(k, v)| k == "msg" && v == "remediation decision")
        {
            decision = Some(pairs);
        }
    }
    let decision = decision.expect("the webhook's decision is logged");
    let value = |key: &str| {
        decision
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("instance_id"), Some(forged));
    assert_eq!(value("alertname"), Some("A b=c \"d\""));
}

// 9. SIGHUP from the first moments, and in the demo.
#[test]
fn sighup_neither_ends_a_starting_exporter_nor_the_demo() {
    use std::io::{BufRead, BufReader};
    /// Killed on drop, also when an assertion fails.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut guard = Child(
        std::process::Command::new(process::BINARY)
            .args([
                "--demo",
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "info",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let pid = child.id();
    let hup = || {
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        )
    };
    // SIGHUP is caught before the exporter listens (before: never, in the demo).
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & 1 == 1);
        if caught {
            break;
        }
        assert!(std::time::Instant::now() < until, "SIGHUP is never caught");
        std::thread::sleep(Duration::from_millis(1));
    }
    hup();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = out.any(|l| l.is_ok_and(|l| l.starts_with("exporter listening on ")));
    assert!(listening, "the exporter ended: {:?}", child.wait());
    hup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the demo");
    let _ = child.kill();
    let _ = child.wait();
    let err = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("SIGHUP ignored"))
        .count();
    assert!(err >= 1, "the ignored SIGHUP is logged");
}

// 11, 12 and 13. check-config shares the daemon's checks; bounded reads; refused values.
#[test]
fn check_config_refuses_what_the_daemon_refuses_with_distinct_exit_codes() {
    let dir = Dir::new("check-config");
    let short = dir.write("token", "short");
    let base = format!(
        "[[cloud]]\nname = \"c\"\nregion = \"cn-north-4\"\nproject_id = \"p\"\n[[cloud.dcs_instance]]\nid = \"i\"\n\
         [remediation]\nenabled = true\ntoken_file = \"{}\"\ncooldown = \"5m\"\n\
         [[remediation.allow]]\ninstance_id = \"i\"\nnode_id = \"*\"\n",
        short.display()
    );
    let file = dir.write("short-token.toml", &base);
    let path = file.to_str().unwrap();
    // Valid, but the daemon could not start here: 1, with the reason; the daemon agrees.
    let (code, out, err) = run(&["check-config", "--config", path], &ENV);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("token must be at least 16"), "{err}");
    assert!(
        out.contains("remediation webhook at /remediation/alertmanager")
            && out.contains("may act on instance i node *"),
        "{out}"
    );
    let (code, _, daemon_err) = run(
        &["--config", path, "--web.listen-address", "127.0.0.1:0"],
        &ENV,
    );
    assert_eq!(code, Some(1));
    assert!(
        daemon_err.contains("token must be at least 16"),
        "{daemon_err}"
    );
    // Credentials missing: 1 as well.
    let good_token = dir.write("good-token", "a-token-long-enough-0123");
    let file = dir.write(
        "no-credentials.toml",
        &base.replace(short.to_str().unwrap(), good_token.to_str().unwrap()),
    );
    let (code, out, err) = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("cloud c"), "{err}");
    let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
    assert_eq!(code, Some(0), "{err}");

    // Invalid: 2, for each.
    let rps = base.replace(
        "project_id = \"p\"",
        "project_id = \"p\"\nrequests_per_second = 1e-300",
    );
    let any_instance = base.replace("instance_id = \"i\"", "instance_id = \"*\"");
    let invalid = [
        (
            "scan_interval",
            "[exporter]\nscan_interval = \"soon\"\n".to_string(),
        ),
        ("requests_per_second", rps),
        ("remediation.allow[0].instance_id", any_instance),
    ];
    for (key, text) in invalid {
        let file = dir.write("invalid.toml", &text);
        let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &ENV);
        assert_eq!(code, Some(2), "{key}: {err}");
        assert!(err.contains(key), "{key}: {err}");
    }

    // Only regular files, and not too large ones, are read.
    let (code, _, err) = run(&["check-config", "--config", "/dev/zero"], &ENV);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a regular file"), "{err}");
    let fifo = dir.0.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (code, _, err) = run(&["check-config", "--config", fifo.to_str().unwrap()], &ENV);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a regular file"), "{err}");
    let huge = dir.write("huge.toml", &format!("# {}\n", "x".repeat(2 << 20)));
    let (code, _, err) = run(&["check-config", "--config", huge.to_str().unwrap()], &ENV);
    assert_eq!(code, Some(2));
    assert!(err.contains("larger than"), "{err}");
}

// 13. Client names are not formulas in CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_output_defuses_formulas_in_client_names() {
    let Some(redis) = redis_server::start_or_skip(&[]) else {
        return;
    };
    let name = "=HYPERLINK(\"http://evil.example\")";
    let mut client = TcpStream::connect(("127.0.0.1", redis.port)).await.unwrap();
    let command = format!(
        "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${}\r\n{name}\r\n",
        name.len()
    );
    client.write_all(command.as_bytes()).await.unwrap();
    let mut reply = [0u8; 64];
    let n = client.read(&mut reply).await.unwrap();
    assert_eq!(&reply[..n], b"+OK\r\n");
    let dir = Dir::new("csv");
    let file = dir.write(
        "exporter.toml",
        &format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url),
    );
    let (code, out, err) = run(
        &[
            "clients",
            "--config",
            file.to_str().unwrap(),
            "--instance",
            "cache",
            "--output",
            "csv",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("HYPERLINK"))
        .unwrap_or_else(|| panic!("no row of the named client: {out}"));
    assert!(
        row.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{row}"
    );
    assert!(!row.split(',').any(|cell| cell.starts_with('=')), "{row}");
    drop(client);
}
