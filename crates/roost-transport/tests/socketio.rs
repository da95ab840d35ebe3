//! Socket.IO over real sockets with minimal Engine.IO clients (websocket-only and
//! long-polling): the handshake, calls and acks (`42<id>[…]` → `43<id>[…]`), the caller's
//! events before its ack, a channel mixing Primus and Socket.IO connections, the pending-call
//! limit, a slow consumer closed and counted, handshake authentication (`login` before
//! `connection`, CONNECT_ERROR with the error's `data`), other namespaces, binary packets,
//! packets out of order, the server's namespace disconnect and shutdown.
#![allow(clippy::unwrap_used)]

mod common;
mod sio_client;

use roost_core::json;
use roost_testkit::ws::connect;
use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::SocketIoConfig;
use serde_json::Value;
use sio_client::{
    bearer_auth, eventually, packet, sio_connect, until_closed, ws_session, ws_session_at, Polling,
    WS_PATH,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn start(
    config: SocketIoConfig,
) -> (
    SocketAddr,
    roost_transport::Primus,
    roost_transport::SocketIo,
) {
    sio_client::start(common::app(), config).await
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
        app.send_to_connection(ids[0], "flood", big.clone());
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

const JWT_MALFORMED: &str = r#"44{"message":"jwt malformed","data":{"name":"JsonWebTokenError"}}"#;

#[tokio::test]
async fn handshake_authentication_logs_in_before_connection_or_refuses_with_the_error_data() {
    let app = common::app();
    let auth = sio_client::FakeAuth::default();
    app.use_service("authentication", auth.clone(), Default::default())
        .unwrap();
    let log = auth.log.clone();
    app.on_connection(move |_, _| log.lock().unwrap().push("connection"));
    let (addr, _primus, socketio) =
        sio_client::start_with(app, SocketIoConfig::default(), Some(bearer_auth())).await;

    // A bad token: CONNECT_ERROR with the Feathers error's message and data, exactly.
    let bearer = [("Authorization", "Bearer not-a-jwt")];
    let mut c = roost_testkit::ws::connect_with_headers(addr, WS_PATH, &bearer)
        .await
        .unwrap();
    assert!(sio_client::text(&mut c).await.starts_with("0{"));
    c.send_text("40").await;
    assert_eq!(packet(&mut c).await, JWT_MALFORMED);
    assert_eq!(socketio.connection_count(), 0);
    assert!(socketio.app().connections().is_empty());
    // The session stays open, as with Socket.IO: the client may try again.
    c.send_text("40").await;
    assert_eq!(packet(&mut c).await, JWT_MALFORMED);
    assert_eq!(socketio.session_count(), 1);

    // The same over long-polling.
    let p = Polling::open_with(addr, &bearer).await.unwrap();
    assert_eq!(p.post("40").await.status, 200);
    assert_eq!(p.get().await, vec![JWT_MALFORMED.to_owned()]);
    assert_eq!(
        TransportMetrics::get(&socketio.socketio_metrics().connect_errors),
        3
    );
    assert_eq!(*auth.log.lock().unwrap(), ["refused"; 3]);

    // A good token: `login` before `connection`, then `40{"sid":…}`.
    auth.log.lock().unwrap().clear();
    let mut good =
        roost_testkit::ws::connect_with_headers(addr, WS_PATH, &[("Authorization", "Bearer good")])
            .await
            .unwrap();
    assert!(sio_client::text(&mut good).await.starts_with("0{"));
    good.send_text("40").await;
    assert!(packet(&mut good).await.starts_with("40{\"sid\":"));
    assert_eq!(*auth.log.lock().unwrap(), ["login", "connection"]);
    assert_eq!(socketio.connection_count(), 1);
    good.send_text(r#"421["get","echo",5]"#).await;
    assert_eq!(packet(&mut good).await, "431[null,5]");
}

#[tokio::test]
async fn another_namespace_is_refused_and_the_session_may_join_the_default_one() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    let mut c = ws_session(addr).await;
    c.send_text("40/admin,").await;
    assert_eq!(
        packet(&mut c).await,
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    c.send_text(r#"40/admin,{"token":"x"}"#).await;
    assert_eq!(
        packet(&mut c).await,
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    c.send_text(r#"40{"token":"ignored"}"#).await;
    assert!(packet(&mut c).await.starts_with("40{\"sid\":"));
    c.send_text(r#"420["get","echo",1]"#).await;
    assert_eq!(packet(&mut c).await, "430[null,1]");
    // An event for a namespace the session has not joined closes it, as Socket.IO does.
    c.send_text(r#"42/admin,1["get","echo",1]"#).await;
    until_closed(&mut c).await;
    assert_eq!(socketio.metrics().closes(CloseReason::ProtocolError), 1);
    assert_eq!(
        TransportMetrics::get(&socketio.socketio_metrics().connect_errors),
        2
    );
}

#[tokio::test]
async fn packets_out_of_order_close_the_session() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    // Each of these before (or instead of) joining the namespace, or a second CONNECT.
    for (join, bad) in [
        (false, r#"420["get","echo",1]"#),
        (false, "41"),
        (false, "430[null]"),
        (false, r#"44{"message":"x"}"#),
        (true, "40"),
        (true, r#"44{"message":"x"}"#),
    ] {
        let mut c = if join {
            sio_connect(addr).await
        } else {
            ws_session(addr).await
        };
        c.send_text(bad).await;
        let texts = until_closed(&mut c).await;
        assert!(
            texts.iter().all(|t| t == "1"),
            "{bad}: only the Engine.IO close: {texts:?}"
        );
    }
    eventually("every session closed", || socketio.session_count() == 0).await;
    assert_eq!(
        TransportMetrics::get(&socketio.metrics().malformed_frames),
        6
    );
    assert_eq!(socketio.metrics().closes(CloseReason::ProtocolError), 2);
    // A client ack for nothing is ignored, like Socket.IO ignores it.
    let mut c = sio_connect(addr).await;
    c.send_text("435[null,1]").await;
    c.send_text(r#"421["get","echo",2]"#).await;
    assert_eq!(packet(&mut c).await, "431[null,2]");
    assert_eq!(TransportMetrics::get(&socketio.metrics().ignored_frames), 1);
}

#[tokio::test]
async fn binary_packets_are_refused_with_a_clear_error_and_close_the_session() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    let mut c = sio_connect(addr).await;
    c.send_text(r#"451-7["create","messages",{"_placeholder":true,"num":0}]"#)
        .await;
    let ack: Value = {
        let p = packet(&mut c).await;
        assert!(p.starts_with("437["), "{p}");
        serde_json::from_str(&p[3..]).unwrap()
    };
    assert_eq!(
        ack,
        json!([{"name": "BadRequest", "message": "Binary attachments are not supported by this server", "code": 400, "className": "bad-request"}])
    );
    until_closed(&mut c).await;
    // An Engine.IO binary message, too.
    let mut c = sio_connect(addr).await;
    assert!(c.send_binary(vec![1, 2, 3]).await);
    until_closed(&mut c).await;
    eventually("both closed", || socketio.session_count() == 0).await;
    assert_eq!(
        TransportMetrics::get(&socketio.socketio_metrics().binary_packets),
        2
    );
    assert_eq!(socketio.metrics().closes(CloseReason::ProtocolError), 2);
    assert!(socketio.app().connections().is_empty());
}

#[tokio::test]
async fn the_server_disconnects_a_connection_with_41_and_the_client_may_join_again() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    let disconnects = Arc::new(Mutex::new(0));
    let d = disconnects.clone();
    socketio
        .app()
        .on_disconnect(move |_, _| *d.lock().unwrap() += 1);
    let mut c = sio_connect(addr).await;
    let ids = socketio.connection_ids();
    assert!(socketio.close(ids[0]));
    assert_eq!(packet(&mut c).await, "41");
    assert_eq!(socketio.connection_count(), 0);
    assert_eq!(socketio.session_count(), 1, "the client closes its session");
    // Token expiry goes the same way: the app emits `disconnect` for the connection.
    c.send_text("40").await;
    assert!(packet(&mut c).await.starts_with("40{\"sid\":"));
    let id = socketio.connection_ids()[0];
    // The new connection has the session's handshake headers, as the first one had.
    let version =
        |id| socketio.app().connection(id).unwrap().headers()["sec-websocket-version"].clone();
    assert_eq!(version(id), "13");
    socketio.app().disconnect(id);
    assert_eq!(packet(&mut c).await, "41");
    // And after an app `disconnect` (token expiry) too.
    c.send_text("40").await;
    assert!(packet(&mut c).await.starts_with("40{\"sid\":"));
    let id = socketio.connection_ids()[0];
    assert_eq!(version(id), "13");
    assert!(socketio.close(id));
    assert_eq!(packet(&mut c).await, "41");
    assert_eq!(socketio.metrics().closes(CloseReason::ServerClosed), 3);
    assert_eq!(*disconnects.lock().unwrap(), 3);
    assert!(socketio.app().connections().is_empty());
}

#[tokio::test]
async fn a_session_that_never_joins_is_closed_after_the_connect_timeout() {
    let (addr, _primus, socketio) = start(SocketIoConfig {
        connect_timeout_ms: 300,
        ..SocketIoConfig::default()
    })
    .await;
    let mut idle = ws_session(addr).await;
    let mut joined = sio_connect(addr).await;
    assert_eq!(until_closed(&mut idle).await, ["1"]);
    assert_eq!(
        TransportMetrics::get(&socketio.socketio_metrics().connect_timeouts),
        1
    );
    // A joined session stays, and one that leaves gets the timeout again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    joined.send_text(r#"421["get","echo",1]"#).await;
    assert_eq!(packet(&mut joined).await, "431[null,1]");
    joined.send_text("41").await;
    assert_eq!(until_closed(&mut joined).await, ["1"]);
    assert_eq!(
        TransportMetrics::get(&socketio.socketio_metrics().connect_timeouts),
        2
    );
    assert_eq!(socketio.metrics().closes(CloseReason::ClientClosed), 1);
    // Over long-polling too.
    let p = Polling::open(addr).await.unwrap();
    eventually("the polling session timed out", || {
        TransportMetrics::get(&socketio.socketio_metrics().connect_timeouts) == 3
    })
    .await;
    assert_eq!(p.get_raw().await.status, 400);
    assert_eq!(socketio.session_count(), 0);
}

#[tokio::test]
async fn shutdown_closes_every_session_and_refuses_new_ones() {
    let (addr, _primus, socketio) = start(SocketIoConfig::default()).await;
    let mut a = sio_connect(addr).await;
    let mut b = sio_connect(addr).await;
    let mut idle = ws_session(addr).await;
    eventually("3 sessions", || socketio.session_count() == 3).await;
    socketio.shutdown(Duration::from_secs(5)).await;
    for c in [&mut a, &mut b, &mut idle] {
        // The Engine.IO close (no `41`): clients reconnect to the restarted server.
        assert_eq!(until_closed(c).await, ["1"]);
    }
    assert_eq!(socketio.metrics().closes(CloseReason::ServerShutdown), 2);
    assert_eq!(socketio.session_count(), 0);
    assert!(socketio.app().connections().is_empty());
    let refused = Polling::open(addr).await.err().unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["name"], "Unavailable");
    assert!(connect(addr, WS_PATH).await.is_err());
    let _ = ws_session_at; // (used by the limit tests)
}

#[tokio::test]
async fn a_panicking_service_ends_only_its_call() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let mut c = sio_connect(addr).await;
    // The echo service panics on this id; the call runs in place (it never waits).
    c.send_text(r#"421["get","echo","panic"]"#).await;
    c.send_text(r#"422["get","echo","still here"]"#).await;
    // The panicking call is never answered; the connection and its next call are fine.
    assert_eq!(packet(&mut c).await, r#"432[null,"still here"]"#);
    assert_eq!(socketio.connection_count(), 1);
}
