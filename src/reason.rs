//! Why a collection failed, as the `reason` label says it: a closed set of words, or an error
//! code the cloud API or a Redis server answered with (checked for shape, so short and
//! bounded in form). Every layer that fails says its reason with this type, so no one matches
//! reasons as text.

use std::fmt;

/// A failure's reason.
#[derive(Clone, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    // The API client's: the ways a call fails without an error code.
    /// The caller's deadline or the request timeout passed (the API or a Redis server).
    Timeout,
    /// No answer: connection refused or reset, DNS, TLS.
    Transport,
    /// The answer was larger than the body cap.
    BodyTooLarge,
    /// The answer could not be decoded.
    Decode,
    /// Answers that contradict each other.
    Inconsistent,
    /// The account's temporary credentials expired and could not be renewed yet.
    CredentialsExpired,
    /// The account has not obtained credentials yet.
    CredentialsUnavailable,
    /// HTTP 429 without an error code.
    Throttled,
    /// HTTP 401 without an error code.
    Unauthorized,
    /// HTTP 403 without an error code.
    Forbidden,
    /// HTTP 404 without an error code.
    NotFound,
    /// Another 5xx without an error code.
    #[strum(serialize = "http_5xx")]
    Http5xx,
    /// Another 4xx without an error code.
    #[strum(serialize = "http_4xx")]
    Http4xx,
    // The Redis client's.
    /// The server refused the connection.
    ConnectionRefused,
    /// The connection failed or broke.
    Connection,
    /// The server refused the login.
    Auth,
    /// The server answered what its protocol does not.
    Protocol,
    /// Any other Redis error without a code.
    RedisError,
    // The exporter's own.
    /// The scan job ended `FAIL`.
    JobFailed,
    /// The stored list is older than `stale_after`.
    StaleList,
    /// A Redis target's password cannot be read.
    Password,
    /// A number on the wire out of its range, not finite, or no number at all.
    InvalidValue,
    /// A read passed its byte budget: what it read was dropped.
    ReplyTooLarge,
    /// Credentials whose lifetime is shorter than the renewal margin.
    TooShort,
    /// The service says the instance does not support what was asked.
    NotSupported,
    /// An upstream error code past the bound of codes a target keeps apart.
    Other,
    /// An error code the cloud API answered (`DCS.4957`, `APIG.0308`).
    ApiCode(String),
    /// An error code a Redis server answered (`NOAUTH`, `WRONGPASS`, `LOADING`).
    RedisCode(String),
}

impl Reason {
    /// The label value.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::ApiCode(code) | Reason::RedisCode(code) => code,
            word => word.into(),
        }
    }

    /// A Redis server's refusal of the login (a missing or wrong password).
    pub fn is_login(&self) -> bool {
        match self {
            Reason::Auth => true,
            Reason::RedisCode(code) => matches!(code.as_str(), "NOAUTH" | "WRONGPASS"),
            _ => false,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// By label value, so that the exposition lists reasons in their text's order.
impl Ord for Reason {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Reason {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert_eq!(Reason::Http5xx.as_str(), "http_5xx");
        assert_eq!(Reason::CredentialsExpired.as_str(), "credentials_expired");
        assert_eq!(Reason::ApiCode("DCS.4957".into()).as_str(), "DCS.4957");
        assert!(Reason::RedisCode("WRONGPASS".into()).is_login());
        assert!(!Reason::RedisCode("LOADING".into()).is_login());
        let mut sorted = [
            Reason::Timeout,
            Reason::ApiCode("APIG.0308".into()),
            Reason::Decode,
        ];
        sorted.sort();
        assert_eq!(
            sorted.map(|r| r.to_string()),
            ["APIG.0308", "decode", "timeout"]
        );
    }
}
