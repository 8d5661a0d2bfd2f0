//! Native (sparse, exponential) histogram buckets, as Prometheus stores them: schema 3, so each
//! bucket is 2^(1/8) ≈ 1.09 times as wide as the one before (a value is known to within about
//! 4.5%), and a zero bucket for values of at most [`ZERO_THRESHOLD`].

/// The schema of every native histogram of the exporter: 8 buckets per power of two.
pub const SCHEMA: i32 = 3;

/// Values at most this large count in the zero bucket (the exporter's values are whole seconds
/// and bytes: in practice, zeros). Prometheus' client libraries use the same.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// Upper bounds of the eight buckets of one octave, scaled to [0.5, 1): 2^(k/8) / 2.
const OCTAVE: [f64; 8] = [
    0.5,
    0.545_253_866_332_628_8,
    0.594_603_557_501_360_5,
    0.648_419_777_325_504_8,
    std::f64::consts::FRAC_1_SQRT_2,
    0.771_105_412_703_970_4,
    0.840_896_415_253_714_5,
    0.917_004_043_204_671_2,
];

/// Native buckets as Prometheus encodes them: spans `(offset, length)` and count deltas.
pub type SpansAndDeltas = (Vec<(i32, u32)>, Vec<i64>);

/// Bucket counts of the positive values (the exporter observes no negative ones), dense from
/// the lowest index seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NativeBuckets {
    pub zero_count: u64,
    /// Index of `counts[0]`: bucket `i` holds values in (2^((i-1)/8), 2^(i/8)].
    offset: i32,
    counts: Vec<u64>,
    /// The spans and deltas of the counts, made once by [`NativeBuckets::seal`] for every
    /// scrape to borrow.
    sealed: Option<SpansAndDeltas>,
}

/// The bucket index of a positive value: `i` such that 2^((i-1)/8) < value <= 2^(i/8).
#[inline]
pub fn index(value: f64) -> i32 {
    // value = frac × 2^exp with frac in [0.5, 1), read off the bits (no log).
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    let exp = biased - 1022;
    // Counted rather than searched: eight compares without branches beat three that depend on
    // each other.
    let within: i32 = OCTAVE.iter().map(|b| i32::from(*b < frac)).sum();
    within + (exp - 1) * 8
}

/// The bucket index of `value`, or `None` for a value of the zero bucket (and for NaN and
/// infinities, which the zero bucket takes too).
#[inline]
pub fn index_of(value: f64) -> Option<i32> {
    (value > ZERO_THRESHOLD && value.is_finite()).then(|| index(value))
}

impl NativeBuckets {
    pub fn observe(&mut self, value: f64) {
        self.observe_index(index_of(value));
    }

    /// Counts a value by its bucket index (`None`: the zero bucket), as [`index_of`] gives it.
    #[inline]
    pub fn observe_index(&mut self, index: Option<i32>) {
        if let Some(sealed) = self.sealed.take()
            && self.counts.is_empty()
        {
            // Sealed buckets that take more values (not what scans do): dense again.
            for (i, n) in expand(&sealed) {
                self.offset = if self.counts.is_empty() {
                    i
                } else {
                    self.offset
                };
                let at = (i - self.offset) as usize;
                self.counts.resize(at + 1, 0);
                self.counts[at] = n;
            }
        }
        let Some(i) = index else {
            // Negative, zero, NaN: the zero bucket (only zeros occur in session data).
            self.zero_count += 1;
            return;
        };
        if self.counts.is_empty() {
            self.offset = i;
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let at = (i - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
    }

    /// `(index, count)` of every bucket that holds something, lowest first.
    pub fn buckets(&self) -> Vec<(i32, u64)> {
        match &self.sealed {
            Some(sealed) if self.counts.is_empty() => expand(sealed),
            _ => self
                .counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (self.offset + k as i32, *n))
                .collect(),
        }
    }

    /// Makes the spans and deltas once, when no more values come.
    /// The dense counts are freed then: a node keeps only what its scrapes encode.
    pub fn seal(&mut self) {
        let (mut spans, mut deltas) = self.spans_and_deltas();
        spans.shrink_to_fit();
        deltas.shrink_to_fit();
        self.sealed = Some((spans, deltas));
        self.counts = Vec::new();
    }

    /// The sealed spans and deltas, when [`NativeBuckets::seal`] made them.
    pub fn sealed(&self) -> Option<&SpansAndDeltas> {
        self.sealed.as_ref()
    }

    /// The positive buckets as Prometheus encodes them: spans `(offset, length)` (the first
    /// offset absolute, the others from the end of the span before) and the count deltas.
    pub fn spans_and_deltas(&self) -> SpansAndDeltas {
        let mut spans: Vec<(i32, u32)> = Vec::new();
        let mut deltas = Vec::new();
        let mut previous_count = 0i64;
        let mut next_index: Option<i32> = None;
        for (i, n) in self.buckets() {
            match next_index {
                Some(next) if next == i => {
                    if let Some(last) = spans.last_mut() {
                        last.1 += 1;
                    }
                }
                Some(next) => spans.push((i - next, 1)),
                None => spans.push((i, 1)),
            }
            deltas.push(n as i64 - previous_count);
            previous_count = n as i64;
            next_index = Some(i + 1);
        }
        (spans, deltas)
    }
}

/// `(index, count)` of the buckets that spans and deltas describe.
fn expand((spans, deltas): &SpansAndDeltas) -> Vec<(i32, u64)> {
    let mut out = Vec::with_capacity(deltas.len());
    let (mut index, mut count) = (0i32, 0i64);
    let mut deltas = deltas.iter();
    for (k, (offset, length)) in spans.iter().enumerate() {
        index = if k == 0 { *offset } else { index + offset };
        for _ in 0..*length {
            count += deltas.next().copied().unwrap_or(0);
            out.push((index, count.max(0) as u64));
            index += 1;
        }
    }
    out
}

/// The upper bound of bucket `i`.
pub fn upper_bound(i: i32) -> f64 {
    2f64.powf(f64::from(i) / 8.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_falls_in_the_bucket_that_bounds_it() {
        for value in [
            1.0,
            1.05,
            1.0905077326652577,
            1.1,
            2.0,
            3.0,
            59.0,
            60.0,
            3600.0,
            1e9,
            0.001,
        ] {
            let i = index(value);
            assert!(
                upper_bound(i - 1) < value * (1.0 + 1e-12),
                "{value}: bucket {i}"
            );
            assert!(
                value <= upper_bound(i) * (1.0 + 1e-12),
                "{value}: bucket {i}"
            );
        }
        // Powers of two are upper bounds: 1 in bucket 0, 2 in bucket 8, 0.5 in -8.
        assert_eq!((index(1.0), index(2.0), index(0.5)), (0, 8, -8));
        assert_eq!(index(1.000_001), 1);
    }

    #[test]
    fn sparse_buckets_encode_as_spans_and_deltas() {
        let mut b = NativeBuckets::default();
        for v in [0.0, 0.0, 1.0, 1.05, 2.0, 2.0, 2.0, 1000.0] {
            b.observe(v);
        }
        assert_eq!(b.zero_count, 2);
        assert_eq!(b.buckets(), vec![(0, 1), (1, 1), (8, 3), (80, 1)]);
        let (spans, deltas) = b.spans_and_deltas();
        // Buckets 0-1, then 8 (6 empty after 1), then 80 (71 empty after 8).
        assert_eq!(spans, vec![(0, 2), (6, 1), (71, 1)]);
        assert_eq!(deltas, vec![1, 0, 2, -2]);
        // A value below everything seen moves the dense start.
        b.observe(0.3);
        assert_eq!(b.buckets().first(), Some(&(index(0.3), 1)));
        assert_eq!(b.buckets().iter().map(|(_, n)| n).sum::<u64>(), 7);
        // Sealed, the counts live on in the spans and deltas only, and come back dense when a
        // value arrives after all.
        let before = b.buckets();
        b.seal();
        assert_eq!(b.buckets(), before);
        b.observe(2.0);
        let mut after = before.clone();
        after.iter_mut().find(|(i, _)| *i == 8).unwrap().1 += 1;
        assert_eq!(b.buckets(), after);
    }
}
