//! Against a real redis-server: the direct target, the exporter -> simulator -> Redis chain, the
//! operator CLI, kills seen from the clients' side as closed sockets.

use crate::common::{harness, redis_server};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::config::Config;
use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use redis_server::{RedisServer, start_or_skip};
use tokio::time::Instant;

const AK: &str = "AKREDISTEST";
const SK: &str = "SKredistest000000000000000001";

/// A client connection speaking RESP by hand, so the test controls exactly when it talks.
struct Session {
    reader: BufReader<TcpStream>,
}

impl Session {
    fn open(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    /// Sends a command and returns the first line of the reply (bulk replies in full).
    fn call(&mut self, args: &[&str]) -> String {
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.reader.get_mut().write_all(cmd.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        if let Some(len) = line.strip_prefix('$') {
            let len: usize = len.trim().parse().unwrap();
            let mut body = vec![0; len + 2];
            self.reader.read_exact(&mut body).unwrap();
            return String::from_utf8_lossy(&body[..len]).into_owned();
        }
        line.trim_end().to_string()
    }

    /// Sends a command without reading its reply (a blocking one).
    fn send(&mut self, args: &[&str]) {
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.reader.get_mut().write_all(cmd.as_bytes()).unwrap();
    }

    /// Whether the server closed the connection (bounded wait).
    fn closed_by_server(&mut self) -> bool {
        self.reader
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// Six sessions with known names, dbs and users: alpha x3 (db 0, default), beta x2 (db 3,
/// default), gamma x1 (db 0, user app). alpha and gamma then stay idle, beta stays busy.
struct Known {
    sessions: Vec<Session>,
}

fn open_known(port: u16) -> Known {
    let mut sessions = Vec::new();
    for i in 0..6 {
        let mut s = Session::open(port);
        let name = match i {
            0..=2 => "alpha",
            3 | 4 => "beta",
            _ => "gamma",
        };
        if name == "gamma" {
            assert_eq!(s.call(&["AUTH", "app", "app-password"]), "+OK");
        }
        if name == "beta" {
            assert_eq!(s.call(&["SELECT", "3"]), "+OK");
        }
        assert_eq!(s.call(&["CLIENT", "SETNAME", name]), "+OK");
        sessions.push(s);
    }
    Known { sessions }
}

impl Known {
    /// The sessions the server has, as seen by the first alpha (itself included).
    fn server_count(&mut self) -> usize {
        self.sessions[0].call(&["CLIENT", "LIST"]).lines().count()
    }

    /// Waits until the server holds only these six sessions (connections of earlier scans
    /// may take a moment to go).
    fn wait_alone(&mut self) {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while self.server_count() != 6 {
            assert!(std::time::Instant::now() < until, "other sessions linger");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lets alpha and gamma idle for two seconds, then wakes beta.
    fn age(&mut self) {
        std::thread::sleep(Duration::from_millis(2200));
        for s in &mut self.sessions[3..5] {
            assert_eq!(s.call(&["PING"]), "+PONG");
        }
    }
}

fn server() -> Option<RedisServer> {
    let server = start_or_skip(&[])?;
    let mut admin = Session::open(server.port);
    assert_eq!(
        admin.call(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">app-password",
            "~*",
            "+@all"
        ]),
        "+OK"
    );
    Some(server)
}

/// An exporter on loopback with this configuration; scans once at start.
pub(crate) async fn exporter(config_toml: &str) -> harness::InProcess {
    harness::exporter(
        &Config::from_toml(config_toml).unwrap(),
        Credentials::new(AK, SK),
    )
    .await
}

const ONCE: &str = "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n";

/// Samples of one metric (name, labels as `k="v"` text) after the exporter is ready.
pub(crate) async fn scrape_ready(url: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(Instant::now() < until, "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    harness::parse_exposition(&text)
        .into_iter()
        .map(|s| (s.name, s.labels, s.value))
        .collect()
}

/// Checks that the metrics of `node` show exactly the six known sessions.
fn check_known(samples: &[(String, BTreeMap<String, String>, f64)], node: &str) {
    let of = |name: &str| -> Vec<&(String, BTreeMap<String, String>, f64)> {
        samples
            .iter()
            .filter(|s| s.0 == name && s.1.get("node_id").map(String::as_str) == Some(node))
            .collect()
    };
    let clients: BTreeMap<(String, String, String), f64> = of("dcs_clients")
        .iter()
        .map(|s| {
            (
                (
                    s.1["client_addr"].clone(),
                    s.1["db"].clone(),
                    s.1["user"].clone(),
                ),
                s.2,
            )
        })
        .collect();
    let expected: BTreeMap<(String, String, String), f64> = [
        (("127.0.0.1".into(), "0".into(), "default".into()), 3.0),
        (("127.0.0.1".into(), "3".into(), "default".into()), 2.0),
        (("127.0.0.1".into(), "0".into(), "app".into()), 1.0),
    ]
    .into();
    assert_eq!(
        clients, expected,
        "the scanner's own connection is not counted"
    );
    let bucket = |le: &str| {
        of("dcs_client_idle_seconds_bucket")
            .iter()
            .find(|s| s.1["le"] == le)
            .unwrap()
            .2
    };
    // beta was busy a moment ago; alpha and gamma have idled two seconds.
    assert_eq!(bucket("1"), 2.0);
    assert_eq!(bucket("5"), 6.0);
    // The five most idle: the four idle sessions first, then one of the busy ones.
    let mut top: Vec<(f64, &str)> = of("dcs_top_client_idle_seconds")
        .iter()
        .map(|s| (s.2, s.1["client_name"].as_str()))
        .collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0));
    let names: Vec<&str> = top.iter().map(|t| t.1).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names[..4].iter().all(|n| ["alpha", "gamma"].contains(n)),
        "{names:?}"
    );
    assert_eq!(names[4], "beta");
    assert!(top[3].0 >= 2.0 && top[4].0 <= 1.0, "{top:?}");
    assert_eq!(of("dcs_scan_success")[0].2, 1.0);
}

fn cli() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
    cmd.env("CLOUD_SDK_AK", AK)
        .env("CLOUD_SDK_SK", SK)
        .kill_on_drop(true);
    cmd
}

async fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), cli().args(args).output())
        .await
        .expect("the CLI finishes within a minute")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dcs-redis-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_target_reports_exactly_the_real_sessions() {
    let Some(server) = server() else { return };
    let mut known = open_known(server.port);
    known.wait_alone();
    known.age();
    let toml = format!(
        "{ONCE}[[redis]]\nname = \"cache-a\"\nurl = \"{}\"\n",
        server.url
    );
    let running = exporter(&toml).await;
    let url = running.url.clone();
    let samples = scrape_ready(&url).await;
    let url_text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Its scans stop: the sessions below are the test's own.
    drop(running);
    let node = format!("127.0.0.1:{}", server.port);
    check_known(&samples, &node);
    promtool_check_metrics(&url_text);
    let info = samples.iter().find(|s| s.0 == "dcs_node_info").unwrap();
    assert_eq!(info.1["instance_id"], "cache-a");
    assert_eq!(info.1["node_role"], "master");

    // The CLI lists the same sessions.
    known.wait_alone();
    let config = write_config("direct.toml", &toml);
    let config = config.to_str().unwrap();
    let (code, out, err) = run_cli(&[
        "clients",
        "--config",
        config,
        "--instance",
        "cache-a",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listing["count"], 6);
    let mut names: Vec<&str> = listing["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["alpha", "alpha", "alpha", "beta", "beta", "gamma"]);
    let (code, out, _) = run_cli(&[
        "clients",
        "--config",
        config,
        "--instance",
        "cache-a",
        "--sort",
        "idle",
        "--order",
        "desc",
        "--limit",
        "2",
    ])
    .await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("IDLE"));
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].contains("alpha") || lines[1].contains("gamma"));
    assert!(lines[3].starts_with("2 of 6 sessions"), "{out}");

    // A node that is not the target's is bad usage (exit 2), and ends nothing.
    let (code, _, err) = run_cli(&[
        "kill-all",
        "--config",
        config,
        "--instance",
        "cache-a",
        "--node",
        "10.9.9.9:6379",
        "--yes",
    ])
    .await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(known.server_count(), 6);

    // kill-all ends every session; the clients see their sockets closed.
    let (code, _, err) = run_cli(&[
        "kill-all",
        "--config",
        config,
        "--instance",
        "cache-a",
        "--node",
        &node,
    ])
    .await;
    assert_eq!(code, 3, "refused without --yes off a terminal: {err}");
    let (code, out, err) = run_cli(&[
        "kill-all",
        "--config",
        config,
        "--instance",
        "cache-a",
        "--node",
        &node,
        "--yes",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("6 session(s)") && out.contains("6 sessions ended"),
        "{out}"
    );
    for s in &mut known.sessions {
        assert!(s.closed_by_server());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_through_the_simulator_carries_the_real_sessions() {
    let Some(server) = server() else { return };
    let mut known = open_known(server.port);
    known.wait_alone();
    let mut topology = Topology::demo();
    topology.job_duration = Duration::from_millis(100);
    topology.instances = vec![InstanceSpec {
        name: "real".into(),
        id: Some("inst-real".into()),
        architecture: Architecture::Single,
        shards: 1,
        replicas: 0,
        proxies: 0,
        sessions_per_node: 10,
        client_hosts: 1,
        ip_pass_through: true,
        engine_version: "7.0".into(),
        redis_urls: vec![server.url.clone()],
        ..Default::default()
    }];
    let mut sim_config = SimConfig::new(Credentials::new(AK, SK), topology);
    sim_config.project_id = Some("p-real".into());
    let sim = Simulator::new(sim_config);
    let sim_url = harness::serve(sim.router()).await;
    let node = sim.with_state(|s| {
        s.logical_nodes("inst-real").unwrap().nodes[0]
            .node_id
            .clone()
            .unwrap()
    });
    known.age();
    // No slow-log reads: the simulator reads the real server's log over a connection of its
    // own, which a scan at the same moment would count among the known sessions.
    let toml = format!(
        "{ONCE}{}slow_log = false\n[[cloud.dcs_instance]]\nid = \"inst-real\"\n",
        harness::cloud_toml("sim", "p-real", &sim_url)
    );
    let running = exporter(&toml).await;
    let url = running.url.clone();
    let samples = scrape_ready(&url).await;
    // Its scans stop: the sessions below are the test's own.
    drop(running);
    check_known(&samples, &node);

    // kill-all through the API ends the real sessions.
    known.wait_alone();
    let config = write_config("chain.toml", &toml);
    let config = config.to_str().unwrap();
    let (code, out, err) = run_cli(&[
        "clients",
        "--config",
        config,
        "--instance",
        "inst-real",
        "--cached",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("6 of 6 sessions"), "{out}");
    let (code, out, err) = run_cli(&[
        "kill-all",
        "--config",
        config,
        "--instance",
        "inst-real",
        "--node",
        &node,
        "--dry-run",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("6 session(s)") && out.contains("nothing was ended"),
        "{out}"
    );
    assert_eq!(known.server_count(), 6, "a dry run ends nothing");
    let (code, out, err) = run_cli(&[
        "kill-all",
        "--config",
        config,
        "--instance",
        "inst-real",
        "--node",
        &node,
        "--yes",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ended SUCCESS"), "{out}");
    for s in &mut known.sessions {
        assert!(s.closed_by_server());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_scan_errors_with_bounded_reasons() {
    let Some(server) = start_or_skip(&["--requirepass", "s3cret-pass"]) else {
        return;
    };
    let password_var = format!("DCS_TEST_REDIS_PASSWORD_{}", std::process::id());
    let wrong_var = format!("DCS_TEST_REDIS_WRONG_{}", std::process::id());
    // SAFETY: no other thread reads these variables, whose names are unique to this test.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(&password_var, "s3cret-pass");
        std::env::set_var(&wrong_var, "not-it");
    }
    let toml = format!(
        "{ONCE}[[redis]]\nname = \"none\"\nurl = \"{u}\"\n[[redis]]\nname = \"wrong\"\nurl = \"{u}/1\"\npassword_env = \"{wrong_var}\"\n[[redis]]\nname = \"right\"\nurl = \"{u}/2\"\npassword_env = \"{password_var}\"\n",
        u = server.url
    );
    let running = exporter(&toml).await;
    let url = running.url.clone();
    let samples = scrape_ready(&url).await;
    // Its scans stop: the sessions below are the test's own.
    drop(running);
    let success = |instance: &str| {
        samples
            .iter()
            .find(|s| s.0 == "dcs_scan_success" && s.1["instance_id"] == instance)
            .unwrap()
            .2
    };
    let reason = |instance: &str| {
        samples
            .iter()
            .find(|s| s.0 == "dcs_scan_errors_total" && s.1["instance_id"] == instance)
            .map(|s| (s.1["stage"].clone(), s.1["reason"].clone()))
    };
    assert_eq!(success("right"), 1.0);
    assert_eq!(success("none"), 0.0);
    assert_eq!(success("wrong"), 0.0);
    assert_eq!(reason("none"), Some(("scan".into(), "NOAUTH".into())));
    // The client library reports a refused password without the server's code.
    assert_eq!(reason("wrong"), Some(("scan".into(), "auth".into())));
    let everything = format!("{samples:?}");
    assert!(!everything.contains("s3cret") && !everything.contains("not-it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_from_config_get_else_from_the_configuration() {
    let Some(plain) = start_or_skip(&["--maxclients", "321", "--timeout", "77"]) else {
        return;
    };
    // CONFIG renamed away, as managed services do.
    let Some(managed) = start_or_skip(&["--maxclients", "654", "--rename-command", "CONFIG", ""])
    else {
        return;
    };
    let toml = format!(
        "{ONCE}[[redis]]\nname = \"plain\"\nurl = \"{}\"\nmax_clients = 999\n\
         [[redis]]\nname = \"managed\"\nurl = \"{}\"\nmax_clients = 650\nidle_timeout = \"5m\"\n\
         [[redis]]\nname = \"managed-unset\"\nurl = \"{}/1\"\n",
        plain.url, managed.url, managed.url
    );
    let running = exporter(&toml).await;
    let samples = scrape_ready(&running.url).await;
    drop(running);
    let of = |name: &str, instance: &str| {
        samples
            .iter()
            .find(|s| s.0 == name && s.1["instance_id"] == instance)
            .map(|s| s.2)
    };
    // The server's own values win over the configured ones.
    assert_eq!(of("dcs_node_max_clients", "plain"), Some(321.0));
    assert_eq!(of("dcs_node_idle_timeout_seconds", "plain"), Some(77.0));
    // Without CONFIG: the configured ones, and the failure counted; the scan succeeds.
    assert_eq!(of("dcs_node_max_clients", "managed"), Some(650.0));
    assert_eq!(of("dcs_node_idle_timeout_seconds", "managed"), Some(300.0));
    assert_eq!(of("dcs_node_max_clients", "managed-unset"), None);
    assert_eq!(of("dcs_node_idle_timeout_seconds", "managed-unset"), None);
    for instance in ["plain", "managed", "managed-unset"] {
        assert_eq!(of("dcs_scan_success", instance), Some(1.0), "{instance}");
    }
    let failures: Vec<_> = samples
        .iter()
        .filter(|s| s.0 == "dcs_exporter_instance_context_errors_total")
        .map(|s| (s.1["instance_id"].clone(), s.1["operation"].clone(), s.2))
        .collect();
    assert!(
        failures.contains(&("managed".into(), "config_get".into(), 1.0))
            && failures.contains(&("managed-unset".into(), "config_get".into(), 1.0))
            && !failures.iter().any(|f| f.0 == "plain"),
        "{failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_by_name_kind_and_command_of_a_real_server() {
    let Some(server) = start_or_skip(&[]) else {
        return;
    };
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut s = Session::open(server.port);
        assert_eq!(s.call(&["CLIENT", "SETNAME", "web"]), "+OK");
        assert_eq!(s.call(&["SET", "k", "v"]), "+OK");
        sessions.push(s);
    }
    let mut unnamed = Session::open(server.port);
    assert_eq!(unnamed.call(&["PING"]), "+PONG");
    let mut subscriber = Session::open(server.port);
    assert_eq!(subscriber.call(&["CLIENT", "SETNAME", "feed"]), "+OK");
    assert_eq!(subscriber.call(&["SUBSCRIBE", "news"]), "*3");
    let mut consumer = Session::open(server.port);
    assert_eq!(consumer.call(&["CLIENT", "SETNAME", "queue"]), "+OK");
    consumer.send(&["BLPOP", "jobs", "0"]);
    let mut transaction = Session::open(server.port);
    assert_eq!(transaction.call(&["MULTI"]), "+OK");
    // The blocked client is blocked before the scan.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !unnamed.call(&["CLIENT", "LIST"]).contains("cmd=blpop") {
        assert!(std::time::Instant::now() < until, "BLPOP not seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Idle for more than a second: the threshold of dcs_clients_idle below.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let toml = format!(
        "{ONCE}idle_session_threshold = \"1s\"\n[[redis]]\nname = \"kinds\"\nurl = \"{}\"\n",
        server.url
    );
    let running = exporter(&toml).await;
    let samples = scrape_ready(&running.url).await;
    drop(running);
    // Idle past the threshold and not waiting: the two web clients, the unnamed one and the
    // transaction; not the subscriber, not the blocked consumer.
    let idle: Vec<_> = samples
        .iter()
        .filter(|s| s.0 == "dcs_clients_idle")
        .collect();
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(
        (idle[0].1["client_addr"].as_str(), idle[0].2),
        ("127.0.0.1", 4.0)
    );
    let by = |metric: &str, label: &str| -> BTreeMap<String, f64> {
        samples
            .iter()
            .filter(|s| s.0 == metric)
            .map(|s| (s.1[label].clone(), s.2))
            .collect()
    };
    // Six sessions (the scanner's own connection is not counted).
    let kinds = by("dcs_clients_by_kind", "kind");
    let expected: BTreeMap<String, f64> = [
        ("normal", 5.0),
        ("pubsub", 1.0),
        ("replica", 0.0),
        ("master", 0.0),
        ("monitor", 0.0),
        ("blocked", 1.0),
        ("transaction", 1.0),
        ("tracking", 0.0),
        ("unix_socket", 0.0),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into();
    assert_eq!(kinds, expected);
    let names = by("dcs_clients_by_name", "client_name");
    let expected: BTreeMap<String, f64> = [
        ("web", 2.0),
        ("(unnamed)", 2.0),
        ("feed", 1.0),
        ("queue", 1.0),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into();
    assert_eq!(names, expected);
    let commands = by("dcs_clients_by_command", "cmd");
    assert_eq!(commands.get("set"), Some(&2.0), "{commands:?}");
    assert_eq!(commands.get("blpop"), Some(&1.0), "{commands:?}");
    assert_eq!(commands.get("subscribe"), Some(&1.0), "{commands:?}");
    assert_eq!(commands.values().sum::<f64>(), 6.0, "{commands:?}");
    // The subscriber and the blocked consumer wait by design: their idle time is kept apart.
    let waiting = samples
        .iter()
        .find(|s| s.0 == "dcs_client_idle_waiting_seconds_count")
        .map(|s| s.2);
    assert_eq!(waiting, Some(2.0));
    drop((sessions, subscriber, consumer, transaction));
}

/// What a slow-command test scans: a `[[redis]]` target, or a simulated DCS instance backed by
/// the server (its slow log API reads the server's `SLOWLOG`).
enum SlowLogPath {
    Direct,
    ThroughTheSimulator,
}

/// A `SORT` run before the exporter starts is history, not counted; one run after its first
/// read is counted once under the client's address, however many reads follow.
async fn a_slow_command_counts_once(path: SlowLogPath) {
    // Every command is slow: the log holds the test's, and the exporter's own.
    let Some(server) = start_or_skip(&["--slowlog-log-slower-than", "0"]) else {
        return;
    };
    let mut client = Session::open(server.port);
    assert_eq!(client.call(&["RPUSH", "numbers", "3", "1", "2"]), ":3");
    assert_eq!(client.call(&["SORT", "numbers", "STORE", "sorted"]), ":3");
    let every_second = "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n";
    let (toml, instance_id, shard, _sim) = match path {
        SlowLogPath::Direct => (
            format!(
                "{every_second}[[redis]]\nname = \"slow\"\nurl = \"{}\"\n",
                server.url
            ),
            "slow",
            format!("127.0.0.1:{}", server.port),
            None,
        ),
        SlowLogPath::ThroughTheSimulator => {
            let mut topology = Topology::demo();
            topology.job_duration = Duration::from_millis(100);
            topology.instances = vec![InstanceSpec {
                name: "real-slow".into(),
                id: Some("inst-slow".into()),
                architecture: Architecture::Single,
                replicas: 0,
                redis_urls: vec![server.url.clone()],
                ..Default::default()
            }];
            let mut sim_config = SimConfig::new(Credentials::new(AK, SK), topology);
            sim_config.project_id = Some("p-slow".into());
            let sim = Simulator::new(sim_config);
            let sim_url = harness::serve(sim.router()).await;
            (
                format!(
                    "{every_second}{}[[cloud.dcs_instance]]\nid = \"inst-slow\"\n",
                    harness::cloud_toml("sim", "p-slow", &sim_url)
                ),
                "inst-slow",
                // A single node has no shards.
                String::new(),
                Some(sim),
            )
        }
    };
    let running = exporter(&toml).await;
    let slow = |samples: &[(String, BTreeMap<String, String>, f64)], command: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s.0 == "dcs_slow_commands_total" && s.1["command"] == command)
            .map(|s| s.2)
            .sum()
    };
    // The first read has happened once the duration histogram is there.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scrape_ready(&running.url).await;
        if samples
            .iter()
            .any(|s| s.0 == "dcs_slow_command_duration_seconds_count")
        {
            break;
        }
        assert!(Instant::now() < until, "no slow log read within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client.call(&["SORT", "numbers", "STORE", "sorted"]), ":3");
    // Three more reads (each adds the SLOWLOG GET that read the log before).
    let reads = |samples: &[(String, BTreeMap<String, String>, f64)]| slow(samples, "slowlog");
    let first = reads(&scrape_ready(&running.url).await);
    let until = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let samples = scrape_ready(&running.url).await;
        if reads(&samples) >= first + 3.0 {
            break samples;
        }
        assert!(Instant::now() < until, "three more reads within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(running);
    let sorts: Vec<_> = samples
        .iter()
        .filter(|s| s.0 == "dcs_slow_commands_total" && s.1["command"] == "sort")
        .collect();
    assert_eq!(sorts.len(), 1, "{sorts:?}");
    assert_eq!(sorts[0].2, 1.0, "counted once, the history not at all");
    assert_eq!(sorts[0].1["client_addr"], "127.0.0.1");
    assert_eq!(sorts[0].1["shard"], shard);
    assert_eq!(sorts[0].1["instance_id"], instance_id);
    let count = samples
        .iter()
        .find(|s| s.0 == "dcs_slow_command_duration_seconds_count")
        .map(|s| s.2)
        .unwrap();
    let total: f64 = samples
        .iter()
        .filter(|s| s.0 == "dcs_slow_commands_total")
        .map(|s| s.2)
        .sum();
    assert_eq!(count, total);
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_command_counts_once_under_its_clients_address() {
    a_slow_command_counts_once(SlowLogPath::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_command_of_a_real_server_behind_the_simulator_counts_once() {
    a_slow_command_counts_once(SlowLogPath::ThroughTheSimulator).await;
}

/// `promtool check metrics` on an exposition (Debian's prometheus package); skipped with a
/// reason when promtool is missing, except under CI.
fn promtool_check_metrics(text: &str) {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must provide promtool: {e}"
            );
            eprintln!("skipped: promtool is not installed ({e})");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics: {said}");
}
