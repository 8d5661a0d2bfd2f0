//! The API client against the simulator (and a few scripted servers for what the simulator
//! never answers), over real HTTP on loopback.

use crate::common::harness;

mod calls;
mod failures;
mod paging;
mod sdk;
mod signing;

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
    JobStatus, KillTarget, ListClientsQuery, ListInstancesQuery, PagingOptions, PollOptions,
    SortOrder,
};
use dcs_session_exporter::cloud::signer::{self, SignableRequest};
use dcs_session_exporter::cloud::{
    ApiClient, ClientOptions, Credentials, Endpoints, ErrorKind, Operation, RateLimiter,
    RequestObserver, RetryPolicy,
};
use dcs_session_exporter::session::{ClientInfo, ClientRef, PageSink};
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
    harness::demo_topology(Duration::from_millis(100), 450)
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
