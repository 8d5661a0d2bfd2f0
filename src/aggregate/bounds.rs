//! A histogram's classic bounds, with a table that finds a value's classic bucket from its
//! native bucket index: one search a value serves both kinds of bucket.

use std::sync::Arc;

use super::native;

/// Classic bucket bounds (ascending, without `+Inf`), shared by every histogram that uses them.
#[derive(Clone, Debug)]
pub struct BucketBounds(Arc<Table>);

#[derive(Debug)]
struct Table {
    bounds: Box<[f64]>,
    /// Native bucket index of `slots[0]`.
    first: i32,
    /// The classic bucket of the values of each native bucket from `first` on.
    slots: Box<[Slot]>,
    /// Bounds below every value a native bucket holds (none of them above the zero bucket's
    /// threshold): the classic bucket of values whose native bucket precedes `first`.
    below_slots: u32,
    /// The classic bucket of 0, the commonest value of buffer sizes.
    of_zero: u32,
    /// Bounds that are not ascending and finite: every value is searched for.
    search_only: bool,
}

/// Values of one native bucket fall in classic bucket `bucket`, or in the next one when above
/// `split` (`+Inf` when no classic bound lies inside the native bucket). `None` where more than
/// one does: such values are searched for.
#[derive(Clone, Copy, Debug)]
struct Slot {
    bucket: u32,
    split: Option<f64>,
}

impl BucketBounds {
    pub fn new(bounds: &[f64]) -> Self {
        let search_only = bounds.iter().any(|b| !b.is_finite())
            || bounds.windows(2).any(|w| w[0] >= w[1])
            || bounds.len() >= u32::MAX as usize;
        let indexed = |b: f64| b > native::ZERO_THRESHOLD;
        let below_slots = bounds.iter().filter(|b| !indexed(**b)).count() as u32;
        let (first, slots) = match bounds
            .iter()
            .copied()
            .filter(|b| indexed(*b))
            .collect::<Vec<_>>()
        {
            positive if search_only || positive.is_empty() => (0, Vec::new()),
            positive => {
                let first = native::index(positive[0]);
                let last = native::index(positive[positive.len() - 1]);
                let slots = (first..=last)
                    .map(|n| {
                        let inside: Vec<f64> = positive
                            .iter()
                            .copied()
                            .filter(|b| native::index(*b) == n)
                            .collect();
                        let before = positive.iter().filter(|b| native::index(**b) < n).count();
                        Slot {
                            bucket: below_slots + before as u32,
                            split: match inside.as_slice() {
                                [] => Some(f64::INFINITY),
                                [bound] => Some(*bound),
                                _ => None,
                            },
                        }
                    })
                    .collect();
                (first, slots)
            }
        };
        Self(Arc::new(Table {
            of_zero: bounds.partition_point(|b| *b < 0.0) as u32,
            bounds: bounds.into(),
            first,
            slots: slots.into(),
            below_slots,
            search_only,
        }))
    }

    /// The bounds, ascending, without `+Inf`.
    pub fn as_slice(&self) -> &[f64] {
        &self.0.bounds
    }

    /// The classic bucket of `value` (`le`: the first bound at or above it), `len()` for `+Inf`.
    #[inline]
    pub fn bucket(&self, value: f64) -> usize {
        match native::index_of(value) {
            Some(n) => self.bucket_in_native(value, n),
            None => self.search(value),
        }
    }

    /// The classic bucket of `value`, whose native bucket index is `n`.
    #[inline]
    pub fn bucket_in_native(&self, value: f64, n: i32) -> usize {
        let t = &*self.0;
        let Some(at) = n.checked_sub(t.first) else {
            return self.search(value);
        };
        if t.search_only {
            return self.search(value);
        }
        if at < 0 {
            return t.below_slots as usize;
        }
        match t.slots.get(at as usize) {
            Some(Slot {
                bucket,
                split: Some(split),
            }) => *bucket as usize + usize::from(value > *split),
            Some(Slot { split: None, .. }) => self.search(value),
            // Above the highest bound's native bucket: above every bound.
            None => t.bounds.len(),
        }
    }

    #[inline]
    fn search(&self, value: f64) -> usize {
        if value == 0.0 {
            return self.0.of_zero as usize;
        }
        self.0.bounds.partition_point(|b| *b < value)
    }
}

impl PartialEq for BucketBounds {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<Vec<f64>> for BucketBounds {
    fn from(bounds: Vec<f64>) -> Self {
        Self::new(&bounds)
    }
}

impl From<&[f64]> for BucketBounds {
    fn from(bounds: &[f64]) -> Self {
        Self::new(bounds)
    }
}

impl From<Arc<[f64]>> for BucketBounds {
    fn from(bounds: Arc<[f64]>) -> Self {
        Self::new(&bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounds like the defaults of idle times and of buffer sizes.
    const SECONDS: [f64; 12] = [
        1.0, 5.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 604800.0,
    ];
    const BYTES: [f64; 6] = [0.0, 1024.0, 16384.0, 65536.0, 1048576.0, 268435456.0];

    fn searched(bounds: &[f64], value: f64) -> usize {
        bounds.partition_point(|b| *b < value)
    }

    #[test]
    fn every_value_lands_where_a_search_puts_it() {
        let odd: &[f64] = &[0.0, 1e-300, 0.5, 1.0, 1.01, 1.02, 5.0, 5.000001, 1e12];
        let sets: [&[f64]; 4] = [&SECONDS, &BYTES, odd, &[7.0]];
        let mut values: Vec<f64> = vec![-1.0, 0.0, 1e-310, 1e-300, f64::NAN, f64::INFINITY];
        for set in sets {
            for b in set {
                values.extend([*b, b.next_down(), b.next_up(), b * 1.05, b / 1.05]);
            }
        }
        values.extend((0..5000).map(f64::from));
        values.extend((0..64).map(|e| 2f64.powi(e) * 1.3));
        for set in sets {
            let table = BucketBounds::new(set);
            for v in &values {
                assert_eq!(table.bucket(*v), searched(set, *v), "{v} in {set:?}");
            }
        }
    }

    #[test]
    fn bounds_out_of_order_are_searched() {
        let set = [5.0, 1.0, 3.0];
        let table = BucketBounds::new(&set);
        for v in [0.0, 1.0, 2.0, 4.0, 6.0] {
            assert_eq!(table.bucket(v), searched(&set, v));
        }
    }
}
