//! What one big frame costs the server, measured on the live heap (counted exactly by a
//! wrapping global allocator; in its own test binary so the count is this test's alone).
//!
//! A frame of 500,000 small JSON values just under `max_frame_size` (1 MiB) costs tens of
//! times its size once parsed (about 75 MiB at its peak). Before login it is refused
//! unparsed for its size (`max_frame_size_anonymous`); after login, for its number of values
//! (`max_frame_values`): either way it costs about the frame itself. Parsed (with the value
//! limit raised), everything parsed is freed once the call is answered.
#![allow(clippy::unwrap_used)]

mod common;

use roost_core::json;
use roost_testkit::ws::{connect, WsClient};
use roost_transport::PrimusConfig;

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const MIB: usize = 1024 * 1024;

/// A logged-in-or-not client of a fresh server, warmed up, and the big frame.
async fn client(config: PrimusConfig, logged_in: bool) -> (WsClient, String) {
    let app = common::app();
    let (addr, _primus) = common::start_with(app.clone(), config.clone(), None).await;
    let mut client = connect(addr, "/primus").await.unwrap();
    client.call(1, "get", "echo", &[json!(1)]).await;
    client.ack(1).await;
    if logged_in {
        for id in app.connections().ids() {
            app.connection(id)
                .unwrap()
                .set_auth(json!({"id": 1}), json!({"strategy": "jwt"}));
        }
    }
    let zeros = (config.max_frame_size - 100) / 2;
    let frame = format!(
        r#"{{"type":0,"data":["create","echo",[{}0]],"id":2}}"#,
        "0,".repeat(zeros - 1)
    );
    assert!(frame.len() < config.max_frame_size);
    (client, frame)
}

/// Sends `frame`; the ack's error and the peak of the live heap above the baseline.
async fn peak_for(client: &mut WsClient, frame: &str) -> (serde_json::Value, usize) {
    let baseline = HEAP.allocated();
    client.send_text(frame).await;
    let (data, _) = client.ack(2).await;
    (
        data[0].clone(),
        HEAP.max_allocated().saturating_sub(baseline),
    )
}

#[tokio::test]
async fn a_big_frame_is_refused_unparsed_and_what_is_parsed_is_freed() {
    let config = PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    };
    // Peaks only grow, so the cases run from the cheapest to the dearest.
    let (mut anonymous, frame) = client(config.clone(), false).await;
    let (error, anonymous_peak) = peak_for(&mut anonymous, &frame).await;
    assert_eq!(error["name"], "BadRequest");
    assert_eq!(error["data"]["limit"], 65536, "{error}");
    drop(anonymous);

    let (mut logged_in, _) = client(config.clone(), true).await;
    let (error, logged_in_peak) = peak_for(&mut logged_in, &frame).await;
    assert_eq!(error["name"], "BadRequest");
    assert_eq!(error["data"]["limit"], 20000, "{error}");
    drop(logged_in);

    let raised = PrimusConfig {
        max_frame_values: usize::MAX,
        ..config
    };
    let (mut parsing, _) = client(raised, true).await;
    let baseline = HEAP.allocated();
    let (error, parsed_peak) = peak_for(&mut parsing, &frame).await;
    // Parsed, then refused by the service (echo has no create).
    assert_eq!(error["name"], "NotImplemented", "{error}");
    parsing.call(3, "get", "echo", &[json!(3)]).await;
    parsing.ack(3).await;
    let after = HEAP.allocated().saturating_sub(baseline);
    eprintln!(
        "frame {} KiB: peak live heap {} KiB before login, {} KiB logged in (both refused \
         unparsed), {} KiB parsed; {} KiB still live after the answer",
        frame.len() / 1024,
        anonymous_peak / 1024,
        logged_in_peak / 1024,
        parsed_peak / 1024,
        after / 1024,
    );
    // Refused frames are read into memory (client and server copies, the read buffer grown
    // to their size), never parsed.
    assert!(anonymous_peak < 8 * MIB, "{} KiB", anonymous_peak / 1024);
    assert!(logged_in_peak < 8 * MIB, "{} KiB", logged_in_peak / 1024);
    assert!(parsed_peak > 8 * MIB, "{} KiB", parsed_peak / 1024);
    // Every parsed value is freed. What stays is the test client's write buffer, grown to
    // the frame's size for the connection's life (`max_frame_size` bounds it); the server's
    // websocket reader releases the frame once it is delivered.
    assert!(after < 2 * MIB, "{} KiB left live", after / 1024);
}
