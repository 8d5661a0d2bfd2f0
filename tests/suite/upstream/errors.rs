//! A cloud API whose errors misbehave: messages of megabytes full of control characters, a new
//! error code at every call, limits no gauge can hold. Through the real binary, against the
//! simulator (which injects them) or a scripted server, on loopback.

use crate::common::{harness, process};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use dcs_session_exporter::cloud::{Credentials, Operation};
use dcs_session_exporter::sim::{Fault, FaultKind, SimConfig, SimError, Simulator};
use harness::{Sample, get_text, scrape, wait_for};
use process::{Dir, Exporter};

const AK: &str = "AKUPSTREAMERRORS";
const SK: &str = "SKupstream000000000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];

/// Every second a scan and a look-up, from the start.
const QUICK: &str =
    "[exporter]\nscan_interval = \"1s\"\ndiscovery_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n";

fn sim_config() -> SimConfig {
    SimConfig::new(Credentials::new(AK, SK), harness::quick_topology())
}

/// An exporter of every instance of the simulator at `sim_url`, scanning and looking up every
/// second.
fn start(dir: &Dir, sim_url: &str) -> Exporter {
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", sim_url)
        ),
    );
    Exporter::start(&["--config", file.to_str().unwrap()], &ENV)
}

fn of<'a>(samples: &'a [Sample], name: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.name == name).collect()
}

/// An error message of 2 MiB, beginning with `marker`, that would forge a log line and colour
/// a terminal if it were shown as it is.
fn endless_message(marker: &str) -> String {
    let mut message = format!("{marker} refused\n\u{1b}[31mlevel=error msg=forged\r\0 ");
    while message.len() < 2 << 20 {
        message.push_str("0123456789abcdef\n");
    }
    message
}

/// No control character but the line breaks between lines.
fn assert_clean(what: &str, text: &str) {
    let bad = text
        .chars()
        .find(|c| c.is_control() && *c != '\n')
        .map(|c| c.escape_unicode().to_string());
    assert_eq!(bad, None, "{what} carries a control character");
}

// A DCS error_msg of 2 MiB was a 2 MiB log line, a 2 MiB /readyz and an 8 MiB landing page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_message_of_megabytes_is_cut_and_cleaned_wherever_it_is_shown() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let refused = |marker: &str| SimError::dcs(400, "DCS.4999", endless_message(marker));
    sim.inject_fault(Fault::new(
        Operation::ListInstances,
        1_000,
        refused("look-up"),
    ));
    let dir = Dir::new("upstream-error-text");
    let exporter = start(&dir, &sim_url);
    let readyz = format!("{}/readyz", exporter.base);
    let body = wait_for(Duration::from_secs(20), "/readyz names it", || async {
        let body = get_text(&readyz).await;
        body.contains("look-up refused").then_some(body)
    })
    .await;
    assert!(
        body.len() < 1_024,
        "/readyz is {} bytes: {body}",
        body.len()
    );
    assert_clean("/readyz", &body);

    // Every scan refused at length: each node's failure is on the landing page.
    sim.clear_faults();
    sim.inject_fault(Fault::new(Operation::ScanClients, 10_000, refused("scan")));
    let nodes = client_nodes(&sim);
    let page = wait_for(
        Duration::from_secs(30),
        "every node's failure on the landing page",
        || async {
            let page = get_text(&format!("{}/", exporter.base)).await;
            (page.matches("scan refused").count() >= nodes.len()).then_some(page)
        },
    )
    .await;
    assert!(
        page.len() < 32 * 1_024,
        "the landing page is {} bytes",
        page.len()
    );
    assert_clean("the landing page", &page);

    let log = exporter.log();
    let told: Vec<&String> = log.iter().filter(|l| l.contains(" refused ")).collect();
    assert!(!told.is_empty(), "the refusals are logged: {log:#?}");
    let longest = log.iter().map(String::len).max().unwrap_or(0);
    assert!(longest < 2_048, "a log line of {longest} bytes");
    for line in &log {
        assert_clean("a log line", line);
    }
}

fn client_nodes(sim: &Simulator) -> BTreeSet<String> {
    sim.with_state(|s| {
        s.instance_ids()
            .iter()
            .flat_map(|i| s.logical_nodes(i).unwrap().nodes)
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    })
}

/// The label values of `label` among a family's samples whose `key` label is `target`.
fn reasons(samples: &[Sample], family: &str, key: &str, target: &str) -> BTreeSet<String> {
    of(samples, family)
        .into_iter()
        .filter(|s| s.label(key) == target)
        .map(|s| s.label("reason").to_string())
        .collect()
}

/// Of the reasons, those that are error codes (`DCS.0012`), not words.
fn codes(reasons: &BTreeSet<String>) -> usize {
    reasons.iter().filter(|r| r.contains('.')).count()
}

// An upstream that answers a new error code at every call added series without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_error_code_at_every_call_adds_no_series_past_the_bound() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let app = axum::Router::new().fallback(move || {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let body = serde_json::json!({
                "error_code": format!("DCS.{n:04}"),
                "error_msg": "refused",
            });
            (StatusCode::BAD_REQUEST, Json(body))
        }
    });
    let url = harness::serve(app).await;
    let dir = Dir::new("upstream-error-codes");
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}[[cloud.dcs_instance]]\nid = \"inst-1\"\nnodes = [\"node-1\"]\n",
            harness::cloud_toml("hostile", "p", &url)
        ),
    );
    let exporter = Exporter::start(&["--config", file.to_str().unwrap()], &ENV);
    let samples = wait_for(
        Duration::from_secs(90),
        "30 failed scans of the node",
        || async {
            let samples = scrape(&exporter.base).await;
            let failed: f64 = of(&samples, "dcs_scan_errors_total")
                .iter()
                .filter(|s| s.label("node_id") == "node-1")
                .map(|s| s.value)
                .sum();
            (failed >= 30.0).then_some(samples)
        },
    )
    .await;
    assert!(calls.load(Ordering::Relaxed) > 60);
    let node = reasons(&samples, "dcs_scan_errors_total", "node_id", "node-1");
    assert_eq!(codes(&node), 20, "{node:?}");
    assert!(node.contains("other") && node.len() == 21, "{node:?}");
    let instance = reasons(
        &samples,
        "dcs_exporter_instance_context_errors_total",
        "instance_id",
        "inst-1",
    );
    assert!(
        codes(&instance) <= 20 && instance.len() <= 21,
        "{instance:?}"
    );
    let cloud = reasons(
        &samples,
        "dcs_exporter_discovery_errors_total",
        "cloud",
        "hostile",
    );
    assert!(codes(&cloud) <= 20 && cloud.len() <= 21, "{cloud:?}");
    let total = of(&samples, "dcs_scan_errors_total").len();
    assert!(total <= 21, "{total} scan error series");
}

/// `family`'s values for the nodes of `instance_id`.
fn node_values(samples: &[Sample], family: &str, nodes: &BTreeSet<String>) -> Vec<f64> {
    of(samples, family)
        .into_iter()
        .filter(|s| nodes.contains(s.label("node_id")))
        .map(|s| s.value)
        .collect()
}

/// `list_configurations` answers counted as `invalid_value` for the instance.
fn invalid_values(samples: &[Sample], instance_id: &str) -> f64 {
    of(samples, "dcs_exporter_instance_context_errors_total")
        .into_iter()
        .filter(|s| {
            s.label("instance_id") == instance_id
                && s.label("operation") == "list_configurations"
                && s.label("reason") == "invalid_value"
        })
        .map(|s| s.value)
        .sum()
}

// maxclients and timeout above i64 were exported as -1 and -9.2e18; `abc`, `-5`, `1e9`
// dropped the series with no error counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_no_gauge_can_hold_are_counted_and_the_last_good_value_kept() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    let instance = sim.with_state(|s| s.instance_ids())[0].clone();
    let nodes: BTreeSet<String> = sim.with_state(|s| {
        s.logical_nodes(&instance)
            .unwrap()
            .nodes
            .into_iter()
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    });
    let limits = sim.with_state(|s| s.configurations(&instance)).unwrap();
    let (max_clients, timeout) = (
        limits.number("maxclients").unwrap() as f64,
        limits.number("timeout").unwrap() as f64,
    );
    let dir = Dir::new("upstream-limits");
    let exporter = start(&dir, &sim_url);
    let good = |samples: &[Sample]| {
        node_values(samples, "dcs_node_max_clients", &nodes) == vec![max_clients; nodes.len()]
            && node_values(samples, "dcs_node_idle_timeout_seconds", &nodes)
                == vec![timeout; nodes.len()]
    };
    wait_for(Duration::from_secs(20), "the limits read", || async {
        good(&scrape(&exporter.base).await).then_some(())
    })
    .await;
    for bad in [
        "18446744073709551615",
        "abc",
        "-5",
        "1e9",
        "9223372036854775808",
    ] {
        sim.with_state(|s| {
            s.set_parameter(&instance, "maxclients", bad).unwrap();
            s.set_parameter(&instance, "timeout", bad).unwrap();
        });
        let before = invalid_values(&scrape(&exporter.base).await, &instance);
        // Two more counted: at least one look-up read the value whole after it was set.
        let samples = wait_for(
            Duration::from_secs(20),
            &format!("{bad} counted as invalid_value"),
            || async {
                let samples = scrape(&exporter.base).await;
                (invalid_values(&samples, &instance) >= before + 2.0).then_some(samples)
            },
        )
        .await;
        assert!(good(&samples), "{bad}: the last good limits are kept");
        for family in ["dcs_node_max_clients", "dcs_node_idle_timeout_seconds"] {
            for sample in of(&samples, family) {
                assert!(
                    (0.0..1e12).contains(&sample.value),
                    "{bad}: {family} {}",
                    sample.value
                );
            }
        }
    }
    let warned = exporter
        .log()
        .iter()
        .filter(|l| l.contains("no valid limit") && l.contains(&instance))
        .count();
    assert_eq!(warned, 1, "logged once while the limits stay invalid");
    // A valid value again is taken at once.
    sim.with_state(|s| s.set_parameter(&instance, "maxclients", "12000").unwrap());
    wait_for(Duration::from_secs(20), "the new limit read", || async {
        let samples = scrape(&exporter.base).await;
        (node_values(&samples, "dcs_node_max_clients", &nodes) == vec![12_000.0; nodes.len()])
            .then_some(())
    })
    .await;
}

// Details and parameters are a few KiB: an answer of megabytes is refused unread, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_and_parameters_past_their_budget_are_refused_and_counted() {
    let (sim, sim_url) = harness::serve_sim(sim_config()).await;
    for operation in [Operation::ShowInstance, Operation::ListConfigurations] {
        sim.inject_fault(Fault::of(operation, 10_000, FaultKind::HugeBody(2 << 20)));
    }
    let instances = sim.with_state(|s| s.instance_ids());
    let dir = Dir::new("upstream-context-budget");
    let exporter = start(&dir, &sim_url);
    let too_large = |samples: &[Sample], id: &str, operation: &str| {
        of(samples, "dcs_exporter_instance_context_errors_total")
            .into_iter()
            .any(|s| {
                s.label("instance_id") == id
                    && s.label("operation") == operation
                    && s.label("reason") == "reply_too_large"
            })
    };
    wait_for(
        Duration::from_secs(20),
        "every read counted as reply_too_large",
        || async {
            let samples = scrape(&exporter.base).await;
            instances
                .iter()
                .all(|id| {
                    too_large(&samples, id, "show_instance")
                        && too_large(&samples, id, "list_configurations")
                })
                .then_some(())
        },
    )
    .await;
    // The scans go on without them.
    wait_for(Duration::from_secs(20), "a node scanned", || async {
        let samples = scrape(&exporter.base).await;
        let scanned = of(&samples, "dcs_scan_success")
            .iter()
            .any(|s| s.value == 1.0);
        scanned.then_some(())
    })
    .await;
}
