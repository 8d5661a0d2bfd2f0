//! Length-delimited `io.prometheus.client.MetricFamily` messages, written directly: fields in
//! tag order, proto3 defaults left out, as prometheus-client (prost) writes them.

use std::fmt;
use std::io;

use super::{EncodedLabels, Exposition, FamilySink, HistogramSample, Kind, LabelSet, Value};
use crate::aggregate::native::{SCHEMA, ZERO_THRESHOLD};

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;

const fn tag(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(tag(field, DELIMITED));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A double field, left out when zero.
fn double_field(out: &mut Vec<u8>, field: u8, v: f64) {
    if v != 0.0 {
        out.push(tag(field, FIXED64));
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A varint field, left out when zero.
fn varint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    if v != 0 {
        out.push(tag(field, VARINT));
        varint(out, v);
    }
}

/// Writes each family as one length-delimited message into `sink`.
pub struct ProtobufWriter<'w> {
    sink: &'w mut dyn io::Write,
    /// The family being written, without its length.
    family: Vec<u8>,
    /// The current metric's labels (`LabelPair` fields).
    labels: EncodedLabels,
    /// A histogram's message, nested in the metric.
    nested: Vec<u8>,
    failed: Option<io::Error>,
}

impl<'w> ProtobufWriter<'w> {
    pub fn new(sink: &'w mut dyn io::Write) -> Self {
        Self {
            sink,
            family: Vec::new(),
            labels: EncodedLabels::default(),
            nested: Vec::with_capacity(1024),
            failed: None,
        }
    }

    /// Hands on the last family; the error of the sink, if it failed.
    pub fn finish(mut self) -> io::Result<()> {
        self.end_family();
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn end_family(&mut self) {
        if self.family.is_empty() || self.failed.is_some() {
            return;
        }
        let mut length = Vec::with_capacity(10);
        varint(&mut length, self.family.len() as u64);
        let written = self
            .sink
            .write_all(&length)
            .and_then(|()| self.sink.write_all(&self.family));
        if let Err(e) = written {
            self.failed = Some(e);
        }
        self.family.clear();
    }

    /// Encodes a metric's labels.
    fn set_labels(&mut self, labels: &dyn LabelSet) {
        self.labels.set(labels, |metric, name, value| {
            // LabelPair { name = 1; value = 2 }, an empty value left out.
            let (n, v) = (name.len(), value.len());
            if n + v < 124 && v != 0 {
                // Every length one byte, as nearly always: four writes.
                metric.extend_from_slice(&[
                    tag(1, DELIMITED),
                    (n + v + 4) as u8,
                    tag(1, DELIMITED),
                    n as u8,
                ]);
                metric.extend_from_slice(name.as_bytes());
                metric.extend_from_slice(&[tag(2, DELIMITED), v as u8]);
                metric.extend_from_slice(value.as_bytes());
                return;
            }
            let mut length = 1 + varint_len(name.len() as u64) + name.len();
            if !value.is_empty() {
                length += 1 + varint_len(value.len() as u64) + value.len();
            }
            metric.push(tag(1, DELIMITED));
            varint(metric, length as u64);
            bytes_field(metric, 1, name.as_bytes());
            if !value.is_empty() {
                bytes_field(metric, 2, value.as_bytes());
            }
        });
    }

    /// Starts a metric (field 4 of the family) of `length` bytes after its labels, and
    /// writes the labels: the metric goes straight into the family, its length known ahead.
    fn start_metric(&mut self, length: usize) {
        let labels = &self.labels.bytes;
        self.family.push(tag(4, DELIMITED));
        varint(&mut self.family, (labels.len() + length) as u64);
        self.family.extend_from_slice(labels);
    }

    fn ended(&self) -> fmt::Result {
        match self.failed {
            Some(_) => Err(fmt::Error),
            None => Ok(()),
        }
    }

    /// A `Gauge` or `Counter` (field 2 or 3 of the metric): `double value = 1`.
    fn single(&mut self, field: u8, value: f64) -> fmt::Result {
        let length = if value != 0.0 { 9 } else { 0 };
        self.start_metric(2 + length);
        self.family.push(tag(field, DELIMITED));
        self.family.push(length as u8);
        double_field(&mut self.family, 1, value);
        self.ended()
    }
}

impl<'w> Exposition for ProtobufWriter<'w> {
    type Family<'a>
        = &'a mut ProtobufWriter<'w>
    where
        Self: 'a;

    fn family<'a>(
        &'a mut self,
        name: &'a str,
        help: &str,
        kind: Kind,
    ) -> Result<&'a mut ProtobufWriter<'w>, fmt::Error> {
        self.end_family();
        self.labels.clear();
        if self.failed.is_some() {
            return Err(fmt::Error);
        }
        // MetricFamily { name = 1; help = 2; type = 3 (COUNTER = 0, GAUGE = 1, HISTOGRAM = 4) }
        let suffix = if kind == Kind::Counter { "_total" } else { "" };
        self.family.push(tag(1, DELIMITED));
        varint(&mut self.family, (name.len() + suffix.len()) as u64);
        self.family.extend_from_slice(name.as_bytes());
        self.family.extend_from_slice(suffix.as_bytes());
        if !help.is_empty() {
            bytes_field(&mut self.family, 2, help.as_bytes());
        }
        let kind = match kind {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Histogram => 4,
        };
        varint_field(&mut self.family, 3, kind);
        Ok(self)
    }
}

impl FamilySink for &mut ProtobufWriter<'_> {
    fn gauge_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        self.set_labels(labels);
        self.single(2, value.as_f64())
    }

    fn counter_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        self.set_labels(labels);
        let value = match value {
            Value::Int(v) => v.max(0) as f64,
            v => v.as_f64(),
        };
        self.single(3, value)
    }

    fn histogram(&mut self, labels: &dyn LabelSet, h: &HistogramSample) -> fmt::Result {
        self.set_labels(labels);
        let out = &mut self.nested;
        out.clear();
        varint_field(out, 1, h.count);
        double_field(out, 2, h.sum);
        let bounds = h.bounds.iter().copied().chain([f64::INFINITY]);
        let mut cumulative = 0u64;
        for (bound, n) in bounds.zip(h.counts.iter().copied()) {
            // Bucket { cumulative_count = 1; upper_bound = 2 }
            cumulative += n;
            let mut length = 0;
            if cumulative != 0 {
                length += 1 + varint_len(cumulative);
            }
            if bound != 0.0 {
                length += 9;
            }
            out.push(tag(3, DELIMITED));
            out.push(length as u8);
            varint_field(out, 1, cumulative);
            double_field(out, 2, bound);
        }
        if let Some(native) = h.native {
            varint_field(out, 5, zigzag(i64::from(SCHEMA)));
            double_field(out, 6, ZERO_THRESHOLD);
            varint_field(out, 7, native.zero_count);
            for (offset, length) in native.spans {
                // BucketSpan { sint32 offset = 1; uint32 length = 2 }
                let offset = zigzag(i64::from(*offset));
                let length = u64::from(*length);
                let mut size = 0;
                if offset != 0 {
                    size += 1 + varint_len(offset);
                }
                if length != 0 {
                    size += 1 + varint_len(length);
                }
                out.push(tag(12, DELIMITED));
                out.push(size as u8);
                varint_field(out, 1, offset);
                varint_field(out, 2, length);
            }
            if !native.deltas.is_empty() {
                // Packed sint64, a histogram's largest part: written in one pass, its length
                // put before it after (one byte unless there are more than 127).
                out.push(tag(13, DELIMITED));
                let start = out.len();
                out.push(0);
                out.reserve(native.deltas.len() * 10);
                for d in native.deltas {
                    varint(out, zigzag(*d));
                }
                let size = out.len() - start - 1;
                if size < 0x80 {
                    out[start] = size as u8;
                } else {
                    let mut length = Vec::with_capacity(10);
                    varint(&mut length, size as u64);
                    out.splice(start..=start, length);
                }
            }
        }
        // Field 7 of the metric.
        let length = self.nested.len() as u64;
        self.start_metric(1 + varint_len(length) + self.nested.len());
        self.family.push(tag(7, DELIMITED));
        varint(&mut self.family, length);
        self.family.extend_from_slice(&self.nested);
        self.ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_deltas_longer_than_a_byte_can_count_get_a_longer_length() {
        for n in [1usize, 127, 128, 300] {
            let deltas: Vec<i64> = (0..n as i64).map(|i| i % 3 - 1).collect();
            let spans = [(0, n as u32)];
            let mut sink = Vec::new();
            let mut writer = ProtobufWriter::new(&mut sink);
            let histogram = HistogramSample {
                sum: 1.0,
                count: 1,
                bounds: &[],
                counts: &[1],
                native: Some(super::super::NativeSample {
                    zero_count: 0,
                    spans: &spans,
                    deltas: &deltas,
                }),
            };
            let mut family = writer.family("h", "", Kind::Histogram).unwrap();
            family.histogram(&(), &histogram).unwrap();
            writer.finish().unwrap();
            let mut want = vec![tag(13, DELIMITED)];
            varint(&mut want, n as u64);
            want.extend(deltas.iter().map(|d| zigzag(*d) as u8));
            assert!(
                sink.ends_with(&want),
                "{n} deltas: {:?}",
                &sink[sink.len().saturating_sub(want.len())..]
            );
        }
    }

    #[test]
    fn varints_and_their_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let decoded = out
                .iter()
                .enumerate()
                .fold(0u64, |acc, (i, b)| acc | (u64::from(b & 0x7f) << (7 * i)));
            assert_eq!(decoded, v);
        }
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }
}
