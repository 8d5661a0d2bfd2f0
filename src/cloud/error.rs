//! The one error type of the API client.

use std::fmt;

pub use super::operation::Operation;
use crate::reason::Reason;

/// An HTTP client (of the API or of a credential provider) that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid proxy URL: {0}")]
    Proxy(reqwest::Error),
    #[error("cannot build the HTTP client: {0}")]
    Http(reqwest::Error),
}

/// How a call failed; a closed set, so it can become a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    /// The service answered with an error status.
    Http,
    /// No answer: connection refused or reset, DNS, TLS.
    Transport,
    /// The caller's deadline or the request timeout passed.
    Timeout,
    /// The answer was larger than the body cap.
    BodyTooLarge,
    /// The answer was larger than its call's own byte budget.
    ReplyTooLarge,
    /// The answer could not be decoded as the expected JSON.
    Decode,
    /// The answers contradict each other (a stored list that keeps changing while it is paged,
    /// pages that deliver fewer sessions than announced, pages that never end).
    Inconsistent,
    /// The account's temporary credentials expired and could not be renewed yet: nothing was
    /// sent.
    CredentialsExpired,
    /// The account has not obtained credentials yet (its source failed): nothing was sent.
    CredentialsUnavailable,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A failed API call, with what the service said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub operation: Operation,
    pub kind: ErrorKind,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// The API error code (`DCS.4957`, `APIG.0308`, `DBSS.XXXX`), when the body had one.
    pub code: Option<String>,
    pub message: String,
    /// The request id the service gave (`X-Request-Id` header or `request_id` in the body).
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(operation: Operation, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
        }
    }

    pub fn is_throttled(&self) -> bool {
        self.status == Some(429) || self.code.as_deref() == Some("APIG.0308")
    }

    /// Worth another try: throttling and server-side failures.
    pub fn is_retryable(&self) -> bool {
        self.is_throttled() || matches!(self.status, Some(500..=599))
    }

    pub fn is_auth_failure(&self) -> bool {
        self.status == Some(401) || self.code.as_deref() == Some("APIG.0301")
    }

    /// The service refuses the call because the instance lacks the feature asked for. DCS has
    /// no documented code of its own for each feature (`DCS.4027`, `DCS.4838`-`4841`,
    /// `DCS.4848`, `DCS.4919` are some); what its refusals of that kind share is their
    /// message: "This operation is not supported on this node", "Do not support feature ...",
    /// "... is not supported". A refusal of the caller (401, 403, 429) never counts as one.
    pub fn is_not_supported(&self) -> bool {
        let refusal = matches!(self.status, Some(400 | 404 | 405 | 409 | 501));
        let message = self.message.to_ascii_lowercase();
        refusal
            && self.kind == ErrorKind::Http
            && (message.contains("not support") || message.contains("unsupported"))
    }

    /// A short, bounded description for metric labels: the API error code when it looks like
    /// one, otherwise a fixed word.
    pub fn reason(&self) -> Reason {
        match self.kind {
            ErrorKind::Http => {
                if let Some(code) = self.code.as_deref().filter(|c| looks_like_error_code(c)) {
                    return Reason::ApiCode(code.to_string());
                }
                match self.status {
                    Some(429) => Reason::Throttled,
                    Some(401) => Reason::Unauthorized,
                    Some(403) => Reason::Forbidden,
                    Some(404) => Reason::NotFound,
                    Some(500..=599) => Reason::Http5xx,
                    _ => Reason::Http4xx,
                }
            }
            ErrorKind::Transport => Reason::Transport,
            ErrorKind::Timeout => Reason::Timeout,
            ErrorKind::BodyTooLarge => Reason::BodyTooLarge,
            ErrorKind::ReplyTooLarge => Reason::ReplyTooLarge,
            ErrorKind::Decode => Reason::Decode,
            ErrorKind::Inconsistent => Reason::Inconsistent,
            ErrorKind::CredentialsExpired => Reason::CredentialsExpired,
            ErrorKind::CredentialsUnavailable => Reason::CredentialsUnavailable,
        }
    }
}

/// `SERVICE.CODE`: letters, then a dot, then letters and digits, short.
fn looks_like_error_code(code: &str) -> bool {
    let Some((prefix, rest)) = code.split_once('.') else {
        return false;
    };
    code.len() <= 24
        && !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_alphabetic())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.operation.service(), self.operation)?;
        match (self.status, self.code.as_deref()) {
            (Some(status), Some(code)) => write!(f, "HTTP {status} {code}: ")?,
            (Some(status), None) => write!(f, "HTTP {status}: ")?,
            (None, _) => write!(f, "{}: ", self.kind.as_str())?,
        }
        f.write_str(&self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The error bodies the services answer with.
///
/// DCS: `{"error_code", "error_msg", "error_ext_msg"}`; DBSS: `{"error": {"error_code",
/// "error_msg"}}`; the API gateway: `{"error_code": "APIG.xxxx", "error_msg", "request_id"}`;
/// some services: `{"code", "message"}`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Reads the code and message the way Huawei's SDKs do: `error_code`/`error_msg`, then
    /// `errorCode`/`errorMsg`, then `code`/`message`, then the same inside any nested object.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
            return Self::default();
        };
        let mut parsed = Self::from_object(&map, 0).unwrap_or_default();
        parsed.request_id = parsed.request_id.or_else(|| text(&map, "request_id"));
        parsed
    }

    fn from_object(map: &serde_json::Map<String, serde_json::Value>, depth: u8) -> Option<Self> {
        const PAIRS: [(&str, &str); 3] = [
            ("error_code", "error_msg"),
            ("errorCode", "errorMsg"),
            ("code", "message"),
        ];
        for (code_key, msg_key) in PAIRS {
            let (Some(code), Some(msg)) = (text(map, code_key), text(map, msg_key)) else {
                continue;
            };
            let message = match text(map, "error_ext_msg") {
                Some(ext) => format!("{msg} ({ext})"),
                None => msg,
            };
            return Some(Self {
                code: Some(code),
                message: Some(message),
                request_id: text(map, "request_id"),
            });
        }
        if depth >= 4 {
            return None;
        }
        map.values().find_map(|value| match value {
            serde_json::Value::Object(inner) => Self::from_object(inner, depth + 1),
            _ => None,
        })
    }
}

fn text(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    map.get(key).and_then(|v| match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_error_shapes() {
        let dcs = ErrorBody::parse(
            br#"{"error_code":"DCS.4957","error_msg":"busy","error_ext_msg":"ext"}"#,
        );
        assert_eq!(dcs.code.as_deref(), Some("DCS.4957"));
        assert_eq!(dcs.message.as_deref(), Some("busy (ext)"));
        let dbss = ErrorBody::parse(br#"{"error":{"error_code":"DBSS.0001","error_msg":"bad"}}"#);
        assert_eq!(dbss.code.as_deref(), Some("DBSS.0001"));
        assert_eq!(dbss.message.as_deref(), Some("bad"));
        let apig = ErrorBody::parse(
            br#"{"error_code":"APIG.0308","error_msg":"throttled","request_id":"r1"}"#,
        );
        assert_eq!(apig.request_id.as_deref(), Some("r1"));
        let other = ErrorBody::parse(br#"{"code":"X.1","message":"m"}"#);
        assert_eq!(
            (other.code.as_deref(), other.message.as_deref()),
            (Some("X.1"), Some("m"))
        );
        assert_eq!(ErrorBody::parse(b"<html>"), ErrorBody::default());
    }

    #[test]
    fn reasons_are_bounded() {
        let mut e = ApiError::new(Operation::ListClients, ErrorKind::Http, "m");
        e.status = Some(429);
        assert_eq!(e.reason().as_str(), "throttled");
        e.code = Some("APIG.0308".into());
        assert_eq!(e.reason().as_str(), "APIG.0308");
        e.code = Some("some free text from a proxy".into());
        assert_eq!(e.reason().as_str(), "throttled");
        let t = ApiError::new(Operation::ShowJob, ErrorKind::Timeout, "deadline");
        assert_eq!(t.reason().as_str(), "timeout");
    }

    #[test]
    fn a_refusal_for_a_missing_feature_is_told_by_its_message() {
        let refusal = |status, message: &str| {
            let mut e = ApiError::new(Operation::ListSlowlog, ErrorKind::Http, message);
            e.status = Some(status);
            e
        };
        for message in [
            "This instance does not support slow logs.",
            "This operation is not supported on this node.",
            "Do not support feature slowlog.",
            "Unsupported operation",
        ] {
            assert!(refusal(400, message).is_not_supported(), "{message}");
        }
        assert!(!refusal(400, "Invalid parameter start_time.").is_not_supported());
        assert!(!refusal(403, "Not supported for this user").is_not_supported());
        assert!(!refusal(500, "does not support").is_not_supported());
    }
}
