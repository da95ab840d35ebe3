//! Socket.IO over real sockets with a minimal websocket-only Engine.IO client: the
//! handshake, calls and acks (`42<id>[…]` → `43<id>[…]`), the caller's events before its
//! ack, a channel mixing Primus and Socket.IO connections, the pending-call limit and a
//! slow consumer closed and counted.
#![allow(clippy::unwrap_used)]

mod common;

use roost_core::json;
use roost_testkit::ws::{connect, Received, WsClient};
use roost_transport::primus::CloseReason;
use roost_transport::{CorsConfig, Primus, PrimusConfig, RestConfig, SocketIo, SocketIoConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

async fn start(config: SocketIoConfig) -> (SocketAddr, Primus, SocketIo) {
    let app = common::app();
    let primus = Primus::new(app.clone(), PrimusConfig::default());
    let socketio = SocketIo::new(app.clone(), config, None);
    let router = roost_transport::router_with_primus(
        app,
        RestConfig::default(),
        &CorsConfig::default(),
        Some(&primus),
    );
    let router = socketio.wrap(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, primus, socketio)
}

async fn text(client: &mut WsClient) -> String {
    match tokio::time::timeout(Duration::from_secs(5), client.recv()).await {
        Ok(Received::Text(text)) => text,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Engine.IO open + namespace connect: returns the client after `40{"sid":…}`.
async fn sio_connect(addr: SocketAddr) -> WsClient {
    let mut client = connect(addr, "/socket.io/?EIO=4&transport=websocket")
        .await
        .unwrap();
    let open = text(&mut client).await;
    assert!(open.starts_with("0{"), "{open}");
    let open: Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(open["upgrades"], json!([]));
    client.send_text("40").await;
    let connected = packet(&mut client).await;
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    client
}

/// The next Socket.IO packet that is not an Engine.IO ping (answered).
async fn packet(client: &mut WsClient) -> String {
    loop {
        let t = text(client).await;
        if t == "2" {
            client.send_text("3").await;
            continue;
        }
        return t;
    }
}

#[tokio::test]
async fn calls_acks_and_errors() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    let mut c = sio_connect(addr).await;
    c.send_text(r#"420["find","echo",{"$limit":2}]"#).await;
    let ack = packet(&mut c).await;
    assert!(ack.starts_with("430["), "{ack}");
    let data: Value = serde_json::from_str(&ack[3..]).unwrap();
    assert_eq!(data[0], Value::Null);
    assert_eq!(data[1]["provider"], "socketio");
    assert_eq!(data[1]["query"], json!({"$limit": 2}));
    assert_eq!(data[1]["connected"], true);
    assert_eq!(data[1]["host"], json!(addr.to_string()));

    c.send_text(r#"421["find","nowhere",{}]"#).await;
    let ack = packet(&mut c).await;
    let data: Value = serde_json::from_str(&ack[3..]).unwrap();
    assert_eq!(
        data,
        json!([{"name": "NotFound", "message": "Service 'nowhere' not found", "code": 404, "className": "not-found"}])
    );
    c.send_text(r#"422["get","echo",1,{},{}]"#).await;
    let ack = packet(&mut c).await;
    let data: Value = serde_json::from_str(&ack[3..]).unwrap();
    assert_eq!(data[0]["message"], "Too many arguments for 'get' method");
    // Trailing arguments may be omitted.
    c.send_text(r#"423["get","echo",7]"#).await;
    assert_eq!(packet(&mut c).await, "433[null,7]");
    assert_eq!(socketio.connection_count(), 1);
    c.send_text("41").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(socketio.connection_count(), 0);
    assert!(socketio.app().connections().is_empty());
    assert_eq!(socketio.metrics().closes(CloseReason::ClientClosed), 1);
}

#[tokio::test]
async fn events_precede_the_ack_and_mixed_channels_deliver_once_each() {
    let (addr, _primus, _socketio) = start(SocketIoConfig::default()).await;
    let mut sio = sio_connect(addr).await;
    let mut primus = connect(addr, "/primus").await.unwrap();
    for (i, c) in [&mut sio].into_iter().enumerate() {
        c.send_text(&format!(r#"42{i}["join","messages",{{"roomId":"r1"}}]"#))
            .await;
        let ack = packet(c).await;
        assert!(ack.contains(r#"{"joined":"r1"}"#), "{ack}");
    }
    primus
        .call(1, "join", "messages", &[json!({"roomId": "r1"})])
        .await;
    primus.ack(1).await;
    sio.send_text(r#"425["create","messages",{"text":"hi","roomId":"r1","secret":"s"}]"#)
        .await;
    let event = packet(&mut sio).await;
    assert!(
        event.starts_with(r#"42["messages created",{"#),
        "the event precedes the ack: {event}"
    );
    assert!(!event.contains("secret"));
    let ack = packet(&mut sio).await;
    assert!(ack.starts_with("435[null,{"), "{ack}");
    // The Primus connection in the same room gets the event once, in Primus' encoding.
    let frame = primus.recv_json().await;
    assert_eq!(frame["data"][0], "messages created");
    assert_eq!(frame["data"][1]["text"], "hi");
    let more = tokio::time::timeout(Duration::from_millis(300), sio.recv()).await;
    assert!(more.is_err(), "exactly once: {more:?}");
}

#[tokio::test]
async fn a_slow_consumer_is_closed_and_counted() {
    let config = SocketIoConfig {
        max_buffer_size: 8,
        ..SocketIoConfig::default()
    };
    let (addr, _primus, socketio) = start(config).await;
    let _reader = sio_connect(addr).await; // never reads again
    let app = socketio.app().clone();
    let ids = socketio.connection_ids();
    assert_eq!(ids.len(), 1);
    let big = json!("x".repeat(256 * 1024));
    for _ in 0..400 {
        if socketio.connection_count() == 0 {
            break;
        }
        if let Some(d) = app.send_to_connection(ids[0], "flood", big.clone()) {
            app.deliver(d);
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(socketio.connection_count(), 0, "closed");
    assert_eq!(socketio.metrics().slow_consumer_closes(), 1);
    assert!(app.connection(ids[0]).is_none());
}

#[tokio::test]
async fn the_pending_call_limit_answers_too_many_requests() {
    let config = SocketIoConfig {
        max_pending_calls: 1,
        ..SocketIoConfig::default()
    };
    let (addr, _primus, socketio) = start(config).await;
    let mut c = sio_connect(addr).await;
    // Many calls at once: with a limit of 1 in flight, some are refused while others run.
    for i in 0..50 {
        c.send_text(&format!(r#"42{i}["create","messages",{{"text":"m{i}"}}]"#))
            .await;
    }
    let mut refused = 0;
    let mut acks = 0;
    while acks < 50 {
        let p = packet(&mut c).await;
        if p.starts_with("43") {
            acks += 1;
            if p.contains("TooManyRequests") {
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused as u64,
        roost_transport::primus::TransportMetrics::get(&socketio.metrics().pending_call_limit_hits)
    );
}
