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
    use FetchFailure::{Malformed, TooShort};
    let cases: [(&[u8], FetchFailure, &str); 7] = [
        (b"<html>", Malformed, "not JSON"),
        (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T"}}"#, Malformed, "no expires_at"),
        (br#"{"credential":{"access":"A","securitytoken":"T","expires_at":"2026-12-01T12:00:00Z"}}"#, Malformed, "no secret"),
        (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"soon"}}"#, Malformed, "not a UTC time"),
        (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-12-01T09:00:00Z"}}"#, TooShort, "expired already"),
        (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-12-01T10:00:00Z"}}"#, TooShort, "expired already"),
        (br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-12-01T10:00:05Z"}}"#, TooShort, "within the 5 s renewal margin"),
    ];
    for (body, failure, expected) in cases {
        let e = parse_credentials("m", body, now).unwrap_err();
        assert_eq!(e.failure, failure, "{e}");
        assert!(e.message().contains(expected), "{e} lacks {expected:?}");
        assert!(!e.to_string().contains("SK"), "{e}");
    }
    // Six seconds are enough to sign a call.
    let six = br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-12-01T10:00:06Z"}}"#;
    assert!(parse_credentials("m", six, now).is_ok());
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
