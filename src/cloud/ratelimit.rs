//! A per-account request rate: every call of one account waits its turn, so many nodes never
//! add up to more than the account's share of the API gateway's limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: Duration,
    /// When the next request may go.
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` requests a second, with bursts of up to a second's worth.
    pub fn new(per_second: f64) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let burst = Duration::from_secs(1).max(interval);
        // A full burst is available from the start.
        let now = Instant::now();
        Self {
            interval,
            burst,
            next: Mutex::new(now.checked_sub(burst).unwrap_or(now)),
        }
    }

    /// Waits for a turn; `false` when the turn would come after `deadline` (nothing is taken).
    pub async fn acquire(&self, deadline: Instant) -> bool {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            // Unused time accrues up to one burst.
            let slot = (*next).max(now.checked_sub(self.burst).unwrap_or(now));
            if slot > deadline {
                return false;
            }
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_requests() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        for _ in 0..30 {
            assert!(limiter.acquire(far).await);
        }
        // A burst of a second's worth (10), then 10 a second: 30 requests take about 2 s.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
        // With the turns used up, a turn past the deadline is refused at once.
        assert!(!limiter.acquire(Instant::now()).await);
    }
}
