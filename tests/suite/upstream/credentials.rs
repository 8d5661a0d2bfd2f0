//! Credential services that misbehave, through the binary on loopback: refusals that echo the
//! token they were sent, credentials too short-lived to use, and an outage whose end must
//! bring the look-ups and scans back at once, not at the end of their backoff.

use crate::common::{harness, process};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::credentials::CredentialServices;
use dcs_session_exporter::sim::{SimConfig, Simulator};
use process::{Dir, Exporter};
use tokio::time::Instant;

const AK: &str = "AKUPSTREAMTEST";
const SK: &str = "SKupstreamtest000000000001";
/// What the hostile metadata service hands out as its session token, then sees echoed.
const METADATA_TOKEN: &str = "MDSESSIONTOKENCANARY0003";
/// A pod-identity token and an OIDC id token shaped as the JWTs they are: a service may echo
/// one part only.
const POD_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InBvZCJ9.eyJzdWIiOiJQT0RQQVlMT0FEQ0FOQVJZMDAwMSJ9.UE9EU0lHTkFUVVJFQ0FOQVJZMDAwMDAwMDE";
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im9pZGMifQ.eyJzdWIiOiJPSURDUEFZTE9BRENBTkFSWTAwMDIifQ.T0lEQ1NJR05BVFVSRUNBTkFSWTAwMDAwMDAy";

/// The value of one sample whose labels include `labels`.
fn sample(samples: &[harness::Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
}

/// `dcs_exporter_credential_refreshes_total` of `result`.
fn refreshes(samples: &[harness::Sample], result: &str) -> f64 {
    sample(
        samples,
        "dcs_exporter_credential_refreshes_total",
        &[("result", result)],
    )
    .unwrap_or(0.0)
}

/// An exporter configuration: one instance of `url` (nodes listed when `nodes` is not empty),
/// scanned every `scan_interval`, looked up every `discovery_interval`, with `keys` added to
/// the `[[cloud]]`.
fn config(
    url: &str,
    instance: &str,
    nodes: &[String],
    intervals: (&str, &str),
    keys: &str,
) -> String {
    let (scan_interval, discovery_interval) = intervals;
    let nodes = if nodes.is_empty() {
        String::new()
    } else {
        format!("nodes = {nodes:?}\n")
    };
    format!(
        "[exporter]\nscan_interval = \"{scan_interval}\"\ndiscovery_interval = \"{discovery_interval}\"\n\
         first_scan_spread = \"0s\"\n{}{keys}\n[[cloud.dcs_instance]]\nid = \"{instance}\"\n{nodes}",
        harness::cloud_toml("hostile", "p", url)
    )
}

/// Writes a token file readable by its owner only.
fn token_file(dir: &Dir, name: &str, token: &str) -> String {
    let path = dir.write(name, token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path.to_str().unwrap().to_string()
}

/// A refusal that repeats `token` (whole, and its middle part when it has dots) in its error
/// message, its code and a header, with newlines, a forged log line and escape codes, and a
/// 60 KB tail; every third answer has a 100 KB tail instead, past the answer cap.
fn echo(token: &str, calls: &AtomicU64) -> (StatusCode, HeaderMap, String) {
    let n = calls.fetch_add(1, Ordering::SeqCst);
    let part = token.split('.').nth(1).unwrap_or(token);
    let tail = "x".repeat(if n % 3 == 2 { 100_000 } else { 60_000 });
    let message = format!(
        "token {token} is not valid\nlevel=info msg=\"forged {part}\"\r\n\u{1b}[2J{part} {tail}"
    );
    let body = serde_json::json!({"error_code": token, "error_msg": message}).to_string();
    let mut headers = HeaderMap::new();
    headers.insert("x-echoed-token", token.parse().unwrap());
    (StatusCode::FORBIDDEN, headers, body)
}

/// A credential service of every kind that refuses by echoing what it was sent; the number of
/// refusals each kind gave.
struct Echoing {
    url: String,
    metadata: Arc<AtomicU64>,
    pod: Arc<AtomicU64>,
    oidc: Arc<AtomicU64>,
}

async fn echoing_services() -> Echoing {
    use axum::routing::{get, post, put};
    let (metadata, pod, oidc) = (Arc::default(), Arc::default(), Arc::default());
    let app = axum::Router::new()
        .route(
            "/meta-data/latest/api/token",
            put(|| async { METADATA_TOKEN }),
        )
        .route(
            "/openstack/latest/securitykey",
            get({
                let calls = Arc::clone(&metadata);
                move |headers: HeaderMap| async move {
                    let sent = headers.get("x-metadata-token").unwrap().to_str().unwrap();
                    echo(sent, &calls)
                }
            }),
        )
        .route(
            "/pod",
            post({
                let calls = Arc::clone(&pod);
                move |headers: HeaderMap| async move {
                    let sent = headers.get("authorization").unwrap().to_str().unwrap();
                    echo(sent, &calls)
                }
            }),
        )
        .route(
            "/v5/agencies/assume-with-oidc",
            post({
                let calls = Arc::clone(&oidc);
                move |body: axum::Json<serde_json::Value>| async move {
                    echo(body["id_token"].as_str().unwrap(), &calls)
                }
            }),
        );
    Echoing {
        url: harness::serve(app).await,
        metadata,
        pod,
        oidc,
    }
}

/// A temporary source on the echoing services: its configuration keys and variables, the
/// refusals it got and the token it sends.
struct Source<'a> {
    name: &'static str,
    keys: String,
    env: Vec<(&'static str, String)>,
    calls: &'a AtomicU64,
    token: &'static str,
}

/// The last renewal error the landing page shows.
fn shown_error(page: &str) -> &str {
    let Some(start) = page.rfind("<td class=\"failed\">") else {
        return "";
    };
    let start = start + "<td class=\"failed\">".len();
    let end = start + page[start..].find("</td>").unwrap();
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_echoes_the_token_shows_none_of_it() {
    let services = echoing_services().await;
    let url = &services.url;
    let dir = Dir::new("upstream-echo");
    let pod_file = token_file(&dir, "pod-token", POD_TOKEN);
    let id_file = token_file(&dir, "id-token", &format!("{ID_TOKEN}\n"));
    let instance = "86cc7763-2227-24a2-8af0-0a133fad517d";
    let sources = [
        Source {
            name: "metadata",
            keys: format!("credentials = \"metadata\"\nmetadata_endpoint = \"{url}\"\n"),
            env: vec![],
            calls: &services.metadata,
            token: METADATA_TOKEN,
        },
        Source {
            name: "pod_identity",
            keys: "credentials = \"pod_identity\"\n".into(),
            env: vec![
                ("HC_CONTAINER_CREDENTIALS_FULL_URI", format!("{url}/pod")),
                ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", pod_file),
            ],
            calls: &services.pod,
            token: POD_TOKEN,
        },
        Source {
            name: "oidc",
            keys: format!("credentials = \"oidc\"\nsts_endpoint = \"{url}\"\n"),
            env: vec![
                (
                    "HUAWEICLOUD_OIDC_PROVIDER_URN",
                    "iam::0123:identity-provider:cce".into(),
                ),
                (
                    "HUAWEICLOUD_OIDC_AGENCY_URN",
                    "iam::0123:agency:dcs-exporter".into(),
                ),
                ("HUAWEICLOUD_OIDC_TOKEN_FILE", id_file),
            ],
            calls: &services.oidc,
            token: ID_TOKEN,
        },
    ];
    // All three at once: each retries on its backoff.
    let exporters: Vec<Exporter> = sources
        .iter()
        .map(|source| {
            let path = dir.write(
                &format!("{}.toml", source.name),
                &config(url, instance, &[], ("1s", "10m"), &source.keys),
            );
            let env: Vec<(&str, &str)> = source.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Exporter::start_with(
                process::without_env_credentials(),
                &["--config", path.to_str().unwrap()],
                &env,
            )
        })
        .collect();
    // Every problem of every source, so that one run says which sources leak.
    let mut problems = Vec::new();
    for (source, exporter) in sources.iter().zip(&exporters) {
        let Source {
            name, calls, token, ..
        } = source;
        // Both shapes of refusal answered, and an echo the last shown.
        let page = harness::wait_for(Duration::from_secs(30), "three refusals", || async {
            let page = harness::get_text(&format!("{}/", exporter.base)).await;
            let echo_shown = shown_error(&page).contains("HTTP 403");
            (calls.load(Ordering::SeqCst) >= 3 && echo_shown).then_some(page)
        })
        .await;
        let samples = harness::scrape(&exporter.base).await;
        let metrics = harness::scrape_text(&exporter.base).await;
        let ready = harness::get_text(&format!("{}/readyz", exporter.base)).await;
        let lines = exporter.log();
        let log = lines.join("\n");
        let mut problem = |what: String| problems.push(format!("{name}: {what}"));
        for (what, text) in [
            ("stderr", &log),
            ("/metrics", &metrics),
            ("/readyz", &ready),
            ("the landing page", &page),
        ] {
            for secret in std::iter::once(*token).chain(token.split('.')) {
                if text.contains(secret) {
                    problem(format!("{what} shows {secret}"));
                }
            }
            if text.contains('\u{1b}') {
                problem(format!("an escape code in {what}"));
            }
        }
        if refreshes(&samples, "refused") < 1.0 {
            problem("no refusal counted".into());
        }
        // Every refusal said so, shortly, on one line.
        let error = shown_error(&page);
        let said = |text: &str| text.contains("HTTP 403") || text.contains("answer larger than");
        if !said(error) || error.chars().count() > 250 {
            problem(format!("the landing page shows {error:.300}"));
        }
        if !said(&ready) || ready.len() > 2_000 {
            problem(format!("/readyz says {ready:.300}"));
        }
        let failed: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("renewing credentials failed"))
            .collect();
        if failed.is_empty() || failed.iter().any(|l| l.len() > 1_000) {
            problem(format!(
                "logged {} failures, {:.300?}",
                failed.len(),
                failed.first()
            ));
        }
        if lines
            .iter()
            .any(|l| l.starts_with("level=info msg=\"forged"))
        {
            problem("a forged log line".into());
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

async fn serve_sim(change: impl FnOnce(&mut CredentialServices)) -> (Arc<Simulator>, String) {
    let topology = harness::demo_topology(Duration::from_millis(50), 20);
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology);
    change(&mut config.credential_services);
    harness::serve_sim(config).await
}

/// The simulator's first instance and the nodes of it that take clients.
fn first_instance(sim: &Simulator) -> (String, BTreeSet<String>) {
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    let nodes = sim.with_state(|s| {
        s.logical_nodes(&instance)
            .unwrap()
            .nodes
            .into_iter()
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    });
    (instance, nodes)
}

/// The binary on the simulator's metadata credentials.
fn metadata_exporter(dir: &Dir, config_text: &str) -> Exporter {
    let path = dir.write("exporter.toml", config_text);
    let keys = ["--config", path.to_str().unwrap()];
    Exporter::start_with(process::without_env_credentials(), &keys, &[])
}

fn metadata_keys(sim_url: &str) -> String {
    format!("credentials = \"metadata\"\nmetadata_endpoint = \"{sim_url}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_too_short_to_use_are_a_failed_renewal_retried_on_the_backoff() {
    let (sim, sim_url) = serve_sim(|s| s.lifetime = Some(Duration::from_secs(2))).await;
    let (instance, _) = first_instance(&sim);
    let dir = Dir::new("upstream-too-short");
    let text = config(
        &sim_url,
        &instance,
        &[],
        ("1s", "10m"),
        &metadata_keys(&sim_url),
    );
    let exporter = metadata_exporter(&dir, &text);
    harness::wait_for(Duration::from_secs(20), "too_short counted", || async {
        let samples = harness::scrape(&exporter.base).await;
        (refreshes(&samples, "too_short") >= 1.0).then_some(())
    })
    .await;
    // Asked again on the backoff (1 s, 2 s, 4 s, ...), not every second.
    let before = sim.issuer().issued_by("metadata");
    let window = Duration::from_secs(15);
    tokio::time::sleep(window).await;
    let asked = sim.issuer().issued_by("metadata") - before;
    eprintln!("credentials asked for {asked} times in {window:?}");
    assert!(asked <= 6, "{asked} renewals in {window:?}");
    let samples = harness::scrape(&exporter.base).await;
    assert_eq!(
        refreshes(&samples, "success"),
        0.0,
        "none counted a success"
    );
    assert!(refreshes(&samples, "too_short") >= 2.0);
    // No credentials, said as such: the look-ups fail clearly and nothing is signed with them.
    assert!(
        sample(
            &samples,
            "dcs_exporter_discovery_errors_total",
            &[("reason", "credentials_unavailable")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        sample(
            &samples,
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            &[]
        )
        .is_none(),
        "no expiry: the alert on credentials never obtained can fire"
    );
    let ready = harness::get_text(&format!("{}/readyz", exporter.base)).await;
    assert!(ready.contains("within the 5 s renewal margin"), "{ready}");
    assert_eq!(
        sim.auth_failures(),
        0,
        "nothing signed with them reached the service"
    );
    let errors = exporter
        .log()
        .iter()
        .filter(|l| l.contains("renewing credentials failed"))
        .count();
    assert_eq!(errors, 1, "logged once: {:?}", exporter.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_failing_for_want_of_credentials_run_again_as_soon_as_they_recover() {
    let (sim, sim_url) = serve_sim(|_| {}).await;
    let (instance, nodes) = first_instance(&sim);
    let listed: Vec<String> = nodes.iter().cloned().collect();
    sim.issuer().set_outage(true);
    let dir = Dir::new("upstream-scan-recovery");
    // Listed nodes are scanned without a look-up; their next scan would be 10 minutes away.
    let text = config(
        &sim_url,
        &instance,
        &listed,
        ("10m", "10m"),
        &metadata_keys(&sim_url),
    );
    let exporter = metadata_exporter(&dir, &text);
    harness::wait_for(Duration::from_secs(20), "scans failing", || async {
        let samples = harness::scrape(&exporter.base).await;
        let failed = samples
            .iter()
            .filter(|s| {
                s.name == "dcs_scan_errors_total" && s.label("reason") == "credentials_unavailable"
            })
            .count();
        (failed == nodes.len()).then_some(())
    })
    .await;
    sim.issuer().set_outage(false);
    let fixed = Instant::now();
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(45)).await;
    eprintln!(
        "scanned {:?} after the credential service came back",
        fixed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_up_failing_for_want_of_credentials_runs_again_as_soon_as_they_recover() {
    let (sim, sim_url) = serve_sim(|_| {}).await;
    let (instance, nodes) = first_instance(&sim);
    sim.issuer().set_outage(true);
    let dir = Dir::new("upstream-discovery-recovery");
    let text = config(
        &sim_url,
        &instance,
        &[],
        ("1s", "10m"),
        &metadata_keys(&sim_url),
    );
    let exporter = metadata_exporter(&dir, &text);
    // Seven failed look-ups (after 2, 4, 8, 16, 32 and 64 s): the next one is at least
    // 102 s away (128 s, less a fifth of jitter).
    let rounds = || {
        exporter
            .log()
            .iter()
            .filter(|l| l.contains("node discovery: listing instances"))
            .count()
    };
    harness::wait_for(
        Duration::from_secs(160),
        "seven failed look-ups",
        || async { (rounds() >= 7).then_some(()) },
    )
    .await;
    sim.issuer().set_outage(false);
    let fixed = Instant::now();
    // The credentials come back on their own backoff (at most a minute)...
    harness::wait_for(Duration::from_secs(75), "credentials renewed", || async {
        let samples = harness::scrape(&exporter.base).await;
        (refreshes(&samples, "success") >= 1.0).then_some(())
    })
    .await;
    let renewed = Instant::now();
    // ... and the look-up and the scans follow at once, long before the look-up's backoff
    // ends.
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(20)).await;
    eprintln!(
        "credentials back {:?} after the fix, every node scanned {:?} after that",
        renewed - fixed,
        renewed.elapsed()
    );
    assert_eq!(rounds(), 7, "no look-up failed after the recovery");
}
