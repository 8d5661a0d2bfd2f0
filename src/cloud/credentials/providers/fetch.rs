//! Calling each provider as Huawei's SDKs do, with bounded answers and errors that name the
//! provider and the call, never a secret.

use std::time::{Duration, SystemTime};

use reqwest::Url;

use super::failure::{Call, FetchError, FetchFailure};
use super::{
    ASSUME_WITH_OIDC_PATH, AgencyDomain, AssumeAgency, FEDERATED_DURATION_SECONDS,
    ID_TOKEN_TOKENS_PATH, IdToken, METADATA_SECURITY_KEY_PATH, METADATA_TOKEN_PATH,
    NO_AGENCY_MESSAGE, Oidc, Provider, SECURITY_TOKENS_PATH,
};
use crate::cloud::credentials::{Credentials, Secret};
use crate::cloud::error::BuildError;
use crate::cloud::headers::{
    HEADER_IDP_ID, HEADER_METADATA_TOKEN, HEADER_METADATA_TOKEN_TTL, HEADER_SDK_DATE,
    HEADER_SECURITY_TOKEN, HEADER_SUBJECT_TOKEN, USER_AGENT,
};
use crate::cloud::signer::{self, SignableRequest};

/// The largest token file or provider answer read.
const MAX_TOKEN_BYTES: u64 = 64 << 10;
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Credentials count as expired this long before their end: a request signed now must still
/// be valid when the gateway reads it. An answer whose credentials end sooner is refused.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// The HTTP clients of one account's renewals: one without a proxy for the node-local
/// services (metadata, pod identity), one with the account's proxy for STS and IAM.
#[derive(Clone, Debug)]
pub struct Fetcher {
    local: reqwest::Client,
    remote: reqwest::Client,
}

impl Fetcher {
    pub fn new(proxy: Option<&str>) -> Result<Self, BuildError> {
        let base = || {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .redirect(reqwest::redirect::Policy::none())
        };
        let local = base().no_proxy().build().map_err(BuildError::Http)?;
        let remote = match proxy {
            Some(proxy) => base().proxy(reqwest::Proxy::all(proxy).map_err(BuildError::Proxy)?),
            None => base().no_proxy(),
        }
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(BuildError::Http)?;
        Ok(Self { local, remote })
    }

    /// New credentials from `provider`.
    pub async fn fetch(&self, provider: &Provider) -> Result<Credentials, FetchError> {
        match provider {
            Provider::Static { credentials, .. } => Ok(credentials.clone()),
            Provider::Metadata { endpoint } => self.metadata(endpoint).await,
            Provider::PodIdentity { uri, token_file } => self.pod_identity(uri, token_file).await,
            Provider::Oidc(oidc) => self.oidc(oidc).await,
            Provider::Federated {
                iam,
                idp_id,
                id_token_file,
            } => self.federated(iam, idp_id, id_token_file).await,
            Provider::Agency { base, iam, agency } => {
                let base = Box::pin(self.fetch(base)).await?;
                self.assume_agency(&base, iam, agency).await
            }
        }
    }

    async fn metadata(&self, endpoint: &Url) -> Result<Credentials, FetchError> {
        const WHAT: &str = "metadata service";
        let timeout = Duration::from_secs(3);
        let call = Call::new(WHAT, "token");
        let token_answer = self
            .local
            .put(join(endpoint, METADATA_TOKEN_PATH))
            .header(HEADER_METADATA_TOKEN_TTL, "21600")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| call.transport(&e))?;
        let token = match token_answer.status().as_u16() {
            200 => {
                let text = read_answer(&call, token_answer).await?;
                let token = String::from_utf8_lossy(&text).trim().to_string();
                (!token.is_empty()).then(|| Secret::new(token))
            }
            // An older metadata service, without tokens.
            404 | 405 | 503 => None,
            status => return Err(call.status(status, &[])),
        };
        let mut call = Call::new(WHAT, "securitykey");
        let mut request = self
            .local
            .get(join(endpoint, METADATA_SECURITY_KEY_PATH))
            .timeout(timeout);
        if let Some(token) = &token {
            request = request.header(HEADER_METADATA_TOKEN, token.expose());
            call = call.carrying(token);
        }
        let answer = request.send().await.map_err(|e| call.transport(&e))?;
        let status = answer.status().as_u16();
        let body = read_answer(&call, answer).await?;
        if status == 401 && String::from_utf8_lossy(&body).contains(NO_AGENCY_MESSAGE) {
            return Err(call.error(
                FetchFailure::NotConfigured,
                format_args!(
                    "no agency is attached to this server (\"{NO_AGENCY_MESSAGE}\"): attach one in the ECS console, or choose another credentials source"
                ),
            ));
        }
        if status >= 400 {
            return Err(call.status(status, &body));
        }
        parse(&call, &body, SystemTime::now())
    }

    async fn pod_identity(
        &self,
        uri: &Url,
        token_file: &std::path::Path,
    ) -> Result<Credentials, FetchError> {
        const WHAT: &str = "pod identity";
        let token = read_token_file(WHAT, token_file)?;
        let request = self
            .local
            .post(uri.clone())
            .header(http::header::AUTHORIZATION, token.expose())
            .json(&serde_json::json!({}))
            .timeout(Duration::from_secs(5));
        let call = Call::new(WHAT, "credentials").carrying(&token);
        credentials_from(&call, request).await
    }

    async fn oidc(&self, oidc: &Oidc) -> Result<Credentials, FetchError> {
        const WHAT: &str = "STS assume-with-oidc";
        let id_token = match &oidc.id_token {
            IdToken::Value(token) => token.clone(),
            IdToken::File(path) => read_token_file(WHAT, path)?,
        };
        let mut payload = serde_json::json!({
            "provider_urn": oidc.provider_urn,
            "agency_urn": oidc.agency_urn,
            "agency_session_name": oidc.session_name,
            "id_token": id_token.expose(),
            "duration_seconds": oidc.duration_seconds,
        });
        if let Some(policy) = &oidc.policy {
            payload["policy"] = serde_json::Value::String(policy.clone());
        }
        if !oidc.policy_ids.is_empty() {
            payload["policy_ids"] = serde_json::json!(oidc.policy_ids);
        }
        let request = self
            .remote
            .post(join(&oidc.sts, ASSUME_WITH_OIDC_PATH))
            .json(&payload)
            .timeout(Duration::from_secs(10));
        let call = Call::new(WHAT, "call").carrying(&id_token);
        credentials_from(&call, request).await
    }

    /// As Huawei's SDK does: the id token for an unscoped token, then that for temporary
    /// credentials.
    async fn federated(
        &self,
        iam: &Url,
        idp_id: &str,
        id_token_file: &std::path::Path,
    ) -> Result<Credentials, FetchError> {
        const WHAT: &str = "IAM id-token";
        let id_token = read_token_file(WHAT, id_token_file)?;
        let call = Call::new(WHAT, "token").carrying(&id_token);
        let answer = self
            .remote
            .post(join(iam, ID_TOKEN_TOKENS_PATH))
            .header(HEADER_IDP_ID, idp_id)
            .json(&serde_json::json!({"auth": {"id_token": {"id": id_token.expose()}}}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| call.transport(&e))?;
        let status = answer.status().as_u16();
        let subject = answer
            .headers()
            .get(HEADER_SUBJECT_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(|t| Secret::new(t.trim()));
        let body = read_answer(&call, answer).await?;
        if status >= 400 {
            return Err(call.status(status, &body));
        }
        let subject = subject.filter(|t| !t.expose().is_empty()).ok_or_else(|| {
            call.error(
                FetchFailure::Malformed,
                format_args!("token: the answer has no {HEADER_SUBJECT_TOKEN}"),
            )
        })?;
        let request = self
            .remote
            .post(join(iam, SECURITY_TOKENS_PATH))
            .json(&serde_json::json!({"auth": {"identity": {
                "methods": ["token"],
                "token": {"id": subject.expose(), "duration_seconds": FEDERATED_DURATION_SECONDS},
            }}}))
            .timeout(Duration::from_secs(10));
        let call = Call::new(WHAT, "securitytokens")
            .carrying(&id_token)
            .carrying(&subject);
        credentials_from(&call, request).await
    }

    async fn assume_agency(
        &self,
        base: &Credentials,
        iam: &Url,
        agency: &AssumeAgency,
    ) -> Result<Credentials, FetchError> {
        const WHAT: &str = "IAM securitytokens";
        let mut assume_role = serde_json::json!({
            "agency_name": agency.agency_name,
            "duration_seconds": agency.duration.as_secs(),
        });
        match &agency.domain {
            AgencyDomain::Name(name) => assume_role["domain_name"] = name.clone().into(),
            AgencyDomain::Id(id) => assume_role["domain_id"] = id.clone().into(),
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "auth": {"identity": {"methods": ["assume_role"], "assume_role": assume_role}}
        }))
        .expect("a JSON value serializes");
        let url = join(iam, SECURITY_TOKENS_PATH);
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), signer::host_header(&url)),
            (HEADER_SDK_DATE.into(), signer::sdk_date(SystemTime::now())),
            (
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            ),
        ];
        if let Some(token) = &base.security_token {
            headers.push((HEADER_SECURITY_TOKEN.into(), token.expose().to_string()));
        }
        let signature = signer::sign(
            &SignableRequest {
                method: "POST",
                path: url.path(),
                query: &[],
                headers: &headers,
                body: &body,
            },
            base.access_key.expose(),
            base.secret_key.expose(),
        );
        let mut request = self.remote.post(url.clone());
        for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
            request = request.header(name, value);
        }
        let request = request
            .header(http::header::AUTHORIZATION, signature.authorization)
            .body(body)
            .timeout(Duration::from_secs(10));
        let mut call = Call::new(WHAT, "call")
            .carrying(&base.access_key)
            .carrying(&base.secret_key);
        if let Some(token) = &base.security_token {
            call = call.carrying(token);
        }
        credentials_from(&call, request).await
    }
}

/// Sends a provider's call and reads credentials from its answer.
async fn credentials_from(
    call: &Call<'_>,
    request: reqwest::RequestBuilder,
) -> Result<Credentials, FetchError> {
    let answer = request.send().await.map_err(|e| call.transport(&e))?;
    let status = answer.status().as_u16();
    let body = read_answer(call, answer).await?;
    if status >= 400 {
        return Err(call.status(status, &body));
    }
    parse(call, &body, SystemTime::now())
}

/// `base` with `path` in place of its own.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query(None);
    url
}

async fn read_answer(
    call: &Call<'_>,
    mut answer: reqwest::Response,
) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| call.transport(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(call.error(
                FetchFailure::Malformed,
                format_args!("answer larger than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A token file's content, trimmed; read at every renewal since such files are rotated.
fn read_token_file(provider: &'static str, path: &std::path::Path) -> Result<Secret, FetchError> {
    let call = Call::new(provider, "token file");
    let not_configured = |message: String| call.error(FetchFailure::NotConfigured, message);
    let text = crate::files::read_bounded(path, MAX_TOKEN_BYTES)
        .map_err(|e| not_configured(format!("token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(not_configured(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(token))
}

/// Credentials from a provider's answer, in any of the shapes Huawei's SDK reads: under
/// `credential` or `credentials`, with Huawei's or STS's field names.
pub fn parse_credentials(
    provider: &'static str,
    body: &[u8],
    now: SystemTime,
) -> Result<Credentials, FetchError> {
    parse(&Call::new(provider, "answer"), body, now)
}

fn parse(call: &Call<'_>, body: &[u8], now: SystemTime) -> Result<Credentials, FetchError> {
    let malformed = |message: String| call.error(FetchFailure::Malformed, message);
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the answer is not JSON: {e}")))?;
    let object = value
        .get("credential")
        .or_else(|| value.get("credentials"))
        .unwrap_or(&value);
    if !object.is_object() {
        return Err(malformed("the answer has no credential object".into()));
    }
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| object.get(n).and_then(|v| v.as_str()))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| malformed(format!("the answer has no {}", names[0])))
    };
    let access = field(&["access", "accessKeyId", "access_key_id"])?;
    let secret = field(&["secret", "secretAccessKey", "secret_access_key"])?;
    let token = field(&["securitytoken", "securityToken", "security_token"])?;
    let expires = field(&["expires_at", "expiration"])?;
    let expires_at = humantime::parse_rfc3339_weak(expires)
        .map_err(|e| malformed(format!("expires_at is not a UTC time: {e}")))?;
    // Kept, such credentials would be renewed at once, forever, and never be used.
    if expires_at <= now + EXPIRY_MARGIN {
        let end = humantime::format_rfc3339_seconds(expires_at);
        let message = if expires_at <= now {
            format!("the credentials had expired already ({end})")
        } else {
            format!(
                "the credentials expire at {end}, within the {} s renewal margin: too short to use",
                EXPIRY_MARGIN.as_secs()
            )
        };
        return Err(call.error(FetchFailure::TooShort, message));
    }
    let mut credentials = Credentials::new(access, secret).with_security_token(token);
    credentials.expires_at = Some(expires_at);
    Ok(credentials)
}

#[cfg(test)]
mod tests;
