//! The simulated API gateway, in front of the DCS/DBSS routes and the credential services: the
//! signature check and authentication, the throttle, the answers' common headers, and the
//! error answers of every service.

mod auth;
mod failure;
mod layers;
mod throttle;

pub(crate) use auth::{authenticate, verify_signature};
pub(crate) use failure::{Answer, ApiFailure};
pub(crate) use layers::{date, latency, request_id};
pub(crate) use throttle::TokenBucket;
