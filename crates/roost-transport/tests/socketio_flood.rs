//! A flood of 10,000 malformed Socket.IO packets over websocket, three times, in its own test
//! binary so that the process's memory reflects this test alone. Socket.IO closes a session
//! on the first packet it cannot decode (and so does Roost), so each packet comes on its own
//! session: 20 clients open 500 sessions each, half of them joined to the namespace first,
//! and send one malformed packet (or a binary frame) on each. Afterwards every packet was
//! read and counted, every session is gone, a connection opened before the flood still
//! works, and memory is back near where it started: leaks are judged on the live heap,
//! counted exactly by a wrapping global allocator (RSS moves in arena-sized steps); RSS keeps
//! a loose bound.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;
mod sio_client;

use flood_kit::{rss_kib, Junk, Rng};
use roost_testkit::ws::{connect, WsClient};
use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::{SocketIo, SocketIoConfig};
use sio_client::{packet, sio_connect, until_closed, WS_PATH};
use std::net::SocketAddr;

flood_kit::count_the_heap!();

/// A round trip that proves the connection is served.
async fn sync(c: &mut WsClient, id: u64) {
    c.send_text(&format!(r#"42{id}["get","echo",{id}]"#)).await;
    assert_eq!(packet(c).await, format!("43{id}[null,{id}]"));
}

/// Socket.IO packets (after Engine.IO's `4`) that must end the session, joined or not.
const SHAPES: [&str; 17] = [
    "",
    "7",
    "x[]",
    "2{\"a\":1}",
    "2[]",
    "2[null,1]",
    "2[\"disconnect\"]",
    "2[\"connect_error\",1]",
    "2[\"find\",\"messages\"",
    "299999999999999999999999[\"get\",\"echo\",1]",
    "0[]",
    "0\"auth\"",
    "3{}",
    "4{\"message\":\"x\"}",
    "5[\"x\"]",
    "5a-[\"x\"]",
    "2/admin,1[\"get\",\"echo\",1]",
];

fn junk(rng: &mut Rng, i: usize) -> Junk {
    match i % 8 {
        0 => {
            // Random text behind a byte that is no packet type.
            let n = 1 + (rng.next() % 200) as usize;
            Junk::Text(format!("4~{}", String::from_utf8_lossy(&rng.bytes(n))))
        }
        1 => {
            let n = 1 + (rng.next() % 200) as usize;
            Junk::Binary(rng.bytes(n))
        }
        2 => Junk::Text(format!("42[{}", String::from_utf8_lossy(&rng.bytes(40)))),
        3 => Junk::Text(format!("42{}1{}", "[".repeat(3000), "]".repeat(3000))),
        4 if i % 400 == 4 => {
            Junk::Text(format!(r#"42["nosuchmethod","{}""#, "z".repeat(256 * 1024)))
        }
        _ => Junk::Text(format!(
            "4{}",
            SHAPES[(rng.next() % SHAPES.len() as u64) as usize]
        )),
    }
}

const CLIENTS: usize = 20;
const SESSIONS: usize = 500;

/// One flood: 20 clients × 500 sessions, one malformed packet each (10,000). Returns once
/// the server has released every session.
async fn flood(addr: SocketAddr, socketio: &SocketIo, round: u64) {
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1) ^ (round << 32));
            for i in 0..SESSIONS {
                let mut c = if i % 2 == 0 {
                    sio_connect(addr).await
                } else {
                    let mut c = connect(addr, WS_PATH).await.unwrap();
                    assert!(sio_client::text(&mut c).await.starts_with("0{"));
                    c
                };
                match junk(&mut rng, i) {
                    Junk::Text(t) => assert!(c.try_send_text(&t).await),
                    Junk::Binary(b) => assert!(c.send_binary(b).await),
                }
                // Nothing but the Engine.IO close (and, for a joined session, nothing
                // before it): the session ended on that packet.
                let texts = until_closed(&mut c).await;
                assert!(texts.iter().all(|t| t == "1"), "{texts:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    flood_kit::wait_until(|| socketio.session_count() == 1).await;
    assert_eq!(
        socketio.session_count(),
        1,
        "only the warm-up session is left"
    );
    assert_eq!(socketio.connection_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_packets_change_nothing() {
    // The warm-up client reads nothing during a flood (a minute on a loaded machine): the
    // heartbeat must not end it meanwhile, as primus_flood.rs turns its heartbeat off.
    let config = SocketIoConfig {
        ping_interval_ms: 3_600_000,
        ping_timeout_ms: 3_600_000,
        ..SocketIoConfig::default()
    };
    let (addr, _primus, socketio) = sio_client::start(common::app(), config).await;
    // Warm up (runtime, allocator arenas, one connection's buffers) before the baseline.
    let mut warm = sio_connect(addr).await;
    sync(&mut warm, 1).await;
    let baseline = rss_kib();
    let live_baseline = live_kib();

    flood(addr, &socketio, 1).await;
    let m = socketio.metrics();
    let s = socketio.socketio_metrics();
    let per_round = (CLIENTS * SESSIONS) as u64;
    assert_eq!(
        TransportMetrics::get(&m.malformed_frames)
            + TransportMetrics::get(&s.binary_packets)
            + TransportMetrics::get(&m.anonymous_frame_limit_hits),
        per_round,
        "every packet was read and refused"
    );
    assert_eq!(
        m.closes(CloseReason::ProtocolError),
        per_round / 2,
        "every joined session was closed as a protocol error"
    );
    assert_eq!(TransportMetrics::get(&m.connections_open), 1);
    sync(&mut warm, 3).await;
    let after_one = rss_kib();
    let live_one = live_kib();

    // The same again: whatever the first flood left behind is the allocator's working set;
    // a leak (per packet or per closed session) would grow memory again by as much.
    for round in 2..=3 {
        flood(addr, &socketio, round).await;
    }
    sync(&mut warm, 4).await;
    let after_three = rss_kib();
    let live_three = live_kib();
    assert_eq!(
        TransportMetrics::get(&m.malformed_frames)
            + TransportMetrics::get(&s.binary_packets)
            + TransportMetrics::get(&m.anonymous_frame_limit_hits),
        3 * per_round
    );
    // 20,000 more sessions.
    flood_kit::assert_no_leak(
        "packets",
        [baseline, after_one, after_three],
        [live_baseline, live_one, live_three],
    );
}
