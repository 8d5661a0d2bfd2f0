//! The label values the aggregation gives what it folds or does not know.

/// The label value of addresses folded together past the `max_client_addrs` largest.
pub const OTHER: &str = "other";
/// The label value of a field a session did not have.
pub const UNKNOWN: &str = "unknown";
/// The client name of sessions without one: parenthesised, so that no application's own name
/// can be taken for it.
pub const UNNAMED: &str = "(unnamed)";
/// The client name of the names past `max_client_names`: parenthesised, unlike `other`, so
/// that no application's own name can be taken for it.
pub const OTHER_NAME: &str = "(other)";
