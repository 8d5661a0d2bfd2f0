//! How a renewal fails: a closed kind for the metric, and a message that names the provider
//! and the call. A [`FetchError`] is made only through the [`Call`] that failed, which knows
//! what its request carried: the message is cleaned of those secrets (and cut, and its control
//! characters replaced) whatever the service echoed back, so a provider cannot forget to.

use std::fmt::Display;

use crate::cloud::credentials::Secret;
use crate::upstream_text;

/// Why a renewal failed; a closed set, used as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum FetchFailure {
    /// No answer, a timeout or a 5xx: worth trying again soon.
    Unreachable,
    /// The provider refused (4xx).
    Refused,
    /// An answer without usable credentials (not JSON, a field missing).
    Malformed,
    /// Set-up missing: no agency attached, no token file.
    NotConfigured,
    /// Credentials that expire within the renewal margin, or had expired already: no call
    /// could be signed with them.
    TooShort,
}

impl FetchFailure {
    /// Every one, in the order they are declared (and exposed).
    pub const ALL: &'static [FetchFailure] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A failed renewal: what was called and what went wrong, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct FetchError {
    pub failure: FetchFailure,
    pub provider: &'static str,
    /// Cleaned by [`Call::error`]; private, so that no error is made without it.
    message: String,
}

impl FetchError {
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Parts of a dotted token (a JWT's header, payload and signature) at least this long are
/// secrets of their own: a service may echo one part only.
const MIN_SECRET_PART_CHARS: usize = 16;

/// One call to a provider: the provider, the call's name as errors show it, and every secret
/// its request carried.
pub(super) struct Call<'a> {
    provider: &'static str,
    name: &'static str,
    secrets: Vec<&'a str>,
}

impl<'a> Call<'a> {
    pub fn new(provider: &'static str, name: &'static str) -> Self {
        Self {
            provider,
            name,
            secrets: Vec::new(),
        }
    }

    /// The request carries `secret` (a token, a key): it, and each long part of it between
    /// dots, are taken out of any error text.
    pub fn carrying(mut self, secret: &'a Secret) -> Self {
        let value = secret.expose().trim();
        self.secrets.push(value);
        if value.contains('.') {
            self.secrets.extend(
                value
                    .split('.')
                    .filter(|part| part.chars().count() >= MIN_SECRET_PART_CHARS),
            );
        }
        self
    }

    /// An error of this call, its message cleaned of the request's secrets.
    pub fn error(&self, failure: FetchFailure, message: impl Display) -> FetchError {
        FetchError {
            failure,
            provider: self.provider,
            message: upstream_text::clean(&message.to_string(), &self.secrets),
        }
    }

    /// No answer: the transport's error, with its causes.
    pub fn transport(&self, e: &reqwest::Error) -> FetchError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let mut message = format!("{}: {what}", self.name);
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        self.error(FetchFailure::Unreachable, message)
    }

    /// An error status, with the service's error code and message when its body has them
    /// (never the body itself).
    pub fn status(&self, status: u16, body: &[u8]) -> FetchError {
        let parsed = crate::cloud::error::ErrorBody::parse(body);
        let mut message = format!("{}: HTTP {status}", self.name);
        if let Some(code) = parsed.code {
            let code: String = code.chars().take(40).collect();
            message.push_str(&format!(" {code}"));
        }
        if let Some(text) = parsed.message {
            message.push_str(": ");
            // Enough to hold the whole shown message; the rest would be cut anyway.
            message.extend(text.chars().take(upstream_text::MAX_UPSTREAM_CHARS * 4));
        }
        let failure = if status >= 500 || status == 429 {
            FetchFailure::Unreachable
        } else {
            FetchFailure::Refused
        };
        self.error(failure, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_request_carried_never_comes_back() {
        let jwt = Secret::new(
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlc2lnbmF0dXJl",
        );
        let key = Secret::new("AKSECRETVALUE0001");
        let call = Call::new("STS assume-with-oidc", "call")
            .carrying(&jwt)
            .carrying(&key);
        let (_, payload) = jwt.expose().split_once('.').unwrap();
        let (payload, signature) = payload.split_once('.').unwrap();
        let body = serde_json::json!({
            "error_code": "STS.0001",
            "error_msg": format!(
                "bad token {}\npayload {payload}\r\nsig {signature} key {}\u{1b}[31m{}",
                jwt.expose(),
                key.expose(),
                "x".repeat(100_000)
            ),
        })
        .to_string();
        let e = call.status(400, body.as_bytes());
        assert_eq!(e.failure, FetchFailure::Refused);
        let shown = e.to_string();
        for secret in [jwt.expose(), payload, signature, key.expose()] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.starts_with("STS assume-with-oidc: call: HTTP 400 STS.0001: bad token [redacted] payload [redacted]"), "{shown}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(e.message().chars().count() <= upstream_text::MAX_UPSTREAM_CHARS + 1);
        // A token echoed as the error code is taken out too.
        let echoed = format!(r#"{{"error_code":"{}","error_msg":"no"}}"#, key.expose());
        assert!(
            !call
                .status(403, echoed.as_bytes())
                .to_string()
                .contains(key.expose())
        );
        // Short parts of a dotted token (`v1`) are no secret of their own.
        let dotted = Secret::new("v1.0123456789abcdef0123");
        let call = Call::new("p", "c").carrying(&dotted);
        assert_eq!(
            call.error(
                FetchFailure::Refused,
                "v1 0123456789abcdef0123 v1.0123456789abcdef0123"
            )
            .message(),
            "v1 [redacted] [redacted]"
        );
    }
}
