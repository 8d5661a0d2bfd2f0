//! What an upstream said (an API's `error_msg`, a credential service's refusal, a Redis
//! server's error), made fit for a log line, `/readyz`, the landing page or a label: cut to a
//! bounded length, control characters replaced, and every secret the request carried taken
//! out, whatever the upstream echoes back.

/// The most characters of upstream text kept; the rest is replaced by `…`.
pub const MAX_UPSTREAM_CHARS: usize = 200;

/// The mark a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: a one-letter "secret" would redact every
/// such letter of the text and hide the message, and is no secret to hide.
const MIN_SECRET_CHARS: usize = 4;

/// `text` with each of `secrets` replaced by [`REDACTED`], control characters (newlines,
/// escapes, NUL, ...) replaced by a space, and cut to [`MAX_UPSTREAM_CHARS`] characters.
/// Secrets are taken out before the cut, so that a secret the cut would split cannot leave
/// its first half behind.
pub fn clean(text: &str, secrets: &[&str]) -> String {
    let mut redacted = std::borrow::Cow::Borrowed(text);
    for secret in secrets {
        let secret = secret.trim();
        if secret.chars().count() >= MIN_SECRET_CHARS && redacted.contains(secret) {
            redacted = std::borrow::Cow::Owned(redacted.replace(secret, REDACTED));
        }
    }
    let mut out = String::with_capacity(redacted.len().min(MAX_UPSTREAM_CHARS * 4 + 3));
    for (n, c) in redacted.chars().enumerate() {
        if n == MAX_UPSTREAM_CHARS {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_cleans_and_redacts() {
        assert_eq!(clean("busy", &[]), "busy");
        assert_eq!(clean("a\nb\u{1b}[31mc\0", &[]), "a b [31mc ");
        let long = "é".repeat(5000);
        let cut = clean(&long, &[]);
        assert_eq!(cut.chars().count(), MAX_UPSTREAM_CHARS + 1);
        assert!(cut.ends_with('…'));
        let token = "eyJhbGciOiJSUzI1NiJ9.payload.signature";
        let echoed = format!("invalid token {token}; token was {token}");
        let cleaned = clean(&echoed, &[token, "x"]);
        assert!(!cleaned.contains("payload"), "{cleaned}");
        assert_eq!(cleaned, "invalid token [redacted]; token was [redacted]");
        // A secret past the cut is taken out before the cut, not half kept.
        let far = format!("{}{token}", "-".repeat(MAX_UPSTREAM_CHARS - 5));
        assert!(!clean(&far, &[token]).contains("eyJhb"));
    }
}
