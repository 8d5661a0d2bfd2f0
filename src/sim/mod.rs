//! A faithful simulator of the DCS session and DBSS job APIs: signed requests are verified,
//! jobs take time, stored lists behave as the real service's, errors look like the real ones.
//! It powers the demo and the tests, and lets users try dashboards and alerts without a cloud.

mod clock;
pub mod credentials;
mod error;
mod http;
pub mod kube;
pub mod population;
pub mod slowlog;
pub mod state;
pub mod topology;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

use clock::shifted;

pub use error::SimError;
pub use http::DEFAULT_MAX_CLOCK_SKEW;
pub use state::SimState;
pub use topology::Topology;

use crate::cloud::credentials::Credentials;
use crate::cloud::error::Operation;

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The only credentials the simulator accepts.
    pub credentials: Credentials,
    /// The project served; any project when `None`.
    pub project_id: Option<String>,
    pub max_clock_skew: Duration,
    /// Requests a second across all callers; past it, 429 `APIG.0308`.
    pub rate_limit: Option<u32>,
    /// The service's clock minus the real one, in milliseconds: every time it writes (stored
    /// lists, jobs, the `Date` of answers) and its check of request dates follow it.
    pub clock_offset_ms: i64,
    /// The metadata, pod-identity, STS and IAM services that issue temporary credentials.
    pub credential_services: credentials::CredentialServices,
    pub topology: Topology,
}

impl SimConfig {
    pub fn new(credentials: Credentials, topology: Topology) -> Self {
        Self {
            credentials,
            project_id: None,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            rate_limit: None,
            clock_offset_ms: 0,
            credential_services: credentials::CredentialServices {
                lifetime: topology.credential_lifetime,
                ..Default::default()
            },
            topology,
        }
    }
}

/// A way the simulated service misbehaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An error answer: 5xx, 429 (`APIG.0308`), 401 (`APIG.0301`, a refused signature), ...
    Error(SimError),
    /// No answer at all, until the client gives up.
    Hang,
    /// The right answer, late.
    Slow(Duration),
    /// An answer cut short: the body ends before its announced length.
    TruncatedBody,
    /// A body of JSON with wrong types and nulls where values belong.
    WrongTypes,
    /// An answer of this many bytes, far larger than any sane page.
    HugeBody(usize),
    /// Scan jobs of the node never end (`RUNNING` for ever).
    JobStuck,
    /// Scan jobs of the node end `FAIL`.
    JobFails,
    /// Every page of the stored list carries a new `time`.
    TimeChanges,
    /// `count` larger than the pages deliver.
    CountTooLarge,
    /// Full pages for ever, without a `count`.
    EndlessPages,
}

/// A fault for the next `times` calls of one operation (of one node, when `node_id` is
/// given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub node_id: Option<String>,
    pub times: u32,
    pub kind: FaultKind,
    /// Hits one matching call in this many (1: every one), as real nodes fail now and then.
    pub every: u32,
    /// Matching calls seen, for `every`.
    pub seen: u32,
}

impl Fault {
    /// Answers the next `times` calls with `error`.
    pub fn new(operation: Operation, times: u32, error: SimError) -> Self {
        Self::of(operation, times, FaultKind::Error(error))
    }

    pub fn of(operation: Operation, times: u32, kind: FaultKind) -> Self {
        Self {
            operation,
            node_id: None,
            times,
            kind,
            every: 1,
            seen: 0,
        }
    }

    /// Hits one matching call in `every`.
    pub fn now_and_then(mut self, every: u32) -> Self {
        self.every = every.max(1);
        self
    }

    pub fn on_node(mut self, node_id: &str) -> Self {
        self.node_id = Some(node_id.to_string());
        self
    }
}

/// What a job does on the real servers behind nodes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RealTask {
    /// A scan: `CLIENT LIST`.
    List,
    /// `CLIENT KILL` of every normal and pub/sub session.
    KillAll,
}

async fn list_real(
    endpoint: &crate::redis::RedisEndpoint,
    deadline: tokio::time::Instant,
) -> Result<Vec<crate::session::ClientInfo>, String> {
    let mut conn = crate::redis::connect(endpoint, deadline)
        .await
        .map_err(|e| format!("Connecting to the node failed: {e}"))?;
    crate::redis::client_list(&mut conn, deadline)
        .await
        .map(|list| list.to_vec())
        .map_err(|e| format!("Listing the sessions failed: {e}"))
}

/// A topology's fault, resolved to an operation, a node id and a kind.
pub fn fault_from_spec(spec: &topology::FaultSpec, state: &SimState) -> Result<Fault, String> {
    let operation = Operation::ALL
        .into_iter()
        .find(|o| o.as_str() == spec.operation)
        .ok_or_else(|| format!("unknown operation {:?}", spec.operation))?;
    let kind = match spec.kind.as_str() {
        "error" => {
            let status = spec.status.unwrap_or(500);
            let code = spec
                .code
                .clone()
                .unwrap_or_else(|| error::codes::INTERNAL.into());
            let shape = if code.starts_with("APIG.") {
                error::ErrorShape::Gateway
            } else if code.starts_with("DBSS.") {
                error::ErrorShape::Dbss
            } else {
                error::ErrorShape::Dcs
            };
            FaultKind::Error(SimError {
                status,
                shape,
                code,
                message: "Injected by the topology.".into(),
            })
        }
        "hang" => FaultKind::Hang,
        "slow" => FaultKind::Slow(spec.delay.unwrap_or(Duration::from_secs(30))),
        "truncated_body" => FaultKind::TruncatedBody,
        "wrong_types" => FaultKind::WrongTypes,
        "huge_body" => FaultKind::HugeBody(spec.bytes.unwrap_or(64 << 20)),
        "job_stuck" => FaultKind::JobStuck,
        "job_fails" => FaultKind::JobFails,
        "time_changes" => FaultKind::TimeChanges,
        "count_too_large" => FaultKind::CountTooLarge,
        "endless_pages" => FaultKind::EndlessPages,
        other => return Err(format!("unknown fault kind {other:?}")),
    };
    let times = if spec.times == 0 {
        u32::MAX
    } else {
        spec.times
    };
    let mut fault = Fault::of(operation, times, kind).now_and_then(spec.every.unwrap_or(1));
    if let Some(name) = &spec.instance {
        let index = spec.node.unwrap_or(1);
        let node = state
            .client_node_by_name(name, index)
            .ok_or_else(|| format!("instance {name:?} has no node {index} that takes clients"))?;
        fault = fault.on_node(&node);
    }
    Ok(fault)
}

pub struct Simulator {
    config: SimConfig,
    state: Mutex<SimState>,
    faults: Mutex<Vec<Fault>>,
    limiter: Option<Mutex<http::TokenBucket>>,
    auth_failures: AtomicU64,
    issuer: credentials::Issuer,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Arc<Self> {
        let state = SimState::new(
            &config.topology,
            shifted(SystemTime::now(), config.clock_offset_ms),
        );
        let faults = config
            .topology
            .faults
            .iter()
            .filter_map(|spec| match fault_from_spec(spec, &state) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::error!("topology fault ignored: {e}");
                    None
                }
            })
            .collect();
        Arc::new(Self {
            limiter: config
                .rate_limit
                .map(|r| Mutex::new(http::TokenBucket::new(r.max(1)))),
            config,
            state: Mutex::new(state),
            faults: Mutex::new(faults),
            auth_failures: AtomicU64::new(0),
            issuer: credentials::Issuer::default(),
        })
    }

    /// The service's time.
    pub fn now(&self) -> SystemTime {
        shifted(SystemTime::now(), self.config.clock_offset_ms)
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The axum app serving every API call.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        http::router(Arc::clone(self))
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic elsewhere must not take the simulator down: its state stays consistent
        // between calls, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, under its lock (never across an await).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        f(&mut self.lock())
    }

    /// Answers the next `times` calls of an operation with `error`.
    pub fn inject_fault(&self, fault: Fault) {
        if fault.times == 0 {
            return;
        }
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }

    /// The fault injected for this call, if any (each use counts one of its times).
    fn take_fault(&self, operation: Operation, node_id: Option<&str>) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let i = faults.iter().position(|f| {
            f.operation == operation && f.node_id.as_deref().is_none_or(|n| Some(n) == node_id)
        })?;
        faults[i].seen = faults[i].seen.wrapping_add(1);
        if !faults[i].seen.is_multiple_of(faults[i].every) {
            return None;
        }
        let kind = faults[i].kind.clone();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(kind)
    }

    /// Carries out a job on real servers, then ends it: the job is `RUNNING` at least the
    /// topology's job duration, and until the servers have answered.
    pub(crate) fn spawn_real_work(self: &Arc<Self>, work: state::RealWork, task: RealTask) {
        let sim = Arc::clone(self);
        let least = self.config.topology.job_duration;
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let deadline = started + least + crate::redis::DEFAULT_TIMEOUT;
            let result = match task {
                RealTask::List => match work.endpoints.first() {
                    Some(endpoint) => list_real(endpoint, deadline).await.map(Some),
                    None => Ok(None),
                },
                RealTask::KillAll => {
                    let mut result = Ok(None);
                    for endpoint in &work.endpoints {
                        if let Err(e) = crate::redis::kill_all(endpoint, deadline).await {
                            result = Err(format!("Killing the sessions failed: {e}"));
                        }
                    }
                    result
                }
            };
            tokio::time::sleep_until(started + least).await;
            if let Err(reason) = &result {
                tracing::warn!(job_id = %work.job_id, "a job on a real Redis failed: {reason}");
            }
            sim.with_state(|s| s.finish_real_job(&work.job_id, result, sim.now()));
        });
    }

    /// Takes back every injected fault.
    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn take_rate_token(&self) -> bool {
        self.limiter
            .as_ref()
            .is_none_or(|l| l.lock().unwrap_or_else(|e| e.into_inner()).take())
    }

    fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The temporary credentials issued, and the switch that takes the services issuing them
    /// down.
    pub fn issuer(&self) -> &credentials::Issuer {
        &self.issuer
    }

    /// Requests refused for their signature, credentials or clock.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }
}
