//! What an idle Primus connection costs the server, on the live heap (counted exactly by a
//! wrapping global allocator, in its own test binary), and that a large frame leaves nothing
//! behind: the websocket reader keeps no buffer while idle (issue #20). The clients are raw
//! sockets, which add nothing to the heap while idle.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;
mod raw_ws;
mod sio_client;

use roost_transport::PrimusConfig;
use std::time::Duration;
use tokio::net::TcpStream;

flood_kit::count_the_heap!();

const CONNECTIONS: usize = 500;

/// A Primus call `get echo <arg>` in one masked text frame (zero key), of any length.
async fn call(stream: &mut TcpStream, buf: &mut [u8], id: u64, arg: &str) {
    let text = format!(r#"{{"type":0,"data":["get","echo",["{arg}"]],"id":{id}}}"#);
    raw_ws::send_text(stream, &text).await;
    let ack = raw_ws::read_message(stream, buf, 64).await;
    assert!(ack.len > arg.len(), "the ack echoes the argument");
}

#[tokio::test]
async fn an_idle_connection_costs_a_few_kib_and_a_large_frame_leaves_nothing() {
    let config = PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    };
    let (addr, primus) = common::start_with(common::app(), config, None).await;
    let mut buf = vec![0u8; 4096];
    let mut sockets = Vec::new();
    let mut idle = 0.0;
    // Warm up (registries, the runtime's workers), then measure.
    for round in 0..2 {
        let n = if round == 0 { 20 } else { CONNECTIONS };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = live_kib() as f64;
        for _ in 0..n {
            let mut s = raw_ws::connect(addr, "/primus").await;
            call(&mut s, &mut buf, 1, "x").await;
            sockets.push(s);
        }
        sio_client::eventually("every connection open", || {
            primus.connection_count() == sockets.len()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        idle = (live_kib() as f64 - before) / n as f64;
    }
    println!("idle Primus connection after a call: {idle:.2} KiB of heap");
    // A 40 KB frame on each connection (several socket reads each), answered: nothing stays.
    let large = "y".repeat(40_000);
    let before = live_kib() as f64;
    for s in sockets.iter_mut().skip(20) {
        call(s, &mut buf, 2, &large).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kept = (live_kib() as f64 - before) / CONNECTIONS as f64;
    println!("kept per connection after a 40 KB frame: {kept:.2} KiB of heap");
    // 2.51 KiB measured (3.92 with tungstenite's reader).
    assert!(idle < 3.0, "{idle:.2} KiB per idle connection");
    // 0.00 measured (39.11 with tungstenite's reader, whose buffer kept the frame's size).
    assert!(
        kept < 0.5,
        "{kept:.2} KiB kept per connection after a large frame"
    );
    drop(sockets);
}
