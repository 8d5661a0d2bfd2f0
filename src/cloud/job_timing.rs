//! How long an account's jobs take: the first look at a new job waits about that long, so
//! polling costs few calls of the account's rate.

use std::time::Duration;

/// How long an account's jobs take, learnt from the ones that ended: a moving average.
#[derive(Debug, Default)]
pub struct JobTiming {
    /// Milliseconds; 0 until a job has ended.
    average_ms: std::sync::atomic::AtomicU64,
}

impl JobTiming {
    /// When a new job has most likely ended: a little after the average.
    pub(crate) fn first_look(&self) -> Option<Duration> {
        let ms = self.average_ms.load(std::sync::atomic::Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms + ms / 10 + 100))
    }

    pub(crate) fn record(&self, took: Duration) {
        // Jobs of an hour are not waited on; their times would only skew the average.
        let took = took.min(Duration::from_secs(3600)).as_millis() as u64;
        let average = &self.average_ms;
        let old = average.load(std::sync::atomic::Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 3 + took) / 4 };
        // Another job's time may land at once; either is a fair average.
        average.store(new.max(1), std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_timing_learns_how_long_jobs_take() {
        let timing = JobTiming::default();
        assert_eq!(timing.first_look(), None);
        timing.record(Duration::from_secs(2));
        // A tenth and 100 ms after the average.
        assert_eq!(timing.first_look(), Some(Duration::from_millis(2300)));
        // A moving average: one slow job moves it a quarter of the way.
        timing.record(Duration::from_secs(6));
        assert_eq!(timing.first_look(), Some(Duration::from_millis(3400)));
        for _ in 0..40 {
            timing.record(Duration::from_millis(400));
        }
        assert_eq!(timing.first_look(), Some(Duration::from_millis(540)));
        // Instant jobs still count as having taken some time.
        timing.record(Duration::ZERO);
        assert!(timing.first_look().is_some());
    }
}
