//! A faithful simulator of the DCS session and DBSS job APIs: signed requests are verified,
//! jobs take time, stored lists behave as the real service's, errors look like the real ones.
//! It powers the demo and the tests, and lets users try dashboards and alerts without a cloud.
//!
//! Module declarations and the public paths only. Imports point one way: the state and its
//! parts (`state/`, `population`, `slowlog`, `topology`, `kube`) know nothing of HTTP; the
//! `Simulator` holds the state, faults, throttle and credential issuer; the gateway, the routes
//! and the credential services' handlers take the `Simulator`.

mod clock;
mod config;
pub mod credentials;
mod error;
mod fault;
mod fault_kind;
mod gateway;
pub mod kube;
pub mod population;
mod real_work;
mod routes;
mod simulator;
pub mod slowlog;
pub mod state;
pub mod topology;

pub use config::{DEFAULT_MAX_CLOCK_SKEW, SimConfig};
pub use error::SimError;
pub use fault::{Fault, fault_from_spec};
pub use fault_kind::{FaultKind, FaultKindName};
pub use simulator::Simulator;
pub use state::SimState;
pub use topology::Topology;
