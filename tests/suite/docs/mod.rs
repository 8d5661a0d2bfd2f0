//! The documentation checked against the code, so that it cannot drift: every configuration key
//! the exporter accepts is in `docs/configuration.md` and `config/exporter.toml` (and every key
//! documented is accepted), every family it emits is in `docs/metrics.md` with its type and
//! labels (and every family documented is emitted), every alert links its own runbook, every
//! relative link resolves, and the Kubernetes manifests validate against the API schemas.
//! Each check is a function that lists what is wrong; `planted` shows each one failing.

mod checks;
mod planted;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::SimConfig;

use crate::common::process::{self, Dir, Exporter};
use crate::common::{available, harness};

use checks::{
    Emitted, alert_runbooks, config_reference, documented_families, emitted_families,
    example_config, family_reference, relative_links,
};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fail_on(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what} drifted from the code ({} problems):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn configuration_reference_lists_every_accepted_key_and_no_other() {
    let accepted = dcs_session_exporter::config::accepted_keys();
    fail_on(
        "docs/configuration.md",
        config_reference(&read("docs/configuration.md"), &accepted),
    );
}

#[test]
fn example_configuration_shows_every_accepted_key() {
    let accepted = dcs_session_exporter::config::accepted_keys();
    fail_on(
        "config/exporter.toml",
        example_config(&read("config/exporter.toml"), &accepted),
    );
}

#[test]
fn every_alert_links_its_own_runbook() {
    let base = format!("{}/blob/main/docs/alerts.md#", env!("CARGO_PKG_REPOSITORY"));
    fail_on(
        "config/alerts.yml and docs/alerts.md",
        alert_runbooks(&read("config/alerts.yml"), &read("docs/alerts.md"), &base),
    );
}

#[test]
fn every_relative_link_resolves() {
    let mut files = vec![repo("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 9, "docs/ holds {} pages", docs.len());
    files.extend(docs);
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        problems.extend(relative_links(file, &text));
    }
    fail_on("README.md and docs/", problems);
}

#[test]
fn readme_is_short() {
    let lines = read("README.md").lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines: the reference belongs in docs/"
    );
}

/// Every family the exporter emits: the golden exposition (every target family, each optional
/// one included) and a daemon's own exposition on the simulator with temporary credentials and
/// the remediation webhook on (the exporter's own families).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reference_matches_what_the_exporter_emits() {
    let mut emitted: BTreeMap<String, Emitted> = emitted_families(&read("tests/data/golden.prom"));
    for (name, family) in emitted_families(&daemon_exposition().await) {
        let entry = emitted.entry(name).or_insert_with(|| Emitted {
            kind: family.kind.clone(),
            labels: Default::default(),
        });
        entry.labels.extend(family.labels);
    }
    assert!(
        emitted.len() >= 60,
        "only {} families emitted",
        emitted.len()
    );
    let documented = documented_families(&read("docs/metrics.md"));
    fail_on("docs/metrics.md", family_reference(&documented, &emitted));
}

const AK: &str = "AKDOCSCHECK";
const SK: &str = "SKdocscheck00000000000000001";

/// `/metrics` of the exporter binary on the demo topology, once every family that only a
/// running daemon has is there.
async fn daemon_exposition() -> String {
    let topology = harness::demo_topology(Duration::from_millis(50), 20);
    let (sim, sim_url) =
        harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), topology)).await;
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    let dir = Dir::new("docs-metrics");
    let config = format!(
        "[exporter]\nscan_interval = \"2s\"\nfirst_scan_spread = \"0s\"\n{}\
         credentials = \"metadata\"\nmetadata_endpoint = \"{sim_url}\"\n\
         [[cloud.dcs_instance]]\nid = \"{instance}\"\n\
         [[cloud.dbss_resource]]\nid = \"dbss-audit-demo\"\n\
         [remediation]\nenabled = true\ntoken_env = \"DOCS_HOOK_TOKEN\"\n\
         [[remediation.allow]]\ninstance_id = \"{instance}\"\nnode_id = \"*\"\n",
        harness::cloud_toml("sim", "p", &sim_url)
    );
    let path = dir.write("exporter.toml", &config);
    let exporter = Exporter::start_with(
        process::without_env_credentials(),
        &["--config", path.to_str().unwrap()],
        &[("DOCS_HOOK_TOKEN", "docs-check-token-0123456789")],
    );
    // One webhook decision (a dry run on a node not allowed), so that its family has a sample.
    let alert = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "dcs-remediation",
        "groupKey": "{}:{alertname=\"DcsManyIdleSessions\"}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing", "fingerprint": "docs", "annotations": {},
            "labels": {"alertname": "DcsManyIdleSessions", "instance_id": "elsewhere", "node_id": "n"},
            "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph"
        }]
    });
    let answer = harness::http()
        .post(format!("{}/remediation/alertmanager", exporter.base))
        .bearer_auth("docs-check-token-0123456789")
        .body(alert.to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{answer:?}");
    let url = format!("{}/metrics", exporter.base);
    let needed = [
        "dcs_exporter_credentials_expiry_timestamp_seconds{",
        "dcs_remediation_actions_total{",
        "dcs_exporter_api_requests_total{",
        "dcs_clients{",
        "dbss_jobs{",
    ];
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = harness::get_text(&url).await;
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|n| !text.contains(n))
            .collect();
        if missing.is_empty() {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not within 60 s: {missing:?}; log: {:#?}",
            exporter.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The manifests against the Kubernetes API's schemas, offline and strict (unknown fields are
/// errors). The ServiceMonitor is a Prometheus Operator resource the schemas do not hold.
#[test]
fn kubernetes_manifests_validate() {
    if !available("kubernetes-validate", "pip install kubernetes-validate") {
        return;
    }
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(repo("config/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 8, "{manifests:?}");
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&manifests)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubernetes-validate refused:\n{said}");
    let passed = said
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert!(passed >= 9, "only {passed} resources validated:\n{said}");
    for line in said.lines().filter(|l| l.starts_with("WARN")) {
        assert!(
            line.contains("servicemonitor.yaml") && line.contains("ServiceMonitor"),
            "unexpected warning: {line}"
        );
    }
}
