//! Service endpoints: derived from the region, each one overridable (other sites, private
//! deployments, the simulator).

use std::fmt;

/// The cloud services the exporter talks to.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Service {
    Dcs,
    Dbss,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub dcs: reqwest::Url,
    pub dbss: reqwest::Url,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    // The URL itself is not repeated: a mistyped one may hold what follows it in the file.
    #[error("{service} endpoint is not a valid URL: {source}")]
    InvalidUrl {
        service: Service,
        source: url::ParseError,
    },
    #[error("{service} endpoint must be an http:// or https:// URL with a host")]
    NotHttp { service: Service },
    #[error("{service} endpoint {problem}")]
    Credentials {
        service: Service,
        problem: &'static str,
    },
    #[error("region {0:?} is not a valid region name")]
    InvalidRegion(String),
}

/// The default domain of Huawei Cloud's public regions.
pub const DEFAULT_DOMAIN: &str = "myhuaweicloud.com";

impl Endpoints {
    /// `https://{service}.{region}.myhuaweicloud.com`, then any overrides.
    pub fn for_region(
        region: &str,
        dcs_override: Option<&str>,
        dbss_override: Option<&str>,
    ) -> Result<Self, EndpointError> {
        let valid_region = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let derive = |service: Service| -> Result<reqwest::Url, EndpointError> {
            if !valid_region {
                return Err(EndpointError::InvalidRegion(region.to_string()));
            }
            parse(
                service,
                &format!("https://{}.{region}.{DEFAULT_DOMAIN}", service.as_str()),
            )
        };
        Ok(Self {
            dcs: match dcs_override {
                Some(v) => parse(Service::Dcs, v)?,
                None => derive(Service::Dcs)?,
            },
            dbss: match dbss_override {
                Some(v) => parse(Service::Dbss, v)?,
                None => derive(Service::Dbss)?,
            },
        })
    }

    /// Both services on one base URL (the simulator serves both).
    pub fn single(base: &str) -> Result<Self, EndpointError> {
        Ok(Self {
            dcs: parse(Service::Dcs, base)?,
            dbss: parse(Service::Dbss, base)?,
        })
    }

    pub fn get(&self, service: Service) -> &reqwest::Url {
        match service {
            Service::Dcs => &self.dcs,
            Service::Dbss => &self.dbss,
        }
    }
}

fn parse(service: Service, value: &str) -> Result<reqwest::Url, EndpointError> {
    http_url(value).map_err(|problem| match problem {
        UrlProblem::Invalid(source) => EndpointError::InvalidUrl { service, source },
        UrlProblem::Credentials(problem) => EndpointError::Credentials { service, problem },
        UrlProblem::NotHttp => EndpointError::NotHttp { service },
    })
}

/// What is wrong with an endpoint URL (never the URL itself).
#[derive(Debug, thiserror::Error)]
pub enum UrlProblem {
    #[error("is not a valid URL: {0}")]
    Invalid(url::ParseError),
    #[error("{0}")]
    Credentials(&'static str),
    #[error("must be an http:// or https:// URL with a host")]
    NotHttp,
}

/// An http(s) endpoint without credentials in it, the trailing slash dropped.
pub fn http_url(value: &str) -> Result<reqwest::Url, UrlProblem> {
    let url = reqwest::Url::parse(value.trim_end_matches('/')).map_err(UrlProblem::Invalid)?;
    if let Some(problem) = url_credentials(&url, false) {
        return Err(UrlProblem::Credentials(problem));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UrlProblem::NotHttp);
    }
    Ok(url)
}

/// Query keys that name a secret.
const SECRET_QUERY_WORDS: [&str; 7] = [
    "pass",
    "pwd",
    "secret",
    "token",
    "auth",
    "key",
    "credential",
];

/// What is wrong when a URL carries credentials: a password (or, unless `username_allowed`,
/// any user) before the host, or a query parameter that names a secret. Secrets belong in
/// variables or files; a URL is echoed by messages, logs and `check-config`.
pub fn url_credentials(url: &url::Url, username_allowed: bool) -> Option<&'static str> {
    if url.password().is_some() {
        return Some("must not hold a password (user:password@)");
    }
    if !username_allowed && !url.username().is_empty() {
        return Some("must not hold credentials (user@)");
    }
    let secret_query = url.query_pairs().any(|(key, _)| {
        let key = key.to_ascii_lowercase();
        SECRET_QUERY_WORDS.iter().any(|w| key.contains(w))
    });
    secret_query.then_some("must not hold a secret in its query (e.g. ?password=)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_and_overridden() {
        let e = Endpoints::for_region("cn-north-4", None, Some("http://127.0.0.1:9/")).unwrap();
        assert_eq!(e.dcs.as_str(), "https://dcs.cn-north-4.myhuaweicloud.com/");
        assert_eq!(e.dbss.as_str(), "http://127.0.0.1:9/");
        assert!(Endpoints::for_region("cn north", None, None).is_err());
        assert!(Endpoints::for_region("x", Some("ftp://h"), None).is_err());
        // A region is not needed when both endpoints are given.
        assert!(Endpoints::for_region("", Some("http://a"), Some("http://b")).is_ok());
    }
}
