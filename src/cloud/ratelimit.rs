//! A per-account request rate: every call of one account waits its turn, so many nodes never
//! add up to more than the account's share of the API gateway's limit.
//!
//! The configured rate is a ceiling. The gateway's real quota is not published and is shared
//! with the account's other tools, so the rate adapts: each throttled answer halves it, and
//! answers that get through win it back a little at a time (additive increase, multiplicative
//! decrease, as TCP finds a link's capacity).
use std::time::Duration;

use parking_lot::Mutex;

use tokio::time::Instant;

/// The rate never falls below this, so a throttled account still makes progress.
pub const MIN_PER_SECOND: f64 = 0.5;
/// Answers that get through before a halved rate is back to its ceiling.
const RECOVERY_ANSWERS: f64 = 100.0;

#[derive(Debug)]
pub struct RateLimiter {
    ceiling: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    per_second: f64,
    /// When the next request may go.
    next: Instant,
}

impl RateLimiter {
    /// `per_second` requests a second at most, with bursts of up to a second's worth.
    pub fn new(per_second: f64) -> Self {
        let ceiling = per_second.max(MIN_PER_SECOND);
        // A full burst is available from the start.
        let now = Instant::now();
        Self {
            ceiling,
            state: Mutex::new(State {
                per_second: ceiling,
                next: now.checked_sub(burst(ceiling)).unwrap_or(now),
            }),
        }
    }

    /// Waits for a turn; `false` when the turn would come after `deadline` (nothing is taken).
    pub async fn acquire(&self, deadline: Instant) -> bool {
        let slot = {
            let mut state = self.state.lock();
            let now = Instant::now();
            // Unused time accrues up to one burst.
            let burst = burst(state.per_second);
            let slot = state.next.max(now.checked_sub(burst).unwrap_or(now));
            if slot > deadline {
                return false;
            }
            state.next = slot + Duration::from_secs_f64(1.0 / state.per_second);
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }

    /// The gateway throttled a request: halve the rate.
    pub fn throttled(&self) {
        let mut state = self.state.lock();
        let halved = (state.per_second / 2.0).max(MIN_PER_SECOND);
        if halved < state.per_second {
            tracing::debug!(
                requests_per_second = halved,
                "throttled by the API gateway; slowing down"
            );
        }
        state.per_second = halved;
    }

    /// A request got through: win back part of the rate.
    pub fn answered(&self) {
        let mut state = self.state.lock();
        if state.per_second < self.ceiling {
            state.per_second =
                (state.per_second + self.ceiling / RECOVERY_ANSWERS).min(self.ceiling);
        }
    }

    /// The rate in force now.
    pub fn per_second(&self) -> f64 {
        self.state.lock().per_second
    }
}

fn burst(per_second: f64) -> Duration {
    Duration::from_secs(1).max(Duration::from_secs_f64(1.0 / per_second))
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

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_rate_and_answers_win_it_back() {
        let limiter = RateLimiter::new(100.0);
        limiter.throttled();
        limiter.throttled();
        assert_eq!(limiter.per_second(), 25.0);
        // At 25 a second, 50 turns past the first burst take about 2 s.
        let far = Instant::now() + Duration::from_secs(60);
        for _ in 0..25 {
            assert!(limiter.acquire(far).await);
        }
        let start = Instant::now();
        for _ in 0..50 {
            assert!(limiter.acquire(far).await);
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
        // Each answer gives back a hundredth of the ceiling; never more than the ceiling.
        for _ in 0..50 {
            limiter.answered();
        }
        assert_eq!(limiter.per_second(), 75.0);
        for _ in 0..500 {
            limiter.answered();
        }
        assert_eq!(limiter.per_second(), 100.0);
        // Never below the floor.
        for _ in 0..20 {
            limiter.throttled();
        }
        assert_eq!(limiter.per_second(), MIN_PER_SECOND);
    }
}
