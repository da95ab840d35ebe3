//! One large event to many Primus connections costs one copy of its payload, not one per
//! connection, while it is on its way and after it arrived. In its own test binary, so the
//! live heap (counted exactly by a wrapping global allocator) reflects this test alone.
//!
//! The subscribers are raw websocket clients that complete the handshake and then read
//! nothing: the server's writes stall with the payload part-sent, which is when copies per
//! connection would all be alive at once. Then each reads the message, counting its bytes
//! in a small reused buffer, so the test's own side adds almost nothing to the heap.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;
mod raw_ws;

use roost_core::json;
use std::time::Duration;

flood_kit::count_the_heap!();

const SUBSCRIBERS: usize = 32;
/// The large field of the event, in bytes.
const PAYLOAD: usize = 8 << 20;

#[tokio::test]
async fn one_large_event_to_many_connections_costs_one_payload() {
    let (addr, primus, _app) = common::start_app(common::no_heartbeat()).await;
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        subscribers.push(raw_ws::connect(addr, "/primus").await);
    }
    flood_kit::wait_until(|| primus.connection_count() == SUBSCRIBERS).await;
    assert_eq!(primus.connection_count(), SUBSCRIBERS);
    let app = primus.app().clone();
    let event = |text: String| json!({"text": text});
    // Warm up: a small event through every connection (writers, buffers), read by all.
    assert_eq!(app.send_to_all("big", event("w".into())), SUBSCRIBERS);
    let mut buf = vec![0u8; 64 * 1024];
    for s in &mut subscribers {
        raw_ws::read_message(s, &mut buf, 0).await;
    }
    let wire_len = roost_wire::primus::encode_event("big", &event("x".repeat(PAYLOAD))).len();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let baseline = live_kib();

    assert_eq!(
        app.send_to_all("big", event("x".repeat(PAYLOAD))),
        SUBSCRIBERS
    );
    // The writers push what the sockets take, then wait for readers that do not read.
    let peak = raw_ws::peak_over(Duration::from_millis(700), live_kib).await;

    // Kept open to the end: `after` is read with every connection still open.
    let read = raw_ws::read_each(subscribers, 1, false).await;
    for (_, seen) in &read {
        assert_eq!(seen.len, wire_len, "every subscriber got the whole message");
        assert_eq!((seen.head[0], seen.last), (b'{', b'}'));
    }
    // The last bytes were handed over; give the writers a moment to drop their clones.
    flood_kit::wait_until(|| live_kib() <= baseline + 4096).await;
    let after = live_kib();
    flood_kit::assert_one_payload(SUBSCRIBERS, PAYLOAD / 1024, [baseline, peak, after]);
    drop(read);
}
