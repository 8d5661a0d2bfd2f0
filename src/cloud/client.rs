//! The signed HTTP transport under every typed call: signing, retries with backoff and full
//! jitter, deadlines, body caps, error decoding.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::RngExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::body::Body;
use super::credentials::refresh::Unusable;
use super::credentials::{CredentialCell, Credentials, Provider};
use super::endpoints::Endpoints;
use super::error::{ApiError, BuildError, ErrorKind, Operation};
use super::headers::{
    HEADER_PROJECT_ID, HEADER_REQUEST_ID, HEADER_SDK_DATE, HEADER_SECURITY_TOKEN, USER_AGENT,
};
use super::ratelimit::RateLimiter;
pub(crate) use super::response::decode;
use super::response::{error_answer, read_capped, transport_error};
use super::signer::{self, SignableRequest};
use crate::upstream_text::clean;

/// Retries of throttled (429) and failed (5xx) calls: exponential backoff with full jitter,
/// never past the caller's deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The backoff ceiling before the first retry; it doubles each retry.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Huawei suggests backing off 2 to 5 seconds when throttled: with full jitter a 2 s base
        // gives a mean first wait of 1 s and a mean third wait of 4 s.
        Self {
            max_retries: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// A uniformly random wait in `[0, min(max_delay, base_delay * 2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Notified of every HTTP exchange, for request metrics.
pub trait RequestObserver: Send + Sync {
    /// `outcome` is the HTTP status code, or the error kind when there was no answer.
    fn observe(&self, operation: Operation, outcome: &str, elapsed: Duration);
}

#[derive(Clone)]
pub struct ClientOptions {
    pub user_agent: String,
    /// The limit of one HTTP exchange; the caller's deadline may cut it shorter.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Larger answers fail with [`ErrorKind::BodyTooLarge`]; a page of 1,000 sessions is well
    /// under 1 MiB.
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    /// An HTTP(S) proxy for every call.
    pub proxy: Option<String>,
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Shared by every call of one account.
    pub rate_limiter: Option<Arc<RateLimiter>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            user_agent: USER_AGENT.to_string(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 16 << 20,
            retry: RetryPolicy::default(),
            proxy: None,
            observer: None,
            rate_limiter: None,
        }
    }
}

/// A client of one account in one project: DCS and DBSS calls, signed.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    credentials: CredentialCell,
    project_id: String,
    endpoints: Arc<Endpoints>,
    options: Arc<ClientOptions>,
    /// How long this account's jobs have taken lately, shared by every clone.
    pub(crate) job_timing: Arc<super::job_timing::JobTiming>,
    /// The service's clock, from its answers, shared by every clone.
    clock: Arc<super::clock::ServiceClock>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("project_id", &self.project_id)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// One API call, before signing.
pub(crate) struct Call {
    pub operation: Operation,
    pub method: Method,
    /// Path segments, unencoded; each is percent-encoded on its own.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The most bytes this call's answer may hold, when less than the client's body cap.
    pub budget: Option<usize>,
}

impl Call {
    /// A call of `operation` at its path, whose `{...}` parameters are `params` in order (the
    /// project's id first).
    pub fn of(operation: Operation, params: &[&str]) -> Self {
        let (method, template) = operation.route();
        Self::at(operation, method, template, params)
    }

    /// A call of `operation` at another path template (a deprecated one).
    pub fn at(operation: Operation, method: Method, template: &str, params: &[&str]) -> Self {
        let mut params = params.iter();
        let segments = template
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.starts_with('{') {
                true => params.next().expect("a value for each path parameter"),
                false => s,
            })
            .collect::<Vec<_>>();
        assert!(params.next().is_none(), "more values than path parameters");
        Self::new(operation, method, &segments)
    }

    pub fn new(operation: Operation, method: Method, segments: &[&str]) -> Self {
        Self {
            operation,
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            budget: None,
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// Answers larger than `bytes` fail with [`ErrorKind::ReplyTooLarge`], unread.
    pub fn budget(mut self, bytes: usize) -> Self {
        self.budget = Some(bytes);
        self
    }

    pub fn json_body(mut self, body: &impl serde::Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("request bodies serialize"));
        self
    }

    fn encoded_path(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("/{}", signer::url_encode(s)))
            .collect()
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Body,
}

impl ApiClient {
    /// A client with static keys.
    pub fn new(
        credentials: Credentials,
        project_id: impl Into<String>,
        endpoints: Endpoints,
        options: ClientOptions,
    ) -> Result<Self, BuildError> {
        let project_id = project_id.into();
        let cell = CredentialCell::fixed(
            &project_id,
            Provider::Static {
                source: super::credentials::CredentialSource::Env,
                credentials,
            },
        );
        Self::with_credentials(cell, project_id, endpoints, options)
    }

    /// A client whose credentials come from `credentials`, renewed there when they expire.
    pub fn with_credentials(
        credentials: CredentialCell,
        project_id: impl Into<String>,
        endpoints: Endpoints,
        options: ClientOptions,
    ) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            // Redirects would be followed unsigned; the API never redirects.
            .redirect(reqwest::redirect::Policy::none());
        builder = match &options.proxy {
            Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy).map_err(BuildError::Proxy)?),
            None => builder.no_proxy(),
        };
        Ok(Self {
            http: builder.build().map_err(BuildError::Http)?,
            credentials,
            project_id: project_id.into(),
            endpoints: Arc::new(endpoints),
            options: Arc::new(options),
            job_timing: Arc::default(),
            clock: Arc::default(),
        })
    }

    /// The service's clock, as its latest answer told it.
    pub fn service_clock(&self) -> &super::clock::ServiceClock {
        &self.clock
    }

    /// The account's credentials.
    pub fn credentials(&self) -> &CredentialCell {
        &self.credentials
    }

    /// The account's request rate in force (its ceiling, halved by throttling and won back).
    pub fn rate_in_force(&self) -> Option<f64> {
        self.options.rate_limiter.as_ref().map(|l| l.per_second())
    }

    /// Whether both are clones of one client: one rate limiter, one throttling state.
    pub fn shares_state_with(&self, other: &ApiClient) -> bool {
        Arc::ptr_eq(&self.options, &other.options)
    }

    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Sends a call, retrying throttled and failed attempts, and decodes the JSON answer.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<T, ApiError> {
        let answer = self.call(call, deadline).await?;
        decode(call.operation, &answer.body)
    }

    /// Sends a call, retrying throttled and failed attempts.
    pub(crate) async fn call(&self, call: &Call, deadline: Instant) -> Result<Answer, ApiError> {
        let mut retry = 0;
        loop {
            let error = match self.attempt(call, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            // Reads are safe to try again after a failure or a refused connection. Writes only
            // after an answer that says they were not carried out (throttled): a 5xx from the
            // gateway may come after the service accepted a kill.
            let retryable = if call.method == Method::GET {
                error.is_retryable() || error.kind == ErrorKind::Transport
            } else {
                error.is_throttled()
            };
            if !retryable || retry >= self.options.retry.max_retries {
                return Err(error);
            }
            let wait = self.options.retry.backoff(retry);
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::debug!(
                operation = %call.operation,
                retry = retry + 1,
                wait_ms = wait.as_millis() as u64,
                reason = %error.reason(),
                "retrying API call"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    async fn attempt(&self, call: &Call, deadline: Instant) -> Result<Answer, ApiError> {
        // Before the rate limiter: a call that cannot be signed takes no turn.
        let credentials = self.credentials.get().await.map_err(|e| match e {
            Unusable::Expired(message) => {
                ApiError::new(call.operation, ErrorKind::CredentialsExpired, message)
            }
            Unusable::Unavailable(message) => {
                ApiError::new(call.operation, ErrorKind::CredentialsUnavailable, message)
            }
        })?;
        if let Some(limiter) = &self.options.rate_limiter
            && !limiter.acquire(deadline).await
        {
            return Err(ApiError::new(
                call.operation,
                ErrorKind::Timeout,
                "the account's request rate leaves no turn before the deadline",
            ));
        }
        let started = Instant::now();
        let limit = deadline.min(started + self.options.request_timeout);
        let result = match tokio::time::timeout_at(limit, self.exchange(call, &credentials)).await {
            Ok(result) => result,
            Err(_) => Err(ApiError::new(
                call.operation,
                ErrorKind::Timeout,
                format!(
                    "no complete answer within {} ms",
                    limit.saturating_duration_since(started).as_millis()
                ),
            )),
        };
        if let Err(e) = &result
            && e.is_auth_failure()
        {
            self.credentials.refused();
        }
        if let Some(limiter) = &self.options.rate_limiter {
            match &result {
                Err(e) if e.is_throttled() => limiter.throttled(),
                Ok(_) => limiter.answered(),
                Err(_) => {}
            }
        }
        if let Some(observer) = &self.options.observer {
            let outcome = match &result {
                Ok(answer) => answer.status.to_string(),
                Err(e) => e
                    .status
                    .map_or_else(|| e.kind.as_str().to_string(), |s| s.to_string()),
            };
            observer.observe(call.operation, &outcome, started.elapsed());
        }
        result
    }

    async fn exchange(&self, call: &Call, credentials: &Credentials) -> Result<Answer, ApiError> {
        let op = call.operation;
        let base = self.endpoints.get(op.service());
        let mut url = base.clone();
        let path = format!(
            "{}{}",
            base.path().trim_end_matches('/'),
            call.encoded_path()
        );
        url.set_path(&path);
        let query = call
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", signer::url_encode(k), signer::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        url.set_query((!query.is_empty()).then_some(query.as_str()));

        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), signer::host_header(&url)),
            (HEADER_SDK_DATE.into(), signer::sdk_date(SystemTime::now())),
            (HEADER_PROJECT_ID.into(), self.project_id.clone()),
        ];
        if call.body.is_some() {
            headers.push((
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            ));
        }
        if let Some(token) = &credentials.security_token {
            headers.push((HEADER_SECURITY_TOKEN.into(), token.expose().to_string()));
        }
        let body = call.body.as_deref().unwrap_or_default();
        let signature = signer::sign(
            &SignableRequest {
                method: call.method.as_str(),
                path: &path,
                query: &call.query,
                headers: &headers,
                body,
            },
            credentials.access_key.expose(),
            credentials.secret_key.expose(),
        );

        let mut request = self.http.request(call.method.clone(), url);
        // reqwest derives Host from the URL, identically.
        for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
            request = request.header(name, value);
        }
        request = request.header("Authorization", signature.authorization);
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }

        let mut response = request.send().await.map_err(|e| transport_error(op, &e))?;
        let status = response.status().as_u16();
        if let Some(date) = response
            .headers()
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
        {
            self.clock.observe(date, SystemTime::now());
        }
        let request_id = response
            .headers()
            .get(HEADER_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(op, &mut response, self.options.max_body_bytes, call.budget)
            .await
            .map_err(|mut e| {
                e.status = Some(status);
                e.request_id = request_id.as_deref().map(|id| clean(id, &[]));
                e
            })?;
        if (200..300).contains(&status) {
            return Ok(Answer { status, body });
        }
        // What the request carried that an error answer might echo (the signature's key id,
        // the security token); the secret key itself is never sent.
        let token = credentials.security_token.as_ref().map(|t| t.expose());
        let sent = [Some(credentials.access_key.expose()), token];
        let secrets: Vec<&str> = sent.into_iter().flatten().collect();
        Err(error_answer(op, status, &body, request_id, &secrets))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_call_fills_its_operations_path_in_order() {
        let call = Call::of(Operation::ListSlowlog, &["p1", "i 1"]);
        assert_eq!(call.method, Method::GET);
        assert_eq!(call.segments, ["v2", "p1", "instances", "i 1", "slowlog"]);
        assert_eq!(call.encoded_path(), "/v2/p1/instances/i%201/slowlog");
        for operation in Operation::ALL {
            let (_, path) = operation.route();
            let params = path.matches('{').count();
            let values: Vec<&str> = (0..params).map(|_| "x").collect();
            assert_eq!(
                Call::of(*operation, &values).segments.len(),
                path.matches('/').count()
            );
        }
    }

    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..200 {
            assert!(policy.backoff(0) <= Duration::from_millis(100));
            assert!(policy.backoff(1) <= Duration::from_millis(200));
            assert!(policy.backoff(5) <= Duration::from_millis(350));
            assert!(policy.backoff(40) <= Duration::from_millis(350));
        }
        // Full jitter: the waits are spread, not fixed.
        let waits: std::collections::HashSet<_> = (0..50).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 10);
    }

    #[test]
    fn path_segments_are_encoded() {
        let call = Call::new(Operation::ListClients, Method::GET, &["v2", "p 1", "会"]);
        assert_eq!(call.encoded_path(), "/v2/p%201/%E4%BC%9A");
    }
}
