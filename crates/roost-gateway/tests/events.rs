//! `/_roost/events` over real TCP: the shared secret, the body limit (both refused and
//! counted), and delivery of the app's events to the members of the named channels and the
//! listed connections, each once, with a channel's `send` data; membership changes applied
//! after the events of the same post.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roost_core::{json, App, ConnectionId, ConnectionInfo, RecordingSink, Value};
use roost_gateway::{Gateway, GatewayConfig, GatewayMode};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const SECRET: &str = "a-secret-of-enough-length";

async fn serve(max_event_bytes: usize) -> (App, Gateway, Arc<RecordingSink>, SocketAddr) {
    let app = App::new();
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    let config = GatewayConfig {
        // Never contacted here.
        upstream: "http://127.0.0.1:9".into(),
        mode: GatewayMode::Plugin,
        secret: SECRET.into(),
        max_event_bytes,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::install(&app, &config).unwrap().unwrap();
    let router = gateway.routes(axum::Router::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, gateway, sink, addr)
}

async fn post(addr: SocketAddr, secret: Option<&str>, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(secret) = secret {
        headers.push(("x-roost-secret", secret));
    }
    let res = roost_testkit::request(addr, "POST", "/_roost/events", &headers, Some(&bytes))
        .await
        .unwrap();
    (res.status, res.json())
}

fn connect(app: &App, id: u64) -> ConnectionId {
    let conn = ConnectionId(id);
    app.connect(ConnectionInfo::new(conn, "primus", Default::default()));
    conn
}

#[tokio::test]
async fn the_secret_and_the_body_limit_are_enforced_and_counted() {
    let (app, gateway, sink, addr) = serve(256).await;
    let a = connect(&app, 1);
    app.channels().channel("room/1").join([a]);
    let event = json!({"events": [{"path": "messages", "event": "created", "data": {"text": "x"},
        "channels": [{"name": "room/1"}]}]});
    let (status, error) = post(addr, None, &event).await;
    assert_eq!(status, 401);
    assert_eq!(error["name"], "NotAuthenticated");
    let (status, _) = post(addr, Some("a-secret-of-enough-lengtH"), &event).await;
    assert_eq!(status, 401);
    let big = json!({"events": [{"path": "messages", "event": "created",
        "data": {"text": "y".repeat(300)}, "channels": [{"name": "room/1"}]}]});
    let (status, error) = post(addr, Some(SECRET), &big).await;
    assert_eq!(status, 429);
    assert_eq!(error["name"], "TooManyRequests");
    assert_eq!(gateway.metrics().refused.load(Ordering::Relaxed), 3);
    assert!(sink.take().is_empty(), "nothing refused was delivered");
}

#[tokio::test]
async fn events_reach_channel_members_and_listed_connections_once() {
    let (app, gateway, sink, addr) = serve(1 << 20).await;
    let [a, b, c, d] = [1, 2, 3, 4].map(|id| connect(&app, id));
    app.channels().channel("room/1").join([a, b]);
    app.channels().channel("admins").join([b, c]);
    let body = json!({
        "events": [{
            "path": "messages", "event": "created", "data": {"id": 1, "text": "hi"},
            "channels": [
                {"name": "room/1"},
                {"name": "admins", "data": {"id": 1, "text": "hi", "secret": true}},
                {"connections": [d.0, a.0]}
            ]
        }],
        "changes": [[c.0, "leave", "admins"], [d.0, "join", "room/1"]]
    });
    let (status, answer) = post(addr, Some(SECRET), &body).await;
    assert_eq!((status, answer), (200, json!({"delivered": 1})));
    let deliveries = sink.take();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.wire_name(), "messages created");
    assert_eq!(delivery.recipient_count(), 4, "a, b, c, d once each");
    assert_eq!(
        delivery.payload_for(a),
        Some(&json!({"id": 1, "text": "hi"}))
    );
    // b is in room/1 first: the first channel's data wins, as in Feathers.
    assert_eq!(
        delivery.payload_for(b),
        Some(&json!({"id": 1, "text": "hi"}))
    );
    assert_eq!(
        delivery.payload_for(c),
        Some(&json!({"id": 1, "text": "hi", "secret": true}))
    );
    assert!(delivery.payload_for(d).is_some());
    // The changes came after the event: c left admins, d joined room/1.
    assert_eq!(app.channels().channel("admins").connections(), vec![b]);
    assert!(app.channels().channel("room/1").contains(d));
    assert_eq!(
        gateway.metrics().membership_changes.load(Ordering::Relaxed),
        2
    );
}
