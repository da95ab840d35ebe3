//! The Primus transport over real sockets: handshakes, plain HTTP on the Primus path, calls
//! and acks with the exact errors of docs/protocol.md §6, event-before-ack ordering, channels and
//! custom events.
#![allow(clippy::unwrap_used)]

mod common;

use roost_core::json;
use roost_testkit::request;
use roost_testkit::ws::{connect, connect_with_headers, Received};
use roost_transport::PrimusConfig;
use serde_json::Value;

fn not_found(message: &str) -> Value {
    json!([{"name": "NotFound", "message": message, "code": 404, "className": "not-found"}])
}

#[tokio::test]
async fn every_path_with_the_primus_prefix_upgrades() {
    let (addr, primus) = common::start().await;
    for path in ["/primus", "/primus/", "/primus/x?roomId=r1&n=1", "/primusx"] {
        let mut client = connect(addr, path).await.unwrap();
        client
            .call(1, "find", "echo", &[json!({"$limit": 2})])
            .await;
        let (data, _) = client.ack(1).await;
        assert_eq!(data[0], Value::Null, "{path}");
        assert_eq!(data[1]["provider"], "primus");
        assert_eq!(
            data[1]["query"],
            json!({"$limit": 2}),
            "socket queries keep JSON types"
        );
        assert_eq!(data[1]["connected"], true);
        assert_eq!(data[1]["host"], json!(addr.to_string()));
        if path.contains('?') {
            assert_eq!(data[1]["socketQuery"], json!({"roomId": "r1", "n": "1"}));
        } else {
            assert_eq!(data[1]["socketQuery"], json!({}));
        }
        client.close().await;
    }
    // Other paths are not Primus: REST answers them, and they do not upgrade.
    assert!(connect(addr, "/prim").await.is_err());
    assert_eq!(
        primus
            .metrics()
            .closes(roost_transport::primus::CloseReason::FrameTooLarge),
        0
    );
}

#[tokio::test]
async fn params_headers_are_the_handshake_headers() {
    let (addr, _primus) = common::start().await;
    let extra = [("X-Custom", "Value"), ("x-many", "a"), ("X-Many", "b")];
    let mut client = connect_with_headers(addr, "/primus", &extra).await.unwrap();
    for id in 1..=2 {
        client.call(id, "find", "echo", &[json!({})]).await;
        let (data, _) = client.ack(id).await;
        let mut headers = data[1]["headers"].clone();
        let key = headers.as_object_mut().unwrap().remove("sec-websocket-key");
        assert!(key.is_some_and(|k| k.is_string()));
        // Lower-case names, string values, a repeated name joined as Node does; the same on
        // every call.
        assert_eq!(
            headers,
            json!({
                "host": addr.to_string(),
                "connection": "Upgrade",
                "upgrade": "websocket",
                "sec-websocket-version": "13",
                "x-custom": "Value",
                "x-many": "a, b",
            })
        );
    }
    client.close().await;
}

#[tokio::test]
async fn plain_http_on_the_primus_path() {
    let (addr, _primus) = common::start_with(
        common::app(),
        PrimusConfig::default(),
        Some(b"/* primus client */"),
    )
    .await;
    for path in ["/primus", "/primusfoo", "/primus/anything"] {
        let r = request(addr, "GET", path, &[], None).await.unwrap();
        assert_eq!(r.status, 426, "{path}");
        assert_eq!(r.body, b"Upgrade Required");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(
            r.header("cache-control"),
            Some("no-store, no-cache, must-revalidate, max-age=0")
        );
        assert_eq!(r.header("pragma"), Some("no-cache"));
    }
    let r = request(addr, "GET", "/primus/spec", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"pingInterval":10000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#
    );
    let r = request(addr, "GET", "/primus/primus.js", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.body, b"/* primus client */");

    let (addr, _primus) = common::start_with(
        common::app(),
        PrimusConfig {
            ping_interval_ms: 0,
            ..PrimusConfig::default()
        },
        None,
    )
    .await;
    let r = request(addr, "GET", "/primus/primus.js", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    let r = request(addr, "GET", "/primus/spec", &[], None)
        .await
        .unwrap();
    assert_eq!(r.json()["pingInterval"], false);
}

#[tokio::test]
async fn a_panicking_service_ends_only_its_call() {
    let (addr, _primus) = common::start().await;
    let mut c = connect(addr, "/primus").await.unwrap();
    c.call(1, "get", "echo", &[json!("panic"), json!({})]).await;
    c.call(2, "get", "echo", &[json!("still here"), json!({})])
        .await;
    // The panicking call is never answered; the connection and its next call are fine.
    assert_eq!(c.ack(2).await.0, json!([null, "still here"]));
}

#[tokio::test]
async fn a_plain_error_reaches_the_client_as_its_message() {
    let (addr, _primus) = common::start().await;
    let mut c = connect(addr, "/primus").await.unwrap();
    c.call(1, "get", "echo", &[json!("plain"), json!({})]).await;
    // docs/feathers-semantics.md §G5a: the error's own properties, no name, no stack.
    assert_eq!(c.ack(1).await.0, json!([{"message": "boom"}]));
}

#[tokio::test]
async fn calls_answer_with_acks_and_the_reference_errors() {
    let (addr, _primus) = common::start().await;
    let mut c = connect(addr, "/primus").await.unwrap();

    c.call(
        1,
        "create",
        "messages",
        &[json!({"text": "hi", "secret": "s"}), json!({})],
    )
    .await;
    let (data, _) = c.ack(1).await;
    assert_eq!(
        data,
        json!([null, {"text": "hi", "id": 0}]),
        "dispatch hides secret"
    );

    c.call(2, "get", "messages", &[json!(9999), json!({})])
        .await;
    assert_eq!(c.ack(2).await.0, not_found("No record found for id '9999'"));

    c.send_json(&json!({"type": 0, "data": ["find", 42], "id": 3}))
        .await;
    assert_eq!(c.ack(3).await.0, not_found("Invalid service path"));

    c.call(4, "find", "nope", &[]).await;
    assert_eq!(c.ack(4).await.0, not_found("Service 'nope' not found"));

    c.call(5, "remove", "readonly", &[json!(1), json!({})])
        .await;
    assert_eq!(
        c.ack(5).await.0,
        json!([{"name": "MethodNotAllowed", "message": "Method 'remove' not allowed on service 'readonly'", "code": 405, "className": "method-not-allowed"}])
    );

    c.call(6, "get", "messages", &[json!(0), json!({}), json!("extra")])
        .await;
    assert_eq!(
        c.ack(6).await.0,
        json!([{"name": "BadRequest", "message": "Too many arguments for 'get' method", "code": 400, "className": "bad-request"}])
    );

    // Leading and trailing slashes are stripped; missing trailing arguments are fine.
    c.call(7, "find", "/messages/", &[]).await;
    assert_eq!(
        c.ack(7).await.0,
        json!([null, [{"text": "hi", "secret": "s", "id": 0}]])
    );

    // A method no service has: Roost answers (the reference never does).
    c.call(8, "bogus", "messages", &[]).await;
    let (data, _) = c.ack(8).await;
    assert_eq!(data[0]["name"], "MethodNotAllowed");

    // No id, id 0 or a string id: no ack (string ids drop the packet). The next ack is 10.
    c.send_json(&json!({"type": 0, "data": ["get", "echo", "a"]}))
        .await;
    c.send_json(&json!({"type": 0, "data": ["get", "echo", "b"], "id": 0}))
        .await;
    c.send_json(&json!({"type": 0, "data": ["get", "echo", "c"], "id": "9"}))
        .await;
    c.call(10, "get", "echo", &[json!("d")]).await;
    let frame = c.recv_json().await;
    assert_eq!(frame, json!({"id": 10, "type": 1, "data": [null, "d"]}));

    // Large ids come back as they were.
    c.call(2147483648, "get", "echo", &[json!(1)]).await;
    assert_eq!(c.ack(2147483648).await.0, json!([null, 1]));

    // The spark id.
    c.send_text(r#""primus::id::""#).await;
    let Received::Text(id) = c.recv().await else {
        panic!()
    };
    assert!(
        id.starts_with("\"primus::id::") && id.len() == "\"primus::id::\"".len() + 21,
        "{id}"
    );
}

#[tokio::test]
async fn the_caller_gets_its_event_before_its_ack() {
    let (addr, _primus) = common::start().await;
    let mut a = connect(addr, "/primus").await.unwrap();
    let mut b = connect(addr, "/primus?roomId=r1").await.unwrap();
    a.call(1, "join", "messages", &[json!({"roomId": "r1"}), json!({})])
        .await;
    assert_eq!(a.ack(1).await.0, json!([null, {"joined": "r1"}]));
    for i in 0..20u64 {
        a.call(
            100 + i,
            "create",
            "messages",
            &[json!({"text": i, "roomId": "r1", "secret": 1})],
        )
        .await;
    }
    for i in 0..20u64 {
        let (data, events) = a.ack(100 + i).await;
        assert_eq!(data[1]["text"], json!(i));
        assert_eq!(
            events,
            vec![
                json!({"type": 0, "data": ["messages created", {"text": i, "roomId": "r1", "id": i}]})
            ],
            "exactly one event frame, before the ack"
        );
        // B, in the room through its query string, gets the same frame.
        assert_eq!(
            b.recv_json().await,
            json!({"type": 0, "data": ["messages created", {"text": i, "roomId": "r1", "id": i}]})
        );
    }
}

#[tokio::test]
async fn channels_route_events_per_connection() {
    let (addr, _primus) = common::start().await;
    let mut a = connect(addr, "/primus").await.unwrap();
    let mut b = connect(addr, "/primus").await.unwrap();
    a.call(1, "join", "messages", &[json!({"roomId": "r1"})])
        .await;
    a.ack(1).await;

    // Typing in r1 reaches A (room) only; B is anonymous only.
    b.call(
        2,
        "typing",
        "messages",
        &[json!({"roomId": "r1", "who": "b"})],
    )
    .await;
    let (data, events) = b.ack(2).await;
    assert_eq!(data, json!([null, {"roomId": "r1", "who": "b"}]));
    assert!(events.is_empty());
    assert_eq!(
        a.recv_json().await,
        json!({"type": 0, "data": ["messages typing", {"roomId": "r1", "who": "b"}]})
    );

    // created without a room goes to anonymous: both.
    b.call(3, "create", "messages", &[json!({"text": "x"})])
        .await;
    let (_, events) = b.ack(3).await;
    assert_eq!(
        events,
        vec![json!({"type": 0, "data": ["messages created", {"text": "x", "id": 0}]})]
    );
    assert_eq!(a.recv_json().await["data"][0], "messages created");

    // patched: per-channel data.
    b.call(4, "patch", "messages", &[json!(0), json!({"text": "y"})])
        .await;
    let (_, events) = b.ack(4).await;
    assert_eq!(
        events,
        vec![json!({"type": 0, "data": ["messages patched", {"id": 0, "redacted": true}]})]
    );
    assert_eq!(
        a.recv_json().await["data"][1],
        json!({"id": 0, "redacted": true})
    );

    // removed goes to [room, anonymous]: A is in both and gets one frame.
    b.call(
        5,
        "create",
        "messages",
        &[json!({"text": "in room", "roomId": "r1"})],
    )
    .await;
    b.ack(5).await;
    assert_eq!(a.recv_json().await["data"][0], "messages created");
    b.call(6, "remove", "messages", &[json!(1)]).await;
    let (_, events) = b.ack(6).await;
    assert_eq!(events.len(), 1);
    assert_eq!(a.recv_json().await["data"][0], "messages removed");
    // The next frame A sees is the answer to its own call, not a duplicate.
    a.call(7, "leave", "messages", &[json!({"roomId": "r1"})])
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"id": 7, "type": 1, "data": [null, {"left": "r1"}]})
    );

    // After leaving, room events no longer reach A.
    b.call(8, "typing", "messages", &[json!({"roomId": "r1"})])
        .await;
    b.ack(8).await;
    a.call(9, "get", "echo", &[json!("marker")]).await;
    assert_eq!(a.recv_json().await["id"], 9);
}

#[tokio::test]
async fn custom_events_to_all_one_and_a_channel() {
    let (addr, _primus) = common::start().await;
    let mut a = connect(addr, "/primus").await.unwrap();
    let mut b = connect(addr, "/primus?roomId=r2").await.unwrap();

    a.call(
        1,
        "toAll",
        "broadcast",
        &[json!({"event": "announcement", "data": {"text": "hello everyone"}})],
    )
    .await;
    let (data, events) = a.ack(1).await;
    assert_eq!(data, json!([null, {"sent": true}]));
    assert_eq!(
        events,
        vec![json!({"type": 0, "data": ["announcement", {"text": "hello everyone"}]})]
    );
    assert_eq!(b.recv_json().await, events[0]);

    b.call(
        2,
        "toMe",
        "broadcast",
        &[json!({"event": "private-note", "data": {"text": "just for B"}})],
    )
    .await;
    let (_, events) = b.ack(2).await;
    assert_eq!(
        events,
        vec![json!({"type": 0, "data": ["private-note", {"text": "just for B"}]})]
    );

    a.call(
        3,
        "toChannel",
        "broadcast",
        &[json!({"channel": "room/r2", "event": "room-note", "data": 7})],
    )
    .await;
    let (_, events) = a.ack(3).await;
    assert!(events.is_empty(), "A is not in room/r2");
    assert_eq!(
        b.recv_json().await,
        json!({"type": 0, "data": ["room-note", 7]})
    );
}
