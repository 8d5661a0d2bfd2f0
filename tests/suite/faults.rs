//! One test per way the API can misbehave: the exporter keeps serving, the other nodes stay
//! correct, the failure is counted under its stage and reason, deadlines hold, retries stay
//! bounded.

use crate::common::harness;

use std::collections::BTreeMap;
use std::time::Duration;

use dcs_session_exporter::cloud::{Credentials, Operation};
use dcs_session_exporter::config::Config;
use dcs_session_exporter::sim::state::{ErrorShape, SimError};
use dcs_session_exporter::sim::{Fault, FaultKind, SimConfig, Simulator, Topology};
use tokio::time::Instant;

const AK: &str = "AKFAULTS";
const SK: &str = "SKfaults000000000000000001";
/// Scans every 2 s, each with 1.5 s to finish.
const TIMEOUT_S: f64 = 1.5;

/// A simulator and an exporter scanning it, with the node the faults hit.
struct Faulted {
    running: harness::SimAndExporter,
    /// The HA instance's master.
    node: String,
}

impl std::ops::Deref for Faulted {
    type Target = harness::SimAndExporter;
    fn deref(&self) -> &Self::Target {
        &self.running
    }
}

/// A simulator with `fault` on one node, and an exporter scanning it.
async fn start(operation: Operation, kind: FaultKind, times: u32) -> Faulted {
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(50);
    for i in &mut t.instances {
        i.sessions_per_node = 100;
    }
    let sim = Simulator::new(SimConfig::new(Credentials::new(AK, SK), t));
    let node = sim.with_state(|s| {
        let instance = s.instance_ids()[0].clone();
        s.logical_nodes(&instance).unwrap().nodes[0]
            .node_id
            .clone()
            .unwrap()
    });
    sim.inject_fault(Fault::of(operation, times, kind).on_node(&node));
    let sim_url = harness::serve(sim.router()).await;
    // Pages of 40 sessions: a node's list takes several, so faults between pages show.
    let config = Config::from_toml(&format!(
        "[exporter]\nscan_interval = \"2s\"\nscan_timeout = \"{TIMEOUT_S}s\"\nfirst_scan_spread = \"0s\"\npage_size = 40\n\
         {}[cloud.discovery]\n",
        harness::cloud_toml("sim", "p", &sim_url)
    ))
    .unwrap();
    let in_process = harness::exporter(&config, Credentials::new(AK, SK)).await;
    Faulted {
        running: harness::SimAndExporter::new(sim, sim_url, in_process),
        node,
    }
}

/// `name{labels} value` lines, as (name, labels, value).
type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

async fn scrape(url: &str) -> Samples {
    let text = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the exporter keeps serving")
        .text()
        .await
        .unwrap();
    harness::parse_exposition(&text)
        .into_iter()
        .map(|s| (s.name, s.labels, s.value))
        .collect()
}

fn node_value(samples: &Samples, name: &str, node: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.0 == name && s.1.get("node_id").map(String::as_str) == Some(node))
        .map(|s| s.2)
}

/// `(stage, reason)` of the node's counted failures.
fn failures(samples: &Samples, node: &str) -> Vec<(String, String, f64)> {
    samples
        .iter()
        .filter(|s| s.0 == "dcs_scan_errors_total" && s.1["node_id"] == node)
        .map(|s| (s.1["stage"].clone(), s.1["reason"].clone(), s.2))
        .collect()
}

/// Waits (bounded) for a failure of the node with this stage and one of these reasons, then
/// checks what must hold whatever the fault: the other nodes scan fine, the deadline held.
async fn expect_failure(h: &Faulted, stage: &str, reasons: &[&str]) -> Samples {
    let until = Instant::now() + Duration::from_secs(25);
    loop {
        let samples = scrape(&h.exporter).await;
        let found = failures(&samples, &h.node);
        let others: Vec<&(String, BTreeMap<String, String>, f64)> = samples
            .iter()
            .filter(|s| s.0 == "dcs_scan_success" && s.1["node_id"] != h.node)
            .collect();
        // The faulty node may fail before the others finish their first scans.
        if others.len() == 4
            && found
                .iter()
                .any(|(s, r, _)| s == stage && reasons.contains(&r.as_str()))
        {
            assert_eq!(node_value(&samples, "dcs_scan_success", &h.node), Some(0.0));
            let duration = node_value(&samples, "dcs_scan_duration_seconds", &h.node).unwrap();
            assert!(
                duration <= TIMEOUT_S + 0.5,
                "the scan outlived its deadline: {duration} s"
            );
            assert!(
                others.iter().all(|s| s.2 == 1.0),
                "another node suffered: {others:?}"
            );
            return samples;
        }
        assert!(
            Instant::now() < until,
            "no {stage}/{reasons:?} failure; counted: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn dcs(status: u16, code: &str) -> SimError {
    SimError::dcs(status, code, "injected")
}

fn gateway(status: u16, code: &str) -> SimError {
    SimError {
        status,
        shape: ErrorShape::Gateway,
        code: code.into(),
        message: "injected".into(),
    }
}

fn api_requests(samples: &Samples, operation: &str, code: &str) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.0 == "dcs_exporter_api_requests_total"
                && s.1["operation"] == operation
                && s.1["code"] == code
        })
        .map(|s| s.2)
        .sum()
}

#[tokio::test]
async fn server_errors() {
    let h = start(
        Operation::ListClients,
        FaultKind::Error(dcs(500, "DCS.5000")),
        1000,
    )
    .await;
    expect_failure(&h, "list", &["DCS.5000"]).await;
}

#[tokio::test]
async fn a_throttling_storm_is_not_met_with_a_retry_storm() {
    let h = start(
        Operation::ScanClients,
        FaultKind::Error(gateway(429, "APIG.0308")),
        1000,
    )
    .await;
    let samples = expect_failure(&h, "scan", &["APIG.0308"]).await;
    let scans: f64 = failures(&samples, &h.node).iter().map(|f| f.2).sum();
    let throttled = api_requests(&samples, "scan_clients", "429");
    // At most the first try and three retries a scan.
    assert!(
        throttled <= 4.0 * (scans + 1.0),
        "{throttled} throttled calls for {scans} scans"
    );
}

#[tokio::test]
async fn a_short_throttling_burst_is_ridden_out() {
    let h = start(
        Operation::ScanClients,
        FaultKind::Error(gateway(429, "APIG.0308")),
        2,
    )
    .await;
    let until = Instant::now() + Duration::from_secs(25);
    loop {
        let samples = scrape(&h.exporter).await;
        if node_value(&samples, "dcs_scan_success", &h.node) == Some(1.0) {
            assert_eq!(api_requests(&samples, "scan_clients", "429"), 2.0);
            break;
        }
        assert!(Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_refused_signature_is_an_auth_error_without_retries() {
    let h = start(
        Operation::ScanClients,
        FaultKind::Error(gateway(401, "APIG.0301")),
        1000,
    )
    .await;
    let samples = expect_failure(&h, "scan", &["APIG.0301"]).await;
    let counted: f64 = failures(&samples, &h.node).iter().map(|f| f.2).sum();
    assert_eq!(
        api_requests(&samples, "scan_clients", "401"),
        counted,
        "one call a scan"
    );
}

#[tokio::test]
async fn truncated_bodies() {
    let h = start(Operation::ListClients, FaultKind::TruncatedBody, 1000).await;
    expect_failure(&h, "list", &["transport", "decode"]).await;
}

#[tokio::test]
async fn wrong_json_types_and_nulls() {
    let h = start(Operation::ListClients, FaultKind::WrongTypes, 1000).await;
    // Tolerated field by field; a `time` of 17 (1970) is a list far too old to be fresh.
    expect_failure(&h, "list", &["stale_list", "decode"]).await;
}

#[tokio::test]
async fn a_connection_that_hangs() {
    let h = start(Operation::ListClients, FaultKind::Hang, 1000).await;
    expect_failure(&h, "list", &["timeout"]).await;
}

#[tokio::test]
async fn slow_answers() {
    let h = start(
        Operation::ListClients,
        FaultKind::Slow(Duration::from_secs(3)),
        1000,
    )
    .await;
    expect_failure(&h, "list", &["timeout"]).await;
}

#[tokio::test]
async fn a_job_stuck_in_running() {
    let h = start(Operation::ScanClients, FaultKind::JobStuck, 1).await;
    expect_failure(&h, "job", &["timeout"]).await;
}

#[tokio::test]
async fn a_stuck_job_is_reported_as_running_on_every_scan() {
    // The job never ends, so the service refuses every later scan of the node (DCS.4957)
    // and it has no stored list: each scan must say the job is still running (before: a
    // job timeout once, then list/DCS.5000 on every scan).
    let h = start(Operation::ScanClients, FaultKind::JobStuck, 1).await;
    let until = Instant::now() + Duration::from_secs(25);
    loop {
        let samples = scrape(&h.exporter).await;
        let found = failures(&samples, &h.node);
        let total: f64 = found.iter().map(|f| f.2).sum();
        if total >= 3.0 {
            assert!(
                found
                    .iter()
                    .all(|(stage, reason, _)| stage == "job" && reason == "timeout"),
                "{found:?}"
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "fewer than 3 failed scans: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_job_that_fails() {
    let h = start(Operation::ScanClients, FaultKind::JobFails, 1000).await;
    expect_failure(&h, "job", &["job_failed"]).await;
}

#[tokio::test]
async fn time_changing_between_pages() {
    let h = start(Operation::ListClients, FaultKind::TimeChanges, 1000).await;
    expect_failure(&h, "list", &["inconsistent"]).await;
}

#[tokio::test]
async fn count_larger_than_the_pages_deliver() {
    let h = start(Operation::ListClients, FaultKind::CountTooLarge, 1000).await;
    expect_failure(&h, "list", &["inconsistent"]).await;
}

#[tokio::test]
async fn pages_that_never_end() {
    let h = start(Operation::ListClients, FaultKind::EndlessPages, 100_000).await;
    expect_failure(&h, "list", &["inconsistent", "timeout"]).await;
}

#[tokio::test]
async fn a_body_far_larger_than_any_page() {
    let h = start(Operation::ListClients, FaultKind::HugeBody(20 << 20), 1000).await;
    expect_failure(&h, "list", &["body_too_large"]).await;
    // The body cap refuses the answer as it streams in: it is never held whole.
    let _ = &h.sim;
}

#[tokio::test]
async fn faults_from_a_topology_file() {
    let topology: Topology = toml::from_str(
        r#"
        job_duration = "50ms"
        [[instance]]
        name = "cache"
        architecture = "ha"
        sessions_per_node = 20
        [[fault]]
        instance = "cache"
        node = 2
        operation = "list_clients"
        kind = "error"
        status = 503
        code = "DCS.5000"
        times = 1
        "#,
    )
    .unwrap();
    topology.validate().unwrap();
    let sim = Simulator::new(SimConfig::new(Credentials::new(AK, SK), topology));
    let url = harness::serve(sim.router()).await;
    let (instance, replica) = sim.with_state(|s| {
        let id = s.instance_ids()[0].clone();
        let node = s.client_node_by_name("cache", 2).unwrap();
        (id, node)
    });
    let api = dcs_session_exporter::cloud::ApiClient::new(
        Credentials::new(AK, SK),
        "p",
        dcs_session_exporter::cloud::Endpoints::single(&url).unwrap(),
        dcs_session_exporter::cloud::ClientOptions {
            retry: dcs_session_exporter::cloud::RetryPolicy::none(),
            ..Default::default()
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let query = |node: &str| dcs_session_exporter::cloud::dcs::ListClientsQuery {
        node_id: node.to_string(),
        ..Default::default()
    };
    // The replica's first page read fails once, as the file says; then it behaves.
    let err = api
        .list_clients(&instance, &query(&replica), deadline)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_deref()),
        (Some(503), Some("DCS.5000"))
    );
    let err = api
        .list_clients(&instance, &query(&replica), deadline)
        .await
        .unwrap_err();
    assert_eq!(
        err.status,
        Some(500),
        "never scanned: the service's own 500"
    );
    // An unknown kind is refused when the file is read.
    let bad: Topology = toml::from_str(
        "[[instance]]\nname = \"c\"\narchitecture = \"single\"\n[[fault]]\noperation = \"list_clients\"\nkind = \"gremlins\"\n",
    )
    .unwrap();
    assert!(bad.validate().unwrap_err().to_string().contains("gremlins"));
}
