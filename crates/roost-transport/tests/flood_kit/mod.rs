//! What the flood tests share: a seeded generator, the two kinds of junk frame, and the two
//! memory readings (RSS from /proc, the live heap from the test binary's counting allocator,
//! which each flood test declares itself: a `#[global_allocator]` belongs to one binary).
#![allow(dead_code)]

/// xorshift64*, so a flood is the same on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One frame of a flood.
pub(crate) enum Junk {
    /// A websocket text frame.
    Text(String),
    /// A websocket binary frame.
    Binary(Vec<u8>),
}

/// Resident memory of this process in KiB, from /proc (Linux).
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes allocated and not yet freed, in KiB, from a `cap::Cap` global allocator.
pub(crate) fn live_kib(heap: &cap::Cap<std::alloc::System>) -> usize {
    heap.allocated() / 1024
}
