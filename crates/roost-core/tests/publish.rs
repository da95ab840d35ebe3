//! From a service call to the transports' sink: events pass through exactly one publisher
//! (docs/feathers-semantics.md §D9–D12) and reach the sink with their wire name and payloads.
#![allow(clippy::unwrap_used)]

mod common;

use common::Store;
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::{
    json, App, ConnectionId, Params, Publisher, RecordingSink, ServiceOptions, Value,
};
use std::sync::Arc;

struct Setup {
    app: App,
    sink: Arc<RecordingSink>,
    a: ConnectionId,
    b: ConnectionId,
}

fn setup() -> Setup {
    let app = App::new();
    let options = ServiceOptions {
        events: vec!["typing".into()],
        ..ServiceOptions::default()
    };
    app.use_service("messages", Store, options).unwrap();
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    let (a, b) = (ConnectionId::next(), ConnectionId::next());
    app.channels().connect(a);
    app.channels().connect(b);
    app.channel("room/1").join([a]);
    app.channel("authenticated").join([a, b]);
    Setup { app, sink, a, b }
}

fn route_by_room() -> Publisher {
    Publisher::new(|data: &Value, ctx: &roost_core::HookContext| {
        Ok(Some(
            match data.get("roomId") {
                Some(room) => ctx
                    .app
                    .channel(&format!("room/{}", room.as_str().unwrap_or(""))),
                None => ctx.app.channel("authenticated"),
            }
            .into(),
        ))
    })
}

#[tokio::test]
async fn a_created_event_reaches_the_sink_through_the_app_publisher() {
    let s = setup();
    s.app.publish(route_by_room());
    let messages = s.app.service("messages").unwrap();
    messages
        .create(json!({"text": "hi", "roomId": "1"}), Params::default())
        .await
        .unwrap();
    let deliveries = s.sink.take();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].wire_name(), "messages created");
    let to: Vec<ConnectionId> = deliveries[0].recipients().map(|(c, _)| c).collect();
    assert_eq!(to, vec![s.a]);
    assert_eq!(
        deliveries[0].payload_for(s.a),
        Some(&json!({"text": "hi", "roomId": "1"}))
    );
}

#[tokio::test]
async fn the_service_publisher_wins_and_a_null_one_blocks_the_app() {
    let s = setup();
    s.app.publish(route_by_room());
    let messages = s.app.service("messages").unwrap();
    messages.publish(Publisher::nothing());
    messages
        .create(json!({"roomId": "1"}), Params::default())
        .await
        .unwrap();
    assert!(s.sink.take().is_empty());
    messages
        .publish_event(
            "created",
            Publisher::new(|_, ctx| Ok(Some(ctx.app.channel("authenticated").into()))),
        )
        .unwrap();
    messages
        .create(json!({"roomId": "1"}), Params::default())
        .await
        .unwrap();
    assert_eq!(s.sink.take()[0].recipient_count(), 2);
    let e = messages
        .publish_event("bogus", Publisher::nothing())
        .unwrap_err();
    assert_eq!(e.message, "'bogus' is not a valid service event");
}

#[tokio::test]
async fn dispatch_is_what_clients_receive_and_custom_events_publish() {
    let s = setup();
    s.app.publish(route_by_room());
    let messages = s.app.service("messages").unwrap();
    messages
        .hooks(HookMap::new().after(
            "create",
            sync_hook(|ctx| {
                ctx.dispatch = Some(json!({"text": "redacted", "roomId": "1"}));
                Ok(())
            }),
        ))
        .unwrap();
    messages
        .create(json!({"text": "secret", "roomId": "1"}), Params::default())
        .await
        .unwrap();
    let d = s.sink.take();
    assert_eq!(d[0].payload_for(s.a).unwrap()["text"], "redacted");

    messages
        .emit("typing", json!({"roomId": "1", "who": "a"}))
        .await;
    let d = s.sink.take();
    assert_eq!(d[0].wire_name(), "messages typing");
    assert!(d[0].payload_for(s.b).is_none());
}

#[tokio::test]
async fn without_a_publisher_nothing_is_sent() {
    let s = setup();
    s.app
        .service("messages")
        .unwrap()
        .create(json!({"roomId": "1"}), Params::default())
        .await
        .unwrap();
    assert!(s.sink.take().is_empty());
}

#[tokio::test]
async fn a_hook_can_choose_the_channels_for_one_call() {
    let s = setup();
    s.app.publish(route_by_room());
    let messages = s.app.service("messages").unwrap();
    messages
        .hooks(HookMap::new().before(
            "create",
            sync_hook(|ctx| {
                if ctx.data.as_ref().and_then(|d| d.get("everyone")).is_some() {
                    ctx.channels = Some(ctx.app.channel("authenticated").into());
                }
                Ok(())
            }),
        ))
        .unwrap();
    messages
        .create(json!({"roomId": "1", "everyone": true}), Params::default())
        .await
        .unwrap();
    let d = s.sink.take();
    assert_eq!(d[0].recipient_count(), 2, "the hook's channel, not room/1");
    messages
        .create(json!({"roomId": "1"}), Params::default())
        .await
        .unwrap();
    let to: Vec<ConnectionId> = s.sink.take()[0].recipients().map(|(c, _)| c).collect();
    assert_eq!(to, vec![s.a], "other calls still use the publisher");
}
