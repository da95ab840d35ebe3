//! Publishing end to end (docs/feathers-semantics.md §D8–D12, §C6–C7): publisher resolution, targets, payloads, batches,
//! the custom send APIs and the sink.

use super::*;
use crate::publish::Publisher;
use crate::service::STANDARD_EVENTS;
use crate::Error;
use serde_json::json;

const SERVICE_EVENTS: [&str; 5] = ["created", "updated", "patched", "removed", "typing"];

fn connect(app: &App, n: usize) -> Vec<ConnectionId> {
    (0..n)
        .map(|_| {
            let id = ConnectionId::next();
            app.channels().connect(id);
            id
        })
        .collect()
}

fn ctx(app: &App, result: Value) -> HookContext {
    let mut ctx = HookContext::new(app.clone(), "messages", "create");
    ctx.result = Some(result);
    ctx
}

fn to(name: &'static str) -> Publisher {
    Publisher::new(move |_, ctx| Ok(Some(ctx.app.channel(name).into())))
}

async fn dispatch(
    app: &App,
    service: Option<&Publishers>,
    event: &str,
    data: &Value,
) -> Option<Delivery> {
    dispatch_event(
        app,
        service,
        "messages",
        event,
        data,
        &ctx(app, data.clone()),
    )
    .await
}

fn recipients(delivery: &Option<Delivery>) -> Vec<ConnectionId> {
    let mut all: Vec<ConnectionId> = delivery
        .iter()
        .flat_map(|d| d.recipients().map(|(c, _)| c))
        .collect();
    all.sort();
    all
}

#[test]
fn d8_registration_validates_event_names_and_replaces() {
    let app = App::new();
    let err = app.publish_event("typing", to("a")).unwrap_err();
    assert_eq!(err.message, "'typing' is not a valid service event");
    for event in STANDARD_EVENTS {
        app.publish_event(event, to("a")).unwrap();
    }
    let service = Publishers::default();
    service.set("typing", &SERVICE_EVENTS, to("a")).unwrap();
    let err = service.set("nope", &SERVICE_EVENTS, to("a")).unwrap_err();
    assert_eq!(err.message, "'nope' is not a valid service event");
    let custom_only = ["typing".to_owned()];
    assert!(service.set("created", &custom_only, to("a")).is_err());
}

#[tokio::test]
async fn d8_re_registering_the_same_key_replaces() {
    let app = App::new();
    let [c1, c2] = connect(&app, 2)[..] else {
        panic!()
    };
    app.channel("a").join([c1]);
    app.channel("b").join([c2]);
    app.publish_event("created", to("a")).unwrap();
    app.publish_event("created", to("b")).unwrap();
    app.publish(to("a"));
    app.publish(to("b"));
    let d = dispatch(&app, None, "created", &json!({})).await;
    assert_eq!(recipients(&d), vec![c2]);
    let d = dispatch(&app, None, "removed", &json!({})).await;
    assert_eq!(recipients(&d), vec![c2]);
}

#[tokio::test]
async fn d9_exactly_one_publisher_runs_in_precedence_order() {
    let app = App::new();
    let cs = connect(&app, 4);
    for (i, name) in ["service-event", "service-all", "app-event", "app-all"]
        .iter()
        .enumerate()
    {
        app.channel(name).join([cs[i]]);
    }
    let service = Publishers::default();
    app.publish(to("app-all"));
    let data = json!({"id": 1});
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "created", &data).await),
        vec![cs[3]]
    );
    app.publish_event("created", to("app-event")).unwrap();
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "created", &data).await),
        vec![cs[2]]
    );
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "removed", &data).await),
        vec![cs[3]]
    );
    service.set_all(to("service-all"));
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "created", &data).await),
        vec![cs[1]]
    );
    service
        .set("created", &SERVICE_EVENTS, to("service-event"))
        .unwrap();
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "created", &data).await),
        vec![cs[0]]
    );
    assert_eq!(
        recipients(&dispatch(&app, Some(&service), "typing", &data).await),
        vec![cs[1]]
    );
    // A service publisher returning nothing blocks the app publishers.
    service
        .set("patched", &SERVICE_EVENTS, Publisher::nothing())
        .unwrap();
    assert!(dispatch(&app, Some(&service), "patched", &data)
        .await
        .is_none());
    service
        .set("patched", &SERVICE_EVENTS, Publisher::new(|_, _| Ok(None)))
        .unwrap();
    assert!(dispatch(&app, Some(&service), "patched", &data)
        .await
        .is_none());
}

#[tokio::test]
async fn d10_targets_flatten_drop_missing_and_may_be_async() {
    let app = App::new();
    let cs = connect(&app, 3);
    app.channel("a").join([cs[0]]);
    app.channel("b").join([cs[1]]);
    app.channel("c").join([cs[2], cs[0]]);
    app.publish(Publisher::new(|_, ctx| {
        let a = &ctx.app;
        let nested: Vec<PublishTarget> = vec![
            vec![Some(a.channel("a")), None].into(),
            PublishTarget::Many(vec![
                vec![a.channel("b")].into(),
                PublishTarget::Many(vec![]),
            ]),
            a.channel("c").into(),
        ];
        Ok(Some(nested.into()))
    }));
    let d = dispatch(&app, None, "created", &json!({})).await;
    assert_eq!(
        d.as_ref().map(Delivery::recipient_count),
        Some(3),
        "each connection once"
    );

    app.publish(Publisher::new_async(|_, ctx| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(Some(ctx.app.channel_many(&["b", "c"])?.into()))
        })
    }));
    let d = dispatch(&app, None, "created", &json!({})).await;
    assert_eq!(recipients(&d), vec![cs[0], cs[1], cs[2]]);

    // Zero resulting connections: nothing is sent.
    app.publish(to("empty-room"));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    app.publish(Publisher::new(|_, _| {
        Ok(Some(Vec::<Channel>::new().into()))
    }));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
}

#[tokio::test]
async fn d11_failing_publishers_send_nothing() {
    let app = App::new();
    let [c] = connect(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    app.publish(Publisher::new(|_, _| {
        Err(Error::general("Something went wrong"))
    }));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    app.publish(Publisher::new(|_, _| panic!("publisher bug")));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    app.publish(Publisher::new_async(|_, _| {
        Box::pin(async { Err(Error::general("async failure")) })
    }));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    app.publish(Publisher::new_async(|_, _| {
        Box::pin(async { panic!("async bug") })
    }));
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    // The registry is still usable afterwards.
    app.publish(to("a"));
    assert_eq!(
        recipients(&dispatch(&app, None, "created", &json!({})).await),
        vec![c]
    );
}

#[tokio::test]
async fn d12_without_publishers_nothing_is_sent() {
    let app = App::new();
    let [c] = connect(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    assert!(dispatch(&app, None, "created", &json!({})).await.is_none());
    let auth = Publishers::default();
    auth.set_all(Publisher::nothing());
    app.publish(to("a"));
    assert!(dispatch(&app, Some(&auth), "created", &json!({}))
        .await
        .is_none());
}

#[tokio::test]
async fn c6_wire_names() {
    let app = App::new();
    let [c] = connect(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    app.publish(to("a"));
    let data = json!({"id": 1});
    let c = ctx(&app, data.clone());
    let d = dispatch_event(&app, None, "users/:userId/messages", "created", &data, &c)
        .await
        .unwrap();
    assert_eq!(d.wire_name(), "users/:userId/messages created");
    let d = dispatch_event(&app, None, "/", "created", &data, &c)
        .await
        .unwrap();
    assert_eq!(d.wire_name(), "/ created");
    let d = app
        .server_event_delivery(app.channel("a"), "hello", json!(1))
        .unwrap();
    assert_eq!(d.wire_name(), "hello");
    assert_eq!(d.path, None);
}

#[tokio::test]
async fn c7_payload_is_send_data_else_dispatch_else_result() {
    let app = App::new();
    let cs = connect(&app, 4);
    app.channel("plain").join([cs[0], cs[1]]);
    app.channel("data").join([cs[2], cs[1]]);
    app.channel("falsy").join([cs[3]]);
    app.publish(Publisher::new(|_, ctx| {
        let a = &ctx.app;
        Ok(Some(
            vec![
                a.channel("data").send(json!({"custom": true})),
                a.channel("plain"),
                a.channel("falsy").send(json!(0)),
            ]
            .into(),
        ))
    }));
    let data = json!({"id": 1, "secret": "x"});
    let mut c = ctx(&app, data.clone());
    let d = dispatch_event(&app, None, "messages", "created", &data, &c)
        .await
        .unwrap();
    assert_eq!(d.payload_for(cs[0]), Some(&data));
    assert_eq!(
        d.payload_for(cs[1]),
        Some(&json!({"custom": true})),
        "first channel wins"
    );
    assert_eq!(d.payload_for(cs[2]), Some(&json!({"custom": true})));
    assert_eq!(
        d.payload_for(cs[3]),
        Some(&data),
        "falsy send data falls through"
    );

    c.dispatch = Some(json!({"id": 1}));
    let d = dispatch_event(&app, None, "messages", "created", &data, &c)
        .await
        .unwrap();
    assert_eq!(d.payload_for(cs[0]), Some(&json!({"id": 1})));
    assert_eq!(d.payload_for(cs[3]), Some(&json!({"id": 1})));
    // Encode once: two distinct payloads, two batches; the send data is shared, not copied.
    assert_eq!(d.batches.len(), 2);
    assert_eq!(d.recipient_count(), 4);
}

#[tokio::test]
async fn c7_array_results_pick_the_deep_equal_item_or_null() {
    let app = App::new();
    let [c] = connect(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    app.publish(to("a"));
    let items = json!([{"id": 1, "n": 1.0}, {"id": 2}]);
    let mut ctx = ctx(&app, items.clone());
    // No dispatch: each event carries its own item (numbers compare by value, keys unordered).
    let item = json!({"n": 1, "id": 1});
    let d = dispatch_event(&app, None, "messages", "created", &item, &ctx)
        .await
        .unwrap();
    assert_eq!(d.payload_for(c), Some(&json!({"id": 1, "n": 1.0})));
    // Dispatch equal to the result: the matching dispatch item.
    ctx.dispatch = Some(items.clone());
    let d = dispatch_event(&app, None, "messages", "created", &items[1], &ctx)
        .await
        .unwrap();
    assert_eq!(d.payload_for(c), Some(&json!({"id": 2})));
    // Dispatch items differ from result items (a hook hid a field): `null`, as observed.
    ctx.result = Some(json!([{"id": 1, "password": "h"}, {"id": 2, "password": "h"}]));
    ctx.dispatch = Some(json!([{"id": 1}, {"id": 2}]));
    let emitted = json!({"id": 1, "password": "h"});
    let d = dispatch_event(&app, None, "messages", "created", &emitted, &ctx)
        .await
        .unwrap();
    assert_eq!(d.payload_for(c), Some(&Value::Null));
    // Channel send data that is an array goes through the same rule.
    app.publish(Publisher::new(|_, ctx| {
        Ok(Some(
            ctx.app
                .channel("a")
                .send(json!([{"id": 1, "password": "h"}]))
                .into(),
        ))
    }));
    let d = dispatch_event(&app, None, "messages", "created", &emitted, &ctx)
        .await
        .unwrap();
    assert_eq!(d.payload_for(c), Some(&emitted));
}

#[test]
fn send_apis_bypass_publishers_and_send_at_once() {
    let app = App::new();
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    assert_eq!(app.send_to_all("news", json!(1)), 0);
    assert!(sink.take().is_empty());
    let cs = connect(&app, 3);
    assert_eq!(app.send_to_all("news", json!({"hi": 1})), 3);
    let got = sink.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recipient_count(), 3);
    assert_eq!(got[0].batches.len(), 1);
    assert_eq!(got[0].event, "news");
    assert_eq!(got[0].path, None);

    assert_eq!(app.send_to_connection(cs[1], "private", json!("x")), 1);
    let got = sink.take();
    assert_eq!(recipients(&got.first().cloned()), vec![cs[1]]);
    assert_eq!(got[0].payload_for(cs[1]), Some(&json!("x")));
    assert_eq!(
        app.send_to_connection(ConnectionId::next(), "private", json!("x")),
        0
    );
    assert!(sink.take().is_empty());

    app.channel("room").join([cs[0], cs[2]]);
    app.channel("vip").join([cs[2]]);
    let target = || vec![app.channel("vip").send(json!("vip")), app.channel("room")];
    assert_eq!(app.send_to_channel(target(), "ping", json!("all")), 2);
    let got = sink.take();
    assert_eq!(got[0].payload_for(cs[2]), Some(&json!("vip")));
    assert_eq!(got[0].payload_for(cs[0]), Some(&json!("all")));
    assert_eq!(
        app.send_to_channel(app.channel("nobody"), "ping", json!(1)),
        0
    );
    // Built without sending: the same delivery, nothing sent.
    let d = app
        .server_event_delivery(target(), "ping", json!("all"))
        .unwrap();
    assert_eq!(d.payload_for(cs[2]), Some(&json!("vip")));
    assert!(sink.take().is_empty());
    assert!(app
        .server_event_delivery(app.channel("nobody"), "ping", json!(1))
        .is_none());
}

#[tokio::test]
async fn deliveries_reach_the_installed_sink() {
    let app = App::new();
    let [c] = connect(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    app.publish(to("a"));
    // Without a sink, sending is a no-op.
    assert_eq!(app.send_to_all("x", json!(1)), 1);
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    let data = json!({"id": 1});
    if let Some(d) = dispatch(&app, None, "created", &data).await {
        app.deliver(d);
    }
    let got = sink.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].wire_name(), "messages created");
    assert_eq!(got[0].payload_for(c), Some(&data));
    assert_eq!(sink.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishing_joining_and_disconnecting() {
    let app = App::new();
    let cs = connect(&app, 200);
    app.publish(Publisher::new(|data, ctx| {
        let room = data["room"].as_u64().unwrap_or(0);
        Ok(Some(
            vec![
                ctx.app.channel(&format!("room/{room}")),
                ctx.app.channel("all"),
            ]
            .into(),
        ))
    }));
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let app = app.clone();
        let cs = cs.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..100usize {
                let conn = cs[(t * 25 + round) % cs.len()];
                let room = round % 4;
                app.channel(&format!("room/{room}")).join([conn]);
                app.channel("all").join([conn]);
                let data = json!({"room": room});
                let c = ctx(&app, data.clone());
                if let Some(d) = dispatch_event(&app, None, "messages", "created", &data, &c).await
                {
                    let mut seen: Vec<ConnectionId> = d.recipients().map(|(c, _)| c).collect();
                    let n = seen.len();
                    seen.sort();
                    seen.dedup();
                    assert_eq!(seen.len(), n, "each connection at most once");
                }
                if round % 10 == 9 {
                    app.channels().leave_all(conn);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for conn in cs {
        app.channels().disconnect(conn);
    }
    assert!(app.channel_names().is_empty());
    assert_eq!(app.channels().connection_count(), 0);
}

#[test]
fn deliveries_are_split_by_provider() {
    use crate::connection::ConnectionInfo;
    let app = App::new();
    let ids: Vec<ConnectionId> = ["primus", "socketio", "primus", "socketio"]
        .iter()
        .map(|provider| {
            let id = ConnectionId::next();
            app.connect(ConnectionInfo::new(id, *provider, serde_json::Map::new()));
            id
        })
        .collect();
    // Sinks added after the connections registered: routing reads the provider recorded
    // then, not the sink list of that moment.
    let primus = Arc::new(RecordingSink::new());
    let socketio = Arc::new(RecordingSink::new());
    app.add_delivery_sink("primus", primus.clone());
    app.add_delivery_sink("socketio", socketio.clone());
    let shared = Arc::new(json!({"id": 1}));
    let other = Arc::new(json!({"id": 2}));
    app.deliver(Delivery {
        path: Some("messages".into()),
        event: "created".into(),
        batches: vec![
            Batch {
                payload: Arc::clone(&shared),
                connections: vec![ids[0], ids[1], ids[2]],
            },
            Batch {
                payload: Arc::clone(&other),
                connections: vec![ids[3]],
            },
        ],
    });
    let p = primus.take();
    let s = socketio.take();
    assert_eq!(p.len(), 1);
    assert_eq!(s.len(), 1);
    assert_eq!(p[0].batches.len(), 1);
    assert_eq!(p[0].batches[0].connections, vec![ids[0], ids[2]]);
    assert!(
        Arc::ptr_eq(&p[0].batches[0].payload, &shared),
        "payload shared, not copied"
    );
    assert_eq!(s[0].wire_name(), "messages created");
    assert_eq!(s[0].batches.len(), 2);
    assert_eq!(s[0].batches[0].connections, vec![ids[1]]);
    assert_eq!(s[0].batches[1].connections, vec![ids[3]]);
    assert_eq!(s[0].recipient_count() + p[0].recipient_count(), 4);
    // Only Primus recipients: the Socket.IO sink hears nothing.
    app.deliver(Delivery {
        path: None,
        event: "x".into(),
        batches: vec![Batch {
            payload: shared,
            connections: vec![ids[0]],
        }],
    });
    assert_eq!(primus.take().len(), 1);
    assert!(socketio.take().is_empty());

    // A provider without a sink: its recipients are dropped, the others still delivered;
    // a sink for every other provider then takes them.
    let other = ConnectionId::next();
    app.connect(ConnectionInfo::new(
        other,
        "carrier-pigeon",
        serde_json::Map::new(),
    ));
    let to_both = || Delivery {
        path: None,
        event: "x".into(),
        batches: vec![Batch {
            payload: Arc::new(json!(1)),
            connections: vec![ids[1], other],
        }],
    };
    app.deliver(to_both());
    assert_eq!(socketio.take()[0].batches[0].connections, vec![ids[1]]);
    assert!(primus.take().is_empty());
    let rest = Arc::new(RecordingSink::new());
    app.set_delivery_sink(rest.clone());
    app.deliver(to_both());
    assert_eq!(rest.take()[0].batches[0].connections, vec![other]);
    assert_eq!(socketio.take()[0].batches[0].connections, vec![ids[1]]);
    // Gone connections are nobody's.
    app.disconnect(other);
    app.deliver(to_both());
    assert!(rest.take().is_empty());
    assert_eq!(socketio.take().len(), 1);
}

#[test]
fn a_refused_connection_fires_no_listener() {
    use crate::connection::ConnectionInfo;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let app = App::new();
    let fired = Arc::new(AtomicUsize::new(0));
    let (a, b) = (Arc::clone(&fired), Arc::clone(&fired));
    app.on_connection(move |_, _| {
        a.fetch_add(1, Ordering::SeqCst);
    });
    app.on_disconnect(move |_, _| {
        b.fetch_add(1, Ordering::SeqCst);
    });
    let id = ConnectionId::next();
    let info = app.register_connection(ConnectionInfo::new(id, "socketio", serde_json::Map::new()));
    app.channel("x").join([id]);
    assert!(app.connection(id).is_some());
    assert!(app.forget_connection(id).is_some());
    assert!(app.connection(id).is_none());
    assert!(app.channel("x").is_empty());
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    // Accepted instead: announced once.
    let id = ConnectionId::next();
    let info2 =
        app.register_connection(ConnectionInfo::new(id, "socketio", serde_json::Map::new()));
    app.announce_connection(&info2);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    drop(info);
}
