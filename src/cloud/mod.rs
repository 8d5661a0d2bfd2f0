//! The Huawei Cloud API client: signing, transport, and the typed DCS and DBSS calls.

mod body;
pub mod client;
pub mod clock;
pub mod credentials;
pub mod dbss;
pub mod dcs;
pub mod endpoints;
pub mod error;
pub mod headers;
mod job_timing;
pub mod operation;
pub mod page_reader;
pub mod ratelimit;
mod response;
pub mod signer;

pub use client::{ApiClient, ClientOptions, RequestObserver, RetryPolicy};
pub use credentials::{Credentials, Secret};
pub use endpoints::{Endpoints, Service};
pub use error::{ApiError, BuildError, ErrorKind, Operation};
pub use job_timing::JobTiming;
pub use ratelimit::RateLimiter;
