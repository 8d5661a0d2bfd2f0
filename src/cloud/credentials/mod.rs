//! AK/SK credentials, never printed: static ones from the environment or the SDK's
//! credentials file ([`Credentials`]), temporary ones from Huawei's providers ([`providers`]),
//! kept renewed per account ([`refresh`]).

pub mod providers;
pub mod refresh;

use std::fmt;
use std::time::SystemTime;

pub use providers::{AgencyDomain, AssumeAgency, Provider};
pub use refresh::{CredentialCell, CredentialStatus, Recoveries};

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

/// Whether two secrets (or signatures) are equal, in time that does not depend on where they
/// differ: the one comparison of secrets in the project.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
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

/// Access key, secret key and, for temporary credentials, a security token and when they
/// expire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: Secret,
    pub secret_key: Secret,
    pub security_token: Option<Secret>,
    /// When the service stops taking them; `None` for keys that do not expire (or whose end is
    /// not known, like a token given in the environment).
    pub expires_at: Option<SystemTime>,
}

/// Environment variables read, first match wins: the names the API pages' examples use, then
/// the names Huawei's SDKs read.
pub const ACCESS_KEY_VARS: [&str; 2] = ["CLOUD_SDK_AK", "HUAWEICLOUD_SDK_AK"];
pub const SECRET_KEY_VARS: [&str; 2] = ["CLOUD_SDK_SK", "HUAWEICLOUD_SDK_SK"];
pub const SECURITY_TOKEN_VARS: [&str; 2] =
    ["CLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_SECURITY_TOKEN"];

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("no access key: set {0}")]
    MissingAccessKey(String),
    #[error("no secret key: set {0}")]
    MissingSecretKey(String),
    /// The SDK's credentials file is missing or lacks a key (never its values).
    #[error("credentials file {path}: {problem}")]
    Profile { path: String, problem: String },
    /// A provider's settings (variables, token files) are missing or wrong.
    #[error("{source_name} credentials: {problem}")]
    Provider {
        source_name: &'static str,
        problem: String,
    },
}

/// Where an account's credentials come from (`credentials = "..."` in a `[[cloud]]`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum CredentialSource {
    /// The environment, else the SDK's credentials file when it exists, else pod identity or
    /// OIDC when their variables are set; never the metadata service.
    #[default]
    Auto,
    /// The environment only.
    Env,
    /// The SDK's credentials file only.
    Profile,
    /// The metadata service of an ECS, BMS or CCE node with an agency attached.
    Metadata,
    /// CCE pod identity.
    PodIdentity,
    /// An agency assumed with an OIDC id token through STS.
    Oidc,
}

impl CredentialSource {
    /// Every name, as `credentials = "..."` takes it.
    pub const NAMES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

/// The variable that names the SDK's credentials file.
pub const CREDENTIALS_FILE_VAR: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";

/// The SDK's credentials file: `$HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else
/// `~/.huaweicloud/credentials`.
pub fn default_profile_path() -> Option<std::path::PathBuf> {
    default_profile_path_in(|name| std::env::var(name).ok())
}

/// [`default_profile_path`], with the variables read through `lookup`.
pub fn default_profile_path_in(
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<std::path::PathBuf> {
    if let Some(path) = lookup(CREDENTIALS_FILE_VAR).filter(|p| !p.is_empty()) {
        return Some(path.into());
    }
    let home = lookup("HOME").filter(|h| !h.is_empty())?;
    Some(std::path::Path::new(&home).join(".huaweicloud/credentials"))
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
            expires_at: None,
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

    /// Reads credentials through `lookup` (the environment, or a map in tests). AK, SK and
    /// token are read as one set: from the variables named, or from one family of standard
    /// names (`CLOUD_SDK_*`, else `HUAWEICLOUD_SDK_*`), so that one account's token is never
    /// sent with another account's keys.
    pub fn from_lookup(
        names: &EnvNames,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let read = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let custom = names.access_key.is_some()
            || names.secret_key.is_some()
            || names.security_token.is_some();
        let (ak_var, sk_var, token_var) = if custom {
            (
                names
                    .access_key
                    .clone()
                    .unwrap_or_else(|| ACCESS_KEY_VARS[0].into()),
                names
                    .secret_key
                    .clone()
                    .unwrap_or_else(|| SECRET_KEY_VARS[0].into()),
                names.security_token.clone(),
            )
        } else {
            // The first family that has an access key.
            let family = (0..ACCESS_KEY_VARS.len())
                .find(|&i| read(ACCESS_KEY_VARS[i]).is_some())
                .unwrap_or(0);
            (
                ACCESS_KEY_VARS[family].to_string(),
                SECRET_KEY_VARS[family].to_string(),
                Some(SECURITY_TOKEN_VARS[family].to_string()),
            )
        };
        let standard_names = |vars: &[&str]| vars.join(" or ");
        let access_key = read(&ak_var).ok_or_else(|| {
            CredentialsError::MissingAccessKey(if custom {
                ak_var.clone()
            } else {
                standard_names(&ACCESS_KEY_VARS)
            })
        })?;
        let secret_key =
            read(&sk_var).ok_or_else(|| CredentialsError::MissingSecretKey(sk_var.clone()))?;
        let mut creds = Self::new(access_key.trim(), secret_key.trim());
        creds.security_token = token_var
            .as_deref()
            .and_then(read)
            .map(|t| Secret::new(t.trim()));
        Ok(creds)
    }
}

/// The section of the SDK's credentials file (INI) that counts: `[basic]`, else `[global]`;
/// keys in any case.
#[derive(Clone, Debug)]
pub struct ProfileSection {
    pub name: String,
    pairs: Vec<(String, String)>,
}

/// What the SDK's credentials file lacks (never a value of it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("has no [basic] or [global] section")]
    NoSection,
    #[error("[{section}] has no {key}")]
    Missing { section: String, key: &'static str },
}

impl ProfileSection {
    pub fn parse(text: &str) -> Result<Self, ProfileError> {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.trim().to_ascii_lowercase(), Vec::new()));
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                continue;
            };
            if let Some((_, pairs)) = sections.last_mut() {
                pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let (name, pairs) = ["basic", "global"]
            .iter()
            .find_map(|wanted| sections.iter().find(|(name, _)| name == wanted))
            .ok_or(ProfileError::NoSection)?;
        Ok(Self {
            name: name.clone(),
            pairs: pairs.clone(),
        })
    }

    /// A key's last non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

impl Credentials {
    /// From the text of the SDK's credentials file: keys `ak`, `sk` and `security_token` of
    /// its [`ProfileSection`]. Errors name what is missing, never a value.
    pub fn from_profile_text(text: &str) -> Result<Self, ProfileError> {
        Self::from_profile(&ProfileSection::parse(text)?)
    }

    pub fn from_profile(section: &ProfileSection) -> Result<Self, ProfileError> {
        let get = |key| {
            section.get(key).ok_or_else(|| ProfileError::Missing {
                section: section.name.clone(),
                key,
            })
        };
        let (ak, sk) = (get("ak")?, get("sk")?);
        let creds = Self::new(ak, sk);
        Ok(match section.get("security_token") {
            Some(token) => creds.with_security_token(token),
            None => creds,
        })
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
    fn one_family_at_a_time() {
        let env: HashMap<&str, &str> = [
            ("HUAWEICLOUD_SDK_AK", "ak2"),
            ("HUAWEICLOUD_SDK_SK", "sk2"),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "tok2"),
            ("CLOUD_SDK_AK", "ak1"),
            ("CLOUD_SDK_SK", "sk1"),
            ("PROD_AK", "akp"),
            ("PROD_SK", "skp"),
        ]
        .into();
        let lookup = |n: &str| env.get(n).map(|v| v.to_string());
        let c = Credentials::from_lookup(&EnvNames::default(), lookup).unwrap();
        assert_eq!(
            (c.access_key.expose(), c.secret_key.expose()),
            ("ak1", "sk1")
        );
        assert_eq!(
            c.security_token, None,
            "the other family's token is not taken"
        );
        let only_second = |n: &str| lookup(n).filter(|_| n.starts_with("HUAWEICLOUD"));
        let c = Credentials::from_lookup(&EnvNames::default(), only_second).unwrap();
        assert_eq!(c.access_key.expose(), "ak2");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("tok2"));
        let none = Credentials::from_lookup(&EnvNames::default(), |_| None).unwrap_err();
        assert_eq!(
            none.to_string(),
            "no access key: set CLOUD_SDK_AK or HUAWEICLOUD_SDK_AK"
        );
        // Custom names: only those, and no standard token.
        let prod = EnvNames {
            access_key: Some("PROD_AK".into()),
            secret_key: Some("PROD_SK".into()),
            security_token: None,
        };
        let c = Credentials::from_lookup(&prod, lookup).unwrap();
        assert_eq!(
            (c.access_key.expose(), c.security_token.clone()),
            ("akp", None)
        );
        let missing = EnvNames {
            access_key: Some("DR_AK".into()),
            ..EnvNames::default()
        };
        let err = Credentials::from_lookup(&missing, lookup).unwrap_err();
        assert_eq!(err, CredentialsError::MissingAccessKey("DR_AK".into()));
    }

    #[test]
    fn profile_files_as_the_sdk_reads_them() {
        let text = "# the SDK's file\n[global]\nak = GLOBALAK\nsk = globalsk\n\n[basic]\nAK = BASICAK\n; a comment\nsk: basicsk\nsecurity_token = tok\nproject_id = p\n";
        let creds = Credentials::from_profile_text(text).unwrap();
        assert_eq!(creds.access_key.expose(), "BASICAK");
        assert_eq!(creds.secret_key.expose(), "basicsk");
        assert_eq!(
            creds.security_token.as_ref().map(Secret::expose),
            Some("tok")
        );
        let global = Credentials::from_profile_text("[global]\nak=G\nsk=s\n").unwrap();
        assert_eq!(global.access_key.expose(), "G");
        assert!(global.security_token.is_none());
        let missing = Credentials::from_profile_text("[basic]\nak = VISIBLEAK\n")
            .unwrap_err()
            .to_string();
        assert_eq!(missing, "[basic] has no sk");
        assert!(!missing.contains("VISIBLEAK"));
        assert!(Credentials::from_profile_text("ak = x\n").is_err());
    }
}
