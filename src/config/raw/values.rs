//! Checks every section uses: a value that must be there, an environment variable's name.

use crate::config::{ConfigError, invalid};

/// The value, trimmed; an error naming `key` when it is missing or blank.
pub(super) fn required(value: Option<&str>, key: &str) -> Result<String, ConfigError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(invalid(key, "is required")),
    }
}

/// The name of a variable to read a secret from, when given: letters, digits and `_` only.
pub(super) fn env_name(value: Option<String>, key: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            Err(invalid(key, "must be an environment variable name"))
        }
        other => Ok(other),
    }
}
