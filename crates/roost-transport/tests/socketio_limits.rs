//! The Socket.IO transport under pressure, over real sockets: the session cap (503), slow
//! consumers over long-polling and websocket, oversized payloads, malformed polling bodies
//! and the heartbeat. Every limit hit is counted; waits are bounded polls.
#![allow(clippy::unwrap_used)]

mod common;
mod sio_client;

use roost_core::json;
use roost_testkit::ws::connect;
use roost_transport::primus::{CloseReason, TransportMetrics};
use sio_client::{eventually, packet, sio_connect, until_closed, ws_session, Polling, WS_PATH};

#[tokio::test]
async fn handshakes_beyond_max_connections_are_refused_with_503_and_counted() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_connections = 2).await;
    let a = sio_connect(addr).await;
    let polling = Polling::open(addr).await.unwrap();
    // Full: a websocket handshake and a polling handshake are refused before any session.
    let refused = connect(addr, WS_PATH).await.err().unwrap();
    assert!(refused.contains("503"), "{refused}");
    let refused = Polling::open(addr).await.err().unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.json(),
        json!({"name": "Unavailable", "message": "Too many connections", "code": 503, "className": "unavailable"})
    );
    assert_eq!(
        TransportMetrics::get(&socketio.metrics().refused_connections),
        2
    );
    assert!(socketio.metrics().limit_hits() >= 2);
    assert_eq!(socketio.session_count(), 2);
    // Requests of open sessions are not handshakes: the polling session still works.
    polling.connect().await;
    assert_eq!(socketio.connection_count(), 2);
    // A slot frees up when a session ends.
    a.close().await;
    eventually("a's session is gone", || socketio.session_count() == 1).await;
    let mut c = None;
    for _ in 0..100 {
        if let Ok(client) = connect(addr, WS_PATH).await {
            c = Some(client);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut c = c.unwrap();
    assert!(sio_client::text(&mut c).await.starts_with("0{"));
    c.send_text("40").await;
    assert!(packet(&mut c).await.starts_with("40{"));
}

#[tokio::test]
async fn a_polling_client_that_stops_polling_is_closed_as_a_slow_consumer() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_buffer_size = 8).await;
    let slow = Polling::joined(addr).await;
    let fast = Polling::joined(addr).await;
    let app = socketio.app().clone();
    // Events for everyone; `fast` polls after each, `slow` never does again.
    let mut received = 0;
    for n in 0..40 {
        assert!(app.send_to_all("tick", json!({"n": n})) >= 1);
        for p in fast.get().await {
            assert_eq!(p, format!(r#"42["tick",{{"n":{n}}}]"#));
            received += 1;
        }
    }
    assert_eq!(
        received, 40,
        "the polling client that polls gets everything"
    );
    assert_eq!(socketio.metrics().slow_consumer_closes(), 1);
    assert_eq!(socketio.connection_count(), 1);
    assert!(socketio.metrics().limit_hits() >= 1);
    // Its session is gone: the next poll is told so (the client then reconnects).
    let r = slow.get_raw().await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Session ID unknown");
    assert!(app.connections().len() == 1);
}

#[tokio::test]
async fn a_websocket_reader_that_stalls_is_closed_while_others_keep_receiving() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_buffer_size = 16).await;
    let mut fast = sio_connect(addr).await;
    let _slow = sio_connect(addr).await; // never reads again
    let app = socketio.app().clone();
    let big = "x".repeat(256 * 1024);
    let mut n = 0u64;
    while socketio.metrics().slow_consumer_closes() == 0 {
        assert!(n < 2000, "the stalled reader was never closed");
        assert!(app.send_to_all("big", json!({"n": n, "pad": big})) >= 1);
        let event = packet(&mut fast).await;
        assert!(
            event.starts_with(&format!(r#"42["big",{{"n":{n},"#)),
            "{}",
            &event[..40]
        );
        n += 1;
    }
    assert_eq!(socketio.connection_count(), 1);
    // The one left still gets everything.
    fast.send_text(r#"421["get","echo",1]"#).await;
    assert_eq!(packet(&mut fast).await, "431[null,1]");
}

#[tokio::test]
async fn payloads_over_max_payload_end_the_session_and_are_counted() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_payload = 1000).await;
    let p = Polling::joined(addr).await;
    let body = format!(
        r#"42["create","messages",{{"text":"{}"}}]"#,
        "y".repeat(2000)
    );
    assert_eq!(p.post(&body).await.status, 413);
    eventually("closed", || socketio.connection_count() == 0).await;
    assert_eq!(socketio.metrics().closes(CloseReason::FrameTooLarge), 1);
    // Over websocket the message is refused too: the websocket is closed with 1009.
    let mut c = sio_connect(addr).await;
    c.send_text(&body).await;
    until_closed(&mut c).await;
    eventually("closed", || socketio.connection_count() == 0).await;
    assert_eq!(socketio.metrics().closes(CloseReason::FrameTooLarge), 2);
    // A payload within the limit is fine.
    let mut c = sio_connect(addr).await;
    let within = format!(r#"421["get","echo","{}"]"#, "z".repeat(900));
    c.send_text(&within).await;
    assert!(packet(&mut c).await.starts_with("431[null,\"zzz"));
}

#[tokio::test]
async fn malformed_polling_bodies_close_their_session_and_nothing_else() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let good = Polling::joined(addr).await;
    // Socket.IO packets that do not parse (Engine.IO message `4` + junk), Engine.IO
    // packets that do not parse, and a body mixing a good call with junk.
    let bodies = [
        "4",
        "4garbage",
        "42{\"not\":\"an array\"}",
        "42[\"find\"",
        "49[]",
        "4299999999999999999999999[\"get\",\"echo\",1]",
        "451[\"x\"]",
        "42[\"disconnect\"]",
        "\u{1e}\u{1e}",
        "x",
        "9hello",
        "42[\"get\",\"echo\",1]\u{1e}4{}",
    ];
    for body in bodies {
        let p = Polling::joined(addr).await;
        let r = p.post(body).await;
        assert!(r.status == 200 || r.status == 400, "{body:?}: {}", r.status);
        // The session is gone: a poll either drains its last packets or is refused.
        let mut closed = false;
        for _ in 0..3 {
            let r = p.get_raw().await;
            if r.status == 400 {
                closed = true;
                break;
            }
        }
        assert!(closed, "{body:?} left the session open");
    }
    eventually("every bad session closed", || socketio.session_count() == 1).await;
    let m = socketio.metrics();
    assert_eq!(
        m.closes(CloseReason::ProtocolError),
        bodies.len() as u64,
        "every bad session counted as a protocol error"
    );
    assert!(TransportMetrics::get(&m.malformed_frames) >= 8);
    // The good client never noticed.
    assert_eq!(good.post(r#"421["get","echo",3]"#).await.status, 200);
    assert_eq!(good.get().await, ["431[null,3]"]);
    assert_eq!(socketio.connection_count(), 1);
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_closed_by_the_heartbeat() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| {
        c.ping_interval_ms = 100;
        c.ping_timeout_ms = 100;
    })
    .await;
    let mut silent = ws_session(addr).await;
    silent.send_text("40").await;
    // Read without answering the pings.
    let mut texts = Vec::new();
    while let roost_testkit::ws::Received::Text(t) = silent.recv().await {
        texts.push(t);
    }
    assert!(texts.iter().any(|t| t.starts_with("40{")), "{texts:?}");
    eventually("counted", || {
        socketio.metrics().closes(CloseReason::HeartbeatTimeout) == 1
    })
    .await;
    assert_eq!(socketio.connection_count(), 0);
}

#[tokio::test]
async fn a_websocket_reader_that_stalls_is_closed_by_max_buffer_bytes() {
    // 1024 packets would take 256 MiB of these events; 1 MiB of them is the limit here.
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_buffer_bytes = 1 << 20).await;
    let mut fast = sio_connect(addr).await;
    let _slow = sio_connect(addr).await; // never reads again
    let app = socketio.app().clone();
    let big = "x".repeat(256 * 1024);
    let mut n = 0u64;
    while socketio.metrics().slow_consumer_closes() == 0 {
        // The kernel's buffers take a few MiB first; then 1 MiB queued closes it.
        assert!(
            n < 200,
            "the stalled reader was not closed by its queued bytes"
        );
        app.send_to_all("big", json!({"n": n, "pad": big}));
        let event = packet(&mut fast).await;
        assert!(
            event.starts_with(&format!(r#"42["big",{{"n":{n},"#)),
            "{}",
            &event[..40]
        );
        n += 1;
    }
    assert_eq!(socketio.metrics().slow_consumer_closes(), 1);
    assert_eq!(socketio.connection_count(), 1);
    // The one left keeps receiving, in order.
    for m in n..n + 3 {
        app.send_to_all("big", json!({"n": m}));
        assert_eq!(packet(&mut fast).await, format!(r#"42["big",{{"n":{m}}}]"#));
    }
}

#[tokio::test]
async fn a_polling_client_that_stops_polling_is_closed_by_max_buffer_bytes() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_buffer_bytes = 64 * 1024).await;
    let slow = Polling::joined(addr).await;
    let fast = Polling::joined(addr).await;
    let app = socketio.app().clone();
    let pad = "y".repeat(10 * 1024);
    // Seven 10 KiB events fit in 64 KiB, the seventh does not: far below 1024 packets.
    for n in 0..20 {
        app.send_to_all("tick", json!({"n": n, "pad": pad}));
        let got = fast.get().await;
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with(&format!(r#"42["tick",{{"n":{n},"#)));
    }
    assert_eq!(socketio.metrics().slow_consumer_closes(), 1);
    assert_eq!(socketio.connection_count(), 1);
    let r = slow.get_raw().await;
    assert_eq!(r.status, 400);
    // One packet larger than the limit still goes to a session with nothing queued.
    let huge = "z".repeat(100 * 1024);
    app.send_to_all("huge", json!(huge));
    assert_eq!(fast.get().await, [format!(r#"42["huge","{huge}"]"#)]);
    assert_eq!(socketio.metrics().slow_consumer_closes(), 1);
}

#[tokio::test]
async fn a_closing_websocket_gets_close_timeout_ms_for_its_last_words() {
    // A reader that stalled with 32 MiB queued (the limits raised so it is not a slow
    // consumer) holds its task in the close's flush: `close_timeout_ms` ends it.
    for (close_timeout_ms, deadline, expected_cut) in [(200, 30, 0), (120_000, 1, 1)] {
        let (addr, _primus, socketio) = sio_client::start_app(|c| {
            c.max_buffer_bytes = 256 << 20;
            c.close_timeout_ms = close_timeout_ms;
        })
        .await;
        let _stalled = sio_connect(addr).await; // never reads again
        let app = socketio.app().clone();
        let pad = "x".repeat(512 * 1024);
        for n in 0..64 {
            app.send_to_all("big", json!({"n": n, "pad": pad}));
        }
        assert_eq!(socketio.metrics().slow_consumer_closes(), 0);
        let report = socketio
            .shutdown(std::time::Duration::from_secs(deadline))
            .await;
        assert_eq!(
            report.tasks_cut, expected_cut,
            "close_timeout_ms {close_timeout_ms}: {report:?}"
        );
    }
}
