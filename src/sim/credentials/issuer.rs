//! What the credential services issue and remember: temporary credentials with their expiry,
//! metadata session tokens, unscoped IAM tokens; the counts tests read, and the outage switch.
//! Apart from the services' HTTP handlers, so that the simulator can hold it.
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use rand::RngExt;

use crate::cloud::Secret;

/// How long issued credentials last when neither the request nor the simulator says.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Credentials are kept this long after they expire, so that their use is refused as expired
/// rather than unknown; then forgotten.
const KEEP_EXPIRED: Duration = Duration::from_secs(3600);

/// How the simulated credential services behave.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialServices {
    /// Every issued credential lasts this long, whatever duration was asked for (short ones
    /// show renewals); `None`: the duration asked for, else [`DEFAULT_LIFETIME`].
    pub lifetime: Option<Duration>,
    /// The metadata service hands out session tokens (`false`: an older one, 404 on the token
    /// call).
    pub metadata_tokens: bool,
    /// An agency is attached to the simulated node (`false`: the metadata service's 401).
    pub agency_attached: bool,
    /// The pod-identity token accepted; any non-empty one when `None`.
    pub pod_identity_token: Option<Secret>,
    /// The OIDC id token accepted; any non-empty one when `None`.
    pub oidc_id_token: Option<Secret>,
}

impl Default for CredentialServices {
    fn default() -> Self {
        Self {
            lifetime: None,
            metadata_tokens: true,
            agency_attached: true,
            pod_identity_token: None,
            oidc_id_token: None,
        }
    }
}

/// Credentials the simulator issued.
#[derive(Clone, Debug)]
pub struct Issued {
    pub secret_key: Secret,
    pub security_token: Secret,
    pub expires_at: SystemTime,
    /// Which service issued them: `metadata`, `pod_identity`, `oidc` or `assume_agency`.
    pub issuer: &'static str,
}

/// Issued credentials and metadata session tokens.
#[derive(Default)]
pub struct Issuer {
    issued: Mutex<HashMap<String, Issued>>,
    pub(super) metadata_tokens: Mutex<HashSet<String>>,
    /// Unscoped IAM tokens from the id-token exchange.
    pub(super) subject_tokens: Mutex<HashSet<String>>,
    counts: Mutex<HashMap<&'static str, u64>>,
    /// Service calls (not IAM's) accepted with issued credentials, by issuer.
    uses: Mutex<HashMap<&'static str, u64>>,
    /// Every credential and metadata token ever issued, for tests that look for leaks.
    history: Mutex<Vec<String>>,
    /// While set, every credential service answers 503.
    outage: std::sync::atomic::AtomicBool,
}

impl Issuer {
    /// The credentials of an access key the simulator issued.
    pub fn lookup(&self, access_key: &str) -> Option<Issued> {
        self.issued.lock().get(access_key).cloned()
    }

    /// How many credentials each service has issued.
    pub fn issued_by(&self, issuer: &str) -> u64 {
        self.counts.lock().get(issuer).copied().unwrap_or(0)
    }

    /// Service calls accepted with credentials from `issuer`.
    pub fn used(&self, issuer: &str) -> u64 {
        self.uses.lock().get(issuer).copied().unwrap_or(0)
    }

    pub(in crate::sim) fn count_use(&self, issuer: &'static str) {
        *self.uses.lock().entry(issuer).or_default() += 1;
    }

    /// Every access key, secret key, security token and metadata token issued so far (the
    /// latest 10,000).
    pub fn everything_issued(&self) -> Vec<String> {
        self.history.lock().clone()
    }

    pub(super) fn remember(&self, values: &[&str]) {
        let mut history = self.history.lock();
        if history.len() > 10_000 {
            history.drain(..values.len());
        }
        history.extend(values.iter().map(|v| v.to_string()));
    }

    /// Revokes every credential issued so far: calls signed with them are refused from now on,
    /// as when an agency's permissions are withdrawn.
    pub fn revoke_all(&self) {
        self.issued.lock().clear();
    }

    pub fn set_outage(&self, down: bool) {
        self.outage
            .store(down, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn down(&self) -> bool {
        self.outage.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn issue(
        &self,
        issuer: &'static str,
        now: SystemTime,
        lifetime: Duration,
    ) -> (String, Issued) {
        let mut rng = rand::rng();
        let access_key = format!("TMP{:017X}", rng.random::<u64>());
        let issued = Issued {
            secret_key: Secret::new(format!("{:040x}", rng.random::<u128>())),
            security_token: Secret::new(format!(
                "gQpjbi1ub3J0aC00{:032x}{:032x}",
                rng.random::<u128>(),
                rng.random::<u128>()
            )),
            expires_at: now + lifetime,
            issuer,
        };
        self.remember(&[
            &access_key,
            issued.secret_key.expose(),
            issued.security_token.expose(),
        ]);
        let mut all = self.issued.lock();
        all.retain(|_, i| i.expires_at + KEEP_EXPIRED > now);
        all.insert(access_key.clone(), issued.clone());
        *self.counts.lock().entry(issuer).or_default() += 1;
        (access_key, issued)
    }
}
