//! A flood of 10,000 malformed frames over 20 Primus connections, in its own test binary so
//! that the process's memory reflects this test alone: afterwards normal calls work, every
//! frame was read and counted, and memory is back near where it started.
//!
//! Leaks are judged on the live heap, counted exactly by a wrapping global allocator: RSS
//! also moves in steps of several MiB whenever glibc gives a thread a new arena, which
//! says nothing about leaks. RSS keeps a loose bound.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;

use roost_core::json;
use roost_testkit::ws::connect;
use roost_transport::primus::TransportMetrics;
use roost_transport::Primus;
use std::net::SocketAddr;

flood_kit::count_the_heap!();

use flood_kit::{rss_kib, Junk, Rng};

use common::sync;

fn junk(rng: &mut Rng, i: usize) -> Junk {
    const SHAPES: [&str; 14] = [
        r#"{"type":0,"data":"find"}"#,
        r#"{"type":"0","data":["find","messages"],"id":1}"#,
        r#"{"type":0,"data":[1,2,3],"id":1}"#,
        r#"{"type":0,"data":[],"id":1}"#,
        r#"{"type":0,"data":["find","messages"],"id":"5"}"#,
        r#"{"type":0,"data":["find","messages"],"id":true}"#,
        r#"{"type":1,"id":99,"data":[null,1]}"#,
        r#"{"type":0,"data":["data","x"],"id":1}"#,
        r#"{"type":0,"data":["incoming::ping"],"id":1}"#,
        r#""primus::foo::bar""#,
        r#""hello""#,
        r#"[0,{"type":0}]"#,
        r#"{"type":0,"data":["get","messages",{"$limit":{"$gt":[[[]]]}}]}"#,
        r#"{"type":0,"data":["create","messages",{"x":1},{"$bogus":1},1,2,3]}"#,
    ];
    match i % 8 {
        0 => {
            let n = 1 + (rng.next() % 200) as usize;
            Junk::Text(String::from_utf8_lossy(&rng.bytes(n)).into_owned())
        }
        1 => {
            let n = 1 + (rng.next() % 200) as usize;
            Junk::Binary(rng.bytes(n))
        }
        2 => Junk::Text(r#"{"type":0,"data":["find","#.to_owned()),
        3 => Junk::Text(format!("{}1{}", "[".repeat(3000), "]".repeat(3000))),
        4 if i % 400 == 4 => Junk::Text(format!(
            r#"{{"type":0,"data":["nosuchmethod","{}"]}}"#,
            "z".repeat(256 * 1024)
        )),
        _ => Junk::Text(SHAPES[(rng.next() % SHAPES.len() as u64) as usize].to_owned()),
    }
}

const CONNECTIONS: usize = 20;
const FRAMES: usize = 500;

/// One flood: 20 connections × 500 malformed frames (10,000), then a normal call on each,
/// then every flooder closes. Returns once the server has released them all.
async fn flood(addr: SocketAddr, primus: &Primus, round: u64) {
    let mut tasks = Vec::new();
    for n in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut c = connect(addr, "/primus").await.unwrap();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1) ^ (round << 32));
            for i in 0..FRAMES {
                match junk(&mut rng, i) {
                    Junk::Text(t) => assert!(c.try_send_text(&t).await),
                    Junk::Binary(b) => assert!(c.send_binary(b).await),
                }
            }
            // Nothing was answered, and normal calls still work.
            c.call(7, "create", "messages", &[json!({"text": n})]).await;
            let (data, _) = c.ack(7).await;
            assert_eq!(data[1]["text"], json!(n));
            c
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    assert_eq!(
        primus.connection_count(),
        CONNECTIONS + 1,
        "the flooders and the warm-up"
    );
    for c in &mut clients {
        sync(c, 2).await;
    }
    drop(clients);
    flood_kit::wait_until(|| primus.connection_count() == 1).await;
    assert_eq!(
        primus.connection_count(),
        1,
        "only the warm-up connection is left"
    );
}

#[tokio::test]
async fn ten_thousand_malformed_frames_change_nothing() {
    let (addr, primus, _app) = common::start_app(common::no_heartbeat()).await;
    // Warm up (runtime, allocator arenas, one connection's buffers) before the baseline.
    let mut warm = connect(addr, "/primus").await.unwrap();
    sync(&mut warm, 1).await;
    let baseline = rss_kib();
    let live_baseline = live_kib();

    flood(addr, &primus, 1).await;
    let m = primus.metrics();
    assert!(TransportMetrics::get(&m.malformed_frames) > 0);
    assert!(TransportMetrics::get(&m.ignored_frames) > 0);
    let binaries = (0..FRAMES).filter(|i| i % 8 == 1).count();
    let per_round = (CONNECTIONS * (FRAMES - binaries + 2)) as u64;
    assert_eq!(
        TransportMetrics::get(&m.frames_in),
        per_round + 1,
        "every text frame was read (and the warm-up call)"
    );
    sync(&mut warm, 3).await;
    let after_one = rss_kib();
    let live_one = live_kib();

    // The same again: whatever the first flood left behind is the allocator's working set;
    // a leak (per frame or per closed connection) would grow memory again by as much.
    for round in 2..=3 {
        flood(addr, &primus, round).await;
    }
    sync(&mut warm, 4).await;
    let after_three = rss_kib();
    let live_three = live_kib();
    // 20,000 more frames and 40 more connections.
    flood_kit::assert_no_leak(
        "frames",
        [baseline, after_one, after_three],
        [live_baseline, live_one, live_three],
    );
}
