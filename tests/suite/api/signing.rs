//! Signing, byte for byte as Huawei's SDK signs, and the simulator's verification.

use super::*;

#[derive(Deserialize)]
struct VectorFile {
    sdk: serde_json::Value,
    ak: String,
    sk: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    sdk_date: String,
    canonical_request: String,
    string_to_sign: String,
    signed_headers: String,
    signature: String,
    authorization: String,
}

fn vectors() -> VectorFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signing_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vector_headers(v: &Vector) -> Vec<(String, String)> {
    let mut headers = v.headers.clone();
    headers.push(("Host".into(), v.host.clone()));
    headers.push(("X-Sdk-Date".into(), v.sdk_date.clone()));
    headers
}

#[test]
fn signatures_match_the_official_sdk_vectors() {
    let file = vectors();
    assert!(file.vectors.len() >= 20, "{}", file.sdk);
    for v in &file.vectors {
        let headers = vector_headers(v);
        let req = SignableRequest {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        let s = signer::sign(&req, &file.ak, &file.sk);
        assert_eq!(s.canonical_request, v.canonical_request, "{}", v.name);
        assert_eq!(s.string_to_sign, v.string_to_sign, "{}", v.name);
        assert_eq!(s.signed_headers, v.signed_headers, "{}", v.name);
        assert_eq!(s.signature, v.signature, "{}", v.name);
        assert_eq!(s.authorization, v.authorization, "{}", v.name);
    }
}

#[test]
fn verification_accepts_sdk_signatures_and_rejects_tampering() {
    let file = vectors();
    for v in &file.vectors {
        // What the server receives: the signed headers plus any the signer added.
        let mut headers = vector_headers(v);
        if v.signed_headers.contains("x-sdk-content-sha256") {
            headers.push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()));
        }
        let now = signer::parse_sdk_date(&v.sdk_date).unwrap() + Duration::from_secs(60);
        let skew = Duration::from_secs(900);
        let req = SignableRequest {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        signer::verify(&req, &v.authorization, &file.ak, &file.sk, now, skew)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        // Header order and name case do not matter.
        let mut shuffled: Vec<(String, String)> = headers
            .iter()
            .rev()
            .map(|(n, val)| (n.to_ascii_uppercase(), val.clone()))
            .collect();
        shuffled.rotate_left(1);
        let req2 = SignableRequest {
            headers: &shuffled,
            ..req
        };
        assert!(signer::verify(&req2, &v.authorization, &file.ak, &file.sk, now, skew).is_ok());
        // A different query value is caught.
        let mut query = v.query.clone();
        query.push(("extra".into(), "1".into()));
        let req3 = SignableRequest {
            query: &query,
            ..req
        };
        assert_eq!(
            signer::verify(&req3, &v.authorization, &file.ak, &file.sk, now, skew),
            Err(signer::VerifyError::SignatureMismatch),
            "{}",
            v.name
        );
        assert_eq!(
            signer::verify(&req, &v.authorization, &file.ak, "other", now, skew),
            Err(signer::VerifyError::SignatureMismatch)
        );
        let late = now + Duration::from_secs(3600);
        assert_eq!(
            signer::verify(&req, &v.authorization, &file.ak, &file.sk, late, skew),
            Err(signer::VerifyError::ClockSkew)
        );
    }
}
