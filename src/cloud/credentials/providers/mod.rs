//! Temporary credentials from Huawei's providers, called as Huawei's SDKs call them: the
//! metadata service of a node with an agency, CCE pod identity, an agency assumed with an OIDC
//! id token through STS, and another account's agency assumed through IAM.

//!
//! This file says what a provider is and where it is found; [`fetch`] calls it.

mod failure;
mod fetch;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

pub use failure::{FetchError, FetchFailure};
pub use fetch::{EXPIRY_MARGIN, Fetcher, parse_credentials};

use super::{CredentialSource, Credentials, Secret};

/// The metadata service's address on every ECS, BMS and CCE node.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
pub const METADATA_TOKEN_PATH: &str = "/meta-data/latest/api/token";
pub const METADATA_SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";
/// What the metadata service says when no agency is attached to the server.
pub const NO_AGENCY_MESSAGE: &str = "Please configure Cloud Service Agency first";
pub const ASSUME_WITH_OIDC_PATH: &str = "/v5/agencies/assume-with-oidc";
pub const SECURITY_TOKENS_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
/// IAM's exchange of a federated id token for an unscoped token (`X-Subject-Token`).
pub const ID_TOKEN_TOKENS_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
pub const IDP_ID_VAR: &str = "HUAWEICLOUD_SDK_IDP_ID";
pub const ID_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_SDK_ID_TOKEN_FILE";
/// What Huawei's SDK asks of IAM for federated credentials: six hours.
pub const FEDERATED_DURATION_SECONDS: u64 = 6 * 3600;

pub const POD_IDENTITY_URI_VAR: &str = "HC_CONTAINER_CREDENTIALS_FULL_URI";
pub const POD_IDENTITY_TOKEN_FILE_VAR: &str = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub const OIDC_PROVIDER_URN_VAR: &str = "HUAWEICLOUD_OIDC_PROVIDER_URN";
pub const OIDC_AGENCY_URN_VAR: &str = "HUAWEICLOUD_OIDC_AGENCY_URN";
pub const OIDC_ID_TOKEN_VAR: &str = "HUAWEICLOUD_OIDC_ID_TOKEN";
/// The id token's file, as Huawei's SDK names it.
pub const OIDC_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_OIDC_TOKEN_FILE";
/// The same, by the name Huawei's documentation also uses.
pub const OIDC_ID_TOKEN_FILE_VAR: &str = "HUAWEICLOUD_OIDC_ID_TOKEN_FILE";
pub const OIDC_SESSION_NAME_VAR: &str = "HUAWEICLOUD_OIDC_SESSION_NAME";
pub const OIDC_DURATION_VAR: &str = "HUAWEICLOUD_OIDC_DURATION_SECONDS";
pub const OIDC_POLICY_VAR: &str = "HUAWEICLOUD_OIDC_POLICY";
pub const OIDC_POLICY_IDS_VAR: &str = "HUAWEICLOUD_OIDC_POLICY_IDS";
pub const STS_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_STS_ENDPOINT";
pub const IAM_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
/// The SDK's session name when none is set.
pub const DEFAULT_OIDC_SESSION_NAME: &str = "oidc-sts-session";
pub const DEFAULT_OIDC_DURATION_SECONDS: u64 = 3600;

/// Another account's agency to act as (`assume_agency = { ... }` in a `[[cloud]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeAgency {
    pub domain: AgencyDomain,
    pub agency_name: String,
    /// How long each set of the agency's credentials lasts (15 minutes to 24 hours).
    pub duration: Duration,
}

/// The account that owns the agency, by name or by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgencyDomain {
    Name(String),
    Id(String),
}

/// How an account obtains its credentials: once (static keys) or again and again (temporary).
#[derive(Clone, Debug, PartialEq)]
pub enum Provider {
    /// Keys read once from the environment or the SDK's credentials file.
    Static {
        source: CredentialSource,
        credentials: Credentials,
    },
    Metadata {
        endpoint: Url,
    },
    PodIdentity {
        uri: Url,
        token_file: PathBuf,
    },
    Oidc(Oidc),
    /// A federated id token exchanged through IAM (`HUAWEICLOUD_SDK_IDP_ID` and
    /// `HUAWEICLOUD_SDK_ID_TOKEN_FILE`, or the credentials file's `idp_id` and `id_token_file`).
    Federated {
        iam: Url,
        idp_id: String,
        id_token_file: PathBuf,
    },
    /// The base's credentials exchanged for an agency's.
    Agency {
        base: Box<Provider>,
        iam: Url,
        agency: AssumeAgency,
    },
}

/// Assuming an agency with an OIDC id token (CCE workload identity).
#[derive(Clone, Debug, PartialEq)]
pub struct Oidc {
    pub sts: Url,
    pub provider_urn: String,
    pub agency_urn: String,
    pub session_name: String,
    pub duration_seconds: u64,
    pub id_token: IdToken,
    pub policy: Option<String>,
    pub policy_ids: Vec<String>,
}

/// An OIDC id token: given, or read from its file at every renewal (projected tokens rotate).
#[derive(Clone, Debug, PartialEq)]
pub enum IdToken {
    Value(Secret),
    File(PathBuf),
}

impl Provider {
    /// The metric label of the source: `env`, `profile`, `metadata`, `pod_identity`, `oidc`,
    /// `federated` or `assume_agency`.
    pub fn source_label(&self) -> &'static str {
        match self {
            Provider::Static { source, .. } => source.as_str(),
            Provider::Metadata { .. } => CredentialSource::Metadata.as_str(),
            Provider::PodIdentity { .. } => CredentialSource::PodIdentity.as_str(),
            Provider::Oidc(_) => CredentialSource::Oidc.as_str(),
            Provider::Federated { .. } => "federated",
            Provider::Agency { .. } => "assume_agency",
        }
    }

    /// Whether the credentials expire and are renewed.
    pub fn is_temporary(&self) -> bool {
        !matches!(self, Provider::Static { .. })
    }

    /// Where the credentials come from, for the landing page and `check-config`: never a value.
    pub fn describe(&self) -> String {
        match self {
            Provider::Static {
                source,
                credentials,
            } => {
                let token = if credentials.security_token.is_some() {
                    " with a security token (not renewable)"
                } else {
                    ""
                };
                match source {
                    CredentialSource::Profile => {
                        format!("static keys from the credentials file{token}")
                    }
                    _ => format!("static keys from the environment{token}"),
                }
            }
            Provider::Metadata { endpoint } => {
                format!("the node's agency, from the metadata service {endpoint}")
            }
            Provider::PodIdentity { uri, token_file } => format!(
                "CCE pod identity at {uri} (token file {})",
                token_file.display()
            ),
            Provider::Oidc(oidc) => format!(
                "agency {} assumed with an OIDC id token through {} ({} s)",
                oidc.agency_urn, oidc.sts, oidc.duration_seconds
            ),
            Provider::Federated {
                iam,
                idp_id,
                id_token_file,
            } => format!(
                "a federated id token ({}) of identity provider {idp_id} exchanged through {iam}",
                id_token_file.display()
            ),
            Provider::Agency { base, iam, agency } => {
                let domain = match &agency.domain {
                    AgencyDomain::Name(name) => format!("domain {name}"),
                    AgencyDomain::Id(id) => format!("domain id {id}"),
                };
                format!(
                    "agency {} of {domain} assumed through {iam} ({}), with {}",
                    agency.agency_name,
                    humantime::format_duration(agency.duration),
                    base.describe()
                )
            }
        }
    }
}
