//! Several apps as nodes of one cluster on the in-process `MemoryBus`: service events and
//! server events cross nodes through the delivery path, once per connection, never echoed,
//! and only to nodes that have members of the event's channels (docs/cluster.md).
#![allow(clippy::unwrap_used)]

mod common;

use common::Store;
use roost_core::broker::{Broker, MemoryBroker, MemoryBus};
use roost_core::cluster::ClusterOptions;
use roost_core::{
    json, App, ConnectionId, Delivery, Params, Publisher, RecordingSink, ServiceOptions, Value,
};
use std::sync::Arc;

struct Node {
    app: App,
    broker: Arc<MemoryBroker>,
    sink: Arc<RecordingSink>,
}

/// A node whose publisher sends a message to `rooms/<roomId>` and to `users/<to>` when set.
fn node(bus: &MemoryBus) -> Node {
    let app = App::new();
    app.use_service("messages", Store, ServiceOptions::default())
        .unwrap();
    app.publish(Publisher::new(
        |data: &Value, ctx: &roost_core::HookContext| {
            let mut channels = Vec::new();
            if let Some(room) = data.get("roomId").and_then(Value::as_u64) {
                channels.push(ctx.app.channel(&format!("rooms/{room}")));
            }
            if let Some(user) = data.get("to").and_then(Value::as_u64) {
                channels.push(ctx.app.channel(&format!("users/{user}")));
            }
            if data.get("local").is_some() {
                // A filtered channel: a snapshot of this node's connections.
                channels.push(ctx.app.channel("rooms/1").filter(|_| true));
            }
            Ok(Some(channels.into()))
        },
    ));
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    let broker = Arc::new(bus.node());
    app.join_cluster(broker.clone(), ClusterOptions::default());
    Node { app, broker, sink }
}

fn connect(node: &Node, channels: &[&str]) -> ConnectionId {
    let conn = ConnectionId::next();
    node.app.channels().connect(conn);
    for name in channels {
        node.app.channel(name).join([conn]);
    }
    conn
}

/// Every (connection, payload) the node's sink received, in order.
fn received(node: &Node) -> Vec<(ConnectionId, Value)> {
    node.sink
        .take()
        .iter()
        .flat_map(|d: &Delivery| d.recipients().map(|(c, p)| (c, (**p).clone())))
        .collect()
}

async fn create(node: &Node, data: Value) {
    node.app
        .service("messages")
        .unwrap()
        .create(data, Params::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_room_message_reaches_each_member_on_every_node_once_and_nobody_else() {
    let bus = MemoryBus::new();
    let (a, b, c) = (node(&bus), node(&bus), node(&bus));
    let on_a = connect(&a, &["rooms/1"]);
    // In the room and in their user channel: the message names both, they get it once.
    let on_b = connect(&b, &["rooms/1", "users/9"]);
    let _anonymous_b = connect(&b, &[]);
    let _elsewhere_c = connect(&c, &["rooms/2"]);
    assert_eq!(bus.subscribers("rooms/1"), 2);

    let message = json!({"text": "hi", "roomId": 1, "to": 9});
    create(&a, message.clone()).await;

    assert_eq!(
        received(&a),
        vec![(on_a, message.clone())],
        "local, no echo"
    );
    assert_eq!(
        received(&b),
        vec![(on_b, message.clone())],
        "once, member only"
    );
    assert_eq!(received(&c), vec![], "no member of rooms/1 on c");
    assert_eq!(
        c.broker.stats().received,
        0,
        "c received no envelope at all"
    );
    assert_eq!(a.broker.stats().published, 1);
    let sb = b.broker.stats();
    assert_eq!((sb.received, sb.delivered, sb.duplicates), (2, 1, 1));
}

#[tokio::test]
async fn subscriptions_follow_membership() {
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus), node(&bus));
    // A channel that had members before the node joined the cluster is subscribed too.
    let app = App::new();
    let early = ConnectionId::next();
    app.channels().connect(early);
    app.channel("rooms/7").join([early]);
    let broker = Arc::new(bus.node());
    app.join_cluster(broker, ClusterOptions::default());
    assert_eq!(bus.subscribers("rooms/7"), 1);

    let one = connect(&b, &["rooms/1"]);
    let two = connect(&b, &["rooms/1"]);
    assert_eq!(bus.subscribers("rooms/1"), 1);
    b.app.channel("rooms/1").leave([one]);
    assert_eq!(bus.subscribers("rooms/1"), 1, "one member left");
    b.app.channels().disconnect(two);
    assert_eq!(bus.subscribers("rooms/1"), 0, "emptied: unsubscribed");

    create(&a, json!({"roomId": 1})).await;
    assert_eq!(b.broker.stats().received, 0);
    assert!(received(&b).is_empty());
}

#[tokio::test]
async fn send_data_and_filtered_channels() {
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus), node(&bus));
    let on_a = connect(&a, &["rooms/1"]);
    let on_b = connect(&b, &["rooms/1"]);

    // A filtered channel stays on the origin.
    create(&a, json!({"local": true})).await;
    assert_eq!(received(&a).len(), 1);
    assert!(received(&b).is_empty());
    assert_eq!(
        a.broker.stats().published,
        0,
        "nothing named: nothing published"
    );

    // `send` data travels with the channel name.
    a.app.publish(Publisher::new(
        |_: &Value, ctx: &roost_core::HookContext| {
            Ok(Some(
                ctx.app
                    .channel("rooms/1")
                    .send(json!({"short": true}))
                    .into(),
            ))
        },
    ));
    create(&a, json!({"text": "long"})).await;
    assert_eq!(received(&a), vec![(on_a, json!({"short": true}))]);
    assert_eq!(received(&b), vec![(on_b, json!({"short": true}))]);
}

#[tokio::test]
async fn server_events_cross_nodes() {
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus), node(&bus));
    let on_a = connect(&a, &[]);
    let on_b = connect(&b, &["rooms/1"]);
    let other_b = connect(&b, &[]);

    assert_eq!(a.app.send_everywhere("news", json!(1)), 1);
    assert_eq!(received(&a), vec![(on_a, json!(1))]);
    let mut got = received(&b);
    got.sort_by_key(|(c, _)| *c);
    assert_eq!(got, vec![(on_b, json!(1)), (other_b, json!(1))]);

    let to_room = a
        .app
        .send_to_channel_everywhere(a.app.channel("rooms/1"), "ping", json!(2));
    assert_eq!(to_room, 0);
    assert_eq!(received(&b), vec![(on_b, json!(2))]);

    let node_b = b.broker.node_id().clone();
    a.app
        .send_to_node_connection(&node_b, other_b, "hello", json!(3));
    assert_eq!(received(&b), vec![(other_b, json!(3))]);
    assert!(received(&a).is_empty());
}

#[tokio::test]
async fn a_node_pod_event_runs_this_nodes_publishers_and_stays_local() {
    use roost_core::broker::{Audience, Envelope};
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus), node(&bus));
    let member = connect(&a, &["rooms/1"]);
    let _on_b = connect(&b, &["rooms/1"]);
    let _anonymous = connect(&a, &[]);

    // What a feathers-sync message from a Node pod becomes: no channel names.
    let mut envelope = Envelope::server_event("created", json!({"roomId": 1}), Audience::Publish);
    envelope.path = Some("messages".into());
    envelope.context.method = Some("create".into());
    a.app.receive_envelope(envelope);
    let start = std::time::Instant::now();
    let got = loop {
        let got = received(&a);
        if !got.is_empty() || start.elapsed() > std::time::Duration::from_secs(10) {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert_eq!(got, vec![(member, json!({"roomId": 1}))]);
    assert_eq!(
        a.broker.stats().published,
        0,
        "a received event is not published again"
    );
    assert!(received(&b).is_empty());

    // An envelope for a connection of another node is not delivered here.
    let other = roost_core::broker::NodeId::new("elsewhere").unwrap();
    a.app.receive_envelope(Envelope::server_event(
        "hello",
        json!(1),
        Audience::connection(other, member.0),
    ));
    assert!(received(&a).is_empty());
}

/// Gateway mode: an event whose channels the upstream app chose (`/_roost/events`) reaches
/// the named channels' members on every node once, with its service path; fixed connection
/// ids stay on their node; on a bus shared with the upstream's pods nothing is published.
#[tokio::test]
async fn upstream_events_cross_nodes_once_unless_the_bus_is_the_upstreams() {
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus), node(&bus));
    let on_a = connect(&a, &["rooms/1"]);
    let on_b = connect(&b, &["rooms/1", "users/9"]);
    let _other_b = connect(&b, &["rooms/2"]);

    let channel = roost_core::Channel::combine(vec![
        a.app.channel("rooms/1"),
        a.app.channel("users/9"),
        roost_core::Channel::from_connections(vec![on_a]),
    ]);
    let message = json!({"text": "from node"});
    let n = a
        .app
        .deliver_upstream_event("messages", "created", message.clone(), channel);
    assert_eq!(n, 1, "on_a once, although named twice");
    let deliveries = b.sink.take();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].path.as_deref(), Some("messages"));
    let got: Vec<_> = deliveries[0]
        .recipients()
        .map(|(c, p)| (c, (**p).clone()))
        .collect();
    assert_eq!(got, vec![(on_b, message.clone())], "once, members only");
    assert_eq!(received(&a), vec![(on_a, message.clone())], "no echo");

    // A node whose bus is the upstream's (feathers-sync mode): local delivery only.
    let c = App::new();
    let sink = Arc::new(RecordingSink::new());
    c.set_delivery_sink(sink.clone());
    let broker = Arc::new(bus.node());
    c.join_cluster(
        broker.clone(),
        ClusterOptions {
            upstream_bus: true,
            ..ClusterOptions::default()
        },
    );
    assert!(c.on_upstream_bus() && !a.app.on_upstream_bus());
    let on_c = ConnectionId::next();
    c.channels().connect(on_c);
    c.channel("rooms/1").join([on_c]);
    let n = c.deliver_upstream_event("messages", "created", message, c.channel("rooms/1"));
    assert_eq!(n, 1);
    assert_eq!(sink.take().len(), 1, "delivered here");
    assert_eq!(
        broker.stats().published,
        0,
        "nothing published on the upstream's bus"
    );
    assert!(received(&a).is_empty() && received(&b).is_empty());
}
