//! Roost's own Engine.IO 4 server over real sockets, the parts the Socket.IO tests do not
//! reach: the polling → websocket upgrade (`2probe`/`3probe`/`5`, a waiting poll ended with a
//! noop, packets queued meanwhile sent on the websocket), a large event over long-polling,
//! the first ping only after `pingInterval`, the heartbeat over polling, and the refusals with Engine.IO's error codes.
#![allow(clippy::unwrap_used)]

mod common;
mod sio_client;

use roost_core::json;
use roost_testkit::request;
use roost_testkit::ws::{connect, Received};
use roost_transport::primus::CloseReason;
use roost_transport::{CorsConfig, SocketIoConfig};
use serde_json::Value;
use sio_client::{eventually, packet, Polling, POLLING_PATH, WS_PATH};
use std::time::Duration;

#[tokio::test]
async fn a_polling_session_upgrades_to_websocket() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let p = Polling::joined(addr).await;
    let id = socketio.connection_ids()[0];
    // A poll waiting when the probe comes is ended with a noop.
    let waiting = {
        let (addr, sid) = (p.addr, p.sid.clone());
        tokio::spawn(async move {
            let path = format!("{POLLING_PATH}&sid={sid}");
            request(addr, "GET", &path, &[], None).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ws = connect(addr, &format!("{WS_PATH}&sid={}", p.sid))
        .await
        .unwrap();
    ws.send_text("2probe").await;
    assert_eq!(sio_client::text(&mut ws).await, "3probe");
    let noop = waiting.await.unwrap();
    assert_eq!((noop.status, &noop.body[..]), (200, &b"6"[..]));
    // An event queued before `5` goes out on the websocket after it.
    let app = socketio.app().clone();
    assert_eq!(app.send_to_connection(id, "during", json!(1)), 1);
    ws.send_text("5").await;
    assert_eq!(packet(&mut ws).await, r#"42["during",1]"#);
    ws.send_text(r#"421["get","echo",2]"#).await;
    assert_eq!(packet(&mut ws).await, "431[null,2]");
    // The session is the same connection, and polling is over for it.
    assert_eq!(socketio.connection_ids(), [id]);
    let r = p.get_raw().await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"code": 3, "message": "Bad request"}));
    // A second upgrade of the same session is refused.
    assert!(connect(addr, &format!("{WS_PATH}&sid={}", p.sid))
        .await
        .is_err());
    ws.send_text("1").await;
    eventually("the session closed", || socketio.session_count() == 0).await;
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_session_on_polling() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let p = Polling::joined(addr).await;
    let mut ws = connect(addr, &format!("{WS_PATH}&sid={}", p.sid))
        .await
        .unwrap();
    ws.send_text("not a probe").await;
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), ws.recv()).await,
        Ok(Received::End | Received::Close(_))
    ));
    assert_eq!(p.post(r#"421["get","echo",3]"#).await.status, 200);
    assert_eq!(p.get().await, ["431[null,3]"]);
    assert_eq!(socketio.connection_count(), 1);
}

#[tokio::test]
async fn a_large_event_over_polling_arrives_whole() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    let p = Polling::joined(addr).await;
    let app = socketio.app().clone();
    let text = "x".repeat(3 << 20);
    assert_eq!(app.send_to_all("big", json!({"text": text})), 1);
    assert_eq!(app.send_to_all("small", json!(2)), 1);
    let r = p.get_raw().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let body = String::from_utf8(r.body).unwrap();
    let packets: Vec<&str> = body.split('\u{1e}').collect();
    assert_eq!(packets.len(), 2);
    let big: Value = serde_json::from_str(&packets[0][2..]).unwrap();
    assert_eq!(big, json!(["big", {"text": text}]));
    assert_eq!(packets[1], r#"42["small",2]"#);
}

#[tokio::test]
async fn the_first_ping_comes_after_the_ping_interval() {
    let (addr, _primus, _socketio) = sio_client::start_app(|c| c.ping_interval_ms = 60_000).await;
    let mut c = sio_client::ws_session(addr).await;
    c.send_text("40").await;
    // Not `2` first (engineioxide pinged right after the open): the connect's answer.
    let first = sio_client::text(&mut c).await;
    assert!(first.starts_with("40{\"sid\":"), "{first}");
    let open = Polling::open(addr).await.unwrap();
    let path = format!("{POLLING_PATH}&sid={}", open.sid);
    let r = request(addr, "GET", &path, &[], None);
    // A poll right after the handshake waits: nothing, not even a ping, is queued.
    assert!(tokio::time::timeout(Duration::from_millis(300), r)
        .await
        .is_err());
}

#[tokio::test]
async fn bad_requests_get_engine_io_error_codes() {
    let (addr, _primus, socketio) = sio_client::start_app(|_| {}).await;
    for (method, path, code, message) in [
        (
            "GET",
            "/socket.io/?EIO=4&transport=carrier-pigeon",
            0,
            "Transport unknown",
        ),
        ("GET", "/socket.io/?EIO=4", 0, "Transport unknown"),
        (
            "GET",
            "/socket.io/?EIO=3&transport=polling",
            5,
            "Unsupported protocol version",
        ),
        (
            "POST",
            "/socket.io/?EIO=4&transport=polling",
            2,
            "Bad handshake method",
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
            1,
            "Session ID unknown",
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=garbage",
            1,
            "Session ID unknown",
        ),
        // A websocket handshake request that is no websocket handshake.
        ("GET", WS_PATH, 3, "Bad request"),
    ] {
        let r = request(addr, method, path, &[], None).await.unwrap();
        assert_eq!(r.status, 400, "{method} {path}");
        assert_eq!(
            r.json(),
            json!({"code": code, "message": message}),
            "{method} {path}"
        );
    }
    assert_eq!(socketio.session_count(), 0);
    // Other paths are not Engine.IO's.
    let r = request(addr, "GET", "/socket.iox", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_heartbeat_runs_over_polling_too() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| {
        c.ping_interval_ms = 100;
        // Generous: a slow machine must not miss a pong.
        c.ping_timeout_ms = 2000;
    })
    .await;
    let p = Polling::joined(addr).await;
    // A ping comes with the next poll; the pong goes in a POST, and the session lives on.
    for _ in 0..3 {
        let r = p.get_raw().await;
        assert_eq!((r.status, &r.body[..]), (200, &b"2"[..]));
        assert_eq!(p.post("3").await.status, 200);
    }
    assert_eq!(socketio.connection_count(), 1);
    // Without a pong the session ends, and the next poll is refused.
    assert_eq!(p.get_raw().await.body, b"2");
    eventually("closed by the heartbeat", || {
        socketio.metrics().closes(CloseReason::HeartbeatTimeout) == 1
    })
    .await;
    assert_eq!(socketio.session_count(), 0);
    assert_eq!(p.get_raw().await.status, 400);
}

#[tokio::test]
async fn a_chunked_polling_body_over_max_payload_is_refused_as_too_large() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.max_payload = 1000).await;
    let p = Polling::joined(addr).await;
    // No Content-Length: the limit is found while reading.
    let body = format!(
        r#"42["create","messages",{{"text":"{}"}}]"#,
        "y".repeat(2000)
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {POLLING_PATH}&sid={} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        p.sid,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    eventually("closed", || socketio.connection_count() == 0).await;
    assert_eq!(socketio.metrics().closes(CloseReason::FrameTooLarge), 1);
}

#[tokio::test]
async fn an_upgrade_not_finished_within_upgrade_timeout_ms_is_dropped() {
    let (addr, _primus, socketio) = sio_client::start_app(|c| c.upgrade_timeout_ms = 200).await;
    let p = Polling::joined(addr).await;
    let mut ws = connect(addr, &format!("{WS_PATH}&sid={}", p.sid))
        .await
        .unwrap();
    ws.send_text("2probe").await;
    assert_eq!(sio_client::text(&mut ws).await, "3probe");
    // The client never sends `5`: the server drops the websocket after 200 ms (the default
    // 10 s would outlast this wait).
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), ws.recv()).await,
        Ok(Received::End | Received::Close(_))
    ));
    // The session stays on polling, and may try again.
    assert_eq!(p.post(r#"421["get","echo",4]"#).await.status, 200);
    assert_eq!(p.get().await, ["431[null,4]"]);
    let mut again = connect(addr, &format!("{WS_PATH}&sid={}", p.sid))
        .await
        .unwrap();
    again.send_text("2probe").await;
    assert_eq!(sio_client::text(&mut again).await, "3probe");
    again.send_text("5").await;
    again.send_text(r#"421["get","echo",5]"#).await;
    assert_eq!(packet(&mut again).await, "431[null,5]");
    assert_eq!(socketio.connection_count(), 1);
}

/// A browser's preflight of a polling `POST` from `http://app.example`.
async fn send_preflight(addr: std::net::SocketAddr) -> roost_testkit::HttpResponse {
    let headers = [
        ("Origin", "http://app.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    request(addr, "OPTIONS", POLLING_PATH, &headers, None)
        .await
        .unwrap()
}

/// `/socket.io/` answers with REST's CORS settings (`[cors]`): preflights of a polling `POST`,
/// and the headers on the handshake and on polling requests; none when CORS is off.
#[tokio::test]
async fn polling_has_the_cors_settings_of_rest() {
    let origin = [("Origin", "http://app.example")];
    let allowed = |r: &roost_testkit::HttpResponse| {
        r.header("access-control-allow-origin").map(str::to_owned)
    };
    let cors = CorsConfig {
        origins: vec!["http://app.example".into()],
        ..CorsConfig::default()
    };
    let (addr, _primus, _socketio) =
        sio_client::start_with_cors(common::app(), SocketIoConfig::default(), None, &cors).await;
    let preflight = send_preflight(addr).await;
    assert!(
        preflight.status == 200 || preflight.status == 204,
        "{}",
        preflight.status
    );
    assert_eq!(allowed(&preflight).as_deref(), Some("http://app.example"));
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let handshake = request(addr, "GET", POLLING_PATH, &origin, None)
        .await
        .unwrap();
    assert_eq!(handshake.status, 200);
    assert!(handshake.body.starts_with(b"0{"));
    assert_eq!(allowed(&handshake).as_deref(), Some("http://app.example"));
    let p = Polling::open(addr).await.unwrap();
    let post = request(
        addr,
        "POST",
        &format!("{POLLING_PATH}&sid={}", p.sid),
        &[
            ("Origin", "http://app.example"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"40"),
    )
    .await
    .unwrap();
    assert_eq!(
        (post.status, allowed(&post).as_deref()),
        (200, Some("http://app.example"))
    );
    assert!(p.get().await[0].starts_with("40{"));
    // An origin not in the list gets no CORS headers, as on REST.
    let other = request(
        addr,
        "GET",
        POLLING_PATH,
        &[("Origin", "http://evil.example")],
        None,
    )
    .await
    .unwrap();
    assert_eq!((other.status, allowed(&other)), (200, None));
    let rest = request(
        addr,
        "GET",
        "/echo",
        &[("Origin", "http://evil.example")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(allowed(&rest), None);

    // CORS off: no headers, and OPTIONS is the Engine.IO refusal of a non-GET handshake.
    let off = CorsConfig {
        enabled: false,
        ..CorsConfig::default()
    };
    let (addr, _primus, _socketio) =
        sio_client::start_with_cors(common::app(), SocketIoConfig::default(), None, &off).await;
    let handshake = request(addr, "GET", POLLING_PATH, &origin, None)
        .await
        .unwrap();
    assert_eq!((handshake.status, allowed(&handshake)), (200, None));
    let preflight = send_preflight(addr).await;
    assert_eq!((preflight.status, allowed(&preflight)), (400, None));
    assert_eq!(preflight.json()["code"], 2);
}
