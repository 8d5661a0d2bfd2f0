//! Credentials as production runs them, through the binary against the simulator's credential
//! services on loopback: every source end to end, assume_agency on each base, renewals of
//! short-lived credentials, a renewal outage past expiry and the recovery, malformed answers,
//! and the order of `auto`.

use crate::common::{harness, process};

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dcs_session_exporter::accounts::resolve_provider;
use dcs_session_exporter::cloud::credentials::Provider;
use dcs_session_exporter::cloud::{Credentials, Secret};
use dcs_session_exporter::config::Config;
use dcs_session_exporter::sim::credentials::CredentialServices;
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use process::{Dir, Exporter};
use tokio::time::Instant;

const AK: &str = "AKCREDTEST";
const SK: &str = "SKcredtest0000000000000001";
const POD_TOKEN: &str = "PODTOKENCANARY0001";
const ID_TOKEN: &str = "eyJIDTOKENCANARY0002";
const POD_PATH: &str = "/v1/pod-identity/credentials";

async fn serve_sim(
    lifetime: Option<Duration>,
    change: impl FnOnce(&mut CredentialServices),
) -> (Arc<Simulator>, String) {
    let mut topology: Topology = harness::demo_topology(Duration::from_millis(50), 20);
    topology.credential_lifetime = lifetime;
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology);
    config.credential_services.pod_identity_token = Some(Secret::new(POD_TOKEN));
    config.credential_services.oidc_id_token = Some(Secret::new(ID_TOKEN));
    change(&mut config.credential_services);
    harness::serve_sim(config).await
}

/// An exporter configuration on the simulator: one instance, scans every `interval`, and
/// `keys` added to the `[[cloud]]`.
fn config(sim: &Simulator, sim_url: &str, interval: &str, keys: &str) -> String {
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    format!(
        "[exporter]\nscan_interval = \"{interval}\"\nfirst_scan_spread = \"0s\"\n{}{keys}\n[[cloud.dcs_instance]]\nid = \"{instance}\"\n",
        harness::cloud_toml("sim", "p", sim_url)
    )
}

fn client_nodes(sim: &Simulator) -> BTreeSet<String> {
    let instance = sim.with_state(|s| s.instance_ids()[0].clone());
    sim.with_state(|s| {
        s.logical_nodes(&instance)
            .unwrap()
            .nodes
            .into_iter()
            .filter(|n| n.is_access == Some(true))
            .filter_map(|n| n.node_id)
            .collect()
    })
}

/// The value of one sample whose labels include `labels`.
fn sample(samples: &[harness::Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
}

/// `dcs_scan_errors_total` of `reason`, over nodes and stages.
fn scan_errors(samples: &[harness::Sample], reason: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "dcs_scan_errors_total" && s.label("reason") == reason)
        .map(|s| s.value)
        .sum()
}

/// The binary scanning the simulator every `interval` on its metadata credentials.
fn metadata_exporter(
    sim: &Simulator,
    sim_url: &str,
    dir: &Dir,
    interval: &str,
    log_level: &str,
) -> Exporter {
    let path = dir.write(
        "metadata.toml",
        &config(
            sim,
            sim_url,
            interval,
            &format!("credentials = \"metadata\"\nmetadata_endpoint = \"{sim_url}\"\n"),
        ),
    );
    Exporter::start_with(
        process::without_env_credentials(),
        &["--config", path.to_str().unwrap(), "--log.level", log_level],
        &[],
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

/// The variables and configuration keys of each temporary source on the simulator.
struct Source {
    name: &'static str,
    keys: String,
    env: Vec<(&'static str, String)>,
}

fn sources(sim_url: &str, dir: &Dir) -> Vec<Source> {
    let pod_file = token_file(dir, "pod-token", POD_TOKEN);
    let id_file = token_file(dir, "id-token", &format!("{ID_TOKEN}\n"));
    let profile = token_file(
        dir,
        "federated-profile",
        &format!(
            "[basic]\nidp_id = cce-cluster\nid_token_file = {id_file}\niam_endpoint = {sim_url}\n"
        ),
    );
    vec![
        // Huawei's SDK reads a federated id token from the environment or its credentials file
        // when there are no keys: env and profile both become temporary.
        Source {
            name: "federated",
            keys: format!("credentials = \"env\"\niam_endpoint = \"{sim_url}\"\n"),
            env: vec![
                ("HUAWEICLOUD_SDK_IDP_ID", "cce-cluster".into()),
                ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", id_file.clone()),
            ],
        },
        Source {
            name: "federated",
            keys: "credentials = \"profile\"\n".into(),
            env: vec![("HUAWEICLOUD_SDK_CREDENTIALS_FILE", profile)],
        },
        Source {
            name: "metadata",
            keys: format!("credentials = \"metadata\"\nmetadata_endpoint = \"{sim_url}\"\n"),
            env: vec![],
        },
        Source {
            name: "pod_identity",
            keys: "credentials = \"pod_identity\"\n".into(),
            env: vec![
                (
                    "HC_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("{sim_url}{POD_PATH}"),
                ),
                ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", pod_file),
            ],
        },
        Source {
            name: "oidc",
            keys: format!("credentials = \"oidc\"\nsts_endpoint = \"{sim_url}\"\n"),
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
                ("HUAWEICLOUD_OIDC_DURATION_SECONDS", "900".into()),
            ],
        },
    ]
}

fn env_of(source: &Source) -> Vec<(&str, &str)> {
    source.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_scans_end_to_end() {
    let (sim, sim_url) = serve_sim(None, |_| {}).await;
    let nodes = client_nodes(&sim);
    let dir = Dir::new("cred-sources");
    for (i, source) in sources(&sim_url, &dir).into_iter().enumerate() {
        let used_before = sim.issuer().used(source.name);
        let path = dir.write(
            &format!("{}-{i}.toml", source.name),
            &config(&sim, &sim_url, "1s", &source.keys),
        );
        let exporter = Exporter::start_with(
            process::without_env_credentials(),
            &["--config", path.to_str().unwrap()],
            &env_of(&source),
        );
        harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
        let samples = harness::scrape(&exporter.base).await;
        let expiry = sample(
            &samples,
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            &[("cloud", "sim"), ("source", source.name)],
        )
        .unwrap_or_else(|| panic!("{}: no expiry", source.name));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // The simulator's default lifetime is an hour; OIDC asked for 900 s, the federated
        // exchange for six hours as Huawei's SDK does.
        let lifetime = match source.name {
            "oidc" => 900.0,
            "federated" => 21600.0,
            _ => 3600.0,
        };
        assert!(
            (expiry - now - lifetime).abs() < 30.0,
            "{}: expires in {} s",
            source.name,
            expiry - now
        );
        assert_eq!(
            sample(
                &samples,
                "dcs_exporter_credential_refreshes_total",
                &[("source", source.name), ("result", "success")]
            ),
            Some(1.0),
            "{}",
            source.name
        );
        assert!(
            sim.issuer().used(source.name) > used_before,
            "{}: scans on its credentials",
            source.name
        );
        let page = harness::get_text(&format!("{}/", exporter.base)).await;
        assert!(
            page.contains(&format!("<td>{} <small>", source.name)),
            "{}: {page}",
            source.name
        );
        // check-config obtains them once and says when they expire.
        let (code, out, err) = process::run_with(
            process::without_env_credentials(),
            &["check-config", "--config", path.to_str().unwrap()],
            &env_of(&source),
        );
        assert_eq!(code, Some(0), "{}: {out}{err}", source.name);
        assert!(
            out.contains("obtained temporary credentials: they expire at"),
            "{}: {out}",
            source.name
        );
    }
    assert_eq!(sim.auth_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_agency_with_a_base_of_each_kind() {
    let (sim, sim_url) = serve_sim(None, |_| {}).await;
    let nodes = client_nodes(&sim);
    let dir = Dir::new("cred-agency");
    let agency = "assume_agency = { domain_name = \"other-account\", agency_name = \"dcs-read\", duration = \"2h\" }\n";
    let iam = format!("iam_endpoint = \"{sim_url}\"\n");
    let profile = dir.write("credentials", &format!("[basic]\nak = {AK}\nsk = {SK}\n"));
    let mut bases = vec![
        Source {
            name: "env",
            keys: "credentials = \"env\"\n".into(),
            env: vec![("CLOUD_SDK_AK", AK.into()), ("CLOUD_SDK_SK", SK.into())],
        },
        Source {
            name: "profile",
            keys: format!(
                "credentials = \"profile\"\ncredentials_file = \"{}\"\n",
                profile.display()
            ),
            env: vec![],
        },
    ];
    bases.extend(sources(&sim_url, &dir));
    for base in bases {
        let before = sim.issuer().used("assume_agency");
        let path = dir.write(
            &format!("agency-{}-{}.toml", base.name, base.keys.len()),
            &config(&sim, &sim_url, "1s", &{
                let iam = if base.keys.contains("iam_endpoint") {
                    ""
                } else {
                    iam.as_str()
                };
                format!("{}{iam}{agency}", base.keys)
            }),
        );
        let exporter = Exporter::start_with(
            process::without_env_credentials(),
            &["--config", path.to_str().unwrap()],
            &env_of(&base),
        );
        harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
        let samples = harness::scrape(&exporter.base).await;
        let expiry = sample(
            &samples,
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            &[("source", "assume_agency")],
        )
        .unwrap_or_else(|| panic!("base {}: no expiry", base.name));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            (expiry - now - 7200.0).abs() < 30.0,
            "the agency's two hours"
        );
        // The scans ran on the agency's credentials, not the base's.
        assert!(
            sim.issuer().used("assume_agency") > before,
            "base {}",
            base.name
        );
        if base.name != "env" && base.name != "profile" {
            assert_eq!(sim.issuer().used(base.name), 0, "base {}", base.name);
        }
        let page = harness::get_text(&format!("{}/", exporter.base)).await;
        assert!(
            page.contains("agency dcs-read of domain other-account"),
            "{page}"
        );
    }
    assert!(sim.issuer().issued_by("assume_agency") >= 5);
    assert_eq!(sim.auth_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_renewals_of_one_minute_credentials_without_a_failed_scan() {
    let (sim, sim_url) = serve_sim(Some(Duration::from_secs(60)), |_| {}).await;
    let nodes = client_nodes(&sim);
    let dir = Dir::new("cred-renewals");
    let exporter = metadata_exporter(&sim, &sim_url, &dir, "5s", "info");
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
    // Renewed every 30 s (half the lifetime): the first and five more within 3 minutes and a
    // half.
    let mut expiries = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(210);
    loop {
        let samples = harness::scrape(&exporter.base).await;
        if let Some(e) = sample(
            &samples,
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            &[("source", "metadata")],
        ) {
            expiries.insert(e as u64);
        }
        let renewed = sample(
            &samples,
            "dcs_exporter_credential_refreshes_total",
            &[("result", "success")],
        )
        .unwrap_or(0.0);
        if renewed >= 6.0 {
            break;
        }
        assert!(Instant::now() < until, "{renewed} obtained");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(sim.issuer().issued_by("metadata") >= 6);
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(10)).await;
    let samples = harness::scrape(&exporter.base).await;
    let errors: Vec<String> = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_errors_total" && s.value > 0.0)
        .map(|s| format!("{:?} {}", s.labels, s.value))
        .collect();
    assert!(errors.is_empty(), "not one failed scan: {errors:?}");
    assert!(expiries.len() >= 5, "the expiry moved on: {expiries:?}");
    assert_eq!(sim.auth_failures(), 0, "never an expired or unknown key");
    // Logged too (the log is read as it comes).
    harness::wait_for(Duration::from_secs(5), "five renewals logged", || async {
        let renewed = exporter
            .log()
            .iter()
            .filter(|l| l.contains("credentials renewed"))
            .count();
        (renewed >= 5).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_outage_past_expiry_fails_scans_then_they_recover() {
    let (sim, sim_url) = serve_sim(Some(Duration::from_secs(20)), |_| {}).await;
    let nodes = client_nodes(&sim);
    let dir = Dir::new("cred-outage");
    let exporter = metadata_exporter(&sim, &sim_url, &dir, "1s", "warn");
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
    sim.issuer().set_outage(true);
    // Renewal fails from 10 s on; the credentials expire at 20 s: scans then fail, saying why.
    let samples = harness::wait_for(
        Duration::from_secs(40),
        "scans failing as credentials_expired",
        || async {
            let samples = harness::scrape(&exporter.base).await;
            (scan_errors(&samples, "credentials_expired") >= nodes.len() as f64).then_some(samples)
        },
    )
    .await;
    let unreachable = sample(
        &samples,
        "dcs_exporter_credential_refreshes_total",
        &[("result", "unreachable")],
    )
    .unwrap();
    assert!(unreachable >= 2.0, "renewal retried: {unreachable}");
    let ready = harness::get_text(&format!("{}/", exporter.base)).await;
    assert!(
        ready.contains("HTTP 503"),
        "the landing page shows the renewal error"
    );
    // Nothing expired was ever sent.
    assert_eq!(sim.auth_failures(), 0);
    let failed_before = scan_errors(&samples, "credentials_expired");
    sim.issuer().set_outage(false);
    // The next retry (at most a minute away) renews them; scans recover without a restart.
    harness::wait_for(Duration::from_secs(75), "scans recovered", || async {
        let samples = harness::scrape(&exporter.base).await;
        let ok = samples
            .iter()
            .filter(|s| s.name == "dcs_scan_success" && s.value == 1.0)
            .count();
        (ok == nodes.len()).then_some(())
    })
    .await;
    let samples = harness::scrape(&exporter.base).await;
    assert!(scan_errors(&samples, "credentials_expired") >= failed_before);
    assert!(
        sample(
            &samples,
            "dcs_exporter_credential_refreshes_total",
            &[("result", "success")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(sim.auth_failures(), 0);
}

/// A stand-in metadata service giving `body` with `status` to every securitykey call.
async fn fake_metadata(status: u16, body: &'static str) -> String {
    use axum::routing::{get, put};
    let app = axum::Router::new()
        .route(
            "/meta-data/latest/api/token",
            put(|| async { "session-token" }),
        )
        .route(
            "/openstack/latest/securitykey",
            get(move || async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) }),
        );
    harness::serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_and_a_missing_agency_give_clear_errors() {
    let (sim, _) = serve_sim(None, |_| {}).await;
    let (no_agency, no_agency_url) = serve_sim(None, |s| s.agency_attached = false).await;
    let dir = Dir::new("cred-malformed");
    let cases: Vec<(String, &str)> = vec![
        (fake_metadata(200, "<html>maintenance</html>").await, "the answer is not JSON"),
        (
            fake_metadata(
                200,
                r#"{"credential":{"access":"A","securitytoken":"SECRETTOKENVALUE","expires_at":"2099-01-01T00:00:00.000000Z"}}"#,
            )
            .await,
            "the answer has no secret",
        ),
        (
            fake_metadata(
                200,
                r#"{"credential":{"access":"A","secret":"SECRETKEYVALUE","securitytoken":"SECRETTOKENVALUE","expires_at":"2020-01-01T00:00:00.000000Z"}}"#,
            )
            .await,
            "the credentials had expired already",
        ),
        (
            fake_metadata(403, r#"{"error_code":"Ecs.0403","error_msg":"Forbidden"}"#).await,
            "securitykey: HTTP 403 Ecs.0403: Forbidden",
        ),
        (no_agency_url, "no agency is attached to this server"),
    ];
    for (i, (url, expected)) in cases.iter().enumerate() {
        let path = dir.write(
            &format!("case{i}.toml"),
            &config(
                &sim,
                url,
                "1s",
                &format!("credentials = \"metadata\"\nmetadata_endpoint = \"{url}\"\n"),
            ),
        );
        let (code, out, err) = process::run_with(
            process::without_env_credentials(),
            &["check-config", "--config", path.to_str().unwrap()],
            &[],
        );
        assert_eq!(code, Some(1), "{out}{err}");
        assert!(
            err.contains("cannot obtain credentials now: metadata service: ")
                && err.contains(expected),
            "case {i}: {err}"
        );
        assert!(
            !format!("{out}{err}").contains("SECRET"),
            "no value shown: {out}{err}"
        );
    }
    // The running exporter counts the missing agency as not_configured, and its look-ups of
    // nodes fail saying why.
    let path = dir.write(
        "no-agency.toml",
        &config(
            &no_agency,
            &cases[4].0,
            "1s",
            &format!(
                "credentials = \"metadata\"\nmetadata_endpoint = \"{}\"\n",
                cases[4].0
            ),
        ),
    );
    let exporter = Exporter::start_with(
        process::without_env_credentials(),
        &["--config", path.to_str().unwrap()],
        &[],
    );
    let samples = harness::wait_for(
        Duration::from_secs(20),
        "not_configured counted",
        || async {
            let samples = harness::scrape(&exporter.base).await;
            (sample(
                &samples,
                "dcs_exporter_credential_refreshes_total",
                &[("result", "not_configured")],
            )
            .unwrap_or(0.0)
                >= 1.0
                && sample(
                    &samples,
                    "dcs_exporter_discovery_errors_total",
                    &[("reason", "credentials_unavailable")],
                )
                .unwrap_or(0.0)
                    >= 1.0)
                .then_some(samples)
        },
    )
    .await;
    assert!(
        sample(
            &samples,
            "dcs_exporter_credentials_expiry_timestamp_seconds",
            &[]
        )
        .is_none()
    );
    let ready = harness::http()
        .get(format!("{}/readyz", exporter.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("no agency is attached"), "{text}");
    assert_eq!(no_agency.issuer().issued_by("metadata"), 0);
}

#[test]
fn auto_takes_env_then_profile_then_pod_identity_then_oidc_and_never_metadata() {
    let dir = Dir::new("cred-auto");
    let profile = dir.write("credentials", "[basic]\nak = FILEAK\nsk = filesk\n");
    let token = token_file(&dir, "token", POD_TOKEN);
    let config = Config::from_toml(
        "[[cloud]]\nname = \"a\"\nregion = \"cn-north-4\"\nproject_id = \"p\"\n[[cloud.dcs_instance]]\nid = \"i\"\n",
    )
    .unwrap();
    let cloud = &config.clouds[0];
    let all: HashMap<&str, String> = [
        ("HUAWEICLOUD_SDK_AK", "ENVAK".to_string()),
        ("HUAWEICLOUD_SDK_SK", "envsk".into()),
        (
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            profile.to_str().unwrap().into(),
        ),
        (
            "HC_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9/pod".into(),
        ),
        ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", token.clone()),
        ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:p".into()),
        ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:a".into()),
        ("HUAWEICLOUD_OIDC_ID_TOKEN", ID_TOKEN.into()),
        ("HOME", dir.0.to_str().unwrap().into()),
    ]
    .into();
    let resolve = |dropped: &[&str]| {
        let lookup = |name: &str| {
            (!dropped.iter().any(|d| name.starts_with(d)))
                .then(|| all.get(name).cloned())
                .flatten()
        };
        resolve_provider(cloud, &lookup)
    };
    let source = |p: Provider| p.source_label();
    assert_eq!(resolve(&[]).map(source), Ok("env"));
    assert_eq!(resolve(&["HUAWEICLOUD_SDK_AK"]).map(source), Ok("profile"));
    assert_eq!(
        resolve(&["HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_CREDENTIALS_FILE"]).map(source),
        Ok("pod_identity")
    );
    assert_eq!(
        resolve(&[
            "HUAWEICLOUD_SDK_AK",
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            "HC_"
        ])
        .map(source),
        Ok("oidc")
    );
    let none = resolve(&[
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        "HC_",
        "HUAWEICLOUD_OIDC",
    ])
    .unwrap_err();
    assert!(none.to_string().starts_with("no access key"), "{none}");
    // The profile's keys, not the environment's, when it is chosen.
    match resolve(&["HUAWEICLOUD_SDK_AK"]).unwrap() {
        Provider::Static { credentials, .. } => {
            assert_eq!(credentials.access_key.expose(), "FILEAK")
        }
        other => panic!("{other:?}"),
    }
    // Half of pod identity's variables is an error, not a silent skip to the next source.
    let half = resolve(&[
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        "HC_CONTAINER_AUTHORIZATION",
    ])
    .unwrap_err();
    assert!(
        half.to_string().contains(
            "set HC_CONTAINER_CREDENTIALS_FULL_URI and HC_CONTAINER_AUTHORIZATION_TOKEN_FILE"
        ),
        "{half}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_expired_and_mismatched_temporary_credentials() {
    use dcs_session_exporter::cloud::credentials::providers::Fetcher;
    use dcs_session_exporter::cloud::dcs::ListInstancesQuery;
    use dcs_session_exporter::cloud::{ApiClient, ClientOptions, Endpoints, RetryPolicy};
    let (sim, sim_url) = serve_sim(Some(Duration::from_secs(10)), |_| {}).await;
    let provider = Provider::Metadata {
        endpoint: sim_url.parse().unwrap(),
    };
    let mut issued = Fetcher::new(None).unwrap().fetch(&provider).await.unwrap();
    let expires_at = issued.expires_at.take().unwrap();
    let client = |credentials: Credentials| {
        let options = ClientOptions {
            retry: RetryPolicy::none(),
            ..ClientOptions::default()
        };
        let endpoints =
            Endpoints::for_region("cn-north-4", Some(&sim_url), Some(&sim_url)).unwrap();
        // Without an expiry, the client sends them whatever their age: the gateway judges.
        ApiClient::new(credentials, "p", endpoints, options).unwrap()
    };
    let deadline = || Instant::now() + Duration::from_secs(5);
    let query = ListInstancesQuery::default();
    let valid = client(issued.clone());
    assert!(valid.list_instances(&query, deadline()).await.is_ok());
    let mut other_token = issued.clone();
    other_token.security_token = Some(Secret::new("not-the-issued-token"));
    let e = client(other_token)
        .list_instances(&query, deadline())
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_deref()),
        (Some(401), Some("APIG.0301"))
    );
    assert!(e.message.contains("does not match"), "{e}");
    let mut no_token = issued.clone();
    no_token.security_token = None;
    let e = client(no_token)
        .list_instances(&query, deadline())
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(401));
    let wait = expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let e = valid.list_instances(&query, deadline()).await.unwrap_err();
    assert_eq!(
        (e.status, e.code.as_deref()),
        (Some(401), Some("APIG.0301"))
    );
    assert!(e.message.contains("expired"), "{e}");
    assert_eq!(sim.auth_failures(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_carries_sts_and_iam_calls_never_the_metadata_service() {
    use dcs_session_exporter::cloud::credentials::providers::{
        FetchFailure, Fetcher, IdToken, Oidc,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (_sim, sim_url) = serve_sim(None, |_| {}).await;
    // A "proxy" that counts connections and refuses every request.
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let fetcher = Fetcher::new(Some(&proxy_url)).unwrap();
    let metadata = Provider::Metadata {
        endpoint: sim_url.parse().unwrap(),
    };
    let credentials = fetcher.fetch(&metadata).await.unwrap();
    assert!(credentials.expires_at.is_some());
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "metadata went direct"
    );
    let oidc = Provider::Oidc(Oidc {
        sts: sim_url.parse().unwrap(),
        provider_urn: "urn:p".into(),
        agency_urn: "urn:a".into(),
        session_name: "s".into(),
        duration_seconds: 900,
        id_token: IdToken::Value(Secret::new(ID_TOKEN)),
        policy: None,
        policy_ids: Vec::new(),
    });
    let e = fetcher.fetch(&oidc).await.unwrap_err();
    assert_eq!(e.failure, FetchFailure::Unreachable, "{e}");
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "STS went through the proxy"
    );
    // Without a proxy the same call reaches STS.
    assert!(Fetcher::new(None).unwrap().fetch(&oidc).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_service_with_and_without_session_tokens() {
    use dcs_session_exporter::cloud::credentials::providers::Fetcher;
    let (with_tokens, with_url) = serve_sim(None, |_| {}).await;
    let (without_tokens, without_url) = serve_sim(None, |s| s.metadata_tokens = false).await;
    let http = harness::http();
    // With tokens, securitykey wants one; the token call wants its TTL header.
    let bare = http
        .get(format!("{with_url}/openstack/latest/securitykey"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let no_ttl = http
        .put(format!("{with_url}/meta-data/latest/api/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_ttl.status(), 400);
    // An older service: 404 on the token call, securitykey without one.
    let token = http
        .put(format!("{without_url}/meta-data/latest/api/token"))
        .header("X-Metadata-Token-Ttl-Seconds", "21600")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);
    let fetcher = Fetcher::new(None).unwrap();
    for (sim, url) in [(&with_tokens, &with_url), (&without_tokens, &without_url)] {
        let provider = Provider::Metadata {
            endpoint: url.parse().unwrap(),
        };
        let credentials = fetcher.fetch(&provider).await.unwrap();
        assert!(credentials.security_token.is_some());
        assert_eq!(sim.issuer().issued_by("metadata"), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_the_service_refuses_are_renewed_before_their_time() {
    let (sim, sim_url) = serve_sim(None, |_| {}).await;
    let nodes = client_nodes(&sim);
    let dir = Dir::new("cred-revoked");
    let exporter = metadata_exporter(&sim, &sim_url, &dir, "1s", "warn");
    harness::all_scanned(&exporter.base, &nodes, Duration::from_secs(30)).await;
    // Valid for an hour, but withdrawn: the gateway refuses them.
    sim.issuer().revoke_all();
    harness::wait_for(Duration::from_secs(20), "scans refused", || async {
        let samples = harness::scrape(&exporter.base).await;
        (scan_errors(&samples, "APIG.0301") >= 1.0).then_some(())
    })
    .await;
    // Renewed within half a minute of being obtained, not an hour later.
    harness::wait_for(Duration::from_secs(45), "renewed and scanning", || async {
        let samples = harness::scrape(&exporter.base).await;
        let ok = samples
            .iter()
            .filter(|s| s.name == "dcs_scan_success" && s.value == 1.0)
            .count();
        (sim.issuer().issued_by("metadata") == 2 && ok == nodes.len()).then_some(())
    })
    .await;
    assert!(
        exporter
            .log()
            .iter()
            .any(|l| l.contains("the service refused the credentials: renewing them")),
        "{:?}",
        exporter.log()
    );
}
