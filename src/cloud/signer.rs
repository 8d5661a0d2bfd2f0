//! AK/SK request signing, algorithm `SDK-HMAC-SHA256`, as Huawei Cloud's official SDKs sign.
//!
//! Everything here is a pure function of its inputs (the clock is a parameter), so the client signs
//! with it and the simulator verifies with the very same canonicalisation.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::headers::{HEADER_CONTENT_SHA256, HEADER_SDK_DATE};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded with
/// upper-case hex, as Python's `quote(s, safe='~')` does in the SDK.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parts of an HTTP request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The resource path as given by the caller (not yet percent-encoded) or as received on the
    /// wire (already encoded): both canonicalise the same, because it is decoded first.
    pub path: &'a str,
    /// Query pairs, unencoded, in any order.
    pub query: &'a [(String, String)],
    /// Every header to sign, `Host` and `X-Sdk-Date` included; names in any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The headers a signed request must carry, besides those it was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signed_headers: String,
    pub signature: String,
    pub authorization: String,
    /// Headers the signer added and signed, to be sent with the request.
    pub added_headers: Vec<(String, String)>,
}

/// Percent-encodes one path segment, query key or query value.
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Each segment of the decoded path encoded on its own, always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded
        .split('/')
        .map(url_encode)
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Pairs sorted by key, then value (both unencoded, as the SDK sorts them), each encoded.
pub fn canonical_query_string(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Header names that are signed: lower-cased, sorted, deduplicated; names with `_` are left out.
pub fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(name, _)| !name.contains('_'))
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    // The last value wins, as in the SDK's header dictionary.
    headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The canonical request over the given signed header names.
pub fn canonical_request(req: &SignableRequest<'_>, signed_names: &[String]) -> String {
    let mut canonical_headers = String::new();
    for name in signed_names {
        let value = header_value(req.headers, name).unwrap_or("");
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value.trim());
        canonical_headers.push('\n');
    }
    // As the SDK: an empty body always hashes; otherwise a content-hash header is taken as is.
    let payload_hash = match header_value(req.headers, HEADER_CONTENT_SHA256) {
        Some(v) if !req.body.is_empty() => v.trim().to_string(),
        _ => hex::encode(Sha256::digest(req.body)),
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query_string(req.query),
        canonical_headers,
        signed_names.join(";"),
        payload_hash
    )
}

pub fn string_to_sign(canonical_request: &str, sdk_date: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

pub fn hmac_hex(secret_key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes keys of any size");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a request whose headers already hold `Host` and `X-Sdk-Date` (see [`sdk_date`]).
///
/// A body that is neither JSON nor BSON is not hashed: the signer then adds
/// `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, which the caller must send too
/// ([`Signature::added_headers`]).
pub fn sign(req: &SignableRequest<'_>, access_key: &str, secret_key: &str) -> Signature {
    let mut added_headers = Vec::new();
    let unsigned_payload = header_value(req.headers, "content-type").is_some_and(|ct| {
        !ct.starts_with("application/json") && !ct.starts_with("application/bson")
    });
    if unsigned_payload && header_value(req.headers, HEADER_CONTENT_SHA256).is_none() {
        added_headers.push((
            HEADER_CONTENT_SHA256.to_string(),
            UNSIGNED_PAYLOAD.to_string(),
        ));
    }
    let headers: Vec<(String, String)>;
    let req = if added_headers.is_empty() {
        *req
    } else {
        headers = req.headers.iter().chain(&added_headers).cloned().collect();
        SignableRequest {
            headers: &headers,
            ..*req
        }
    };
    let names = signed_header_names(req.headers);
    let date = header_value(req.headers, HEADER_SDK_DATE).unwrap_or("");
    let canonical = canonical_request(&req, &names);
    let string_to_sign = string_to_sign(&canonical, date);
    let signature = hmac_hex(secret_key.as_bytes(), &string_to_sign);
    let signed_headers = names.join(";");
    let authorization = format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    Signature {
        canonical_request: canonical,
        string_to_sign,
        signed_headers,
        signature,
        authorization,
        added_headers,
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn sdk_date(at: SystemTime) -> String {
    // humantime gives "YYYY-MM-DDTHH:MM:SSZ"; drop the separators.
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_sdk_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    if !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &value[0..4],
        &value[4..6],
        &value[6..8],
        &value[9..11],
        &value[11..13],
        &value[13..15]
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// The parts of an `Authorization: SDK-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader<'a> {
    pub access_key: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

pub fn parse_authorization(value: &str) -> Option<AuthorizationHeader<'_>> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        match key {
            "Access" => access = Some(val),
            "SignedHeaders" => signed = Some(val),
            "Signature" => signature = Some(val),
            _ => return None,
        }
    }
    Some(AuthorizationHeader {
        access_key: access?,
        signed_headers: signed?.split(';').filter(|s| !s.is_empty()).collect(),
        signature: signature?,
    })
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the Authorization header is missing or malformed")]
    MalformedAuthorization,
    #[error("the X-Sdk-Date header is missing or malformed")]
    MalformedDate,
    #[error("the request time differs from the server time by more than the allowed skew")]
    ClockSkew,
    #[error("the access key is not known")]
    UnknownAccessKey,
    #[error("a signed header is not present in the request")]
    MissingSignedHeader,
    #[error("the signature does not match")]
    SignatureMismatch,
}

/// The `Host` header a request to `url` carries (and signs): the host, and the port when the URL
/// names one.
pub fn host_header(url: &url::Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    }
}

/// Verifies a received request as the API gateway does: the header names listed in
/// `SignedHeaders` are canonicalised from the request as received.
pub fn verify(
    req: &SignableRequest<'_>,
    authorization: &str,
    access_key: &str,
    secret_key: &str,
    now: SystemTime,
    max_skew: Duration,
) -> Result<(), VerifyError> {
    let auth = parse_authorization(authorization).ok_or(VerifyError::MalformedAuthorization)?;
    let date_value =
        header_value(req.headers, HEADER_SDK_DATE).ok_or(VerifyError::MalformedDate)?;
    let date = parse_sdk_date(date_value).ok_or(VerifyError::MalformedDate)?;
    let skew = now
        .duration_since(date)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > max_skew {
        return Err(VerifyError::ClockSkew);
    }
    if auth.access_key != access_key {
        return Err(VerifyError::UnknownAccessKey);
    }
    let names: Vec<String> = auth
        .signed_headers
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    if names.iter().any(|n| header_value(req.headers, n).is_none()) {
        return Err(VerifyError::MissingSignedHeader);
    }
    let expected = hmac_hex(
        secret_key.as_bytes(),
        &string_to_sign(&canonical_request(req, &names), date_value),
    );
    if super::credentials::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_date_round_trips() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(sdk_date(t), "20231114T221320Z");
        assert_eq!(parse_sdk_date("20231114T221320Z"), Some(t));
        assert_eq!(parse_sdk_date("2026-11-18T00:00:00Z"), None);
    }

    #[test]
    fn authorization_parses() {
        let a = parse_authorization(
            "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access_key, "AK1");
        assert_eq!(a.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(a.signature, "abc");
        assert!(parse_authorization("Bearer x").is_none());
    }
}
