//! The simulator's credential services: the metadata service of a node with an agency, CCE pod
//! identity, STS assume-with-oidc and IAM securitytokens. Each issues temporary AK/SK/token
//! that the simulated gateway then accepts until they expire.
//!
//! The issuer's state (`issuer`) is apart from the handlers (`endpoints`): the simulator holds
//! the one, the other takes the simulator.

mod endpoints;
mod issuer;

pub use endpoints::{
    assume_with_oidc, id_token_tokens, metadata_security_key, metadata_token, pod_identity,
    security_tokens,
};
pub use issuer::{CredentialServices, DEFAULT_LIFETIME, Issued, Issuer};
