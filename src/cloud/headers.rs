//! The HTTP header names of Huawei Cloud's APIs and credential services, and the exporter's
//! user agent: one place, for the client, the credential providers, the signer and the simulator.

pub const USER_AGENT: &str = concat!("dcs-session-exporter/", env!("CARGO_PKG_VERSION"));
pub const HEADER_SDK_DATE: &str = "X-Sdk-Date";
pub const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";
pub const HEADER_PROJECT_ID: &str = "X-Project-Id";
pub const HEADER_SECURITY_TOKEN: &str = "X-Security-Token";
pub const HEADER_REQUEST_ID: &str = "X-Request-Id";
pub const HEADER_METADATA_TOKEN: &str = "X-Metadata-Token";
pub const HEADER_METADATA_TOKEN_TTL: &str = "X-Metadata-Token-Ttl-Seconds";
pub const HEADER_IDP_ID: &str = "X-Idp-Id";
pub const HEADER_SUBJECT_TOKEN: &str = "X-Subject-Token";
