//! What an idle Socket.IO session costs the server, on the live heap (counted exactly by a
//! wrapping global allocator, in its own test binary): a websocket session joined to the
//! namespace, and a long-polling session. The clients are raw sockets and plain requests,
//! which add nothing to the heap while idle.
//!
//! A session keeps its handshake headers compact: a clone of the request's `HeaderMap`
//! shares the HTTP connection's read buffer and kept about 16 KiB alive per session.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;
mod raw_ws;
mod sio_client;

use roost_transport::SocketIoConfig;
use std::time::Duration;

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn live_kib() -> usize {
    flood_kit::live_kib(&HEAP)
}

const SESSIONS: usize = 500;

#[tokio::test]
async fn an_idle_session_costs_a_few_kib() {
    let (addr, _primus, socketio) =
        sio_client::start(common::app(), SocketIoConfig::default()).await;
    let mut buf = vec![0u8; 4096];
    let mut sockets = Vec::new();
    // Warm up (registries, the runtime's workers), then measure.
    for round in 0..2 {
        let n = if round == 0 { 20 } else { SESSIONS };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = live_kib();
        for _ in 0..n {
            let mut s = raw_ws::connect(addr, sio_client::WS_PATH).await;
            assert_eq!(raw_ws::read_message(&mut s, &mut buf, 1).await.head, b"0");
            raw_ws::send_text(&mut s, "40").await;
            assert_eq!(raw_ws::read_message(&mut s, &mut buf, 2).await.head, b"40");
            sockets.push(s);
        }
        sio_client::eventually("every session joined", || {
            socketio.connection_count() == sockets.len()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let per_session = (live_kib() - before) as f64 / n as f64;
        if round == 1 {
            println!("websocket session joined to the namespace: {per_session:.2} KiB of heap");
            assert!(
                per_session < 8.0,
                "{per_session:.2} KiB per websocket session"
            );
        }
    }
    let before = live_kib();
    let mut polling = Vec::new();
    for _ in 0..SESSIONS {
        polling.push(sio_client::Polling::open(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let per_session = (live_kib() - before) as f64 / SESSIONS as f64;
    println!("long-polling session (not joined): {per_session:.2} KiB of heap");
    assert!(
        per_session < 3.0,
        "{per_session:.2} KiB per polling session"
    );
    assert_eq!(socketio.session_count(), 20 + 2 * SESSIONS);
}
