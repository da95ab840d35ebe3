//! The Socket.IO twin of `primus_large_event.rs`: one large event to many websocket-only
//! Socket.IO connections costs one copy of its payload, not one per connection. Roost encodes
//! the event once as a whole Engine.IO packet and queues clones of the same bytes; its own
//! Engine.IO websocket writer sends a long packet as fragments that are slices of them.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;
mod raw_ws;
mod sio_client;

use roost_core::json;
use std::time::Duration;

flood_kit::count_the_heap!();

const SUBSCRIBERS: usize = 32;
const PAYLOAD: usize = 8 << 20;

#[tokio::test]
async fn one_large_event_to_many_socketio_connections_costs_one_payload() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut s = raw_ws::connect(addr, sio_client::WS_PATH).await;
        let open = raw_ws::read_message(&mut s, &mut buf, 1).await;
        assert_eq!(open.head, b"0", "the Engine.IO open packet");
        raw_ws::send_text(&mut s, "40").await;
        let joined = raw_ws::read_engineio(&mut s, &mut buf, 3).await;
        assert_eq!(joined.head, b"40{", "the namespace connect");
        subscribers.push(s);
    }
    sio_client::eventually("every connection joined", || {
        socketio.connection_count() == SUBSCRIBERS
    })
    .await;
    let app = socketio.app().clone();
    let event = |text: String| json!({"text": text});
    assert_eq!(app.send_to_all("big", event("w".into())), SUBSCRIBERS);
    for s in &mut subscribers {
        let warm = raw_ws::read_engineio(s, &mut buf, 3).await;
        assert_eq!(warm.head, b"42[");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let baseline = live_kib();

    assert_eq!(
        app.send_to_all("big", event("x".repeat(PAYLOAD))),
        SUBSCRIBERS
    );
    let peak = raw_ws::peak_over(Duration::from_millis(700), live_kib).await;
    // Kept open to the end: `after` is read with every connection still open.
    let read = raw_ws::read_each(subscribers, 3, true).await;
    for (_, seen) in &read {
        assert!(
            seen.len > PAYLOAD,
            "every subscriber got the whole message, not {} bytes starting {:?}",
            seen.len,
            String::from_utf8_lossy(&seen.head)
        );
        assert_eq!((&seen.head[..], seen.last), (&b"42["[..], b']'));
    }
    flood_kit::wait_until(|| live_kib() <= baseline + 4096).await;
    let after = live_kib();
    flood_kit::assert_one_payload(SUBSCRIBERS, PAYLOAD / 1024, [baseline, peak, after]);
    drop(read);
}
