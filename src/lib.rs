//! dcs-session-exporter: a Prometheus exporter of Huawei Cloud DCS client sessions and DBSS
//! job records, with a faithful simulator of both APIs.

pub mod accounts;
pub mod aggregate;
pub mod capacity;
pub mod cli;
pub mod cloud;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod failure;
pub mod files;
pub mod keys;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod operator;
pub mod operator_keys;
pub mod reason;
pub mod redis;
pub mod remediation;
pub mod server;
pub mod session;
pub mod sim;
pub mod slowlog;
pub mod snapshot;
pub mod supervisor;
pub mod upstream_text;
pub mod web_config;
