//! Secrets never leak: with every signed call refused and every Redis login failing, trace
//! logs (logfmt and JSON), /metrics, the landing page, /readyz, the remediation webhook and the
//! operator commands show none of the credentials, passwords or tokens.

use crate::common::redis_server;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::sim::{SimConfig, Simulator, Topology};
use tokio::time::Instant;

const AK: &str = "AKLEAKCANARY0001";
const SK: &str = "SKLEAKCANARY0002";
const TOKEN: &str = "TOKLEAKCANARY0003";
const REDIS_PASSWORD: &str = "PWLEAKCANARY0004";
const REMEDIATION_TOKEN: &str = "RTLEAKCANARY0005aaaa";
const BASIC_PASSWORD: &str = "BALEAKCANARY0006";
const BASIC_USER: &str = "prom";
const REDIS_NAME: &str = "cache-leak";
/// How logs and commands report the refused Redis password.
const REDIS_REFUSED: &str = "Password authentication failed";

/// Every secret as it could appear in text: raw, and the basic-auth password base64-encoded.
fn secrets() -> Vec<String> {
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut all: Vec<String> = [AK, SK, TOKEN, REDIS_PASSWORD, REMEDIATION_TOKEN]
        .map(String::from)
        .into();
    all.push(BASIC_PASSWORD.into());
    all.push(b64(BASIC_PASSWORD.into()));
    all.push(b64(format!("{BASIC_USER}:{BASIC_PASSWORD}")));
    all
}

/// Where a secret appears in `outputs`, with the text around it.
fn leaks(outputs: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, text) in outputs {
        for secret in secrets() {
            if let Some(at) = text.find(&secret) {
                let around = &text.as_bytes()[at.saturating_sub(150)..text.len().min(at + 150)];
                let around = String::from_utf8_lossy(around);
                found.push(format!("{secret} in {what}: ...{around}..."));
            }
        }
    }
    found
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dcs-security-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with the secrets in its environment, stdout and stderr to files of `dir`.
fn spawn(dir: &Dir, name: &str, args: &[&str]) -> Killed {
    let file = |ext: &str| std::fs::File::create(dir.0.join(format!("{name}.{ext}"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"))
        .args(args)
        .env("CLOUD_SDK_AK", AK)
        .env("CLOUD_SDK_SK", SK)
        .env("CLOUD_SDK_SECURITY_TOKEN", TOKEN)
        .env("LEAK_REDIS_PASSWORD", REDIS_PASSWORD)
        .env("LEAK_REMEDIATION_TOKEN", REMEDIATION_TOKEN)
        .stdin(Stdio::null())
        .stdout(file("out"))
        .stderr(file("err"))
        .spawn()
        .unwrap();
    Killed(child)
}

/// Runs an operator command to its end (at most 60 s): whether it succeeded, and its output.
async fn run_cli(dir: &Dir, name: &str, args: &[&str]) -> (bool, String) {
    let mut child = spawn(dir, name, args);
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "{name} did not end: {args:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let out = dir.read(&format!("{name}.out"));
    (status.success(), out + &dir.read(&format!("{name}.err")))
}

/// The status and body of an answer.
async fn answer(request: reqwest::RequestBuilder) -> String {
    let resp = request.timeout(Duration::from_secs(10));
    let resp = resp.send().await.unwrap();
    format!("{} {}", resp.status(), resp.text().await.unwrap())
}

/// `dcs_scan_errors_total` of `reason`, summed over nodes and stages.
fn scan_errors(metrics: &str, reason: &str) -> f64 {
    let label = format!("reason=\"{reason}\"}} ");
    metrics
        .lines()
        .filter(|l| l.starts_with("dcs_scan_errors_total{"))
        .filter_map(|l| l.split_once(&label)?.1.parse::<f64>().ok())
        .sum()
}

fn alert(instance: &str, node: &str) -> serde_json::Value {
    serde_json::json!({
        "status": "firing", "fingerprint": node, "startsAt": "2026-11-24T10:00:00Z",
        "labels": {"alertname": "DcsManyIdleSessions", "instance_id": instance, "node_id": node},
    })
}

/// Everything the exporter and the operator commands show while every request fails: none
/// when redis-server is missing (outside CI).
async fn collect_outputs(format: &str, basic_auth: bool) -> Vec<(String, String)> {
    // Redis and the simulator know other passwords and keys than the exporter's.
    let Some(redis) = redis_server::start_or_skip(&["--requirepass", "OtherRedisPassword"]) else {
        return Vec::new();
    };
    let mut topology = Topology::demo();
    topology.job_duration = Duration::from_millis(50);
    topology.instances.truncate(1);
    topology.instances[0].sessions_per_node = 20;
    let other = Credentials::new("AKSIMULATOROTHER", "SKsimulatorother0000000001");
    let sim = Simulator::new(SimConfig::new(other, topology));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (instance, node) = sim.with_state(|s| {
        let instance = s.instance_ids()[0].clone();
        let nodes = s.logical_nodes(&instance).unwrap().nodes;
        (instance, nodes[0].node_id.clone().unwrap())
    });
    let redis_node = format!("127.0.0.1:{}", redis.port);

    let dir = Dir::new(format);
    // The run behind basic auth reads the same keys from the SDK's credentials file.
    let source = if basic_auth {
        let file = dir.write(
            "credentials",
            &format!("[basic]\nak = {AK}\nsk = {SK}\nsecurity_token = {TOKEN}\n"),
        );
        format!("credentials = \"profile\"\ncredentials_file = \"{file}\"\n")
    } else {
        String::new()
    };
    let config = dir.write(
        "exporter.toml",
        &format!(
            "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n\
             [[cloud]]\nname = \"sim\"\nproject_id = \"p\"\ndcs_endpoint = \"{sim_url}\"\ndbss_endpoint = \"{sim_url}\"\n{source}\
             [cloud.discovery]\n[[cloud.dcs_instance]]\nid = \"{instance}\"\nnodes = [\"{node}\"]\n\
             [[cloud.dbss_resource]]\nid = \"dbss-audit-demo\"\n\
             [[redis]]\nname = \"{REDIS_NAME}\"\nurl = \"{}\"\npassword_env = \"LEAK_REDIS_PASSWORD\"\n\
             [remediation]\nenabled = true\ndry_run = false\ncooldown = \"0s\"\ntoken_env = \"LEAK_REMEDIATION_TOKEN\"\n\
             [[remediation.allow]]\ninstance_id = \"{instance}\"\nnode_id = \"{node}\"\n\
             [[remediation.allow]]\ninstance_id = \"{REDIS_NAME}\"\nnode_id = \"*\"\n",
            redis.url
        ),
    );
    let hash = bcrypt::hash(BASIC_PASSWORD, 4).unwrap();
    let users = format!("basic_auth_users:\n  {BASIC_USER}: {hash}\n");
    let web = dir.write("web.yml", &users);
    let mut args = vec!["--log.level", "trace", "--log.format", format];
    args.extend(["--config", &config]);
    args.extend(["--web.listen-address", "127.0.0.1:0"]);
    if basic_auth {
        args.extend(["--web.config.file", &web]);
    }
    let mut exporter = spawn(&dir, "exporter", &args);
    let until = Instant::now() + Duration::from_secs(30);
    let base = loop {
        let out = dir.read("exporter.out");
        if let Some(rest) = out.split("exporter listening on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches("/metrics").to_string();
        }
        let (alive, err) = (
            exporter.0.try_wait().unwrap().is_none(),
            dir.read("exporter.err"),
        );
        assert!(alive && Instant::now() < until, "{err}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // A few failing cycles, counted in the metrics and logged.
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| match basic_auth {
        true => r.basic_auth(BASIC_USER, Some(BASIC_PASSWORD)),
        false => r,
    };
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let metrics = answer(auth(http.get(format!("{base}/metrics")))).await;
        let logs = dir.read("exporter.err");
        if scan_errors(&metrics, "APIG.0301") >= 3.0
            && scan_errors(&metrics, "auth") >= 3.0
            && logs.contains("APIG.0301")
            && logs.contains(REDIS_REFUSED)
        {
            break;
        }
        assert!(Instant::now() < until, "{metrics}\n{logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut outputs = Vec::new();
    for path in ["/metrics", "/", "/readyz"] {
        let text = answer(auth(http.get(format!("{base}{path}")))).await;
        outputs.push((format!("GET {path}"), text));
    }
    if basic_auth {
        // A wrong basic-auth password is refused and its answer shows nothing either.
        let wrong = http.get(format!("{base}/metrics"));
        let wrong = answer(wrong.basic_auth(BASIC_USER, Some("not-it"))).await;
        assert!(wrong.starts_with("401"), "{wrong}");
        outputs.push(("the answer to a wrong basic-auth password".into(), wrong));
    } else {
        let alerts = [alert(&instance, &node), alert(REDIS_NAME, &redis_node)];
        let body = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
        let webhook = |token: &str| {
            let request = http.post(format!("{base}/remediation/alertmanager"));
            answer(request.bearer_auth(token).json(&body))
        };
        let right = webhook(REMEDIATION_TOKEN).await;
        assert!(right.starts_with("200"), "{right}");
        let wrong = webhook("WrongTokenWrongToken").await;
        assert!(wrong.starts_with("401"), "{wrong}");
        outputs.push(("the webhook's answer".into(), right));
        outputs.push(("the webhook's answer to a wrong token".into(), wrong));
        // Both kills fail (wrong keys, wrong password); each decision is then logged.
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = dir.read("exporter.err");
            if logs.matches("remediation decision").count() == 2 {
                break;
            }
            assert!(Instant::now() < until, "{logs}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(exporter);
    let logs = dir.read("exporter.out") + &dir.read("exporter.err");
    outputs.push(("the exporter's logs".into(), logs));

    let dcs = ["--instance", instance.as_str(), "--node", node.as_str()];
    let redis = ["--instance", REDIS_NAME];
    let commands: [(&str, &str, &[&str], &[&str]); 5] = [
        ("check-config", "check-config", &[], &[]),
        ("clients-dcs", "clients", &dcs, &[]),
        ("clients-redis", "clients", &redis, &[]),
        ("kill-all-dcs", "kill-all", &dcs, &[]),
        ("kill-all-redis", "kill-all", &redis, &["--all-nodes"]),
    ];
    for (name, command, target, extra) in commands {
        let mut args = vec!["--log.level", "trace", "--log.format", format];
        args.extend([command, "--config", &config]);
        args.extend(target.iter().chain(extra));
        if command == "kill-all" {
            args.push("--dry-run");
        }
        let (ok, output) = run_cli(&dir, name, &args).await;
        if name.ends_with("-dcs") {
            assert!(!ok && output.contains("APIG.0301"), "{name}: {output}");
        } else if name.ends_with("-redis") {
            assert!(!ok && output.contains(REDIS_REFUSED), "{name}: {output}");
        }
        outputs.push((format!("`{name}`'s output"), output));
    }
    assert!(sim.auth_failures() > 0);
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logfmt_logs_pages_webhook_or_commands() {
    let leaks = leaks(&collect_outputs("logfmt", false).await);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_json_logs_pages_or_commands_behind_basic_auth() {
    let leaks = leaks(&collect_outputs("json", true).await);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[test]
fn credentials_debug_shows_no_secret_and_the_check_would_see_one() {
    let creds = Credentials::new(AK, SK).with_security_token(TOKEN);
    let shown = format!("{creds:?} {} {}", creds.access_key, creds.secret_key);
    let found = leaks(&[("Credentials' Debug".into(), shown.clone())]);
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert!(shown.contains("redacted"), "{shown}");
    // The check itself finds every secret, raw or base64-encoded as basic auth sends it.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("prom:{BASIC_PASSWORD}"));
    let planted = format!("a {SK} b {REDIS_PASSWORD} Authorization: Basic {basic}");
    assert_eq!(leaks(&[("planted".into(), planted)]).len(), 3);
}

const POD_TOKEN: &str = "PODLEAKCANARY0007";
const WRONG_POD_TOKEN: &str = "PODLEAKCANARY0008";
const ID_TOKEN: &str = "eyJIDLEAKCANARY0009";

/// Where any of `secrets` appears in `outputs`.
fn leaks_of(outputs: &[(String, String)], secrets: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, text) in outputs {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            if text.contains(secret.as_str()) {
                found.push(format!("{secret} in {what}"));
            }
        }
    }
    found
}

/// Every temporary source, renewing, failing and refused, at trace level: the pod-identity
/// token, the OIDC id token, the metadata session tokens and every AK, SK and security token
/// the simulator issued stay out of logs, pages, metrics and `check-config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_from_any_temporary_credentials_source() {
    use dcs_session_exporter::cloud::Secret;
    let mut topology = Topology::demo();
    topology.job_duration = Duration::from_millis(50);
    // Short-lived: they are renewed during each run.
    topology.credential_lifetime = Some(Duration::from_secs(12));
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology);
    config.credential_services.pod_identity_token = Some(Secret::new(POD_TOKEN));
    config.credential_services.oidc_id_token = Some(Secret::new(ID_TOKEN));
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = Dir::new("temporary");
    let pod_file = dir.write("pod-token", POD_TOKEN);
    // Readable by every user: the exporter warns, as for every file that holds a secret.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pod_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let wrong_pod_file = dir.write("wrong-pod-token", WRONG_POD_TOKEN);
    let id_file = dir.write("id-token", ID_TOKEN);
    let pod_uri = format!("{url}/v1/pod-identity/credentials");
    let oidc_vars = [
        (
            "HUAWEICLOUD_OIDC_PROVIDER_URN",
            "iam::1:identity-provider:p",
        ),
        ("HUAWEICLOUD_OIDC_AGENCY_URN", "iam::1:agency:a"),
    ];
    type Run<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let runs: Vec<Run> = vec![
        (
            "metadata",
            format!("credentials = \"metadata\"\nmetadata_endpoint = \"{url}\"\n"),
            vec![],
        ),
        (
            "pod identity",
            "credentials = \"pod_identity\"\n".into(),
            vec![
                ("HC_CONTAINER_CREDENTIALS_FULL_URI", &pod_uri),
                ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", &pod_file),
            ],
        ),
        (
            "pod identity, refused",
            "credentials = \"pod_identity\"\n".into(),
            vec![
                ("HC_CONTAINER_CREDENTIALS_FULL_URI", &pod_uri),
                ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", &wrong_pod_file),
            ],
        ),
        (
            "oidc, token file",
            format!("credentials = \"oidc\"\nsts_endpoint = \"{url}\"\n"),
            [
                oidc_vars.as_slice(),
                &[("HUAWEICLOUD_OIDC_TOKEN_FILE", &id_file)],
            ]
            .concat(),
        ),
        (
            "oidc, token in the environment",
            format!("credentials = \"oidc\"\nsts_endpoint = \"{url}\"\n"),
            [
                oidc_vars.as_slice(),
                &[("HUAWEICLOUD_OIDC_ID_TOKEN", ID_TOKEN)],
            ]
            .concat(),
        ),
        (
            "federated id token",
            format!("credentials = \"env\"\niam_endpoint = \"{url}\"\n"),
            vec![
                ("HUAWEICLOUD_SDK_IDP_ID", "idp"),
                ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", &id_file),
            ],
        ),
        (
            "assume_agency on metadata",
            format!(
                "credentials = \"metadata\"\nmetadata_endpoint = \"{url}\"\niam_endpoint = \"{url}\"\n\
                 assume_agency = {{ domain_name = \"d\", agency_name = \"a\" }}\n"
            ),
            vec![],
        ),
    ];
    let mut outputs = Vec::new();
    for (i, (name, keys, env)) in runs.iter().enumerate() {
        let config = dir.write(
            &format!("run{i}.toml"),
            &format!(
                "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n[[cloud]]\nname = \"leak\"\n\
                 project_id = \"p\"\ndcs_endpoint = \"{url}\"\ndbss_endpoint = \"{url}\"\n{keys}\
                 [cloud.discovery]\nenabled = true\n"
            ),
        );
        let args = [
            "--log.level",
            "trace",
            "--config",
            &config,
            "--web.listen-address",
            "127.0.0.1:0",
        ];
        let mut command = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
        command
            .args(args)
            .envs(env.iter().copied())
            .env_remove("CLOUD_SDK_AK")
            .env_remove("HUAWEICLOUD_SDK_AK")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.0.join(format!("run{i}.out"))).unwrap())
            .stderr(std::fs::File::create(dir.0.join(format!("run{i}.err"))).unwrap());
        let exporter = Killed(command.spawn().unwrap());
        let until = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let out = dir.read(&format!("run{i}.out"));
            if let Some(rest) = out.split("exporter listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap();
                break url.trim_end_matches("/metrics").to_string();
            }
            assert!(
                Instant::now() < until,
                "{name}: {}",
                dir.read(&format!("run{i}.err"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Until a renewal (or, refused, three failures) is counted.
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = answer(http.get(format!("{base}/metrics"))).await;
            let count = |result: &str| -> f64 {
                metrics
                    .lines()
                    .filter(|l| {
                        l.starts_with("dcs_exporter_credential_refreshes_total{")
                            && l.contains(&format!("result=\"{result}\""))
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            if count("success") >= 2.0 || count("refused") >= 3.0 {
                break;
            }
            assert!(Instant::now() < until, "{name}: {metrics}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for path in ["/metrics", "/", "/readyz"] {
            let text = answer(http.get(format!("{base}{path}"))).await;
            outputs.push((format!("{name}: GET {path}"), text));
        }
        drop(exporter);
        let logs = dir.read(&format!("run{i}.out")) + &dir.read(&format!("run{i}.err"));
        assert!(logs.contains("credentials"), "{name}: {logs}");
        if *name == "pod identity" {
            assert!(
                logs.contains("the token file can be read by every user of this machine"),
                "{logs}"
            );
        }
        outputs.push((format!("{name}: the exporter's logs"), logs));
        let mut check = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
        let output = check
            .args(["--log.level", "trace", "check-config", "--config", &config])
            .envs(env.iter().copied())
            .env_remove("CLOUD_SDK_AK")
            .env_remove("HUAWEICLOUD_SDK_AK")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(text.contains("credentials"), "{name}: {text}");
        outputs.push((format!("{name}: check-config"), text));
    }
    let mut secrets: Vec<String> = [AK, SK, POD_TOKEN, WRONG_POD_TOKEN, ID_TOKEN]
        .map(String::from)
        .into();
    let issued = sim.issuer().everything_issued();
    assert!(issued.len() > 20, "{} values issued", issued.len());
    secrets.extend(issued);
    let found = leaks_of(&outputs, &secrets);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The check sees a value when it is there.
    assert_eq!(
        leaks_of(&[("planted".into(), format!("x {ID_TOKEN} y"))], &secrets).len(),
        1
    );
}
