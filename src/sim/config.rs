//! The simulator's settings: the credentials it accepts, the project it serves, how strict its
//! clock check and throttle are, how its credential services behave, and the topology.

use std::time::Duration;

use super::credentials::CredentialServices;
use super::topology::Topology;
use crate::cloud::credentials::Credentials;

/// How long the simulator accepts a request's `X-Sdk-Date` to differ from its clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// How a simulator behaves: see [`SimConfig::new`] for the defaults.
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
    pub credential_services: CredentialServices,
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
            credential_services: CredentialServices {
                lifetime: topology.credential_lifetime,
                ..Default::default()
            },
            topology,
        }
    }
}
