//! Streaming aggregation of one node's sessions into bounded label sets: page by page, never
//! holding the raw sessions. The [`Aggregator`] takes sessions and gives a [`NodeAggregate`];
//! the other files are its parts.

mod aggregator;
mod bounds;
mod histogram;
mod intern;
mod kinds;
mod labels;
pub mod native;
mod node;
mod settings;
mod top;

pub use aggregator::{Aggregator, aggregate};
pub use bounds::BucketBounds;
pub use histogram::Histogram;
pub use kinds::SessionKind;
pub use labels::{OTHER, OTHER_NAME, UNKNOWN, UNNAMED};
pub use native::NativeBuckets;
pub use node::{ClientCount, NodeAggregate, TopClient};
pub use settings::{
    AggregateSettings, ClientAddrField, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
};

#[cfg(test)]
mod tests;
