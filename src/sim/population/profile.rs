//! The machines a node's clients connect from: their addresses, their share of the sessions,
//! and the application and user each mostly runs as.

use rand::RngExt;
use rand::rngs::StdRng;

pub(super) const USERS: [&str; 5] = ["default", "app", "reporting", "admin", "readonly"];
const APPS: [&str; 8] = [
    "orders-api",
    "checkout-worker",
    "session-store",
    "celery",
    "inventory-sync",
    "rate-limiter",
    "reporting-job",
    "notifier",
];

/// A machine that clients connect from.
#[derive(Clone, Debug)]
pub struct ClientHost {
    pub ip: String,
    /// Relative share of the sessions.
    pub weight: f64,
    pub app: &'static str,
    pub user: &'static str,
}

/// Where a node's sessions come from.
#[derive(Clone, Debug)]
pub struct ClientProfile {
    pub hosts: Vec<ClientHost>,
    /// `None` with IP pass-through; otherwise the internal address `addr` shows.
    pub internal_ip: Option<String>,
}

impl ClientProfile {
    /// `count` hosts with Zipf-like weights: a few machines hold most sessions.
    pub fn generate(rng: &mut StdRng, count: u32, internal_ip: Option<String>) -> Self {
        let subnet: u8 = rng.random_range(0..=200);
        let hosts = (0..count)
            .map(|i| ClientHost {
                ip: format!("10.{}.{}.{}", subnet, (i / 250) as u8, (i % 250) as u8 + 2),
                weight: 1.0 / f64::from(i + 1),
                app: APPS[rng.random_range(0..APPS.len())],
                user: USERS[usize::from(rng.random_bool(0.4))],
            })
            .collect();
        Self { hosts, internal_ip }
    }
}
