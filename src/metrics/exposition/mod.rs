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
///
/// Their values must stay where they are for the whole encoding (borrowed from the snapshot,
/// or static): writers know a value repeated from the metric before by its address.
pub trait LabelSet {
    fn each(&self, label: &mut dyn FnMut(&str, &str));

    /// The same labels as leading ones and the rest as the text formats write them (escaped,
    /// joined by commas), for sets whose rows keep their label text ready: the text writers
    /// copy it as it is. The text must stay where it is for the whole encoding, as values do.
    fn text_tail(&self) -> Option<(&dyn LabelSet, &str)> {
        None
    }
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

    fn gauge(&mut self, labels: &dyn LabelSet, value: impl Into<Value>) -> fmt::Result
    where
        Self: Sized,
    {
        self.gauge_value(labels, value.into())
    }

    fn counter(&mut self, labels: &dyn LabelSet, value: impl Into<Value>) -> fmt::Result
    where
        Self: Sized,
    {
        self.counter_value(labels, value.into())
    }
}

/// Output is handed on in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// A metric's labels as a writer encodes them, reusing what the metric before had in common.
///
/// Consecutive metrics mostly share their leading labels (a node's `instance_id` and
/// `node_id`, then often an address): a label whose name and value are the very same strings
/// as at the same place in the metric before is not read or escaped again. Strings are
/// compared by address and length, so the snapshot's memory is not touched for them either.
#[derive(Default)]
struct EncodedLabels {
    bytes: Vec<u8>,
    /// Per label: the addresses and lengths of its name and value, and where it ends in `bytes`.
    marks: Vec<([usize; 4], usize)>,
}

impl EncodedLabels {
    /// Encodes `labels`, each new one by `write` (which appends it to the bytes).
    fn set(&mut self, labels: &dyn LabelSet, write: fn(&mut Vec<u8>, &str, &str)) {
        let (bytes, marks) = (&mut self.bytes, &mut self.marks);
        let mut same = 0;
        let mut reusing = true;
        labels.each(&mut |name, value| {
            let key = [
                name.as_ptr() as usize,
                name.len(),
                value.as_ptr() as usize,
                value.len(),
            ];
            if reusing {
                if marks.get(same).is_some_and(|(k, _)| *k == key) {
                    // Tests run debug builds: a value that did not stay in place shows here.
                    #[cfg(debug_assertions)]
                    {
                        let start = same.checked_sub(1).map_or(0, |i| marks[i].1);
                        let mut again = bytes[..start].to_vec();
                        write(&mut again, name, value);
                        debug_assert_eq!(
                            &again[start..],
                            &bytes[start..marks[same].1],
                            "label {name} changed at the same address"
                        );
                    }
                    same += 1;
                    return;
                }
                reusing = false;
                bytes.truncate(same.checked_sub(1).map_or(0, |i| marks[i].1));
                marks.truncate(same);
            }
            write(bytes, name, value);
            marks.push((key, bytes.len()));
        });
        if reusing {
            // Every label as before, but perhaps fewer of them.
            bytes.truncate(same.checked_sub(1).map_or(0, |i| marks[i].1));
            marks.truncate(same);
        }
    }

    /// Forgets the labels: the next metric's are all written anew.
    fn clear(&mut self) {
        self.bytes.clear();
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pairs<'a>(Vec<(&'a str, &'a str)>);

    impl LabelSet for Pairs<'_> {
        fn each(&self, label: &mut dyn FnMut(&str, &str)) {
            for (name, value) in &self.0 {
                label(name, value);
            }
        }
    }

    fn write(bytes: &mut Vec<u8>, name: &str, value: &str) {
        if !bytes.is_empty() {
            bytes.push(b',');
        }
        bytes.extend_from_slice(format!("{name}={value}").as_bytes());
    }

    #[test]
    fn shared_leading_labels_are_reused_and_the_rest_written_anew() {
        let (node, other) = (String::from("node-1"), String::from("node-1"));
        let mut encoded = EncodedLabels::default();
        let mut check = |labels: Vec<(&str, &str)>, want: &str| {
            encoded.set(&Pairs(labels), write);
            assert_eq!(String::from_utf8_lossy(&encoded.bytes), want);
        };
        check(vec![("node", &node), ("addr", "a")], "node=node-1,addr=a");
        check(vec![("node", &node), ("addr", "b")], "node=node-1,addr=b");
        check(vec![("node", &node)], "node=node-1");
        check(
            vec![("node", &node), ("addr", "b"), ("db", "0")],
            "node=node-1,addr=b,db=0",
        );
        // Equal text in another string: written anew, the same bytes.
        check(vec![("node", &other), ("addr", "c")], "node=node-1,addr=c");
        check(vec![], "");
        check(vec![("db", "1")], "db=1");
    }
}
