//! What the test areas share: the in-process harness (a simulator and an exporter on loopback,
//! the exposition parsed), the exporter as a child process, and a real redis-server.

pub mod harness;
pub mod process;
pub mod redis_server;
