//! Why a collection failed, as the `reason` label says it: a closed set of words, or an error
//! code the cloud API or a Redis server answered with (checked for shape, so short and
//! bounded in form). Every layer that fails says its reason with this type, so no one matches
//! reasons as text.

use std::fmt;

/// The upstream error codes one target (a node, an instance, a cloud, a DBSS resource) keeps
/// apart in a family's `reason` label: the first this many it meets. Later codes count as
/// [`Reason::Other`], so an upstream that answers a new code each time adds no series.
pub const MAX_CODES_PER_TARGET: usize = 20;

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
    /// The scan job ended `FAIL`, or the newest key analysis of its kind ended `failed`.
    JobFailed,
    /// A key analysis has been waiting or running for longer than any finishes in.
    TaskStuck,
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
    // The exporter's refusals to start a key analysis (`key_analysis_trigger`, `keys --run`).
    /// One of the instance's analyses of that kind is waiting or running.
    TaskInProgress,
    /// A single-node instance, where an analysis costs its only node throughput
    /// (`key_analysis_on_single_node` allows it).
    SingleNode,
    /// Hot keys need an LFU `maxmemory-policy`, and the instance has another.
    NotLfu,
    /// The instance's `maxmemory-policy` could not be read.
    PolicyUnknown,
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

    /// An error code an upstream chose, rather than one of the exporter's words.
    pub fn is_code(&self) -> bool {
        matches!(self, Reason::ApiCode(_) | Reason::RedisCode(_))
    }

    /// This reason as a target counts it beside the reasons it `counted` already: itself,
    /// unless it is a code new to the target when the target already keeps
    /// [`MAX_CODES_PER_TARGET`] codes apart; then [`Reason::Other`].
    pub fn bounded<'a>(self, counted: impl IntoIterator<Item = &'a Reason>) -> Reason {
        let labels = counted.into_iter().map(Reason::as_str);
        match self.is_code() && !keeps_another_code(self.as_str(), labels) {
            true => Reason::Other,
            false => self,
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

/// Whether a `reason` label value is an upstream's error code (`DCS.4957`, `APIG.0308`,
/// `NOAUTH`): the exporter's own words are lower-case snake_case, codes carry a dot or capitals.
pub fn is_code_label(label: &str) -> bool {
    label.bytes().any(|b| b == b'.' || b.is_ascii_uppercase())
}

/// A `reason` label value as a target counts it beside the labels it `counted` already: as
/// [`Reason::bounded`], for families that keep their reasons as text.
pub fn bounded_label<'a>(label: &'a str, counted: impl IntoIterator<Item = &'a str>) -> &'a str {
    match is_code_label(label) && !keeps_another_code(label, counted) {
        true => (&Reason::Other).into(),
        false => label,
    }
}

/// Whether `code` may have a label of its own beside the `counted` labels: it has one already,
/// or fewer than [`MAX_CODES_PER_TARGET`] codes do.
fn keeps_another_code<'a>(code: &str, counted: impl IntoIterator<Item = &'a str>) -> bool {
    let mut codes = std::collections::HashSet::new();
    for label in counted {
        if label == code {
            return true;
        }
        if is_code_label(label) {
            codes.insert(label);
        }
    }
    codes.len() < MAX_CODES_PER_TARGET
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

    #[test]
    fn codes_past_the_bound_fold_into_other() {
        let code = |n: usize| Reason::ApiCode(format!("DCS.{n:04}"));
        let mut counted = vec![Reason::Timeout, Reason::Http5xx];
        for n in 0..MAX_CODES_PER_TARGET {
            let kept = code(n).bounded(&counted);
            assert_eq!(kept, code(n));
            counted.push(kept);
        }
        assert_eq!(code(99).bounded(&counted), Reason::Other);
        assert_eq!(
            Reason::RedisCode("LOADING".into()).bounded(&counted),
            Reason::Other
        );
        // Codes kept before stay; words are never folded.
        assert_eq!(code(3).bounded(&counted), code(3));
        assert_eq!(Reason::Decode.bounded(&counted), Reason::Decode);
        let labels: Vec<String> = counted.iter().map(|r| r.to_string()).collect();
        let labels = || labels.iter().map(String::as_str);
        assert_eq!(bounded_label("DCS.9999", labels()), "other");
        assert_eq!(bounded_label("DCS.0003", labels()), "DCS.0003");
        assert_eq!(bounded_label("invalid_value", labels()), "invalid_value");
        for word in [
            Reason::Http4xx,
            Reason::CredentialsUnavailable,
            Reason::ReplyTooLarge,
            Reason::NotSupported,
            Reason::InvalidValue,
            Reason::TaskInProgress,
            Reason::SingleNode,
            Reason::NotLfu,
            Reason::PolicyUnknown,
            Reason::Other,
        ] {
            assert!(!is_code_label(word.as_str()), "{word}");
        }
        assert!(is_code_label("NOAUTH") && is_code_label("APIG.0308"));
    }
}
