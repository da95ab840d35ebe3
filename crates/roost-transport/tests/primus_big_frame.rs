//! What one big frame costs the server, measured on the live heap (counted exactly by a
//! wrapping global allocator; in its own test binary so the count is this test's alone).
//!
//! A frame of 500,000 small JSON values just under `max_frame_size` (1 MiB) costs tens of
//! times its size once parsed. Before login it is refused unparsed (above
//! `max_frame_size_anonymous`), so it costs about the frame itself; after login it is parsed
//! (about 75 MiB at its peak for this shape), and everything parsed is freed once the call
//! is answered.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;

use roost_core::json;
use roost_testkit::ws::connect;
use roost_transport::PrimusConfig;

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_big_frame_costs_little_before_login_and_is_freed_after() {
    let config = PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    };
    let app = common::app();
    let (addr, _primus) = common::start_with(app.clone(), config.clone(), None).await;
    let mut client = connect(addr, "/primus").await.unwrap();
    // Warm up (buffers, the connection's registration) before the baseline.
    client.call(1, "get", "echo", &[json!(1)]).await;
    client.ack(1).await;
    let zeros = (config.max_frame_size - 100) / 2;
    let frame = format!(
        r#"{{"type":0,"data":["create","echo",[{}0]],"id":2}}"#,
        "0,".repeat(zeros - 1)
    );
    assert!(frame.len() < config.max_frame_size);

    let baseline = HEAP.allocated();
    client.send_text(&frame).await;
    let (data, _) = client.ack(2).await;
    assert_eq!(data[0]["name"], "BadRequest", "{data}");
    let anonymous_peak = HEAP.max_allocated().saturating_sub(baseline);

    // Logged in: the same frame is parsed.
    for id in app.connections().ids() {
        app.connection(id)
            .unwrap()
            .set_auth(json!({"id": 1}), json!({"strategy": "jwt"}));
    }
    client.send_text(&frame).await;
    let (data, _) = client.ack(2).await;
    assert!(data[0].is_object(), "{data}");
    let parsed_peak = HEAP.max_allocated().saturating_sub(baseline);
    client.call(3, "get", "echo", &[json!(3)]).await;
    client.ack(3).await;
    let after = HEAP.allocated().saturating_sub(baseline);
    eprintln!(
        "frame {} KiB: peak live heap {} KiB before login (refused unparsed), {} KiB after \
         login (parsed); {} KiB still live after the answer",
        frame.len() / 1024,
        anonymous_peak / 1024,
        parsed_peak / 1024,
        after / 1024,
    );
    // The frame itself is read into memory (client and server copies, the read buffer
    // grown to its size), never parsed.
    assert!(
        anonymous_peak < 8 * MIB,
        "{} KiB for a refused frame",
        anonymous_peak / 1024
    );
    assert!(parsed_peak > anonymous_peak);
    // Every parsed value is freed. What stays are two buffers grown to the frame's size
    // for the connection's life: the test client's write buffer, and the server's read
    // buffer (tungstenite splits each message off its read buffer, and the buffer keeps the
    // allocation). `max_frame_size` bounds both.
    assert!(after < 3 * MIB, "{} KiB left live", after / 1024);
    let _ = flood_kit::rss_kib();
}
