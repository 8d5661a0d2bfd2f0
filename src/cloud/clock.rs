//! The service's clock, as its answers tell it (their `Date` header). Times the service
//! writes (a stored list's `time`, a job's begin and end) are judged against it, never against
//! the local clock: the two may differ by minutes and every call still succeeds, as the API
//! gateway accepts signatures up to 15 minutes off.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// A difference from the local clock worth a warning: beyond it, the local clock is most
/// likely wrong, and at 15 minutes the gateway refuses every signature.
pub const LARGE_OFFSET: Duration = Duration::from_secs(30);

/// The service clock minus the local clock, learnt from the latest answer.
#[derive(Debug, Default)]
pub struct ServiceClock {
    offset_ms: AtomicI64,
    known: AtomicBool,
    warned: AtomicBool,
}

fn signed_millis(later: SystemTime, earlier: SystemTime) -> i64 {
    match later.duration_since(earlier) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl ServiceClock {
    /// Takes an answer's `Date` header, received at `received` by the local clock. The header
    /// has whole seconds and is written before the answer travels: half a second is added, so
    /// the estimate is centred.
    pub fn observe(&self, date_header: &str, received: SystemTime) {
        let Ok(date) = httpdate::parse_http_date(date_header.trim()) else {
            return;
        };
        let offset = signed_millis(date + Duration::from_millis(500), received);
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
        let large = offset.unsigned_abs() > LARGE_OFFSET.as_millis() as u64;
        if large && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                offset_seconds = offset as f64 / 1000.0,
                "the service's clock and this machine's differ by more than {} s: check NTP here \
                 (the service's own times are used for staleness; at 15 minutes it refuses every signature)",
                LARGE_OFFSET.as_secs()
            );
        } else if !large {
            self.warned.store(false, Ordering::Relaxed);
        }
    }

    /// The offset in seconds, negative when the service is behind.
    pub fn offset_seconds(&self) -> Option<f64> {
        self.known
            .load(Ordering::Relaxed)
            .then(|| self.offset_ms.load(Ordering::Relaxed) as f64 / 1000.0)
    }

    /// The service's time now; the local time until an answer has told it.
    pub fn now(&self) -> SystemTime {
        let local = SystemTime::now();
        if !self.known.load(Ordering::Relaxed) {
            return local;
        }
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let shift = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            local + shift
        } else {
            local.checked_sub(shift).unwrap_or(local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_offset_from_date_headers() {
        let clock = ServiceClock::default();
        assert_eq!(clock.offset_seconds(), None);
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        // The service is 20 s behind.
        let service = httpdate::fmt_http_date(local - Duration::from_secs(20));
        clock.observe(&service, local);
        assert_eq!(clock.offset_seconds(), Some(-19.5));
        let ahead = httpdate::fmt_http_date(local + Duration::from_secs(300));
        clock.observe(&ahead, local);
        assert_eq!(clock.offset_seconds(), Some(300.5));
        // An unreadable header changes nothing.
        clock.observe("yesterday", local);
        assert_eq!(clock.offset_seconds(), Some(300.5));
        let drift = clock
            .now()
            .duration_since(SystemTime::now())
            .unwrap()
            .as_secs_f64();
        assert!((299.0..302.0).contains(&drift), "{drift}");
    }
}
