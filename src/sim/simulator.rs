//! The simulator: its settings, the simulated services' state under a lock, the injected
//! faults, the throttle and the credential issuer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::clock::shifted;
use super::config::SimConfig;
use super::credentials::Issuer;
use super::fault::{Fault, fault_from_spec};
use super::fault_kind::FaultKind;
use super::gateway::TokenBucket;
use super::state::SimState;
use crate::cloud::error::Operation;

/// The simulated services, their faults, throttle and credential issuer, shared by every
/// request. The routes (`routes/`) and the jobs on real servers (`real_work.rs`) add their
/// methods to it where they are written.
pub struct Simulator {
    config: SimConfig,
    state: Mutex<SimState>,
    faults: Mutex<Vec<Fault>>,
    limiter: Option<Mutex<TokenBucket>>,
    auth_failures: AtomicU64,
    /// Signed API requests received, refused ones included.
    api_requests: AtomicU64,
    issuer: Issuer,
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
                .map(|r| Mutex::new(TokenBucket::new(r.max(1)))),
            config,
            state: Mutex::new(state),
            faults: Mutex::new(faults),
            auth_failures: AtomicU64::new(0),
            api_requests: AtomicU64::new(0),
            issuer: Issuer::default(),
        })
    }

    /// The service's time.
    pub fn now(&self) -> SystemTime {
        shifted(SystemTime::now(), self.config.clock_offset_ms)
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs `f` on the state, under its lock (never across an await).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        f(&mut self.state.lock())
    }

    /// Answers the next `times` calls of an operation with `error`.
    pub fn inject_fault(&self, fault: Fault) {
        if fault.times == 0 {
            return;
        }
        self.faults.lock().push(fault);
    }

    /// The fault injected for this call, if any (each use counts one of its times).
    pub(crate) fn take_fault(
        &self,
        operation: Operation,
        node_id: Option<&str>,
    ) -> Option<FaultKind> {
        let mut faults = self.faults.lock();
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

    /// Takes back every injected fault.
    pub fn clear_faults(&self) {
        self.faults.lock().clear();
    }

    /// Whether the throttle lets one more request through (always, without a rate limit).
    pub(crate) fn take_rate_token(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.lock().take())
    }

    pub(crate) fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_api_request(&self) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Signed DCS and DBSS requests received since the start, refused ones included (the
    /// credential services' are not: they do not count against an account's API rate).
    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::Relaxed)
    }

    /// The temporary credentials issued, and the switch that takes the services issuing them
    /// down.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// Requests refused for their signature, credentials or clock.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }
}
