//! dcs-session-exporter: a Prometheus exporter of Huawei Cloud DCS client sessions and DBSS
//! job records, with a faithful simulator of both APIs.

pub mod cli;
pub mod cloud;
pub mod config;
pub mod sim;
