//! The remediation webhook: real Alertmanager payloads posted to the exporter, acting on the
//! simulator (and on a real Redis behind it).

use crate::common::{harness, redis_server};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dcs_session_exporter::cloud::{Credentials, Operation, Secret};
use dcs_session_exporter::config::Config;
use dcs_session_exporter::remediation::{Remediator, WEBHOOK_PATH};
use dcs_session_exporter::sim::state::{ErrorShape, SimError};
use dcs_session_exporter::sim::topology::{Architecture, InstanceSpec};
use dcs_session_exporter::sim::{Fault, SimConfig, Simulator, Topology};
use serde_json::{Value, json};
use tokio::time::Instant;

const AK: &str = "AKREMEDIATION";
const SK: &str = "SKremediation00000000000001";
const TOKEN: &str = "remediation-token-0123456789";

type Harness = harness::SimAndExporter;

/// The first instance of the topology, its first client node (the master) and its second.
fn nodes(sim: &Simulator) -> (String, String, Option<String>) {
    sim.with_state(|s| {
        let instance = s.instance_ids()[0].clone();
        let nodes = s.logical_nodes(&instance).unwrap().nodes;
        let ids: Vec<String> = nodes.iter().filter_map(|n| n.node_id.clone()).collect();
        (instance, ids[0].clone(), ids.get(1).cloned())
    })
}

async fn start(topology: Topology, remediation: impl Fn(&str, &str) -> String) -> Harness {
    let mut sim_config = SimConfig::new(Credentials::new(AK, SK), topology);
    sim_config.project_id = Some("p-rem".into());
    let sim = Simulator::new(sim_config);
    let sim_url = harness::serve(sim.router()).await;
    let (instance, master, _) = nodes(&sim);
    let config = Config::from_toml(&format!(
        "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n{}[cloud.discovery]\n{}",
        harness::cloud_toml("sim", "p-rem", &sim_url),
        remediation(&instance, &master)
    ))
    .unwrap();
    let in_process = harness::exporter_with(
        &config,
        Credentials::new(AK, SK),
        |registry, store, accounts| {
            let remediator = Remediator::new(
                &config,
                Secret::new(TOKEN),
                Arc::clone(accounts),
                Arc::clone(store),
                registry,
            );
            assert!(remediator.is_some());
            remediator
        },
    )
    .await;
    let h = Harness::new(sim, sim_url, in_process);
    // The webhook acts only on nodes the exporter scans: wait until it knows them.
    h.wait_ready().await;
    h
}

fn settings(
    dry_run: bool,
    cooldown: &str,
    per_hour: u32,
    allow_node: &str,
) -> impl Fn(&str, &str) -> String {
    let (cooldown, allow_node) = (cooldown.to_string(), allow_node.to_string());
    move |instance, master| {
        let node = if allow_node == "master" {
            master.to_string()
        } else {
            allow_node.clone()
        };
        format!(
            "[remediation]\nenabled = true\ndry_run = {dry_run}\ncooldown = \"{cooldown}\"\nmax_actions_per_hour = {per_hour}\n\
             token_env = \"UNUSED_IN_TESTS\"\n[[remediation.allow]]\ninstance_id = \"{instance}\"\nnode_id = \"{node}\"\n"
        )
    }
}

fn alert(status: &str, fingerprint: &str, labels: Value) -> Value {
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": "test"},
        "startsAt": "2026-11-24T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    })
}

fn payload(alerts: Vec<Value>) -> String {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DcsManyIdleSessions\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dcs-remediation",
        "groupLabels": {"alertname": "DcsManyIdleSessions"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
    .to_string()
}

fn idle_alert(fingerprint: &str, instance: &str, node: &str) -> Value {
    alert(
        "firing",
        fingerprint,
        json!({"alertname": "DcsManyIdleSessions", "instance_id": instance, "node_id": node}),
    )
}

impl Harness {
    async fn post(&self, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{WEBHOOK_PATH}", self.exporter))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn live(&self, instance: &str, node: &str) -> usize {
        self.sim
            .with_state(|s| s.live_sessions(instance, node, SystemTime::now()))
            .unwrap()
            .len()
    }

    /// `dcs_remediation_actions_total` by result, summed.
    async fn actions(&self) -> std::collections::BTreeMap<String, f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.exporter))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut by_result = std::collections::BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("dcs_remediation_actions_total{"))
        {
            let result = line
                .split("result=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let value: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
            *by_result.entry(result.to_string()).or_default() += value;
        }
        by_result
    }
}

fn results(answer: &Value) -> Vec<String> {
    answer["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["result"].as_str().unwrap().to_string())
        .collect()
}

fn topology() -> Topology {
    harness::demo_topology(Duration::from_millis(100), 300)
}

#[tokio::test]
async fn acts_on_allowed_nodes_once_and_refuses_the_rest() {
    let h = start(topology(), settings(false, "1h", 10, "master")).await;
    let (instance, master, replica) = nodes(&h.sim);
    let replica = replica.unwrap();
    let before = h.live(&instance, &master);
    assert!(before > 200);

    // No token, a wrong token: 401, nothing done.
    let body = payload(vec![idle_alert("fp-1", &instance, &master)]);
    assert_eq!(h.post(&body, None).await.0, 401);
    assert_eq!(h.post(&body, Some("wrong-token-wrong-token")).await.0, 401);
    // Malformed payloads: 400, nothing done.
    for bad in [
        "not json".to_string(),
        json!({"version": "3", "alerts": []}).to_string(),
        json!({"version": "4"}).to_string(),
        json!({"version": "4", "alerts": [{"labels": {}}]}).to_string(),
    ] {
        assert_eq!(h.post(&bad, Some(TOKEN)).await.0, 400, "{bad}");
    }
    // A node not on the allow-list.
    let (status, answer) = h
        .post(
            &payload(vec![idle_alert("fp-r", &instance, &replica)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(results(&answer), ["refused_not_allowed"]);
    let replica_before = h.live(&instance, &replica);
    // Longer than a kill job takes: had anything acted, it would show by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        h.live(&instance, &replica) * 100 >= replica_before * 95,
        "the replica was killed"
    );
    assert!(
        h.live(&instance, &master) * 100 >= before * 98,
        "nothing was killed"
    );
    assert!(!h.actions().await.contains_key("acted"));
    // Addresses without a port, or made-up nodes, act on nothing.
    let vague = alert(
        "firing",
        "fp-v",
        json!({"alertname": "X", "instance_id": instance, "node_id": master, "client_addr": "10.0.0.7"}),
    );
    let made_up = idle_alert("fp-m", &instance, "no-such-node");
    let (_, answer) = h.post(&payload(vec![vague, made_up]), Some(TOKEN)).await;
    assert_eq!(results(&answer), ["no_target", "refused_not_allowed"]);

    // Two alerts of one group for the allowed node: one kill-all.
    let grouped = payload(vec![
        idle_alert("fp-1", &instance, &master),
        idle_alert("fp-2", &instance, &master),
    ]);
    let (status, answer) = h.post(&grouped, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(results(&answer), ["acted", "duplicate"]);
    let until = Instant::now() + Duration::from_secs(20);
    while h.live(&instance, &master) > before / 20 {
        assert!(Instant::now() < until, "the sessions were not ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The same notification again, a new alert within the cooldown, a resolved alert.
    let (_, answer) = h
        .post(
            &payload(vec![idle_alert("fp-1", &instance, &master)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(results(&answer), ["duplicate"]);
    let (_, answer) = h
        .post(
            &payload(vec![idle_alert("fp-3", &instance, &master)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(results(&answer), ["refused_cooldown"]);
    let resolved = alert(
        "resolved",
        "fp-4",
        json!({"alertname": "X", "instance_id": instance, "node_id": master}),
    );
    let (_, answer) = h.post(&payload(vec![resolved]), Some(TOKEN)).await;
    assert_eq!(results(&answer), ["resolved"]);

    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let actions = h.actions().await;
        if actions.get("acted") == Some(&1.0) {
            assert_eq!(actions.get("refused_not_allowed"), Some(&2.0));
            assert_eq!(actions.get("no_target"), Some(&1.0));
            assert_eq!(actions.get("duplicate"), Some(&2.0));
            assert_eq!(actions.get("refused_cooldown"), Some(&1.0));
            assert_eq!(actions.get("resolved"), Some(&1.0));
            assert_eq!(actions.get("failed"), None);
            break;
        }
        assert!(Instant::now() < until, "{actions:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dry_run_changes_nothing_and_the_hourly_budget_holds() {
    let h = start(topology(), settings(true, "0s", 1, "*")).await;
    let (instance, master, replica) = nodes(&h.sim);
    let before = h.live(&instance, &master);
    let (status, answer) = h
        .post(
            &payload(vec![idle_alert("fp-1", &instance, &master)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(results(&answer), ["dry_run"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        h.live(&instance, &master) * 100 >= before * 98,
        "a dry run ended sessions"
    );
    // The hourly budget (1) is used by the dry run: another node is refused.
    let replica2 = replica.unwrap();
    let (_, answer) = h
        .post(
            &payload(vec![idle_alert("fp-2", &instance, &replica2)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(results(&answer), ["refused_hourly_limit"]);
    // A refused notification is not remembered: sent again, it is judged again.
    let (_, answer) = h
        .post(
            &payload(vec![idle_alert("fp-2", &instance, &replica2)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(results(&answer), ["refused_hourly_limit"]);
    let actions = h.actions().await;
    assert_eq!(actions.get("dry_run"), Some(&1.0));
    assert_eq!(actions.get("refused_hourly_limit"), Some(&2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_the_named_client_then_all_on_a_real_redis() {
    let Some(server) = redis_server::start_or_skip(&[]) else {
        return;
    };
    let mut sockets: Vec<TcpStream> = (0..3)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    let victim = sockets[0].local_addr().unwrap().to_string();
    let mut t = topology();
    t.instances = vec![InstanceSpec {
        name: "real".into(),
        id: Some("inst-real".into()),
        architecture: Architecture::Single,
        shards: 1,
        replicas: 0,
        proxies: 0,
        sessions_per_node: 1,
        client_hosts: 1,
        ip_pass_through: true,
        engine_version: "7.0".into(),
        redis_urls: vec![server.url.clone()],
        ..Default::default()
    }];
    let h = start(t, settings(false, "0s", 10, "master")).await;
    let (instance, node, _) = nodes(&h.sim);
    // Closed by the server: end of stream or a reset, not a read that timed out.
    let closed = |s: &mut TcpStream| {
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    };
    let open = |s: &mut TcpStream| {
        s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    };

    // An alert that names a client ends that session only.
    let named = alert(
        "firing",
        "fp-c",
        json!({"alertname": "DcsOversizedOutputBuffer", "instance_id": instance, "node_id": node, "client_addr": victim}),
    );
    let (_, answer) = h.post(&payload(vec![named]), Some(TOKEN)).await;
    assert_eq!(results(&answer), ["acted"]);
    assert_eq!(answer["decisions"][0]["action"], "kill_clients");
    assert!(closed(&mut sockets[0]), "the named client was not ended");
    assert!(
        open(&mut sockets[1]) && open(&mut sockets[2]),
        "other clients were ended"
    );

    // An alert without a client ends every session of the node.
    let (_, answer) = h
        .post(
            &payload(vec![idle_alert("fp-all", &instance, &node)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(results(&answer), ["acted"]);
    assert!(closed(&mut sockets[1]) && closed(&mut sockets[2]));
}

/// The account's rate in force, from `dcs_exporter_api_rate_limit`.
async fn rate_in_force(h: &Harness) -> f64 {
    harness::scrape(&h.exporter)
        .await
        .into_iter()
        .find(|s| s.name == "dcs_exporter_api_rate_limit" && s.label("cloud") == "sim")
        .expect("the account's rate is exposed")
        .value
}

#[tokio::test]
async fn a_kill_draws_on_the_same_account_rate_as_the_scans() {
    let h = start(topology(), settings(false, "1h", 10, "master")).await;
    let (instance, master, _) = nodes(&h.sim);
    let ceiling = rate_in_force(&h).await;
    assert_eq!(
        ceiling, 1000.0,
        "the configured requests_per_second, untouched by the scans"
    );
    // The gateway throttles the kill twice: the account the scans use slows down (before,
    // the webhook built a client of its own, and the scans' rate never moved).
    h.sim.inject_fault(Fault::new(
        Operation::KillAllClients,
        2,
        SimError {
            status: 429,
            shape: ErrorShape::Gateway,
            code: "APIG.0308".into(),
            message: "The throttling threshold has been reached".into(),
        },
    ));
    let (status, answer) = h
        .post(
            &payload(vec![idle_alert("fp-rate", &instance, &master)]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(results(&answer), ["acted"]);
    // Halved twice (to 25), then won back a little by the answers that got through.
    let slowed = harness::wait_for(
        Duration::from_secs(30),
        "the scans' rate halved",
        || async {
            let rate = rate_in_force(&h).await;
            (rate < ceiling / 2.0).then_some(rate)
        },
    )
    .await;
    assert!(slowed >= ceiling / 4.0, "halved twice, not more: {slowed}");
    // The kill went through on the third try.
    harness::wait_for(Duration::from_secs(30), "the kill acted", || async {
        (h.actions().await.get("acted").copied() == Some(1.0)).then_some(())
    })
    .await;
}
