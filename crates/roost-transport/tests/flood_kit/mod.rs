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

/// Waits until `cond` holds, 10 s at the most; the caller asserts what it needs after.
pub(crate) async fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The memory verdict of a flood test from its readings before the floods, after one flood
/// and after three (`rss` in KiB from [`rss_kib`], `live` in KiB from [`live_kib`]): the
/// later floods must not grow the live heap (a leak of even 16 bytes per frame, or a few
/// hundred bytes per closed connection, would show), the first one barely, and RSS keeps a
/// loose bound. `what` names the 10,000 malformed things of a flood.
pub(crate) fn assert_no_leak(what: &str, rss: [u64; 3], live: [usize; 3]) {
    let ([baseline, after_one, after_three], [live_baseline, live_one, live_three]) = (rss, live);
    println!(
        "RSS: baseline {baseline} KiB, after 1 flood {after_one} KiB, after 3 {after_three} KiB; \
         live heap: {live_baseline} → {live_one} → {live_three} KiB"
    );
    assert!(
        live_three <= live_one + 256,
        "the live heap keeps growing: {live_baseline} KiB → {live_one} KiB after 10,000 \
         malformed {what} → {live_three} KiB after 30,000"
    );
    assert!(
        live_one <= live_baseline + 1024,
        "live heap {live_baseline} KiB → {live_one} KiB after one flood"
    );
    assert!(
        after_three <= baseline + 32 * 1024,
        "RSS {baseline} KiB → {after_one} KiB → {after_three} KiB"
    );
}

/// The verdict of a large-event test, live heap in KiB: while `subscribers` connections
/// received one event with a `payload_kib` field, the heap held the event's JSON value and
/// its one encoded frame (about a payload each) plus a little per connection (each keeps a
/// clone of the shared frame until it is written), where a copy per connection would be
/// `subscribers` payloads; afterwards no connection keeps a message-sized buffer.
pub(crate) fn assert_one_payload(
    subscribers: usize,
    payload_kib: usize,
    [baseline, peak, after]: [usize; 3],
) {
    println!(
        "live heap: {baseline} KiB before, peak {peak} KiB while {subscribers} connections \
         received a {payload_kib} KiB event, {after} KiB after"
    );
    assert!(
        peak <= baseline + 3 * payload_kib + subscribers * 128,
        "live heap {baseline} KiB → {peak} KiB for one {payload_kib} KiB event to \
         {subscribers} connections"
    );
    assert!(
        after <= baseline + subscribers * 64 + 1024,
        "live heap {baseline} KiB → {after} KiB after the event was read"
    );
}

/// Declares this test binary's global allocator, a `cap::Cap` that counts the live heap, and
/// `live_kib()` reading it (a `#[global_allocator]` belongs to one binary, so each memory
/// test declares its own with this).
macro_rules! count_the_heap {
    () => {
        #[global_allocator]
        static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

        fn live_kib() -> usize {
            flood_kit::live_kib(&HEAP)
        }
    };
}
pub(crate) use count_the_heap;
