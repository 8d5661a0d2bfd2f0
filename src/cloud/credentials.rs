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
    #[error("no access key: set {0}")]
    MissingAccessKey(String),
    #[error("no secret key: set {0}")]
    MissingSecretKey(String),
}

/// Environment variables that hold one account's credentials, when not the standard ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvNames {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub security_token: Option<String>,
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

    /// From the standard environment variables.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_env_names(&EnvNames::default())
    }

    /// From the environment variables named, else the standard ones.
    pub fn from_env_names(names: &EnvNames) -> Result<Self, CredentialsError> {
        Self::from_lookup(names, |name| std::env::var(name).ok())
    }

    /// Reads credentials through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        names: &EnvNames,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let candidates = |custom: &Option<String>, standard: &[&'static str]| -> Vec<String> {
            match custom {
                Some(name) => vec![name.clone()],
                None => standard.iter().map(|s| s.to_string()).collect(),
            }
        };
        let first = |vars: &[String]| {
            vars.iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
        };
        let ak_vars = candidates(&names.access_key, &ACCESS_KEY_VARS);
        let sk_vars = candidates(&names.secret_key, &SECRET_KEY_VARS);
        let token_vars = candidates(&names.security_token, &SECURITY_TOKEN_VARS);
        let access_key = first(&ak_vars)
            .ok_or_else(|| CredentialsError::MissingAccessKey(ak_vars.join(" or ")))?;
        let secret_key = first(&sk_vars)
            .ok_or_else(|| CredentialsError::MissingSecretKey(sk_vars.join(" or ")))?;
        let mut creds = Self::new(access_key.trim(), secret_key.trim());
        creds.security_token = first(&token_vars).map(|t| Secret::new(t.trim()));
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
        let lookup = |n: &str| env.get(n).map(|v| v.to_string());
        let c = Credentials::from_lookup(&EnvNames::default(), lookup).unwrap();
        assert_eq!(c.access_key.expose(), "ak1");
        assert_eq!(c.secret_key.expose(), "sk2");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("tok"));
        let none = Credentials::from_lookup(&EnvNames::default(), |_| None).unwrap_err();
        assert_eq!(
            none.to_string(),
            "no access key: set CLOUD_SDK_AK or HUAWEICLOUD_SDK_AK"
        );
        let custom = EnvNames {
            access_key: Some("PROD_AK".into()),
            ..EnvNames::default()
        };
        let err = Credentials::from_lookup(&custom, lookup).unwrap_err();
        assert_eq!(err, CredentialsError::MissingAccessKey("PROD_AK".into()));
    }
}
