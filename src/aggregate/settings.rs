//! How a node's sessions are aggregated: the bounds of every label set and histogram.

use super::bounds::BucketBounds;

/// Which session field names the client in `client_addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAddrField {
    /// The address the node sees (internal 198.19.x.x without IP pass-through).
    #[default]
    Addr,
    /// The client's own address.
    Peer,
}

/// Default histogram bounds for idle time and connection age, in seconds: from a second to a
/// week, dense where alerts usually sit (minutes to hours).
pub const DEFAULT_SECONDS_BUCKETS: [f64; 12] = [
    1.0, 5.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 604800.0,
];

/// Default histogram bounds for buffer sizes, in bytes: 0 first, as most buffers are empty,
/// then 1 KiB to 256 MiB (Redis' default hard limit for pub/sub clients is 32 MiB).
pub const DEFAULT_BYTES_BUCKETS: [f64; 10] = [
    0.0,
    1024.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
];

#[derive(Clone, Debug, PartialEq)]
pub struct AggregateSettings {
    pub max_client_addrs: usize,
    /// Client names with a series of their own; the rest fold into [`OTHER_NAME`].
    pub max_client_names: usize,
    /// Last commands with a series of their own; the rest fold into [`OTHER`].
    pub max_client_commands: usize,
    /// Sessions idle longer than this many seconds, and not waiting by design, are counted by
    /// address in [`NodeAggregate::idle_clients`].
    pub idle_threshold_seconds: i64,
    pub top_clients: usize,
    pub client_addr_field: ClientAddrField,
    pub idle_buckets: BucketBounds,
    pub age_buckets: BucketBounds,
    pub bytes_buckets: BucketBounds,
    /// Keep native buckets of every session histogram.
    pub native_histograms: bool,
}
