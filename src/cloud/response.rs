//! What comes back from a call: the body read within its cap, an error answer made into an
//! [`ApiError`] whose upstream text is bounded and cleaned, the JSON decoded, and transport
//! failures described.

use super::body::Body;
use super::error::{ApiError, ErrorBody, ErrorKind, Operation};
use crate::upstream_text::clean;

/// The most bytes of an answer kept in memory: `cap`, or the call's own smaller `budget`. An
/// answer past the cap fails with [`ErrorKind::BodyTooLarge`], one past the budget with
/// [`ErrorKind::ReplyTooLarge`]; neither is read further.
pub(crate) async fn read_capped(
    op: Operation,
    response: &mut reqwest::Response,
    cap: usize,
    budget: Option<usize>,
) -> Result<Body, ApiError> {
    let (limit, kind) = match budget {
        Some(budget) if budget < cap => (budget, ErrorKind::ReplyTooLarge),
        _ => (cap, ErrorKind::BodyTooLarge),
    };
    let too_large = || ApiError::new(op, kind, format!("answer larger than {limit} bytes"));
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    // Sized once from the announced length (within the limit): a page of sessions is several
    // hundred KiB.
    let sized = announced
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0);
    let mut body = Body::with_capacity(sized);
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| transport_error(op, &e))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error answer as an [`ApiError`]. Its code, message and request id are the service's
/// words, of any length and content: each is cut, its control characters replaced and every
/// one of `secrets` (what the request carried) taken out, before it can reach a log line,
/// `/readyz` or the landing page.
pub(crate) fn error_answer(
    op: Operation,
    status: u16,
    body: &[u8],
    request_id: Option<String>,
    secrets: &[&str],
) -> ApiError {
    let parsed = ErrorBody::parse(body);
    let message = match parsed.message {
        Some(message) => clean(&message, secrets),
        None => {
            let text = String::from_utf8_lossy(body);
            match text.trim() {
                "" => "no error body".to_string(),
                text => clean(text, secrets),
            }
        }
    };
    let cleaned = |text: Option<String>| text.map(|t| clean(&t, secrets));
    ApiError {
        operation: op,
        kind: ErrorKind::Http,
        status: Some(status),
        code: cleaned(parsed.code),
        message,
        request_id: cleaned(request_id.or(parsed.request_id)),
    }
}

/// An answer's JSON body as `T`, which may borrow from it. The decoder's complaint can quote
/// the answer (a string where an object belongs): it is bounded like any upstream text.
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(
    op: Operation,
    body: &'a [u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            op,
            ErrorKind::Decode,
            format!("undecodable answer: {}", clean(&e.to_string(), &[])),
        )
    })
}

/// A request or an answer that did not get through: timed out, or failed on the way.
pub(crate) fn transport_error(op: Operation, e: &reqwest::Error) -> ApiError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    ApiError::new(op, kind, describe_transport_error(e))
}

/// The cause chain of a transport error, without the URL (which is ours and already known).
fn describe_transport_error(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    if e.is_connect() {
        text.push_str("connection failed");
    } else if e.is_body() || e.is_decode() {
        text.push_str("answer interrupted");
    } else {
        text.push_str("request failed");
    }
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_is_bounded_cleaned_and_redacted() {
        let long = format!(
            "refused\n\u{1b}[31m key AKSECRETKEY1 {}",
            "x".repeat(2 << 20)
        );
        let body = serde_json::json!({
            "error_code": format!("DCS.{}", "9".repeat(5000)),
            "error_msg": long,
            "request_id": "r\n1",
        })
        .to_string();
        let e = error_answer(
            Operation::ShowInstance,
            400,
            body.as_bytes(),
            None,
            &["AKSECRETKEY1"],
        );
        assert!(e.message.chars().count() <= 201, "{}", e.message.len());
        assert!(e.message.starts_with("refused  [31m key [redacted] x"));
        assert!(!e.message.contains(['\n', '\u{1b}']));
        assert!(e.code.as_deref().unwrap().chars().count() <= 201);
        // A cut code is no code: the reason is the status's.
        assert_eq!(e.reason().as_str(), "http_4xx");
        assert_eq!(e.request_id.as_deref(), Some("r 1"));
        assert!(e.to_string().len() < 1_500, "{}", e.to_string().len());

        let raw = error_answer(Operation::ShowInstance, 502, b"<html>\n\0bad", None, &[]);
        assert_eq!(raw.message, "<html>  bad");
        let empty = error_answer(Operation::ShowInstance, 502, b"  ", None, &[]);
        assert_eq!(empty.message, "no error body");
    }

    #[test]
    fn a_decoders_complaint_is_bounded() {
        let body = serde_json::to_vec(&"y".repeat(1 << 20)).unwrap();
        let e = decode::<std::collections::BTreeMap<String, u8>>(Operation::ShowInstance, &body)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Decode);
        assert!(e.message.len() < 1_000, "{}", e.message.len());
    }
}
