//! Writers of the target families in the three exposition formats, straight from the snapshot.
//!
//! At fleet scale the exposition is hundreds of thousands of samples, most of them histogram
//! buckets that repeat one label set. prometheus-client's encoders escape every label of every
//! line and build an intermediate model for protobuf; these writers escape a label set once a
//! metric, format each bucket bound once a scrape, write protobuf directly, and hand the output
//! on in chunks, so that no second full copy of the exposition is held.
//!
//! The families are written once, against [`Exposition`]: by these writers, and by
//! prometheus-client's own encoders through [`reference`], which the tests compare byte for byte.

pub mod protobuf;
pub mod reference;
pub mod text;

use std::fmt;

pub use protobuf::ProtobufWriter;
pub use text::TextWriter;

/// The type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// A sample's value, in the type it was counted in (integers print without a fraction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Uint(u64),
    Float(f64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Uint(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl<T: Copy + Into<Value>> From<&T> for Value {
    fn from(v: &T) -> Self {
        (*v).into()
    }
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Uint(v) => v as f64,
            Value::Float(v) => v,
        }
    }
}

/// A metric's labels, in order.
pub trait LabelSet {
    fn each(&self, label: &mut dyn FnMut(&str, &str));
}

/// No labels.
impl LabelSet for () {
    fn each(&self, _: &mut dyn FnMut(&str, &str)) {}
}

/// A histogram as one metric: classic buckets and, when kept, native ones.
#[derive(Clone, Copy, Debug)]
pub struct HistogramSample<'a> {
    pub sum: f64,
    pub count: u64,
    /// The classic bounds, without `+Inf`.
    pub bounds: &'a [f64],
    /// Per bucket (not cumulative), one more than `bounds`: the last is `+Inf`'s.
    pub counts: &'a [u64],
    pub native: Option<NativeSample<'a>>,
}

/// Native buckets: schema [`crate::aggregate::native::SCHEMA`], positive values only.
#[derive(Clone, Copy, Debug)]
pub struct NativeSample<'a> {
    pub zero_count: u64,
    pub spans: &'a [(i32, u32)],
    pub deltas: &'a [i64],
}

/// Where families are written: one of the writers, or prometheus-client's encoder.
pub trait Exposition {
    type Family<'a>: FamilySink
    where
        Self: 'a;

    /// Starts a family; its samples follow through the returned sink.
    fn family<'a>(
        &'a mut self,
        name: &'a str,
        help: &str,
        kind: Kind,
    ) -> Result<Self::Family<'a>, fmt::Error>;
}

/// The samples of one family.
pub trait FamilySink {
    fn gauge_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result;
    fn counter_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result;
    fn histogram(&mut self, labels: &dyn LabelSet, histogram: &HistogramSample) -> fmt::Result;

    fn gauge(&mut self, labels: &dyn LabelSet, value: impl Into<Value>) -> fmt::Result {
        self.gauge_value(labels, value.into())
    }

    fn counter(&mut self, labels: &dyn LabelSet, value: impl Into<Value>) -> fmt::Result {
        self.counter_value(labels, value.into())
    }
}

/// Output is handed on in chunks of about this size.
const CHUNK: usize = 64 * 1024;
