//! The Primus transport under pressure, over real sockets: heartbeat ping/pong and timeout,
//! slow consumers, oversized frames, connection and call limits, shutdown, disconnects, and
//! a flood of malformed frames. No test asserts a duration: waits are bounded polls.
#![allow(clippy::unwrap_used)]

mod common;

use async_trait::async_trait;
use roost_core::{json, Params, Result, Service, ServiceOptions, Value};
use roost_testkit::request;
use roost_testkit::ws::{connect, Received};
use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::PrimusConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Polls `cond` until it holds (panics after 10 s).
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

use common::{no_heartbeat, start_app as start, sync};

#[tokio::test]
async fn heartbeat_pings_and_closes_silent_connections() {
    let (addr, primus, _app) = start(no_heartbeat()).await;
    let mut ponger = connect(addr, "/primus").await.unwrap();
    let mut ws_pinger = connect(addr, "/primus").await.unwrap();
    let mut silent = connect(addr, "/primus").await.unwrap();
    eventually("3 connections", || primus.connection_count() == 3).await;

    for round in 0..3u64 {
        primus.heartbeat_tick();
        for c in [&mut ponger, &mut ws_pinger] {
            let Received::Text(ping) = c.recv().await else {
                panic!()
            };
            assert!(
                ping.starts_with("\"primus::ping::") && ping.ends_with('"'),
                "{ping}"
            );
        }
        // Pong with the number, or a websocket ping: both count.
        ponger.send_text("\"primus::pong::1\"").await;
        ws_pinger.send_ping().await;
        sync(&mut ponger, 10 + round).await;
        sync(&mut ws_pinger, 20 + round).await;
        if round == 0 {
            // The silent one got the first ping and never answered: closed at the next tick
            // without primus::server::close, with a close frame without status.
            let Received::Text(ping) = silent.recv().await else {
                panic!()
            };
            assert!(ping.starts_with("\"primus::ping::"));
        }
    }
    let (texts, close) = silent.until_closed().await;
    assert!(texts.is_empty(), "{texts:?}");
    assert_eq!(close, Received::Close(None));
    assert_eq!(primus.metrics().closes(CloseReason::HeartbeatTimeout), 1);
    assert_eq!(primus.connection_count(), 2);
}

#[tokio::test]
async fn the_heartbeat_ticker_runs_on_its_own() {
    let (addr, primus, _app) = start(PrimusConfig {
        ping_interval_ms: 50,
        ..PrimusConfig::default()
    })
    .await;
    let mut silent = connect(addr, "/primus").await.unwrap();
    let (texts, close) = silent.until_closed().await;
    assert!(!texts.is_empty() && texts.iter().all(|t| t.starts_with("\"primus::ping::")));
    assert_eq!(close, Received::Close(None));
    eventually("timeout counted", || {
        primus.metrics().closes(CloseReason::HeartbeatTimeout) == 1
    })
    .await;
}

#[tokio::test]
async fn a_slow_reader_is_closed_and_counted_while_others_keep_receiving() {
    let (addr, primus, app) = start(PrimusConfig {
        ping_interval_ms: 0,
        writer_queue_frames: 64,
        writer_queue_bytes: 1 << 20,
        ..PrimusConfig::default()
    })
    .await;
    let mut fast = connect(addr, "/primus").await.unwrap();
    let slow = connect(addr, "/primus").await.unwrap();
    eventually("2 connections", || primus.connection_count() == 2).await;
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0u64);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            let frame = fast.recv_json().await;
            assert_eq!(frame["data"][0], "big");
            assert_eq!(frame["data"][1]["n"], json!(n));
            n += 1;
            if count_tx.send(n).is_err() {
                return;
            }
        }
    });
    let big = "x".repeat(128 * 1024);
    let mut sent = 0u64;
    let mut after_close = 0;
    while after_close < 5 {
        assert!(sent < 2000, "the slow reader was never closed");
        assert!(app.send_to_all("big", json!({"n": sent, "pad": big})) >= 1);
        sent += 1;
        count_rx.wait_for(|n| *n == sent).await.unwrap();
        if primus.metrics().slow_consumer_closes() == 1 {
            after_close += 1;
        }
    }
    assert_eq!(primus.metrics().slow_consumer_closes(), 1);
    assert_eq!(primus.connection_count(), 1);
    assert!(primus.metrics().limit_hits() >= 1);
    reader.abort();
    drop(slow);
}

/// Issue 20: frames are written straight from the publishing task when a connection's queue
/// is empty, and queued only when the kernel's buffer is full. During bursts of 50 events
/// delivered back to back (no await between them), a subscriber that stopped reading is
/// closed as a slow consumer, and then reads a well-formed prefix of the events, in order,
/// ending in a close frame (a frame cut by the kernel is finished before the close); the
/// subscribers that read receive every event of every burst, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_during_a_burst_is_closed_while_the_others_get_everything_in_order() {
    const READERS: usize = 4;
    const BURST: u64 = 50;
    let (addr, primus, app) = start(PrimusConfig {
        ping_interval_ms: 0,
        writer_queue_frames: 64,
        writer_queue_bytes: 1 << 20,
        ..PrimusConfig::default()
    })
    .await;
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(connect(addr, "/primus").await.unwrap());
    }
    let mut slow = connect(addr, "/primus").await.unwrap();
    eventually("all connected", || primus.connection_count() == READERS + 1).await;
    let (count_tx, count_rx) = tokio::sync::watch::channel(vec![0u64; READERS]);
    let count_tx = Arc::new(count_tx);
    let mut tasks = Vec::new();
    for (i, mut reader) in readers.into_iter().enumerate() {
        let count_tx = Arc::clone(&count_tx);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let frame = reader.recv_json().await;
                assert_eq!(frame["data"][0], "burst");
                assert_eq!(frame["data"][1]["n"], json!(n), "reader {i} out of order");
                n += 1;
                count_tx.send_modify(|counts| counts[i] = n);
            }
        }));
    }
    let pad = "x".repeat(16 * 1024);
    let mut sent = 0u64;
    let mut bursts_after_close = 0;
    while bursts_after_close < 3 {
        assert!(
            sent < 200 * BURST,
            "the reader that stopped was never closed"
        );
        for _ in 0..BURST {
            app.send_to_all("burst", json!({"n": sent, "pad": pad}));
            sent += 1;
        }
        // The readers catch up before the next burst; the stopped one never does.
        let mut rx = count_rx.clone();
        tokio::time::timeout(
            Duration::from_secs(30),
            rx.wait_for(|counts| counts.iter().all(|n| *n == sent)),
        )
        .await
        .expect("a reader did not get the burst")
        .unwrap();
        if primus.metrics().slow_consumer_closes() == 1 {
            bursts_after_close += 1;
        }
    }
    assert_eq!(primus.metrics().slow_consumer_closes(), 1);
    assert_eq!(primus.connection_count(), READERS);
    for task in &tasks {
        assert!(!task.is_finished(), "a reader failed");
    }
    // What the stopped reader got: a prefix of the events, in order, whole, then a close.
    let (texts, end) = slow.until_closed().await;
    assert!(!texts.is_empty() && (texts.len() as u64) < sent);
    for (n, text) in texts.iter().enumerate() {
        let frame: Value = serde_json::from_str(text).unwrap();
        assert_eq!(frame["data"][1]["n"], json!(n));
    }
    assert!(matches!(end, Received::Close(_) | Received::End), "{end:?}");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn frames_larger_than_the_read_buffer_are_read_whole() {
    // The default buffer, and one smaller than a frame header plus a short call.
    for read_buffer_size in [PrimusConfig::default().read_buffer_size, 16] {
        let (addr, primus, _app) = start(PrimusConfig {
            read_buffer_size,
            // Room for the 2 MB frame below, before login too.
            max_frame_size: 4 << 20,
            max_frame_size_anonymous: 4 << 20,
            ..no_heartbeat()
        })
        .await;
        let mut c = connect(addr, "/primus").await.unwrap();
        // Short and long frames back to back, so some arrive together in one read and some
        // span many reads (7- and 64-bit websocket lengths).
        let sizes = [10, 1_000, 70_000, 3, 1_000_000, 200];
        for (id, size) in (1u64..).zip(sizes) {
            let text = "é".repeat(size);
            c.call(id, "get", "echo", &[json!(text)]).await;
        }
        for (id, size) in (1u64..).zip(sizes) {
            let (data, _) = c.ack(id).await;
            assert_eq!(data[0], Value::Null, "{read_buffer_size}: {size}");
            assert_eq!(data[1].as_str().map(str::len), Some(size * 2));
        }
        assert_eq!(primus.metrics().closes(CloseReason::FrameTooLarge), 0);
        assert_eq!(primus.metrics().closes(CloseReason::ProtocolError), 0);
        assert_eq!(primus.connection_count(), 1);
        c.close().await;
    }
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let (addr, primus, _app) = start(PrimusConfig {
        max_frame_size: 1024,
        ..no_heartbeat()
    })
    .await;
    let mut c = connect(addr, "/primus").await.unwrap();
    sync(&mut c, 1).await;
    let big = format!("\"{}\"", "y".repeat(2000));
    c.send_text(&big).await;
    let (_, close) = c.until_closed().await;
    assert_eq!(close, Received::Close(Some(1009)));
    assert_eq!(primus.metrics().closes(CloseReason::FrameTooLarge), 1);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_with_503() {
    let (addr, primus, _app) = start(PrimusConfig {
        max_connections: 2,
        ..no_heartbeat()
    })
    .await;
    let a = connect(addr, "/primus").await.unwrap();
    let _b = connect(addr, "/primus").await.unwrap();
    let refused = connect(addr, "/primus").await.err().unwrap();
    assert!(refused.contains("503"), "{refused}");
    assert_eq!(
        TransportMetrics::get(&primus.metrics().refused_connections),
        1
    );
    a.close().await;
    eventually("a slot frees up", || primus.connection_count() == 1).await;
    let mut c = None;
    for _ in 0..100 {
        if let Ok(client) = connect(addr, "/primus").await {
            c = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sync(c.as_mut().unwrap(), 1).await;
}

/// A service whose `find` waits for a permit the test hands out.
struct Gate(Arc<Semaphore>);

#[async_trait]
impl Service for Gate {
    async fn find(&self, _p: &Params) -> Result<Value> {
        let permit = self.0.acquire().await;
        drop(permit);
        Ok(json!("opened"))
    }
}

#[tokio::test]
async fn calls_beyond_the_pending_limit_are_refused() {
    let app = common::app();
    let gate = Arc::new(Semaphore::new(0));
    app.use_service("gate", Gate(gate.clone()), ServiceOptions::default())
        .unwrap();
    let (addr, primus) = common::start_with(
        app,
        PrimusConfig {
            max_pending_calls: 1,
            ..no_heartbeat()
        },
        None,
    )
    .await;
    let mut c = connect(addr, "/primus").await.unwrap();
    c.call(1, "find", "gate", &[]).await;
    c.call(2, "find", "gate", &[]).await;
    let frame = c.recv_json().await;
    assert_eq!(frame["id"], 2);
    assert_eq!(frame["data"][0]["name"], "TooManyRequests");
    assert_eq!(frame["data"][0]["code"], 429);
    gate.add_permits(1);
    assert_eq!(c.ack(1).await.0, json!([null, "opened"]));
    assert_eq!(
        TransportMetrics::get(&primus.metrics().pending_call_limit_hits),
        1
    );
    // The slot is free again.
    c.call(3, "find", "gate", &[]).await;
    gate.add_permits(1);
    assert_eq!(c.ack(3).await.0, json!([null, "opened"]));
}

#[tokio::test]
async fn closing_leaves_channels_and_fires_disconnect() {
    let (addr, primus, app) = start(no_heartbeat()).await;
    let disconnects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d = disconnects.clone();
    app.on_disconnect(move |_, _| {
        d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let mut c = connect(addr, "/primus?roomId=r9").await.unwrap();
    c.call(1, "join", "messages", &[json!({"roomId": "r1"})])
        .await;
    c.ack(1).await;
    assert_eq!(app.channel("room/r1").len(), 1);
    assert_eq!(app.channel("anonymous").len(), 1);
    c.close().await;
    eventually("left every channel", || {
        app.channel("room/r1").is_empty() && app.channel("anonymous").is_empty()
    })
    .await;
    assert_eq!(disconnects.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(app.connections().is_empty());
    assert_eq!(primus.metrics().closes(CloseReason::ClientClosed), 1);
    assert_eq!(TransportMetrics::get(&primus.metrics().connections_open), 0);
}

#[tokio::test]
async fn close_says_primus_server_close_and_shutdown_lets_clients_reconnect() {
    let (addr, primus, _app) = start(no_heartbeat()).await;
    let mut a = connect(addr, "/primus").await.unwrap();
    let mut b = connect(addr, "/primus").await.unwrap();
    let mut kicked = connect(addr, "/primus").await.unwrap();
    eventually("3 connections", || primus.connection_count() == 3).await;
    let mut ids = primus.connection_ids();
    ids.sort();
    assert!(primus.close(ids[2]));
    let (texts, close) = kicked.until_closed().await;
    assert_eq!(texts, vec!["\"primus::server::close\"".to_owned()]);
    assert_eq!(close, Received::Close(None));

    primus.shutdown(Duration::from_secs(5)).await;
    for c in [&mut a, &mut b] {
        let (texts, close) = c.until_closed().await;
        assert!(
            texts.is_empty(),
            "no primus::server::close on shutdown: {texts:?}"
        );
        assert_eq!(close, Received::Close(None));
    }
    assert_eq!(primus.metrics().closes(CloseReason::ServerShutdown), 2);
    assert!(primus.app().connections().is_empty());
    let r = request(
        addr,
        "GET",
        "/primus",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["name"], "Unavailable");
}
