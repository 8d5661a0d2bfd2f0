//! Ids as the services write them, drawn from the simulator's seeded generator so that a
//! topology gives the same ids on every run.

use rand::RngExt;
use rand::rngs::StdRng;

/// A UUID-looking id (8-4-4-4-12 hex), as DCS ids are.
pub(super) fn uuid_like(rng: &mut StdRng) -> String {
    let h = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A 32-hex-digit id, as job ids are.
pub(super) fn hex32(rng: &mut StdRng) -> String {
    format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
}
