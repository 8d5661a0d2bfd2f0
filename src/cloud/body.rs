//! The buffers answers are read into, kept for the calls that follow.
//!
//! A page of sessions is a few hundred KiB. A buffer that large is mapped by the allocator on
//! its own and unmapped when freed, so a fresh one costs a page fault and a zeroed page every
//! 4 KiB at every call (a fifth of the CPU of a scan of 1,000 sessions). A few buffers are
//! kept instead: a bounded number of bounded size, so that what is kept does not grow with the
//! calls in flight.

use std::ops::Deref;
use std::sync::Mutex;

/// Buffers kept at most.
const KEPT_BUFFERS: usize = 8;
/// Buffers from this capacity up are worth keeping: smaller ones come cheaply from the arenas.
const KEPT_FROM: usize = 64 * 1024;
/// Buffers past this capacity are freed: a rare huge answer does not stay resident.
const KEPT_UP_TO: usize = 2 << 20;

static KEPT: Kept = Kept::new();

/// The buffers kept, at most [`KEPT_BUFFERS`] of [`KEPT_FROM`] to [`KEPT_UP_TO`] bytes each.
struct Kept {
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Kept {
    const fn new() -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer with room for `size` bytes: a kept one when one is free.
    fn take(&self, size: usize) -> Vec<u8> {
        let mut bytes = if size >= KEPT_FROM {
            let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that holds the answer, else the largest, which grows.
            let fits = kept
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= size)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            let largest = || {
                kept.iter()
                    .enumerate()
                    .max_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            };
            fits.or_else(largest)
                .map(|i| kept.swap_remove(i))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        bytes.reserve(size);
        bytes
    }

    fn give_back(&self, mut bytes: Vec<u8>) {
        if !(KEPT_FROM..=KEPT_UP_TO).contains(&bytes.capacity()) {
            return;
        }
        bytes.clear();
        let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_BUFFERS {
            kept.push(bytes);
        }
    }
}

/// An answer's body; its buffer goes back to the kept ones when it is dropped.
#[derive(Debug)]
pub struct Body {
    bytes: Vec<u8>,
}

impl Body {
    /// An empty body with room for `size` bytes, in a kept buffer when one is free.
    pub(crate) fn with_capacity(size: usize) -> Self {
        Self {
            bytes: KEPT.take(size),
        }
    }

    pub(crate) fn extend_from_slice(&mut self, more: &[u8]) {
        self.bytes.extend_from_slice(more);
    }
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        KEPT.give_back(std::mem::take(&mut self.bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacities(kept: &Kept) -> Vec<usize> {
        let mut c: Vec<usize> = kept
            .buffers
            .lock()
            .unwrap()
            .iter()
            .map(Vec::capacity)
            .collect();
        c.sort_unstable();
        c
    }

    #[test]
    fn buffers_of_answers_are_kept_within_bounds_and_reused() {
        let kept = Kept::new();
        // Small and huge buffers are not kept.
        kept.give_back(Vec::with_capacity(1024));
        kept.give_back(Vec::with_capacity(KEPT_UP_TO + 1));
        assert!(capacities(&kept).is_empty());
        // A page-sized buffer is kept and serves the next answer that fits it, emptied.
        let mut bytes = kept.take(300_000);
        bytes.extend_from_slice(b"{\"clients\":[]}");
        let address = bytes.as_ptr();
        kept.give_back(bytes);
        assert_eq!(capacities(&kept).len(), 1);
        let again = kept.take(200_000);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty());
        assert!(capacities(&kept).is_empty());
        kept.give_back(again);
        // The smallest that fits is taken; with none fitting, the largest, grown.
        kept.give_back(Vec::with_capacity(500_000));
        kept.give_back(Vec::with_capacity(100_000));
        let middle = kept.take(150_000);
        assert!((300_000..500_000).contains(&middle.capacity()));
        let grown = kept.take(900_000);
        assert!(grown.capacity() >= 900_000);
        assert_eq!(capacities(&kept), [100_000]);
        kept.give_back(middle);
        kept.give_back(grown);
        // Never more than KEPT_BUFFERS, however many answers were in flight.
        let many: Vec<Vec<u8>> = (0..KEPT_BUFFERS + 5).map(|_| kept.take(100_000)).collect();
        for bytes in many {
            kept.give_back(bytes);
        }
        assert_eq!(capacities(&kept).len(), KEPT_BUFFERS);
        // A small answer takes none of them.
        assert!(kept.take(100).capacity() < KEPT_FROM);
        assert_eq!(capacities(&kept).len(), KEPT_BUFFERS);
    }

    #[test]
    fn a_body_reads_as_its_bytes() {
        let mut body = Body::with_capacity(10);
        body.extend_from_slice(b"{}");
        body.extend_from_slice(b" ");
        assert_eq!(&*body, b"{} ");
    }
}
