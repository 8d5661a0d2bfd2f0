//! The API client against the simulator (and a few scripted servers for what the simulator
//! never answers), over real HTTP on loopback.

#[path = "common/harness.rs"]
mod harness;

use harness::serve;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use dcs_session_exporter::cloud::dcs::{
    JobStatus, KillTarget, ListClientsQuery, ListInstancesQuery, PageSink, PagingOptions,
    PollOptions, SortOrder,
};
use dcs_session_exporter::cloud::signer::{self, SignableRequest};
use dcs_session_exporter::cloud::{
    ApiClient, ClientOptions, Credentials, Endpoints, ErrorKind, Operation, RateLimiter,
    RequestObserver, RetryPolicy,
};
use dcs_session_exporter::session::{ClientInfo, ClientRef};
use dcs_session_exporter::sim::state::{ErrorShape, SimError};
use dcs_session_exporter::sim::topology::DbssPaths;
use dcs_session_exporter::sim::{Fault, SimConfig, Simulator, Topology};
use serde::Deserialize;
use tokio::time::Instant;

const AK: &str = "AKSIMTEST0000000001";
const SK: &str = "SKsimtest000000000000000000000000001";
const PROJECT: &str = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e";

/// Every test is bounded: no call outlives this.
fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

fn topology() -> Topology {
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(100);
    for instance in &mut t.instances {
        instance.sessions_per_node = 450;
    }
    t
}

async fn start_sim(config: SimConfig) -> (Arc<Simulator>, String) {
    let sim = Simulator::new(config);
    let url = serve(sim.router()).await;
    (sim, url)
}

async fn default_sim() -> (Arc<Simulator>, String) {
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology());
    config.project_id = Some(PROJECT.into());
    start_sim(config).await
}

#[derive(Default)]
struct CountingObserver {
    calls: Mutex<Vec<(Operation, String)>>,
}

impl RequestObserver for CountingObserver {
    fn observe(&self, operation: Operation, outcome: &str, _: Duration) {
        self.calls
            .lock()
            .unwrap()
            .push((operation, outcome.to_string()));
    }
}

fn fast_options(observer: Option<Arc<CountingObserver>>) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
        request_timeout: Duration::from_secs(5),
        observer: observer.map(|o| o as Arc<dyn RequestObserver>),
        ..ClientOptions::default()
    }
}

fn client_with(url: &str, creds: Credentials, options: ClientOptions) -> ApiClient {
    ApiClient::new(creds, PROJECT, Endpoints::single(url).unwrap(), options).unwrap()
}

fn client(url: &str) -> ApiClient {
    client_with(url, Credentials::new(AK, SK), fast_options(None))
}

const POLL: PollOptions = PollOptions {
    first_wait: Duration::from_millis(20),
    max_wait: Duration::from_millis(100),
};

/// The first instance of the demo topology (HA) and a node of it that takes clients.
async fn first_node(api: &ApiClient, name: &str) -> (String, String) {
    let instances = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap();
    let instance = instances
        .iter()
        .find(|i| i.name.as_deref() == Some(name))
        .unwrap();
    let id = instance.instance_id.clone().unwrap();
    let nodes = api.list_logical_nodes(&id, deadline()).await.unwrap();
    let node = nodes
        .nodes
        .iter()
        .find(|n| n.is_access == Some(true) && n.node_type.as_deref() != Some("slave"))
        .unwrap();
    (id, node.node_id.clone().unwrap())
}

async fn scan(api: &ApiClient, instance: &str, node: &str) {
    let job = api
        .start_scan(instance, node, true, deadline())
        .await
        .unwrap();
    let job = api.wait_for_job(&job, &POLL, deadline()).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
}

// ---------------------------------------------------------------------------------------------
// Signing

#[derive(Deserialize)]
struct VectorFile {
    sdk: serde_json::Value,
    ak: String,
    sk: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    sdk_date: String,
    canonical_request: String,
    string_to_sign: String,
    signed_headers: String,
    signature: String,
    authorization: String,
}

fn vectors() -> VectorFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signing_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vector_headers(v: &Vector) -> Vec<(String, String)> {
    let mut headers = v.headers.clone();
    headers.push(("Host".into(), v.host.clone()));
    headers.push(("X-Sdk-Date".into(), v.sdk_date.clone()));
    headers
}

#[test]
fn signatures_match_the_official_sdk_vectors() {
    let file = vectors();
    assert!(file.vectors.len() >= 20, "{}", file.sdk);
    for v in &file.vectors {
        let headers = vector_headers(v);
        let req = SignableRequest {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        let s = signer::sign(&req, &file.ak, &file.sk);
        assert_eq!(s.canonical_request, v.canonical_request, "{}", v.name);
        assert_eq!(s.string_to_sign, v.string_to_sign, "{}", v.name);
        assert_eq!(s.signed_headers, v.signed_headers, "{}", v.name);
        assert_eq!(s.signature, v.signature, "{}", v.name);
        assert_eq!(s.authorization, v.authorization, "{}", v.name);
    }
}

#[test]
fn verification_accepts_sdk_signatures_and_rejects_tampering() {
    let file = vectors();
    for v in &file.vectors {
        // What the server receives: the signed headers plus any the signer added.
        let mut headers = vector_headers(v);
        if v.signed_headers.contains("x-sdk-content-sha256") {
            headers.push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()));
        }
        let now = signer::parse_sdk_date(&v.sdk_date).unwrap() + Duration::from_secs(60);
        let skew = Duration::from_secs(900);
        let req = SignableRequest {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        signer::verify(&req, &v.authorization, &file.ak, &file.sk, now, skew)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        // Header order and name case do not matter.
        let mut shuffled: Vec<(String, String)> = headers
            .iter()
            .rev()
            .map(|(n, val)| (n.to_ascii_uppercase(), val.clone()))
            .collect();
        shuffled.rotate_left(1);
        let req2 = SignableRequest {
            headers: &shuffled,
            ..req
        };
        assert!(signer::verify(&req2, &v.authorization, &file.ak, &file.sk, now, skew).is_ok());
        // A different query value is caught.
        let mut query = v.query.clone();
        query.push(("extra".into(), "1".into()));
        let req3 = SignableRequest {
            query: &query,
            ..req
        };
        assert_eq!(
            signer::verify(&req3, &v.authorization, &file.ak, &file.sk, now, skew),
            Err(signer::VerifyError::SignatureMismatch),
            "{}",
            v.name
        );
        assert_eq!(
            signer::verify(&req, &v.authorization, &file.ak, "other", now, skew),
            Err(signer::VerifyError::SignatureMismatch)
        );
        let late = now + Duration::from_secs(3600);
        assert_eq!(
            signer::verify(&req, &v.authorization, &file.ak, &file.sk, late, skew),
            Err(signer::VerifyError::ClockSkew)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every call against the simulator

#[tokio::test]
async fn instances_and_nodes() {
    let (_sim, url) = default_sim().await;
    let api = client(&url);
    // One instance a page: the pages must join up.
    let all = api
        .list_instances(
            &ListInstancesQuery {
                page_size: Some(1),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["orders-cache", "sessions-proxy"]);
    let filtered = api
        .list_instances(
            &ListInstancesQuery {
                name: Some("proxy".into()),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert!(filtered[0].spec_code.as_deref().unwrap().contains("proxy"));

    let proxy_id = filtered[0].instance_id.clone().unwrap();
    let nodes = api.list_logical_nodes(&proxy_id, deadline()).await.unwrap();
    assert_eq!(nodes.total, Some(9), "3 shards of 2 and 3 proxies");
    let access: Vec<_> = nodes
        .nodes
        .iter()
        .filter(|n| n.is_access == Some(true))
        .collect();
    assert_eq!(access.len(), 3);
    assert!(
        access
            .iter()
            .all(|n| n.node_role.as_deref() == Some("redis-proxy"))
    );
    // A data node of a proxy instance takes no scan.
    let data = nodes
        .nodes
        .iter()
        .find(|n| n.is_access == Some(false))
        .unwrap();
    let err = api
        .start_scan(
            &proxy_id,
            data.node_id.as_deref().unwrap(),
            true,
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!((err.status, err.kind), (Some(400), ErrorKind::Http));
    let err = api
        .list_logical_nodes("no-such-instance", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(404));
}

#[tokio::test]
async fn scan_poll_and_page_through_a_stored_list() {
    let (sim, url) = default_sim().await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;

    // Never scanned: the service answers 500.
    let query = ListClientsQuery {
        node_id: node.clone(),
        ..Default::default()
    };
    let err = api.list_clients(&instance, &query, deadline()).await;
    assert_eq!(err.unwrap_err().status, Some(500));

    let job_id = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    // A second scan while the first runs is refused, as the real service does.
    let busy = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap_err();
    assert_eq!(busy.code.as_deref(), Some("DCS.4957"));
    assert_eq!(busy.status, Some(400));
    let first = api.show_job(&job_id, deadline()).await.unwrap();
    assert!(
        matches!(first.status, JobStatus::Init | JobStatus::Running),
        "{first:?}"
    );
    let job = api.wait_for_job(&job_id, &POLL, deadline()).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert!(job.ended().unwrap() >= job.began().unwrap());

    // Page through in pages of 100; the sessions are exactly the stored list.
    let mut sessions: Vec<ClientInfo> = Vec::new();
    let paging = PagingOptions {
        page_size: 100,
        max_restarts: 2,
    };
    let list = api
        .read_stored_list(&instance, &node, &paging, &mut sessions, deadline())
        .await
        .unwrap();
    let (time, stored) = sim
        .with_state(|s| s.stored_sessions(&instance, &node, SystemTime::now()))
        .unwrap()
        .unwrap();
    assert_eq!(list.time.as_deref(), Some(time.as_str()));
    assert_eq!(sessions, stored);
    assert_eq!(list.sessions, stored.len() as u64);
    assert_eq!(list.pages as usize, stored.len().div_ceil(100));
    assert!(stored.len() > 400, "{}", stored.len());
    // The last page is short, and a page past the end is empty; both give the whole count.
    let n = stored.len() as u64;
    for (offset, want) in [(n - 3, &stored[stored.len() - 3..]), (n + 5, &stored[..0])] {
        let q = ListClientsQuery {
            offset: Some(offset),
            limit: Some(10),
            ..query.clone()
        };
        let page = api.list_clients(&instance, &q, deadline()).await.unwrap();
        assert_eq!(page.clients, want, "offset {offset}");
        assert_eq!(page.count, Some(n as i64));
        assert_eq!(page.time.as_deref(), Some(time.as_str()));
    }

    // Sort and filter on the service side.
    let sorted = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                node_id: node.clone(),
                limit: Some(1000),
                sort: Some("idle".into()),
                order: Some(SortOrder::Desc),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let idles: Vec<i64> = sorted.clients.iter().map(|c| c.idle.unwrap()).collect();
    assert!(idles.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(idles.len(), stored.len());
    let ip = stored[0]
        .addr
        .as_deref()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let filtered = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                node_id: node.clone(),
                limit: Some(1000),
                addr: Some(ip.clone()),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let expected = stored
        .iter()
        .filter(|c| c.addr.as_deref().unwrap().starts_with(&format!("{ip}:")))
        .count();
    assert_eq!(filtered.count, Some(expected as i64));
    assert_eq!(filtered.clients.len(), expected);

    // Parameters outside the documented ranges are refused.
    for (offset, limit) in [(None, Some(0)), (None, Some(1001)), (Some(-1), None)] {
        let mut q = query.clone();
        q.limit = limit;
        let err = match offset {
            // The typed query cannot hold a negative offset: send one by hand.
            Some(_) => {
                raw_get(
                    &url,
                    &format!("/v2/{PROJECT}/instances/{instance}/clients"),
                    &[("node_id", &node), ("offset", "-1")],
                )
                .await
            }
            None => api
                .list_clients(&instance, &q, deadline())
                .await
                .unwrap_err()
                .status
                .unwrap(),
        };
        assert_eq!(err, 400, "offset {offset:?} limit {limit:?}");
    }
    let err = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                sort: Some("nonsense".into()),
                ..query.clone()
            },
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(400));
}

/// A signed GET with a hand-made query; returns the status.
async fn raw_get(url: &str, path: &str, query: &[(&str, &str)]) -> u16 {
    let base = reqwest::Url::parse(url).unwrap();
    let host = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let date = signer::sdk_date(SystemTime::now());
    let pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers = vec![
        ("Host".to_string(), host),
        ("X-Sdk-Date".to_string(), date.clone()),
    ];
    let s = signer::sign(
        &SignableRequest {
            method: "GET",
            path,
            query: &pairs,
            headers: &headers,
            body: b"",
        },
        AK,
        SK,
    );
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", signer::url_encode(k), signer::url_encode(v)))
        .collect();
    reqwest::Client::new()
        .get(format!("{url}{path}?{}", q.join("&")))
        .header("X-Sdk-Date", date)
        .header("Authorization", s.authorization)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn kills_end_sessions_seen_from_the_next_scan() {
    let (sim, url) = default_sim().await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    scan(&api, &instance, &node).await;
    let mut sessions = Vec::new();
    api.read_stored_list(
        &instance,
        &node,
        &PagingOptions::default(),
        &mut sessions,
        deadline(),
    )
    .await
    .unwrap();

    // Kill two chosen sessions by their peer address.
    let victims: Vec<String> = sessions[..2]
        .iter()
        .map(|c| c.peer.clone().unwrap())
        .collect();
    api.kill_clients(&instance, &node, &victims, deadline())
        .await
        .unwrap();
    scan(&api, &instance, &node).await;
    let mut after = Vec::new();
    api.read_stored_list(
        &instance,
        &node,
        &PagingOptions::default(),
        &mut after,
        deadline(),
    )
    .await
    .unwrap();
    let peers: HashSet<_> = after.iter().filter_map(|c| c.peer.clone()).collect();
    assert!(victims.iter().all(|v| !peers.contains(v)));
    assert!(!after.is_empty());
    let err = api
        .kill_clients(&instance, &node, &[], deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(400));

    // Kill all sessions of the node.
    let job = api
        .kill_all_clients(&instance, &KillTarget::Node(node.clone()), deadline())
        .await
        .unwrap();
    let job = api.wait_for_job(&job, &POLL, deadline()).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    // Clients reconnect over minutes: right after the kill only a handful are back.
    let few = sessions.len() / 50;
    let live = sim
        .with_state(|s| s.live_sessions(&instance, &node, SystemTime::now()))
        .unwrap();
    assert!(live.len() <= few, "{} sessions back", live.len());
    scan(&api, &instance, &node).await;
    let mut emptied = Vec::new();
    let list = api
        .read_stored_list(
            &instance,
            &node,
            &PagingOptions::default(),
            &mut emptied,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(list.sessions, emptied.len() as u64);
    assert!(emptied.len() <= few, "{} sessions back", emptied.len());
    let old_ids: HashSet<_> = sessions.iter().filter_map(|c| c.id.clone()).collect();
    assert!(
        emptied
            .iter()
            .all(|c| !old_ids.contains(c.id.as_ref().unwrap()))
    );

    // Kill all nodes of the other instance.
    let (proxy, proxy_node) = first_node(&api, "sessions-proxy").await;
    let job = api
        .kill_all_clients(&proxy, &KillTarget::AllNodes, deadline())
        .await
        .unwrap();
    api.wait_for_job(&job, &POLL, deadline()).await.unwrap();
    let live = sim
        .with_state(|s| s.live_sessions(&proxy, &proxy_node, SystemTime::now()))
        .unwrap();
    assert!(live.len() <= few, "{} sessions back", live.len());
}

/// Rescans the node between pages, so the stored list's `time` changes under the reader.
struct RescanningSink {
    sim: Arc<Simulator>,
    instance: String,
    node: String,
    rescans_left: u32,
    received: Vec<ClientInfo>,
    restarts: u32,
}

impl PageSink for RescanningSink {
    fn restart(&mut self) {
        self.restarts += 1;
        self.received.clear();
    }

    fn accept(&mut self, client: ClientRef<'_>) {
        self.received.push(client.into_owned());
    }

    fn end_page(&mut self) {
        if self.rescans_left > 0 {
            self.rescans_left -= 1;
            // The simulated job takes no time here: the next page already sees a new list.
            std::thread::sleep(Duration::from_millis(3));
            self.sim
                .with_state(|s| {
                    s.start_scan(&self.instance, Some(&self.node), true, SystemTime::now())
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

#[tokio::test]
async fn a_list_that_changes_mid_way_is_read_again() {
    let mut t = topology();
    t.job_duration = Duration::ZERO;
    let (sim, url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    scan(&api, &instance, &node).await;
    let paging = PagingOptions {
        page_size: 100,
        max_restarts: 2,
    };
    let mut sink = RescanningSink {
        sim: Arc::clone(&sim),
        instance: instance.clone(),
        node: node.clone(),
        rescans_left: 1,
        received: Vec::new(),
        restarts: 0,
    };
    let list = api
        .read_stored_list(&instance, &node, &paging, &mut sink, deadline())
        .await
        .unwrap();
    assert_eq!((list.restarts, sink.restarts), (1, 1));
    let (time, stored) = sim
        .with_state(|s| s.stored_sessions(&instance, &node, SystemTime::now()))
        .unwrap()
        .unwrap();
    assert_eq!(list.time, Some(time));
    assert_eq!(sink.received, stored);

    // A list that never holds still: a bounded number of tries, then a clear error.
    sink.rescans_left = 100;
    sink.received.clear();
    let err = api
        .read_stored_list(&instance, &node, &paging, &mut sink, deadline())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Inconsistent);
    assert!(sink.rescans_left >= 100 - 3, "{}", sink.rescans_left);
}

#[tokio::test]
async fn dbss_jobs_on_the_current_and_the_legacy_path() {
    let (_sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let jobs = api
        .list_audit_jobs("dbss-audit-demo", deadline())
        .await
        .unwrap();
    let statuses: HashSet<_> = jobs.jobs.iter().map(|j| j.status.clone()).collect();
    assert_eq!(
        statuses,
        HashSet::from([JobStatus::Success, JobStatus::Fail, JobStatus::Running])
    );
    let running = jobs
        .jobs
        .iter()
        .find(|j| j.status == JobStatus::Running)
        .unwrap();
    assert!(running.began().is_some() && running.ended().is_none());
    let failed = jobs
        .jobs
        .iter()
        .find(|j| j.status == JobStatus::Fail)
        .unwrap();
    assert!(failed.error_code.is_some() && failed.fail_reason.is_some());
    assert_eq!(
        observer.calls.lock().unwrap().len(),
        1,
        "the current path answered"
    );

    let err = api
        .list_audit_jobs("no-such-resource", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(404));
    assert!(err.code.as_deref().unwrap().starts_with("DBSS."));

    // A region that only has the deprecated path.
    let mut t = topology();
    t.dbss_paths = DbssPaths::LegacyOnly;
    let (_legacy, legacy_url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &legacy_url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let legacy = api
        .list_audit_jobs("dbss-audit-demo", deadline())
        .await
        .unwrap();
    assert_eq!(legacy.jobs.len(), jobs.jobs.len());
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["404", "200"]);
}

// ---------------------------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn wrong_credentials_are_refused_without_retries() {
    let (sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, "wrong-secret"),
        fast_options(Some(Arc::clone(&observer))),
    );
    let err = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(401));
    assert_eq!(err.code.as_deref(), Some("APIG.0301"));
    assert!(err.is_auth_failure());
    assert_eq!(err.request_id.as_ref().map(String::len), Some(32));
    assert!(!err.to_string().contains("wrong-secret"));
    assert_eq!(observer.calls.lock().unwrap().len(), 1, "no retry on 401");
    assert_eq!(sim.auth_failures(), 1);

    // Another project than the one served.
    let other = ApiClient::new(
        Credentials::new(AK, SK),
        "another-project",
        Endpoints::single(&url).unwrap(),
        fast_options(None),
    )
    .unwrap();
    let err = other
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(401));

    // A request signed 20 minutes ago is outside the allowed clock skew.
    let base = reqwest::Url::parse(&url).unwrap();
    let host = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let path = format!("/v2/{PROJECT}/instances");
    let date = signer::sdk_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let headers = vec![
        ("Host".to_string(), host),
        ("X-Sdk-Date".to_string(), date.clone()),
    ];
    let s = signer::sign(
        &SignableRequest {
            method: "GET",
            path: &path,
            query: &[],
            headers: &headers,
            body: b"",
        },
        AK,
        SK,
    );
    let response = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .header("X-Sdk-Date", date)
        .header("Authorization", s.authorization)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0301");
    assert!(body["error_msg"].as_str().unwrap().contains("time"));

    // Unsigned: refused; an unknown path: the gateway's 404.
    let plain = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    let missing = reqwest::Client::new()
        .get(format!("{url}/v9/nothing"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0101");
    assert_eq!(body["request_id"].as_str().map(str::len), Some(32));
}

fn throttled() -> SimError {
    SimError {
        status: 429,
        shape: ErrorShape::Gateway,
        code: "APIG.0308".into(),
        message: "The throttling threshold has been reached".into(),
    }
}

/// The account's rate halves on each throttled answer and comes back with answers that get
/// through; and the simulator's `api_latency` delays every answer.
#[tokio::test]
async fn the_request_rate_adapts_to_throttling() {
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology());
    config.project_id = Some(PROJECT.into());
    config.topology.api_latency = Duration::from_millis(150);
    let (sim, url) = start_sim(config).await;
    let limiter = Arc::new(RateLimiter::new(400.0));
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            rate_limiter: Some(Arc::clone(&limiter)),
            ..fast_options(None)
        },
    );
    let started = Instant::now();
    sim.inject_fault(Fault::new(Operation::ListInstances, 3, throttled()));
    api.list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap();
    // Three throttled attempts and one that got through, each answered after the latency.
    assert!(started.elapsed() >= Duration::from_millis(4 * 150));
    assert_eq!(limiter.per_second(), 400.0 / 8.0 + 400.0 / 100.0);
    for _ in 0..3 {
        api.list_instances(&ListInstancesQuery::default(), deadline())
            .await
            .unwrap();
    }
    assert_eq!(limiter.per_second(), 400.0 / 8.0 + 4.0 * 400.0 / 100.0);
}

#[tokio::test]
async fn throttled_then_success_and_bounded_retries() {
    let (sim, url) = default_sim().await;
    sim.inject_fault(Fault::new(Operation::ListInstances, 2, throttled()));
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let instances = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap();
    assert_eq!(instances.len(), 2);
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["429", "429", "200"]);

    // Throttled for longer than the retries allow: the last error, after 1 + 3 attempts.
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(Operation::ListInstances, 10, throttled()));
    let err = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert!(err.is_throttled());
    assert_eq!(err.reason(), "APIG.0308");
    assert_eq!(observer.calls.lock().unwrap().len(), 4);

    // A 5xx is retried too; a 4xx is not.
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(
        Operation::ListLogicalNodes,
        1,
        SimError::dcs(503, "DCS.5000", "busy"),
    ));
    let id = &instances[0].instance_id.clone().unwrap();
    api.list_logical_nodes(id, deadline()).await.unwrap();
    sim.inject_fault(Fault::new(
        Operation::ListLogicalNodes,
        1,
        SimError::dcs(403, "DCS.4030", "no permission"),
    ));
    let err = api.list_logical_nodes(id, deadline()).await.unwrap_err();
    assert_eq!(
        (err.status, err.code.as_deref()),
        (Some(403), Some("DCS.4030"))
    );
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["503", "200", "403"]);
}

/// Answers every path with a fixed status, headers and body.
fn scripted(status: u16, body: &'static [u8], content_type: &'static str) -> Router {
    Router::new().fallback(move || async move {
        (
            StatusCode::from_u16(status).unwrap(),
            [
                ("content-type", content_type),
                ("x-request-id", "req-scripted"),
            ],
            body,
        )
            .into_response()
    })
}

#[tokio::test]
async fn every_error_shape_and_kind() {
    let cases: [(u16, &'static [u8], Option<&str>, &str); 5] = [
        (
            400,
            br#"{"error_code":"DCS.4957","error_msg":"busy","error_ext_msg":null}"#,
            Some("DCS.4957"),
            "busy",
        ),
        (
            403,
            br#"{"error":{"error_code":"DBSS.0001","error_msg":"denied"}}"#,
            Some("DBSS.0001"),
            "denied",
        ),
        (
            429,
            br#"{"error_code":"APIG.0308","error_msg":"throttled","request_id":"r9"}"#,
            Some("APIG.0308"),
            "throttled",
        ),
        (
            404,
            br#"{"code":"X.404","message":"gone"}"#,
            Some("X.404"),
            "gone",
        ),
        (
            502,
            b"<html>bad gateway</html>",
            None,
            "<html>bad gateway</html>",
        ),
    ];
    for (status, body, code, message) in cases {
        let url = serve(scripted(status, body, "application/json")).await;
        let api = client_with(
            &url,
            Credentials::new(AK, SK),
            ClientOptions {
                retry: RetryPolicy::none(),
                ..fast_options(None)
            },
        );
        let err = api.show_job("j1", deadline()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Http);
        assert_eq!(err.status, Some(status));
        assert_eq!(err.code.as_deref(), code);
        assert_eq!(err.message, message);
        assert_eq!(err.request_id.as_deref(), Some("req-scripted"));
        assert_eq!(err.operation, Operation::ShowJob);
    }

    // Undecodable answer.
    let url = serve(scripted(200, b"{\"job_id\": [1,", "application/json")).await;
    let err = client(&url).show_job("j1", deadline()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Decode);

    // Larger than the cap.
    static BIG: [u8; 100_000] = [b' '; 100_000];
    let url = serve(scripted(200, &BIG, "application/json")).await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            max_body_bytes: 10_000,
            ..fast_options(None)
        },
    );
    let err = api.show_job("j1", deadline()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BodyTooLarge);

    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&closed)
        .show_job("j1", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert_eq!(err.reason(), "transport");
}

#[tokio::test]
async fn deadlines_hold() {
    // A server that never finishes answering.
    let hang = Router::new().route(
        "/{*rest}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }),
    );
    let url = serve(hang).await;
    let api = client(&url);
    let started = Instant::now();
    let err = api
        .show_job("j1", Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A retry whose backoff would end past the deadline is not made.
    let failing = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&failing);
    let url = serve(Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        }
    }))
    .await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            retry: RetryPolicy {
                // Many retries allowed: only the deadline can stop them early.
                max_retries: 50,
                base_delay: Duration::from_secs(30),
                max_delay: Duration::from_secs(30),
            },
            ..fast_options(None)
        },
    );
    // Full jitter may draw a tiny wait now and then; with a 30 s ceiling and a 1 s deadline,
    // at most a few attempts fit.
    let started = Instant::now();
    let err = api
        .show_job("j1", Instant::now() + Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(503));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(failing.load(Ordering::SeqCst) <= 6);

    // A job that outlives the deadline.
    let mut t = topology();
    t.job_duration = Duration::from_secs(60);
    let (_sim, url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    let job = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    let err = api
        .wait_for_job(&job, &POLL, Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains(&job));
}

#[tokio::test]
async fn requests_carry_the_sdk_headers() {
    // Record what the client sends.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = Arc::clone(&seen);
    let url = serve(Router::new().fallback(move |req: axum::extract::Request| {
        let store = Arc::clone(&store);
        async move {
            let mut s = store.lock().unwrap();
            for (name, value) in req.headers() {
                s.push((
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                ));
            }
            s.push(("path".into(), req.uri().to_string()));
            (StatusCode::OK, r#"{"job_id":"j1"}"#)
        }
    }))
    .await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK).with_security_token("TOKEN-1"),
        fast_options(None),
    );
    api.start_scan("inst 1", "node/1", false, deadline())
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let get = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(get("user-agent").starts_with("dcs-session-exporter/"));
    assert_eq!(get("x-project-id"), PROJECT);
    assert_eq!(get("x-security-token"), "TOKEN-1");
    assert!(get("content-type").starts_with("application/json"));
    assert_eq!(
        get("path"),
        format!("/v2/{PROJECT}/instances/inst%201/clients")
    );
    let auth = get("authorization");
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token"),
        "{auth}"
    );
}

// ---------------------------------------------------------------------------------------------
// Huawei's own SDKs against the simulator

/// Whether `python3` can import Huawei's DCS and DBSS SDKs.
fn huawei_sdks_installed() -> Result<(), String> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import huaweicloudsdkdcs.v2, huaweicloudsdkdbss.v1"])
        .env("HOME", std::env::temp_dir())
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(
            "Huawei's Python SDKs are not installed (pip install -r tests/sdk/requirements.txt)"
                .into(),
        )
    }
}

#[tokio::test]
async fn huawei_sdks_work_unchanged_against_the_simulator() {
    if let Err(why) = huawei_sdks_installed() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this test: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(300);
    let mut config = SimConfig::new(Credentials::new(AK, SK), t);
    config.project_id = Some(PROJECT.into());
    let (_sim, url) = start_sim(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/check_sdk.py");
    let run = tokio::process::Command::new("python3")
        .args([
            script,
            "--endpoint",
            &url,
            "--ak",
            AK,
            "--sk",
            SK,
            "--project-id",
            PROJECT,
            "--project-only",
        ])
        .env("HOME", std::env::temp_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the SDK check finishes within 3 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK check failed:\n{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    let passed: u32 = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 10, "{summary}");
}

/// A page of a session list for (offset, limit).
type PageRule = fn(u64, u64) -> serde_json::Value;

/// Serves a session list by a rule.
async fn paged(rule: PageRule) -> String {
    #[derive(Deserialize)]
    struct Q {
        offset: u64,
        limit: u64,
    }
    serve(Router::new().route(
        "/v2/{p}/instances/{i}/clients",
        get(
            move |axum::extract::Query(q): axum::extract::Query<Q>| async move {
                axum::Json(rule(q.offset, q.limit))
            },
        ),
    ))
    .await
}

fn sessions(from: u64, n: u64) -> Vec<serde_json::Value> {
    (from..from + n)
        .map(|i| serde_json::json!({"id": i.to_string(), "addr": format!("10.0.0.1:{}", 1000 + i)}))
        .collect()
}

#[tokio::test]
async fn broken_paging_is_caught() {
    let cases: [(&str, PageRule); 4] = [
        ("pages end before the count", |offset, limit| {
            let n = if offset >= 1500 {
                0
            } else {
                limit.min(1500 - offset)
            };
            serde_json::json!({"time": "t", "count": 2500, "clients": sessions(offset, n)})
        }),
        (
            "a page larger than asked",
            |offset, limit| serde_json::json!({"time": "t", "count": 5000, "clients": sessions(offset, limit + 1)}),
        ),
        (
            "offset ignored",
            |_, limit| serde_json::json!({"time": "t", "count": 5000, "clients": sessions(0, limit)}),
        ),
        (
            "an impossible count",
            |offset, limit| serde_json::json!({"time": "t", "count": 50_000_000u64, "clients": sessions(offset, limit)}),
        ),
    ];
    for (what, rule) in cases {
        let url = paged(rule).await;
        let mut received = Vec::new();
        let err = client(&url)
            .read_stored_list(
                "i",
                "n",
                &PagingOptions::default(),
                &mut received,
                deadline(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Inconsistent, "{what}: {err}");
        assert!(received.len() <= 5000, "{what}");
    }
    // A list without a count ends at its first short page.
    let url = paged(|offset, limit| {
        let n = if offset >= 2300 {
            0
        } else {
            limit.min(2300 - offset)
        };
        serde_json::json!({"time": "t", "clients": sessions(offset, n)})
    })
    .await;
    let mut received = Vec::new();
    let list = client(&url)
        .read_stored_list(
            "i",
            "n",
            &PagingOptions::default(),
            &mut received,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!((list.sessions, list.pages, received.len()), (2300, 3, 2300));
}

#[tokio::test]
async fn writes_are_not_retried_after_a_server_error() {
    let (sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let (instance, node) = first_node(&api, "orders-cache").await;
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(
        Operation::ScanClients,
        1,
        SimError::dcs(502, "APIG.0202", "bad gateway"),
    ));
    let err = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(502));
    assert_eq!(
        observer.calls.lock().unwrap().len(),
        1,
        "a 5xx on a write is not retried"
    );
    // Throttling says the call was not carried out: a write is retried then.
    sim.inject_fault(Fault::new(Operation::ScanClients, 1, throttled()));
    api.start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["502", "429", "200"]);
}
