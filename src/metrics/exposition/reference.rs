//! [`Exposition`] on prometheus-client's own encoders: how the families reach a
//! `Registry` (a [`Collector`](prometheus_client::collector::Collector)), and the reference the
//! writers are tested against.

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, MetricEncoder,
    NativeHistogram, NativeHistogramBuckets, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use super::{Exposition, FamilySink, HistogramSample, Kind, LabelSet, Value};

impl Exposition for DescriptorEncoder<'_> {
    type Family<'a>
        = MetricEncoder<'a>
    where
        Self: 'a;

    fn family<'a>(
        &'a mut self,
        name: &'a str,
        help: &str,
        kind: Kind,
    ) -> Result<MetricEncoder<'a>, fmt::Error> {
        let kind = match kind {
            Kind::Gauge => MetricType::Gauge,
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
        };
        self.encode_descriptor(name, help, None, kind)
    }
}

/// A [`LabelSet`] as prometheus-client takes it.
struct Labels<'a>(&'a dyn LabelSet);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        let mut result = Ok(());
        self.0.each(&mut |name, value| {
            if result.is_ok() {
                result = EncodeLabel::encode(&(name, value), encoder.encode_label());
            }
        });
        result
    }
}

impl FamilySink for MetricEncoder<'_> {
    fn gauge_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        let labels = Labels(labels);
        let mut metric = self.encode_family(&labels)?;
        match value {
            Value::Int(v) => metric.encode_gauge(&v),
            Value::Uint(v) => metric.encode_gauge(&v),
            Value::Float(v) => metric.encode_gauge(&v),
        }
    }

    fn counter_value(&mut self, labels: &dyn LabelSet, value: Value) -> fmt::Result {
        let labels = Labels(labels);
        let mut metric = self.encode_family(&labels)?;
        match value {
            Value::Int(v) => metric.encode_counter::<NoLabelSet, _, f64>(&(v.max(0) as u64), None),
            Value::Uint(v) => metric.encode_counter::<NoLabelSet, _, f64>(&v, None),
            Value::Float(v) => metric.encode_counter::<NoLabelSet, _, f64>(&v, None),
        }
    }

    fn histogram(&mut self, labels: &dyn LabelSet, h: &HistogramSample) -> fmt::Result {
        let labels = Labels(labels);
        let mut metric = self.encode_family(&labels)?;
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(h.counts.iter().copied())
            .collect();
        let Some(native) = h.native else {
            return metric.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None);
        };
        let empty = NativeHistogramBuckets {
            spans: &[],
            deltas: &[],
        };
        metric.encode_histogram_with_native::<NoLabelSet>(
            h.sum,
            h.count,
            &buckets,
            None,
            NativeHistogram {
                schema: crate::aggregate::native::SCHEMA,
                zero_threshold: crate::aggregate::native::ZERO_THRESHOLD,
                zero_count: native.zero_count,
                negative: empty,
                positive: NativeHistogramBuckets {
                    spans: native.spans,
                    deltas: native.deltas,
                },
                created: None,
            },
        )
    }
}
