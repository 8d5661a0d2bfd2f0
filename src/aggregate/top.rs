//! The N worst sessions by one value, kept while streaming.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::labels::UNKNOWN;
use super::node::TopClient;
use crate::session::ClientRef;

/// A top-N candidate ordered so the heap's top is the first to go: the smallest value, and
/// among equal values the largest address (so the result does not depend on page order).
#[derive(PartialEq, Eq)]
struct Ranked(TopClient);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .value
            .cmp(&self.0.value)
            .then_with(|| self.0.client_addr.cmp(&other.0.client_addr))
            .then_with(|| self.0.id.cmp(&other.0.id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The N largest by value, kept while streaming.
pub(super) struct TopN {
    limit: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopN {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// Whether a candidate beats the worst kept one, by the same order as [`Ranked`], without
    /// building it.
    #[inline]
    pub(super) fn would_keep(&self, value: i64, addr: &str, id: &str) -> bool {
        if self.limit == 0 {
            return false;
        }
        match self.heap.peek() {
            _ if self.heap.len() < self.limit => true,
            Some(Ranked(worst)) => {
                (value, std::cmp::Reverse(addr), std::cmp::Reverse(id))
                    > (
                        worst.value,
                        std::cmp::Reverse(worst.client_addr.as_str()),
                        std::cmp::Reverse(worst.id.as_str()),
                    )
            }
            None => true,
        }
    }

    #[inline]
    pub(super) fn offer(&mut self, client: &ClientRef<'_>, addr: &str, value: i64) {
        if !self.would_keep(value, addr, client.id.as_deref().unwrap_or_default()) {
            return;
        }
        let text =
            |v: &Option<Cow<'_, str>>, absent: &str| v.as_deref().unwrap_or(absent).to_string();
        self.heap.push(Ranked(TopClient {
            id: text(&client.id, ""),
            client_addr: addr.to_string(),
            client_name: text(&client.name, ""),
            user: text(&client.user, UNKNOWN),
            db: text(&client.db, UNKNOWN),
            cmd: text(&client.cmd, ""),
            value,
        }));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    pub(super) fn into_sorted(self) -> Vec<TopClient> {
        // Ranked orders best last: ascending order of Ranked is best first.
        let mut v: Vec<Ranked> = self.heap.into_vec();
        v.sort();
        // Sessions that would show the same labels (several unix-socket clients, say) are one
        // series: the largest value stands for them.
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .map(|r| r.0)
            .filter(|c| {
                seen.insert((
                    c.client_addr.clone(),
                    c.client_name.clone(),
                    c.user.clone(),
                    c.db.clone(),
                    c.cmd.clone(),
                ))
            })
            .collect()
    }
}
