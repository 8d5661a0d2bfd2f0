//! The service's clock: times as milliseconds since the epoch, written as the service writes
//! them, and the shift of a simulator whose clock is off.

use std::time::{Duration, SystemTime};

/// Milliseconds since the epoch (0 before it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2020-06-19T07:06:07Z`, as the slow log shows its times.
pub fn format_time_seconds(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs((ms.max(0) / 1000) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `2023-06-15T03:10:01.332Z`, as the service shows a stored list's time.
pub fn format_time(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `t` moved by `offset_ms` milliseconds.
pub(crate) fn shifted(t: SystemTime, offset_ms: i64) -> SystemTime {
    let by = std::time::Duration::from_millis(offset_ms.unsigned_abs());
    if offset_ms >= 0 {
        t + by
    } else {
        t.checked_sub(by).unwrap_or(t)
    }
}
