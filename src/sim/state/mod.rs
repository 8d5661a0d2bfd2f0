//! The simulated services' state and rules: instances, nodes, jobs, stored session lists, DBSS
//! records, key analyses. Pure logic on a given time; the HTTP layer maps its answers and errors.
//!
//! [`SimState`] and the types it holds are in `model`; each other file adds the calls of one
//! concern to it, so that no file of the state imports the one that imports it.

mod build;
mod dbss;
mod ids;
mod instances;
mod jobs;
mod key_answers;
mod key_tasks;
mod keys;
mod model;
mod pages;
mod params;
mod sessions;
mod stored;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_keys;

pub use instances::SlowLogBackend;
pub use key_tasks::{MAX_KEPT_TASKS, TaskKind};
pub use keys::{ListShaping, TaskShaping};
pub use model::{RealWork, SimState};
pub use params::{InstancesQuery, KeyTaskQuery, ListQuery};

// Moved out of the state; still named here by the rest of the crate, the tests and the benches.
pub use super::clock::{format_time, format_time_seconds, millis};
pub use super::error::{ErrorShape, SimError, SimResult, api_not_found, codes};
