//! DCS calls: session scans, jobs, stored session lists, kills, nodes, instances. The answers'
//! types are in [`wire`]; the calls are grouped by what they serve.

mod instances;
mod jobs;
mod keys;
mod slowlog;
mod stored_list;
mod wire;

pub use jobs::PollOptions;
pub use keys::*;
pub use slowlog::{DEFAULT_SLOWLOG_READ_BYTES, MAX_SLOWLOG_PAGES, SlowlogError, SlowlogRead};
pub use stored_list::{ListRead, PagingOptions, StoredList, decode_client_page_with};
pub use wire::*;

/// Largest page the session list API serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// More sessions than any node can hold (50,000 connections at most): a list without a `count`
/// whose pages go past this is taken to be broken.
pub const MAX_LIST_SESSIONS: u64 = 1_000_000;

#[cfg(test)]
mod tests;
