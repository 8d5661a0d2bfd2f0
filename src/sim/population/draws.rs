//! Random draws of a session's fields, with realistic skews: most sessions busy, some idle for
//! days; db 0 mostly; buffers empty but now and then many megabytes. Times in milliseconds.
//! Each function draws in a fixed order: a seed gives the same sessions on every run.

use rand::RngExt;
use rand::rngs::StdRng;

use super::profile::{ClientHost, USERS};
use super::session::Activity;

pub(super) const HOT_COMMANDS: [&str; 10] = [
    "get", "set", "hget", "hset", "mget", "incr", "expire", "evalsha", "zadd", "lpush",
];
const IDLE_COMMANDS: [&str; 5] = ["ping", "select", "auth", "client|setname", "info"];

pub(super) const SECOND: f64 = 1000.0;
pub(super) const MINUTE: f64 = 60.0 * SECOND;
pub(super) const HOUR: f64 = 60.0 * MINUTE;
pub(super) const DAY: f64 = 24.0 * HOUR;

/// How often a new session sends commands; subscribers mostly wait.
pub(super) fn activity(rng: &mut StdRng, subscriber: bool) -> Activity {
    if subscriber {
        Activity::Cold
    } else {
        match rng.random_range(0..100) {
            0..55 => Activity::Hot,
            55..90 => Activity::Warm,
            _ => Activity::Cold,
        }
    }
}

/// How long a new session has been idle.
pub(super) fn idle(rng: &mut StdRng, activity: Activity) -> f64 {
    match activity {
        Activity::Hot => exponential(rng, 1.5 * SECOND),
        Activity::Warm => log_uniform(rng, 5.0 * SECOND, 2.0 * HOUR),
        Activity::Cold => log_uniform(rng, 2.0 * HOUR, 10.0 * DAY),
    }
}

/// A new session's channels, patterns and last command.
pub(super) fn subscriptions(
    rng: &mut StdRng,
    subscriber: bool,
    activity: Activity,
) -> (u16, u16, &'static str) {
    if subscriber {
        if rng.random_bool(0.3) {
            (0, rng.random_range(1..=4), "psubscribe")
        } else {
            (rng.random_range(1..=20), 0, "subscribe")
        }
    } else if activity == Activity::Hot {
        (0, 0, HOT_COMMANDS[rng.random_range(0..HOT_COMMANDS.len())])
    } else {
        (
            0,
            0,
            IDLE_COMMANDS[rng.random_range(0..IDLE_COMMANDS.len())],
        )
    }
}

/// The database a new session selected.
pub(super) fn db(rng: &mut StdRng) -> u8 {
    if rng.random_bool(0.7) {
        0
    } else {
        // Geometric: db 1 is common, db 15 rare.
        let mut db = 1;
        while db < 15 && rng.random_bool(0.5) {
            db += 1;
        }
        db
    }
}

/// A new session's user and client name: mostly its host's.
pub(super) fn user_and_name(rng: &mut StdRng, host: &ClientHost) -> (&'static str, &'static str) {
    let user = if rng.random_bool(0.85) {
        host.user
    } else {
        USERS[rng.random_range(0..USERS.len())]
    };
    let name = if rng.random_bool(0.8) { host.app } else { "" };
    (user, name)
}

/// A new session's `multi`: in a transaction now and then, else -1.
pub(super) fn multi(rng: &mut StdRng) -> i16 {
    if rng.random_bool(0.01) {
        rng.random_range(1..=5)
    } else {
        -1
    }
}

/// A new session's query buffer: mostly empty.
pub(super) fn qbuf(rng: &mut StdRng) -> u32 {
    if rng.random_bool(0.1) {
        log_uniform(rng, 26.0, 32768.0) as u32
    } else {
        0
    }
}

/// A new session's output buffer: mostly empty, more often full for subscribers.
pub(super) fn omem(rng: &mut StdRng, subscriber: bool) -> u64 {
    if rng.random_bool(if subscriber { 0.1 } else { 0.015 }) {
        output_memory(rng, subscriber)
    } else {
        0
    }
}

/// A non-zero output buffer: mostly small, now and then many megabytes.
pub(super) fn output_memory(rng: &mut StdRng, subscriber: bool) -> u64 {
    let large = rng.random_bool(if subscriber { 0.5 } else { 0.3 });
    if large {
        log_uniform(rng, 1024.0 * 1024.0, 64.0 * 1024.0 * 1024.0) as u64
    } else {
        log_uniform(rng, 1024.0, 256.0 * 1024.0) as u64
    }
}

pub(super) fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random_range(0.0..1.0f64)).ln()
}

pub(super) fn log_uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    (low.ln() + rng.random_range(0.0..1.0f64) * (high.ln() - low.ln())).exp()
}
