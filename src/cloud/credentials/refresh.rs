//! One account's credentials, kept usable: static keys as they are; temporary ones renewed in
//! the background before they expire, retried with backoff when a renewal fails, and never
//! handed out once expired.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use rand::RngExt;

use super::Credentials;
pub use super::providers::EXPIRY_MARGIN;
use super::providers::{FetchError, FetchFailure, Fetcher, Provider};
use crate::supervisor::{Task, supervise};
/// Renewal comes at the latest when less than the smaller of this and half the lifetime
/// remains.
pub const RENEW_BEFORE: Duration = Duration::from_secs(600);
/// Failed renewals are retried after 1 s, 2 s, 4 s, ... up to this, jittered.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// No two renewals closer than this, whatever lifetime a provider gives.
const MIN_RENEWAL_GAP: Duration = Duration::from_secs(1);
/// The background task wakes at least this often to look at the wall clock again.
const MAX_SLEEP: Duration = Duration::from_secs(300);
/// Credentials the gateway refused are renewed at once, but not sooner than this after they
/// were obtained: a refusal for another cause (a wrong project) must not become a storm.
pub const REFUSED_RENEWAL_GAP: Duration = Duration::from_secs(30);

/// Why an account has no usable credentials now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("{0}")]
    Expired(String),
    #[error("{0}")]
    Unavailable(String),
}

/// What the landing page, `check-config` and the metrics show of an account's credentials:
/// never a value.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialStatus {
    /// `env`, `profile`, `metadata`, `pod_identity`, `oidc` or `assume_agency`.
    pub source: &'static str,
    pub description: String,
    pub temporary: bool,
    /// When the current credentials expire (temporary credentials only).
    pub expires_at: Option<SystemTime>,
    /// Renewals by result (`success` or a [`FetchFailure`]), temporary credentials only.
    pub refreshes: Vec<(&'static str, u64)>,
    pub last_error: Option<String>,
}

/// An account's credentials, shared by every clone of its API client.
#[derive(Clone)]
pub struct CredentialCell(Arc<Inner>);

impl std::fmt::Debug for CredentialCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCell")
            .field("source", &self.0.provider.source_label())
            .finish_non_exhaustive()
    }
}

struct Inner {
    account: String,
    provider: Provider,
    fetcher: Fetcher,
    state: Mutex<State>,
    /// One renewal at a time.
    renewing: tokio::sync::Mutex<()>,
    /// `success`, then each [`FetchFailure`] in [`FetchFailure::ALL`] order.
    refreshes: [AtomicU64; 1 + FetchFailure::ALL.len()],
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// Wakes the background task early (credentials refused); its own `Arc`, so that the
    /// sleeping task does not keep the cell alive.
    wake: Arc<tokio::sync::Notify>,
    /// Counts the renewals that succeeded after a failure, for [`Recoveries`].
    recovered: tokio::sync::watch::Sender<u64>,
}

/// The renewals of an account's credentials that succeed after a failure: the loops that
/// failed for want of credentials wait on these beside their own timers, so that they run
/// again as soon as there are credentials, not at the end of their backoff.
pub struct Recoveries(tokio::sync::watch::Receiver<u64>);

impl Recoveries {
    /// Forgets the recoveries so far: only a later one ends [`Recoveries::next`].
    pub fn mark_seen(&mut self) {
        self.0.mark_unchanged();
    }

    /// Waits for a recovery not yet seen; forever for an account whose cell is gone.
    pub async fn next(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Credentials>>,
    obtained_at: Option<SystemTime>,
    failures_in_a_row: u32,
    /// No renewal before this after a failure.
    retry_at: Option<SystemTime>,
    last_error: Option<FetchError>,
    /// The gateway refused the current credentials (revoked, or the clocks disagree).
    refused: bool,
    /// The kind of the last failure logged above debug level, and whether valid credentials
    /// remained then: a repeat of both is logged at debug level only.
    logged: Option<(FetchFailure, bool)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

impl CredentialCell {
    /// Keys that never change.
    pub fn fixed(account: &str, provider: Provider) -> Self {
        let current = match &provider {
            Provider::Static { credentials, .. } => Some(Arc::new(credentials.clone())),
            _ => None,
        };
        let fetcher = Fetcher::new(None).expect("a client without a proxy builds");
        Self::build(account, provider, fetcher, current)
    }

    /// The credentials of `provider`: static ones at once; temporary ones obtained and kept
    /// renewed by a background task (when a Tokio runtime is running; otherwise on demand).
    pub fn new(account: &str, provider: Provider, fetcher: Fetcher) -> Self {
        if !provider.is_temporary() {
            return Self::fixed(account, provider);
        }
        let cell = Self::build(account, provider, fetcher, None);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (weak, wake) = (Arc::downgrade(&cell.0), Arc::clone(&cell.0.wake));
            let span = tracing::error_span!("credentials", cloud = %account);
            let task = runtime.spawn(supervise(Task::Credentials, span, move || {
                renew_in_background(weak.clone(), Arc::clone(&wake))
            }));
            *cell.0.task.lock() = Some(task.abort_handle());
        }
        cell
    }

    fn build(
        account: &str,
        provider: Provider,
        fetcher: Fetcher,
        current: Option<Arc<Credentials>>,
    ) -> Self {
        Self(Arc::new(Inner {
            account: account.to_string(),
            provider,
            fetcher,
            state: Mutex::new(State {
                current,
                ..State::default()
            }),
            renewing: tokio::sync::Mutex::new(()),
            refreshes: Default::default(),
            task: Mutex::new(None),
            wake: Arc::default(),
            recovered: tokio::sync::watch::Sender::new(0),
        }))
    }

    pub fn provider(&self) -> &Provider {
        &self.0.provider
    }

    /// The renewals that succeed after a failure, from now on.
    pub fn recoveries(&self) -> Recoveries {
        Recoveries(self.0.recovered.subscribe())
    }

    /// Usable credentials: the current ones while they have not expired; otherwise a renewal
    /// now (unless one failed within its backoff), else why there are none.
    pub async fn get(&self) -> Result<Arc<Credentials>, Unusable> {
        if let Some(current) = self.0.usable(SystemTime::now()) {
            return Ok(current);
        }
        self.0.renew(false).await;
        self.0
            .usable(SystemTime::now())
            .ok_or_else(|| self.0.unusable())
    }

    /// The gateway refused a call signed with the current credentials (`401`): temporary ones
    /// are renewed at once, at most every [`REFUSED_RENEWAL_GAP`]. Static keys cannot be.
    pub fn refused(&self) {
        if !self.0.provider.is_temporary() {
            return;
        }
        let mut state = self.0.lock();
        if state.current.is_some() && !state.refused {
            state.refused = true;
            drop(state);
            tracing::warn!(
                cloud = %self.0.account,
                source = self.0.provider.source_label(),
                "the service refused the credentials: renewing them"
            );
            self.0.wake.notify_one();
        }
    }

    pub fn status(&self) -> CredentialStatus {
        let inner = &self.0;
        let temporary = inner.provider.is_temporary();
        let state = inner.lock();
        let results =
            std::iter::once("success").chain(FetchFailure::ALL.iter().map(|f| f.as_str()));
        CredentialStatus {
            source: inner.provider.source_label(),
            description: inner.provider.describe(),
            temporary,
            expires_at: state
                .current
                .as_ref()
                .and_then(|c| c.expires_at)
                .filter(|_| temporary),
            refreshes: if temporary {
                results
                    .zip(&inner.refreshes)
                    .map(|(result, count)| (result, count.load(Ordering::Relaxed)))
                    .collect()
            } else {
                Vec::new()
            },
            last_error: state.last_error.as_ref().map(ToString::to_string),
        }
    }
}

impl Inner {
    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    fn usable(&self, now: SystemTime) -> Option<Arc<Credentials>> {
        let state = self.lock();
        let current = state.current.as_ref()?;
        match current.expires_at {
            Some(end) if now + EXPIRY_MARGIN >= end => None,
            _ => Some(Arc::clone(current)),
        }
    }

    /// When the current credentials should be renewed: `None` when there are none (renew now)
    /// or they never expire.
    fn renew_at(state: &State) -> Option<SystemTime> {
        let current = state.current.as_ref()?;
        let end = current.expires_at?;
        let obtained = state.obtained_at.unwrap_or(end);
        let lifetime = end.duration_since(obtained).unwrap_or_default();
        let before = RENEW_BEFORE.min(lifetime / 2).max(EXPIRY_MARGIN * 2);
        let mut at = end.checked_sub(before).unwrap_or(end);
        if state.refused {
            at = at.min(obtained + REFUSED_RENEWAL_GAP);
        }
        Some(at.max(obtained + MIN_RENEWAL_GAP))
    }

    /// How long the background task may sleep.
    fn next_wake(&self, now: SystemTime) -> Duration {
        let state = self.lock();
        let at = match (state.retry_at, state.current.is_some()) {
            (Some(retry), _) => Some(retry),
            (None, true) => Self::renew_at(&state),
            (None, false) => Some(now),
        };
        match at {
            Some(at) => at.duration_since(now).unwrap_or_default().min(MAX_SLEEP),
            None => MAX_SLEEP,
        }
    }

    fn unusable(&self) -> Unusable {
        let state = self.lock();
        let source = self.provider.source_label();
        let why = state
            .last_error
            .as_ref()
            .map_or_else(|| "not renewed yet".to_string(), ToString::to_string);
        match state.current.as_ref().and_then(|c| c.expires_at) {
            Some(end) => Unusable::Expired(format!(
                "the {source} credentials expired at {} and renewing them failed: {why}",
                humantime::format_rfc3339_seconds(end)
            )),
            None => Unusable::Unavailable(format!("no {source} credentials yet: {why}")),
        }
    }

    async fn renew(&self, force: bool) {
        if !self.provider.is_temporary() {
            return;
        }
        let _one_at_a_time = self.renewing.lock().await;
        let now = SystemTime::now();
        if !force {
            let state = self.lock();
            let due = Self::renew_at(&state).is_none_or(|at| now >= at);
            let waiting = state.retry_at.is_some_and(|at| now < at);
            // Someone else renewed while this call waited, or a failure's backoff is running.
            if !due || waiting {
                return;
            }
        }
        let result = self.fetcher.fetch(&self.provider).await;
        let now = SystemTime::now();
        match result {
            Ok(credentials) => self.renewed(credentials, now),
            Err(error) => self.failed(error, now),
        }
    }

    fn renewed(&self, credentials: Credentials, now: SystemTime) {
        self.refreshes[0].fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let what = if state.current.is_some() {
            "credentials renewed"
        } else {
            "credentials obtained"
        };
        tracing::info!(
            cloud = %self.account,
            source = self.provider.source_label(),
            expires_at = %credentials.expires_at.map(humantime::format_rfc3339_seconds).map(|t| t.to_string()).unwrap_or_default(),
            "{what}"
        );
        let recovery = state.failures_in_a_row > 0 || state.refused;
        state.current = Some(Arc::new(credentials));
        state.obtained_at = Some(now);
        state.failures_in_a_row = 0;
        state.retry_at = None;
        state.last_error = None;
        state.refused = false;
        state.logged = None;
        drop(state);
        if recovery {
            self.recovered.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn failed(&self, error: FetchError, now: SystemTime) {
        let index = FetchFailure::ALL
            .iter()
            .position(|f| *f == error.failure)
            .unwrap_or(0);
        self.refreshes[1 + index].fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let wait = retry_wait(state.failures_in_a_row);
        state.failures_in_a_row += 1;
        state.retry_at = Some(now + wait);
        let still_valid = state
            .current
            .as_ref()
            .and_then(|c| c.expires_at)
            .is_some_and(|end| now + EXPIRY_MARGIN < end);
        let (cloud, source) = (&self.account, self.provider.source_label());
        let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        // Said when it starts or changes; each retry's repeat only at debug level.
        let kind = Some((error.failure, still_valid));
        if state.logged == kind {
            tracing::debug!(cloud = %cloud, source, retry_in_ms, "renewing credentials failed again: {error}");
        } else if still_valid {
            tracing::warn!(cloud = %cloud, source, retry_in_ms, "renewing credentials failed, the current ones are still valid: {error}");
        } else {
            tracing::error!(cloud = %cloud, source, retry_in_ms, "renewing credentials failed and there are no valid ones: {error}");
        }
        state.logged = kind;
        state.last_error = Some(error);
    }
}

/// 1 s, 2 s, 4 s, ... up to [`MAX_RETRY_WAIT`], each between half and all of its ceiling.
fn retry_wait(failures_before: u32) -> Duration {
    let ceiling = Duration::from_secs(1)
        .saturating_mul(1u32.checked_shl(failures_before).unwrap_or(u32::MAX))
        .min(MAX_RETRY_WAIT);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

async fn renew_in_background(cell: Weak<Inner>, wake: Arc<tokio::sync::Notify>) {
    loop {
        let wait = match cell.upgrade() {
            Some(inner) => inner.next_wake(SystemTime::now()),
            None => return,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
        }
        let Some(inner) = cell.upgrade() else { return };
        inner.renew(false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(lifetime: Duration) -> State {
        let obtained = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut credentials = Credentials::new("a", "s").with_security_token("t");
        credentials.expires_at = Some(obtained + lifetime);
        State {
            current: Some(Arc::new(credentials)),
            obtained_at: Some(obtained),
            ..State::default()
        }
    }

    #[test]
    fn renewal_comes_before_the_smaller_of_ten_minutes_and_half_the_lifetime() {
        let at = |lifetime: Duration| {
            let s = state(lifetime);
            let end = s.current.as_ref().unwrap().expires_at.unwrap();
            end.duration_since(Inner::renew_at(&s).unwrap()).unwrap()
        };
        assert_eq!(at(Duration::from_secs(3600)), Duration::from_secs(600));
        assert_eq!(at(Duration::from_secs(900)), Duration::from_secs(450));
        assert_eq!(at(Duration::from_secs(60)), Duration::from_secs(30));
        // Never so late that the expiry margin is reached first.
        assert_eq!(at(Duration::from_secs(12)), Duration::from_secs(10));
    }

    #[test]
    fn retry_waits_double_up_to_a_minute() {
        for _ in 0..100 {
            let first = retry_wait(0);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&first));
            let third = retry_wait(2);
            assert!((Duration::from_secs(2)..=Duration::from_secs(4)).contains(&third));
            assert!(retry_wait(30) <= MAX_RETRY_WAIT);
        }
    }
}
