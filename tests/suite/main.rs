//! The integration tests, one binary: each area a module, all sharing `common/`. Every server is
//! on loopback and every wait is bounded.

mod common;

mod api;
mod browser;
mod credentials;
mod daemon;
mod docs;
mod ecosystem;
mod exporter;
mod faults;
mod hardening;
mod keys;
mod properties;
mod redis;
mod redis_keys;
mod redis_slow_log;
mod remediation;
mod security;
mod structure;
mod upstream;
