//! Temporary credentials from Huawei's providers, called as Huawei's SDKs call them: the
//! metadata service of a node with an agency, CCE pod identity, an agency assumed with an OIDC
//! id token through STS, and another account's agency assumed through IAM.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reqwest::Url;

use super::{CredentialSource, Credentials, Secret};
use crate::cloud::headers::{
    HEADER_IDP_ID, HEADER_METADATA_TOKEN, HEADER_METADATA_TOKEN_TTL, HEADER_SDK_DATE,
    HEADER_SECURITY_TOKEN, HEADER_SUBJECT_TOKEN, USER_AGENT,
};
use crate::cloud::signer::{self, SignableRequest};

/// The metadata service's address on every ECS, BMS and CCE node.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
pub const METADATA_TOKEN_PATH: &str = "/meta-data/latest/api/token";
pub const METADATA_SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";
/// What the metadata service says when no agency is attached to the server.
pub const NO_AGENCY_MESSAGE: &str = "Please configure Cloud Service Agency first";
pub const ASSUME_WITH_OIDC_PATH: &str = "/v5/agencies/assume-with-oidc";
pub const SECURITY_TOKENS_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
/// IAM's exchange of a federated id token for an unscoped token (`X-Subject-Token`).
pub const ID_TOKEN_TOKENS_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
pub const IDP_ID_VAR: &str = "HUAWEICLOUD_SDK_IDP_ID";
pub const ID_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_SDK_ID_TOKEN_FILE";
/// What Huawei's SDK asks of IAM for federated credentials: six hours.
pub const FEDERATED_DURATION_SECONDS: u64 = 6 * 3600;

pub const POD_IDENTITY_URI_VAR: &str = "HC_CONTAINER_CREDENTIALS_FULL_URI";
pub const POD_IDENTITY_TOKEN_FILE_VAR: &str = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub const OIDC_PROVIDER_URN_VAR: &str = "HUAWEICLOUD_OIDC_PROVIDER_URN";
pub const OIDC_AGENCY_URN_VAR: &str = "HUAWEICLOUD_OIDC_AGENCY_URN";
pub const OIDC_ID_TOKEN_VAR: &str = "HUAWEICLOUD_OIDC_ID_TOKEN";
/// The id token's file, as Huawei's SDK names it.
pub const OIDC_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_OIDC_TOKEN_FILE";
/// The same, by the name Huawei's documentation also uses.
pub const OIDC_ID_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_OIDC_ID_TOKEN_FILE";
pub const OIDC_SESSION_NAME_VAR: &str = "HUAWEICLOUD_OIDC_SESSION_NAME";
pub const OIDC_DURATION_VAR: &str = "HUAWEICLOUD_OIDC_DURATION_SECONDS";
pub const OIDC_POLICY_VAR: &str = "HUAWEICLOUD_OIDC_POLICY";
pub const OIDC_POLICY_IDS_VAR: &str = "HUAWEICLOUD_OIDC_POLICY_IDS";
pub const STS_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_STS_ENDPOINT";
pub const IAM_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
/// The SDK's session name when none is set.
pub const DEFAULT_OIDC_SESSION_NAME: &str = "oidc-sts-session";
pub const DEFAULT_OIDC_DURATION_SECONDS: u64 = 3600;

/// The largest token file or provider answer read.
const MAX_TOKEN_BYTES: u64 = 64 << 10;
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Another account's agency to act as (`assume_agency = { ... }` in a `[[cloud]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeAgency {
    pub domain: AgencyDomain,
    pub agency_name: String,
    /// How long each set of the agency's credentials lasts (15 minutes to 24 hours).
    pub duration: Duration,
}

/// The account that owns the agency, by name or by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgencyDomain {
    Name(String),
    Id(String),
}

/// How an account obtains its credentials: once (static keys) or again and again (temporary).
#[derive(Clone, Debug, PartialEq)]
pub enum Provider {
    /// Keys read once from the environment or the SDK's credentials file.
    Static {
        source: CredentialSource,
        credentials: Credentials,
    },
    Metadata {
        endpoint: Url,
    },
    PodIdentity {
        uri: Url,
        token_file: PathBuf,
    },
    Oidc(Oidc),
    /// A federated id token exchanged through IAM (`HUAWEICLOUD_SDK_IDP_ID` and
    /// `HUAWEICLOUD_SDK_ID_TOKEN_FILE`, or the credentials file's `idp_id` and `id_token_file`).
    Federated {
        iam: Url,
        idp_id: String,
        id_token_file: PathBuf,
    },
    /// The base's credentials exchanged for an agency's.
    Agency {
        base: Box<Provider>,
        iam: Url,
        agency: AssumeAgency,
    },
}

/// Assuming an agency with an OIDC id token (CCE workload identity).
#[derive(Clone, Debug, PartialEq)]
pub struct Oidc {
    pub sts: Url,
    pub provider_urn: String,
    pub agency_urn: String,
    pub session_name: String,
    pub duration_seconds: u64,
    pub id_token: IdToken,
    pub policy: Option<String>,
    pub policy_ids: Vec<String>,
}

/// An OIDC id token: given, or read from its file at every renewal (projected tokens rotate).
#[derive(Clone, Debug, PartialEq)]
pub enum IdToken {
    Value(Secret),
    File(PathBuf),
}

impl Provider {
    /// The metric label of the source: `env`, `profile`, `metadata`, `pod_identity`, `oidc`,
    /// `federated` or `assume_agency`.
    pub fn source_label(&self) -> &'static str {
        match self {
            Provider::Static { source, .. } => source.as_str(),
            Provider::Metadata { .. } => CredentialSource::Metadata.as_str(),
            Provider::PodIdentity { .. } => CredentialSource::PodIdentity.as_str(),
            Provider::Oidc(_) => CredentialSource::Oidc.as_str(),
            Provider::Federated { .. } => "federated",
            Provider::Agency { .. } => "assume_agency",
        }
    }

    /// Whether the credentials expire and are renewed.
    pub fn is_temporary(&self) -> bool {
        !matches!(self, Provider::Static { .. })
    }

    /// Where the credentials come from, for the landing page and `check-config`: never a value.
    pub fn describe(&self) -> String {
        match self {
            Provider::Static {
                source,
                credentials,
            } => {
                let token = if credentials.security_token.is_some() {
                    " with a security token (not renewable)"
                } else {
                    ""
                };
                match source {
                    CredentialSource::Profile => {
                        format!("static keys from the credentials file{token}")
                    }
                    _ => format!("static keys from the environment{token}"),
                }
            }
            Provider::Metadata { endpoint } => {
                format!("the node's agency, from the metadata service {endpoint}")
            }
            Provider::PodIdentity { uri, token_file } => format!(
                "CCE pod identity at {uri} (token file {})",
                token_file.display()
            ),
            Provider::Oidc(oidc) => format!(
                "agency {} assumed with an OIDC id token through {} ({} s)",
                oidc.agency_urn, oidc.sts, oidc.duration_seconds
            ),
            Provider::Federated {
                iam,
                idp_id,
                id_token_file,
            } => format!(
                "a federated id token ({}) of identity provider {idp_id} exchanged through {iam}",
                id_token_file.display()
            ),
            Provider::Agency { base, iam, agency } => {
                let domain = match &agency.domain {
                    AgencyDomain::Name(name) => format!("domain {name}"),
                    AgencyDomain::Id(id) => format!("domain id {id}"),
                };
                format!(
                    "agency {} of {domain} assumed through {iam} ({}), with {}",
                    agency.agency_name,
                    humantime::format_duration(agency.duration),
                    base.describe()
                )
            }
        }
    }
}

/// Why a renewal failed; a closed set, used as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchFailure {
    /// No answer, a timeout or a 5xx: worth trying again soon.
    Unreachable,
    /// The provider refused (4xx).
    Refused,
    /// An answer without usable credentials (not JSON, a field missing, already expired).
    Malformed,
    /// Set-up missing: no agency attached, no token file.
    NotConfigured,
}

impl FetchFailure {
    pub const ALL: [FetchFailure; 4] = [
        FetchFailure::Unreachable,
        FetchFailure::Refused,
        FetchFailure::Malformed,
        FetchFailure::NotConfigured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FetchFailure::Unreachable => "unreachable",
            FetchFailure::Refused => "refused",
            FetchFailure::Malformed => "malformed",
            FetchFailure::NotConfigured => "not_configured",
        }
    }
}

/// A failed renewal: what was called and what went wrong, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct FetchError {
    pub failure: FetchFailure,
    pub provider: &'static str,
    pub message: String,
}

/// The HTTP clients of one account's renewals: one without a proxy for the node-local
/// services (metadata, pod identity), one with the account's proxy for STS and IAM.
#[derive(Clone, Debug)]
pub struct Fetcher {
    local: reqwest::Client,
    remote: reqwest::Client,
}

impl Fetcher {
    pub fn new(proxy: Option<&str>) -> Result<Self, String> {
        let base = || {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .redirect(reqwest::redirect::Policy::none())
        };
        let local = base()
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let remote = match proxy {
            Some(proxy) => base()
                .proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("invalid proxy URL: {e}"))?),
            None => base().no_proxy(),
        }
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
        let token_answer = self
            .local
            .put(join(endpoint, METADATA_TOKEN_PATH))
            .header(HEADER_METADATA_TOKEN_TTL, "21600")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport(WHAT, "token", &e))?;
        let token = match token_answer.status().as_u16() {
            200 => {
                let text = read_answer(WHAT, token_answer).await?;
                let token = String::from_utf8_lossy(&text).trim().to_string();
                (!token.is_empty()).then(|| Secret::new(token))
            }
            // An older metadata service, without tokens.
            404 | 405 | 503 => None,
            status => return Err(status_error(WHAT, "token", status, &[])),
        };
        let mut request = self
            .local
            .get(join(endpoint, METADATA_SECURITY_KEY_PATH))
            .timeout(timeout);
        if let Some(token) = &token {
            request = request.header(HEADER_METADATA_TOKEN, token.expose());
        }
        let answer = request
            .send()
            .await
            .map_err(|e| transport(WHAT, "securitykey", &e))?;
        let status = answer.status().as_u16();
        let body = read_answer(WHAT, answer).await?;
        if status == 401 && String::from_utf8_lossy(&body).contains(NO_AGENCY_MESSAGE) {
            return Err(FetchError {
                failure: FetchFailure::NotConfigured,
                provider: WHAT,
                message: format!(
                    "no agency is attached to this server (\"{NO_AGENCY_MESSAGE}\"): attach one in the ECS console, or choose another credentials source"
                ),
            });
        }
        if status >= 400 {
            return Err(status_error(WHAT, "securitykey", status, &body));
        }
        parse_credentials(WHAT, &body, SystemTime::now())
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
        credentials_from(WHAT, "credentials", request).await
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
        credentials_from(WHAT, "call", request).await
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
        let answer = self
            .remote
            .post(join(iam, ID_TOKEN_TOKENS_PATH))
            .header(HEADER_IDP_ID, idp_id)
            .json(&serde_json::json!({"auth": {"id_token": {"id": id_token.expose()}}}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| transport(WHAT, "token", &e))?;
        let status = answer.status().as_u16();
        let subject = answer
            .headers()
            .get(HEADER_SUBJECT_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(|t| Secret::new(t.trim()));
        let body = read_answer(WHAT, answer).await?;
        if status >= 400 {
            return Err(status_error(WHAT, "token", status, &body));
        }
        let subject = subject
            .filter(|t| !t.expose().is_empty())
            .ok_or(FetchError {
                failure: FetchFailure::Malformed,
                provider: WHAT,
                message: format!("token: the answer has no {HEADER_SUBJECT_TOKEN}"),
            })?;
        let request = self
            .remote
            .post(join(iam, SECURITY_TOKENS_PATH))
            .json(&serde_json::json!({"auth": {"identity": {
                "methods": ["token"],
                "token": {"id": subject.expose(), "duration_seconds": FEDERATED_DURATION_SECONDS},
            }}}))
            .timeout(Duration::from_secs(10));
        credentials_from(WHAT, "securitytokens", request).await
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
        credentials_from(WHAT, "call", request).await
    }
}

/// Sends a provider's call and reads credentials from its answer.
async fn credentials_from(
    provider: &'static str,
    call: &str,
    request: reqwest::RequestBuilder,
) -> Result<Credentials, FetchError> {
    let answer = request
        .send()
        .await
        .map_err(|e| transport(provider, call, &e))?;
    let status = answer.status().as_u16();
    let body = read_answer(provider, answer).await?;
    if status >= 400 {
        return Err(status_error(provider, call, status, &body));
    }
    parse_credentials(provider, &body, SystemTime::now())
}

/// `base` with `path` in place of its own.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query(None);
    url
}

fn transport(provider: &'static str, call: &str, e: &reqwest::Error) -> FetchError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = format!("{call}: {what}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    FetchError {
        failure: FetchFailure::Unreachable,
        provider,
        message,
    }
}

/// An error status, with the service's error code and message when its body has them (never
/// the body itself: it could repeat what was sent).
fn status_error(provider: &'static str, call: &str, status: u16, body: &[u8]) -> FetchError {
    let parsed = crate::cloud::error::ErrorBody::parse(body);
    let mut message = format!("{call}: HTTP {status}");
    if let Some(code) = parsed.code {
        message.push_str(&format!(" {}", bounded(&code, 40)));
    }
    if let Some(text) = parsed.message {
        message.push_str(&format!(": {}", bounded(&text, 200)));
    }
    FetchError {
        failure: if status >= 500 || status == 429 {
            FetchFailure::Unreachable
        } else {
            FetchFailure::Refused
        },
        provider,
        message,
    }
}

fn bounded(text: &str, chars: usize) -> String {
    text.chars()
        .take(chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

async fn read_answer(
    provider: &'static str,
    mut answer: reqwest::Response,
) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| transport(provider, "answer", &e))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(FetchError {
                failure: FetchFailure::Malformed,
                provider,
                message: format!("answer larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A token file's content, trimmed; read at every renewal since such files are rotated.
fn read_token_file(provider: &'static str, path: &std::path::Path) -> Result<Secret, FetchError> {
    let not_configured = |message: String| FetchError {
        failure: FetchFailure::NotConfigured,
        provider,
        message,
    };
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
    let malformed = |message: String| FetchError {
        failure: FetchFailure::Malformed,
        provider,
        message,
    };
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
    if expires_at <= now {
        return Err(malformed(format!(
            "the credentials had expired already ({})",
            humantime::format_rfc3339_seconds(expires_at)
        )));
    }
    let mut credentials = Credentials::new(access, secret).with_security_token(token);
    credentials.expires_at = Some(expires_at);
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_every_shape_the_sdk_reads() {
        let now = humantime::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        let metadata = br#"{"credential":{"access":"AK1","secret":"SK1","securitytoken":"T1","expires_at":"2026-12-01T12:00:00.000000Z"}}"#;
        let c = parse_credentials("m", metadata, now).unwrap();
        assert_eq!(c.access_key.expose(), "AK1");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("T1"));
        assert_eq!(
            c.expires_at,
            Some(humantime::parse_rfc3339("2026-12-01T12:00:00Z").unwrap())
        );
        let sts = br#"{"credentials":{"access_key_id":"AK2","secret_access_key":"SK2","security_token":"T2","expiration":"2026-12-01T11:00:00Z"}}"#;
        assert_eq!(
            parse_credentials("s", sts, now)
                .unwrap()
                .secret_key
                .expose(),
            "SK2"
        );
        let cases: [(&[u8], &str); 5] = [
            (b"<html>", "not JSON"),
            (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T"}}"#, "no expires_at"),
            (br#"{"credential":{"access":"A","securitytoken":"T","expires_at":"2026-12-01T12:00:00Z"}}"#, "no secret"),
            (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-12-01T09:00:00Z"}}"#, "expired already"),
            (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"soon"}}"#, "not a UTC time"),
        ];
        for (body, expected) in cases {
            let e = parse_credentials("m", body, now).unwrap_err();
            assert_eq!(e.failure, FetchFailure::Malformed);
            assert!(e.message.contains(expected), "{e} lacks {expected:?}");
            assert!(!e.to_string().contains("SK"), "{e}");
        }
    }

    #[test]
    fn paths_join_onto_an_endpoint_with_or_without_a_path() {
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            join(&url, METADATA_TOKEN_PATH).as_str(),
            "http://127.0.0.1:9/meta-data/latest/api/token"
        );
        let url = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            join(&url, SECURITY_TOKENS_PATH).as_str(),
            "http://127.0.0.1:9/prefix/v3.0/OS-CREDENTIAL/securitytokens"
        );
    }
}
