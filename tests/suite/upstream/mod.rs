//! The exporter against upstreams that misbehave (a cloud API, a Redis server, a credential
//! service): hostile servers on loopback, through the real binary or client.

mod errors;
mod flags;
