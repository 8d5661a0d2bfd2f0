//! `dcs_exporter_task_panics_total`: the long-lived tasks' panics caught and restarted, read
//! at scrape time. Every kind of task is listed, at zero until one panics, so that an alert on
//! its increase sees the series from the start.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;

use crate::supervisor;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

#[derive(Debug, Default)]
pub struct TaskPanicsCollector;

impl Collector for TaskPanicsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let mut metric = encoder.encode_descriptor(
            "dcs_exporter_task_panics",
            "Panics of the exporter's long-lived tasks (scan, discovery, slow_log, dbss, credentials), each caught, logged and the task started again after a backoff: a bug, worth a report",
            None,
            MetricType::Counter,
        )?;
        for (task, count) in supervisor::panics() {
            metric
                .encode_family(&TaskLabels {
                    task: task.as_str(),
                })?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&count, None)?;
        }
        Ok(())
    }
}
