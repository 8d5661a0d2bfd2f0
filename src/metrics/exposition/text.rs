//! The text formats: Prometheus' classic text (0.0.4) and OpenMetrics, byte for byte as
//! prometheus-client writes them.

use std::fmt;
use std::io;

use super::{CHUNK, EncodedLabels, Exposition, FamilySink, HistogramSample, Kind, LabelSet, Value};

/// Writes families as text into `sink`, a chunk at a time.
pub struct TextWriter<'w> {
    sink: &'w mut dyn io::Write,
    openmetrics: bool,
    out: Vec<u8>,
    /// The current metric's labels, escaped, without braces.
    labels: EncodedLabels,
    /// The bucket bounds last written, and their `le` values as this format prints them,
    /// with what follows them on a bucket line (`"} `, or OpenMetrics' `"`).
    le_bounds: Vec<f64>,
    le_values: Vec<String>,
    /// A histogram's bucket lines as far as the `le` value, and (OpenMetrics) from after it
    /// to the count: written once a histogram, copied for each bucket.
    bucket_head: Vec<u8>,
    bucket_rest: Vec<u8>,
    failed: Option<io::Error>,
}

impl<'w> TextWriter<'w> {
    /// OpenMetrics when `openmetrics`, else the classic text format.
    pub fn new(sink: &'w mut dyn io::Write, openmetrics: bool) -> Self {
        Self {
            sink,
            openmetrics,
            out: Vec::with_capacity(CHUNK + CHUNK / 4),
            labels: EncodedLabels::default(),
            le_bounds: Vec::new(),
            le_values: Vec::new(),
            bucket_head: Vec::new(),
            bucket_rest: Vec::new(),
            failed: None,
        }
    }

    /// Hands on what is left; the error of the sink, if it failed.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.sink.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn maybe_flush(&mut self) -> fmt::Result {
        if self.out.len() < CHUNK {
            return Ok(());
        }
        if let Err(e) = self.sink.write_all(&self.out) {
            self.failed = Some(e);
            return Err(fmt::Error);
        }
        self.out.clear();
        Ok(())
    }

    /// Escapes `labels` into the label scratch, or their leading ones when the set keeps
    /// the rest as text: that text is returned, to be written after them.
    fn set_labels<'l>(&mut self, labels: &'l dyn LabelSet) -> &'l [u8] {
        let (labels, tail) = match labels.text_tail() {
            Some((lead, tail)) => (lead, tail.as_bytes()),
            None => (labels, &[][..]),
        };
        self.labels.set(labels, |out, name, value| {
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_into(out, value);
            out.push(b'"');
        });
        tail
    }

    /// The `le` values of `bounds` (formatted once while the bounds stay the same).
    fn le_values(&mut self, bounds: &[f64]) {
        if self.le_bounds.as_slice() == bounds && self.le_values.len() == bounds.len() + 1 {
            return;
        }
        self.le_bounds = bounds.to_vec();
        self.le_values = bounds
            .iter()
            .map(|b| {
                if self.openmetrics {
                    dtoa::Buffer::new().format(*b).to_string()
                } else {
                    go_float(*b)
                }
            })
            .chain(["+Inf".to_string()])
            .map(|le| le + if self.openmetrics { "\"" } else { "\"} " })
            .collect();
    }

    /// The current labels between braces' worth: the escaped ones, then the tail.
    #[inline]
    fn labels_into(out: &mut Vec<u8>, labels: &[u8], tail: &[u8]) {
        out.extend_from_slice(labels);
        if !labels.is_empty() && !tail.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(tail);
    }

    /// The parts of the current histogram's bucket lines around the `le` value.
    fn bucket_parts(&mut self, name: &str, tail: &[u8]) {
        let (head, rest) = (&mut self.bucket_head, &mut self.bucket_rest);
        let labels = &self.labels.bytes[..];
        head.clear();
        rest.clear();
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b"_bucket{");
        if self.openmetrics {
            // prometheus-client's OpenMetrics encoder puts `le` first.
            head.extend_from_slice(b"le=\"");
            if !labels.is_empty() || !tail.is_empty() {
                rest.push(b',');
                Self::labels_into(rest, labels, tail);
            }
            rest.extend_from_slice(b"} ");
        } else {
            if !labels.is_empty() || !tail.is_empty() {
                Self::labels_into(head, labels, tail);
                head.push(b',');
            }
            head.extend_from_slice(b"le=\"");
        }
    }

    /// `name suffix {labels} ` of a sample line.
    #[inline]
    fn line_start(&mut self, name: &str, suffix: &str, tail: &[u8]) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        let labels = &self.labels.bytes[..];
        if !labels.is_empty() || !tail.is_empty() {
            self.out.push(b'{');
            Self::labels_into(&mut self.out, labels, tail);
            self.out.extend_from_slice(b"} ");
        } else {
            self.out.push(b' ');
        }
    }

    fn float(&mut self, v: f64) {
        let mut buffer = dtoa::Buffer::new();
        let s = if self.openmetrics {
            buffer.format(v)
        } else {
            format_float(&mut buffer, v)
        };
        self.out.extend_from_slice(s.as_bytes());
    }

    fn value(&mut self, v: Value) {
        match v {
            Value::Int(v) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Value::Uint(v) => self.uint(v),
            Value::Float(v) => self.float(v),
        }
    }

    fn uint(&mut self, v: u64) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn bucket(&mut self, i: usize, cumulative: u64) {
        self.out.extend_from_slice(&self.bucket_head);
        self.out.extend_from_slice(self.le_values[i].as_bytes());
        self.out.extend_from_slice(&self.bucket_rest);
        self.uint(cumulative);
        self.out.push(b'\n');
    }
}

/// One family's samples.
pub struct TextFamily<'a, 'w> {
    writer: &'a mut TextWriter<'w>,
    name: &'a str,
    /// `_total` for counters.
    suffix: &'static str,
}

impl<'w> Exposition for TextWriter<'w> {
    type Family<'a>
        = TextFamily<'a, 'w>
    where
        Self: 'a;

    fn family<'a>(
        &'a mut self,
        name: &'a str,
        help: &str,
        kind: Kind,
    ) -> Result<TextFamily<'a, 'w>, fmt::Error> {
        let suffix = if kind == Kind::Counter { "_total" } else { "" };
        let kind_name = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        };
        // OpenMetrics names the family without `_total`, and prints HELP as it is; the
        // classic format names the counter's samples, and escapes HELP.
        let descriptor_suffix = if self.openmetrics { "" } else { suffix };
        for (line, text) in [("# HELP ", help), ("# TYPE ", kind_name)] {
            self.out.extend_from_slice(line.as_bytes());
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(descriptor_suffix.as_bytes());
            self.out.push(b' ');
            if self.openmetrics || line == "# TYPE " {
                self.out.extend_from_slice(text.as_bytes());
            } else {
                escape_help_into(&mut self.out, text);
            }
            self.out.push(b'\n');
        }
        self.labels.clear();
        self.maybe_flush()?;
        Ok(TextFamily {
            writer: self,
            name,
            suffix,
        })
    }
}

impl FamilySink for TextFamily<'_, '_> {
    fn gauge_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        let w = &mut *self.writer;
        let tail = w.set_labels(labels);
        w.line_start(self.name, "", tail);
        w.value(value);
        w.out.push(b'\n');
        w.maybe_flush()
    }

    fn counter_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        let w = &mut *self.writer;
        let tail = w.set_labels(labels);
        w.line_start(self.name, self.suffix, tail);
        match value {
            Value::Int(v) => w.uint(v.max(0) as u64),
            v => w.value(v),
        }
        w.out.push(b'\n');
        w.maybe_flush()
    }

    fn histogram(&mut self, labels: &dyn LabelSet, h: &HistogramSample) -> fmt::Result {
        let (w, name) = (&mut *self.writer, self.name);
        let tail = w.set_labels(labels);
        w.le_values(h.bounds);
        w.bucket_parts(name, tail);
        let totals = |w: &mut TextWriter| {
            w.line_start(name, "_sum", tail);
            w.float(h.sum);
            w.out.push(b'\n');
            w.line_start(name, "_count", tail);
            w.uint(h.count);
            w.out.push(b'\n');
        };
        if w.openmetrics {
            totals(w);
        }
        let mut cumulative = 0;
        for (i, n) in h.counts.iter().enumerate().take(h.bounds.len() + 1) {
            cumulative += n;
            w.bucket(i, cumulative);
        }
        if !w.openmetrics {
            totals(w);
        }
        w.maybe_flush()
    }
}

/// Appends `value` with `\`, `"` and newline escaped.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    // Most values need nothing: one pass that the compiler can widen, then a copy.
    let special = value
        .bytes()
        .fold(false, |found, b| found | matches!(b, b'\\' | b'"' | b'\n'));
    if !special {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Appends HELP text with `\` and newline escaped (the classic format).
fn escape_help_into(out: &mut Vec<u8>, help: &str) {
    for b in help.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// A sample value in the classic format.
fn format_float(buffer: &mut dtoa::Buffer, v: f64) -> &str {
    if v.is_finite() {
        buffer.format_finite(v)
    } else {
        nonfinite(v)
    }
}

fn nonfinite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v.is_sign_positive() {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// A bucket bound in the classic format, as Go's client prints it: integers without a
/// fraction, small and large numbers with an exponent of at least two digits.
fn go_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e6 {
        return itoa::Buffer::new().format(v as i64).to_string();
    }
    if (1e-4..1e6).contains(&v.abs()) {
        return format!("{v}");
    }
    if !v.is_finite() {
        return nonfinite(v).to_string();
    }
    let sci = format!("{v:e}");
    match sci.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            format!("{mantissa}e{exponent:+03}")
        }
        None => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_print_as_go_prints_them() {
        for (v, s) in [
            (0.0, "0"),
            (1.0, "1"),
            (2.5, "2.5"),
            (0.005, "0.005"),
            (86400.0, "86400"),
            (1e6, "1e+06"),
            (1.5e7, "1.5e+07"),
            (0.00001, "1e-05"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_float(v), s, "{v}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\\b\"c\nd λ");
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\\b\\\"c\\nd λ");
    }
}
