//! The exporter as a process: TLS and basic auth from a web config, configuration reload on
//! SIGHUP and POST /-/reload, shards, graceful shutdown.

use crate::common::{harness, process};

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use harness::http;
use process::{Dir, Exporter};
use tokio::time::Instant;

const AK: &str = "AKDAEMONTEST";
const SK: &str = "SKdaemontest000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];

async fn serve_sim(topology: Topology) -> (Arc<Simulator>, String) {
    harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), topology)).await
}

fn config(sim_url: &str, instances: &str) -> String {
    "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n".to_string()
        + &harness::cloud_toml("sim", "p", sim_url)
        + instances
}

/// Node ids with a scan status, polled until `done` holds (bounded).
async fn scanned_nodes(base: &str, done: impl Fn(&BTreeSet<String>) -> bool) -> BTreeSet<String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = harness::scrape_text(base).await;
        let nodes: BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with("dcs_scan_success{"))
            .map(|l| {
                l.split("node_id=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        if done(&nodes) {
            return nodes;
        }
        assert!(Instant::now() < until, "not reached: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client_nodes(sim: &Simulator, instance: &str) -> BTreeSet<String> {
    sim.with_state(|s| {
        s.logical_nodes(instance)
            .unwrap()
            .nodes
            .into_iter()
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    })
}

async fn metric(base: &str, name: &str) -> Option<f64> {
    let text = harness::scrape_text(base).await;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_takes_a_valid_config_and_keeps_the_old_one_otherwise() {
    let (sim, sim_url) = serve_sim(harness::quick_topology()).await;
    let ids = sim.with_state(|s| s.instance_ids());
    let (a, b) = (&ids[0], &ids[1]);
    let dir = Dir::new("reload");
    let file = dir.write(
        "exporter.toml",
        &config(&sim_url, &format!("[[cloud.dcs_instance]]\nid = \"{a}\"\n")),
    );
    let exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--web.enable-lifecycle"],
        &ENV,
    );
    let only_a = client_nodes(&sim, a);
    scanned_nodes(&exporter.base, |n| *n == only_a).await;

    // SIGHUP with a second instance: its nodes appear.
    dir.write(
        "exporter.toml",
        &config(
            &sim_url,
            &format!(
                "[[cloud.dcs_instance]]\nid = \"{a}\"\n[[cloud.dcs_instance]]\nid = \"{b}\"\n"
            ),
        ),
    );
    exporter.signal("HUP");
    let both: BTreeSet<String> = only_a.union(&client_nodes(&sim, b)).cloned().collect();
    scanned_nodes(&exporter.base, |n| *n == both).await;
    assert_eq!(
        metric(&exporter.base, "dcs_exporter_config_last_reload_successful").await,
        Some(1.0)
    );

    // An invalid file: 500, the old configuration keeps running.
    dir.write("exporter.toml", "[exporter]\nscan_interval = \"soon\"\n");
    let resp = http()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp.text().await.unwrap().contains("scan_interval"));
    assert_eq!(
        metric(&exporter.base, "dcs_exporter_config_last_reload_successful").await,
        Some(0.0)
    );
    // The old configuration keeps scanning.
    let last = |text: String| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("dcs_scan_last_success_timestamp_seconds{"))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .fold(0.0, f64::max)
    };
    let metrics = || harness::scrape_text(&exporter.base);
    let before = last(metrics().await);
    let until = Instant::now() + Duration::from_secs(15);
    while last(metrics().await) <= before {
        assert!(
            Instant::now() < until,
            "scans stopped after a refused reload"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    scanned_nodes(&exporter.base, |n| *n == both).await;

    // Back to one instance through POST: the other's series go.
    dir.write(
        "exporter.toml",
        &config(&sim_url, &format!("[[cloud.dcs_instance]]\nid = \"{b}\"\n")),
    );
    let resp = http()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let only_b = client_nodes(&sim, b);
    scanned_nodes(&exporter.base, |n| *n == only_b).await;
    assert_eq!(
        metric(&exporter.base, "dcs_exporter_config_last_reload_successful").await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_nodes_and_sigterm_stops_gracefully() {
    let (sim, sim_url) = serve_sim(harness::quick_topology()).await;
    let dir = Dir::new("shards");
    let file = dir.write("exporter.toml", &config(&sim_url, "[cloud.discovery]\n"));
    let all: BTreeSet<String> = sim
        .with_state(|s| s.instance_ids())
        .iter()
        .flat_map(|i| client_nodes(&sim, i))
        .collect();
    let file = file.to_str().unwrap();
    let first = Exporter::start(
        &["--config", file, "--shard.count", "2", "--shard.index", "0"],
        &ENV,
    );
    let second = Exporter::start(
        &["--config", file, "--shard.count", "2", "--shard.index", "1"],
        &ENV,
    );
    let ready = |base: String| async move {
        let until = Instant::now() + Duration::from_secs(30);
        while http()
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            != 200
        {
            assert!(Instant::now() < until);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        scanned_nodes(&base, |_| true).await
    };
    let (a, b) = (
        ready(first.base.clone()).await,
        ready(second.base.clone()).await,
    );
    assert!(a.is_disjoint(&b), "{a:?} {b:?}");
    // Without --web.enable-lifecycle, POST /-/reload is off.
    let off = http()
        .post(format!("{}/-/reload", first.base))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 400);
    assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), all);
    assert!(!a.is_empty() && !b.is_empty());

    let mut first = first;
    first.signal("TERM");
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "SIGTERM did not stop the exporter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

fn tls_files(dir: &Dir) -> (PathBuf, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    dir.write("server.crt", &cert_pem);
    dir.write("server.key", &cert.signing_key.serialize_pem());
    let hash = bcrypt::hash("open sesame", 4).unwrap();
    let web = dir.write(
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {hash}\n"),
    );
    (web, cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_from_a_web_config() {
    let dir = Dir::new("tls");
    let (web, cert_pem) = tls_files(&dir);
    let exporter = Exporter::start(&["--demo", "--web.config.file", web.to_str().unwrap()], &[]);
    assert!(exporter.base.starts_with("https://"), "{}", exporter.base);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}/metrics", exporter.base);
    let ok = client
        .get(&url)
        .basic_auth("alice", Some("open sesame"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("dcs_exporter_build_info"));
    let wrong = client
        .get(&url)
        .basic_auth("alice", Some("open simsim"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    assert_eq!(
        client
            .get(&url)
            .basic_auth("bob", Some("open sesame"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    // Plain HTTP to the TLS port gets no answer of ours.
    let plain = http()
        .get(url.replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // A client that does not trust the certificate is refused at the handshake.
    assert!(
        http()
            .get(&url)
            .basic_auth("alice", Some("open sesame"))
            .send()
            .await
            .is_err()
    );
}

#[test]
fn a_bad_web_config_stops_the_start_with_a_clear_error() {
    let dir = Dir::new("badweb");
    let web = dir.write("web.yml", "basic_auth_users:\n  alice: plaintext\n");
    let out = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"))
        .args([
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            web.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bcrypt") && !err.contains("plaintext"),
        "{err}"
    );
    let missing = dir.write(
        "web2.yml",
        "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"))
        .args([
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            missing.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cert_file"));
    // A client CA without a client-auth policy would check nothing: refused.
    let (_, _) = tls_files(&dir);
    dir.write(
        "ca.crt",
        &std::fs::read_to_string(dir.0.join("server.crt")).unwrap(),
    );
    let no_policy = dir.write(
        "web3.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"))
        .args([
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            no_policy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("client_auth_type"));
    let _ = Path::new("unused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_repeats_is_logged_once() {
    let (sim, sim_url) = serve_sim(harness::quick_topology()).await;
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    let node = client_nodes(&sim, &instance).into_iter().next().unwrap();
    sim.inject_fault(
        dcs_session_exporter::sim::Fault::new(
            dcs_session_exporter::cloud::Operation::ListClients,
            1000,
            dcs_session_exporter::sim::state::SimError::dcs(403, "DCS.4030", "no permission"),
        )
        .on_node(&node),
    );
    let dir = Dir::new("flood");
    let file = dir.write(
        "exporter.toml",
        &config(
            &sim_url,
            &format!("[[cloud.dcs_instance]]\nid = \"{instance}\"\n"),
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"))
        .args([
            "--config",
            file.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "info",
        ])
        .env("CLOUD_SDK_AK", AK)
        .env("CLOUD_SDK_SK", SK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    // Five scan intervals of the same failure.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = reader.join().unwrap();
    let warnings = lines
        .iter()
        .filter(|l| l.contains("level=warn") && l.contains("DCS.4030"))
        .count();
    assert_eq!(warnings, 1, "{lines:#?}");
}

/// Waits (bounded) until every node of `nodes` was scanned successfully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_sdk_credentials_file() {
    let (sim, sim_url) = serve_sim(harness::quick_topology()).await;
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    let nodes = client_nodes(&sim, &instance);
    let dir = Dir::new("profile");
    let profile = dir.write(
        "credentials",
        &format!("[global]\nak = WRONG\nsk = wrong\n[basic]\nak = {AK}\nsk = {SK}\n"),
    );
    let instances = format!("[[cloud.dcs_instance]]\nid = \"{instance}\"\n");
    // credentials = "profile", the file named in the configuration.
    let explicit = dir.write(
        "explicit.toml",
        &config(&sim_url, &instances).replace(
            "[[cloud]]\n",
            &format!(
                "[[cloud]]\ncredentials = \"profile\"\ncredentials_file = \"{}\"\n",
                profile.display()
            ),
        ),
    );
    let exporter = Exporter::start_with(
        process::without_env_credentials(),
        &["--config", explicit.to_str().unwrap()],
        &[],
    );
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
    drop(exporter);
    // auto (the default): no credentials in the environment, the file the SDK's variable names.
    let auto = dir.write("auto.toml", &config(&sim_url, &instances));
    let file = profile.to_str().unwrap();
    let exporter = Exporter::start_with(
        process::without_env_credentials(),
        &["--config", auto.to_str().unwrap()],
        &[("HUAWEICLOUD_SDK_CREDENTIALS_FILE", file)],
    );
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
    drop(exporter);

    // A file without sk: check-config names the file and what is missing, never a value.
    let broken = dir.write("broken", "[basic]\nak = VISIBLE-AK-VALUE\n");
    let (code, out, err) = process::run(
        &["check-config", "--config", auto.to_str().unwrap()],
        &[
            ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", broken.to_str().unwrap()),
            ("CLOUD_SDK_AK", ""),
            ("HUAWEICLOUD_SDK_AK", ""),
        ],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("credentials file") && err.contains("has no sk"),
        "{err}"
    );
    assert!(out.contains("credentials: auto (not usable here"), "{out}");
    assert!(!err.contains("VISIBLE-AK-VALUE") && !out.contains("VISIBLE-AK-VALUE"));
    // A source that does not exist is refused as invalid, naming those that do.
    let unknown = dir.write(
        "unknown.toml",
        &config(&sim_url, &instances)
            .replace("[[cloud]]\n", "[[cloud]]\ncredentials = \"vault\"\n"),
    );
    let (code, _, err) = process::run(
        &["check-config", "--config", unknown.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("must be one of auto, env, profile, metadata, pod_identity, oidc"),
        "{err}"
    );
}
