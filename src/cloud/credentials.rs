//! AK/SK credentials, read from the environment, never printed.

use std::fmt;

/// A value that must not reach logs, metrics, error messages or panics: its `Debug` and
/// `Display` print a fixed placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the few places that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Access key, secret key and, for temporary credentials, a security token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: Secret,
    pub secret_key: Secret,
    pub security_token: Option<Secret>,
}

/// Environment variables read, first match wins: the names the API pages' examples use, then
/// the names Huawei's SDKs read.
pub const ACCESS_KEY_VARS: [&str; 2] = ["CLOUD_SDK_AK", "HUAWEICLOUD_SDK_AK"];
pub const SECRET_KEY_VARS: [&str; 2] = ["CLOUD_SDK_SK", "HUAWEICLOUD_SDK_SK"];
pub const SECURITY_TOKEN_VARS: [&str; 2] =
    ["CLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_SECURITY_TOKEN"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("no access key: set CLOUD_SDK_AK (or HUAWEICLOUD_SDK_AK)")]
    MissingAccessKey,
    #[error("no secret key: set CLOUD_SDK_SK (or HUAWEICLOUD_SDK_SK)")]
    MissingSecretKey,
}

impl Credentials {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: Secret::new(access_key),
            secret_key: Secret::new(secret_key),
            security_token: None,
        }
    }

    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(Secret::new(token));
        self
    }

    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads credentials through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
        };
        let access_key = first(&ACCESS_KEY_VARS).ok_or(CredentialsError::MissingAccessKey)?;
        let secret_key = first(&SECRET_KEY_VARS).ok_or(CredentialsError::MissingSecretKey)?;
        let mut creds = Self::new(access_key.trim(), secret_key.trim());
        creds.security_token = first(&SECURITY_TOKEN_VARS).map(Secret::new);
        Ok(creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn debug_is_redacted() {
        let c = Credentials::new("AKVISIBLE", "SKVISIBLE").with_security_token("TOKVISIBLE");
        let shown = format!("{c:?} {} {}", c.access_key, c.secret_key);
        assert!(!shown.contains("VISIBLE"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn env_names_in_order() {
        let env: HashMap<&str, &str> = [
            ("HUAWEICLOUD_SDK_AK", "ak2"),
            ("CLOUD_SDK_AK", "ak1"),
            ("HUAWEICLOUD_SDK_SK", "sk2"),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "tok"),
        ]
        .into();
        let c = Credentials::from_lookup(|n| env.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(c.access_key.expose(), "ak1");
        assert_eq!(c.secret_key.expose(), "sk2");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("tok"));
        let none = Credentials::from_lookup(|_| None);
        assert_eq!(none, Err(CredentialsError::MissingAccessKey));
    }
}
