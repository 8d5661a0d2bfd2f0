//! Fixed-bound histograms, with native buckets of the same values when asked for.

use std::sync::Arc;

use super::native::NativeBuckets;

/// A histogram with fixed bounds: per-bucket (not cumulative) counts, the last for `+Inf`; and,
/// when asked for, native buckets of the same values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: Arc<[f64]>,
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    native: Option<NativeBuckets>,
}

impl Histogram {
    pub fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
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
        // `le` buckets: the first bound at or above the value.
        let i = self.bounds.partition_point(|b| *b < value);
        self.counts[i] += 1;
        self.sum += value;
        self.count += 1;
        if let Some(native) = &mut self.native {
            native.observe(value);
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
        &self.bounds
    }

    /// The count of each classic bucket (not cumulative), `+Inf`'s last.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// `(upper bound, count in bucket)` pairs, `+Inf` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().copied())
            .collect()
    }
}
