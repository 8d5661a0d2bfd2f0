//! Fixed-bound histograms, with native buckets of the same values when asked for.

use super::bounds::BucketBounds;
use super::native::{self, NativeBuckets};

/// A histogram with fixed bounds: per-bucket (not cumulative) counts, the last for `+Inf`; and,
/// when asked for, native buckets of the same values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: BucketBounds,
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    native: Option<NativeBuckets>,
}

impl Histogram {
    pub fn new(bounds: impl Into<BucketBounds>) -> Self {
        let bounds = bounds.into();
        Self {
            counts: vec![0; bounds.as_slice().len() + 1],
            bounds,
            sum: 0.0,
            count: 0,
            native: None,
        }
    }

    /// Keeps native buckets too (when `on`).
    pub fn with_native(mut self, on: bool) -> Self {
        self.native = on.then(NativeBuckets::default);
        self
    }

    #[inline]
    pub fn observe(&mut self, value: f64) {
        // One look at the value's bits gives its native bucket, and the native bucket its
        // classic one (`le`: the first bound at or above the value).
        let index = native::index_of(value);
        let classic = match index {
            Some(n) => self.bounds.bucket_in_native(value, n),
            None => self.bounds.bucket(value),
        };
        self.counts[classic] += 1;
        self.sum += value;
        self.count += 1;
        if let Some(native) = &mut self.native {
            native.observe_index(index);
        }
    }

    /// The native buckets, when kept.
    pub fn native(&self) -> Option<&NativeBuckets> {
        self.native.as_ref()
    }

    /// Readies the native buckets for encoding, once no more values come.
    pub fn seal(&mut self) {
        if let Some(native) = &mut self.native {
            native.seal();
        }
    }

    /// The classic bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        self.bounds.as_slice()
    }

    /// The count of each classic bucket (not cumulative), `+Inf`'s last.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// `(upper bound, count in bucket)` pairs, `+Inf` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .as_slice()
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().copied())
            .collect()
    }
}
