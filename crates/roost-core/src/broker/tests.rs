use super::*;
use crate::hooks::HookContext;
use crate::params::Params;
use crate::App;
use serde_json::{json, Value};
use std::sync::Mutex;

fn limits() -> EnvelopeLimits {
    EnvelopeLimits::default()
}

fn event(channels: &[&str]) -> Envelope {
    Envelope::service_event(
        "messages",
        "created",
        json!({"id": 1, "text": "hi"}),
        None,
        channels
            .iter()
            .map(|name| ChannelTarget {
                name: (*name).to_owned(),
                seq: 0,
                data: None,
            })
            .collect(),
        EventContext {
            method: Some("create".into()),
            ..EventContext::default()
        },
    )
}

/// A sink that keeps what it receives.
#[derive(Default)]
struct Collect(Mutex<Vec<Envelope>>);

impl Collect {
    fn take(&self) -> Vec<Envelope> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn collect(broker: &MemoryBroker) -> Arc<Collect> {
    let c = Arc::new(Collect::default());
    let sink = c.clone();
    broker.set_sink(Arc::new(move |e: Envelope| sink.0.lock().unwrap().push(e)));
    c
}

#[test]
fn an_envelope_round_trips_and_keeps_its_fields() {
    let mut sequencer = Sequencer::new(NodeId::new("node-a").unwrap(), 10);
    let mut e = event(&["room/1", "user/7"]);
    e.dispatch = Some(json!({"id": 1}));
    if let Audience::Channels { channels } = &mut e.to {
        channels[1].data = Some(json!({"private": true}));
    }
    sequencer.stamp(&mut e);
    let bytes = e.encode(&limits()).unwrap();
    let back = Envelope::decode(&bytes, &limits()).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.version, ENVELOPE_VERSION);
    assert_eq!(back.origin.as_str(), "node-a");
    assert_eq!(back.seq, 1);
    assert_eq!(back.id, format!("node-a:{}:1", sequencer.epoch()));
    assert_eq!(back.payload(), &json!({"id": 1}));
    let text: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(text["v"], 1);
    assert_eq!(text["to"]["kind"], "channels");
    assert_eq!(text["to"]["channels"][1]["name"], "user/7");
    assert_eq!(text["context"], json!({"method": "create"}));
}

#[test]
fn decode_refuses_other_versions_oversize_and_junk() {
    let mut e = event(&["a"]);
    Sequencer::new(NodeId::random(), 10).stamp(&mut e);
    let mut value = serde_json::to_value(&e).unwrap();
    value["v"] = json!(2);
    let bytes = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        Envelope::decode(&bytes, &limits()),
        Err(EnvelopeError::UnsupportedVersion(2))
    );
    value["to"] = json!("a new shape");
    let bytes = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        Envelope::decode(&bytes, &limits()),
        Err(EnvelopeError::UnsupportedVersion(2))
    );

    let small = EnvelopeLimits {
        max_bytes: 64,
        ..limits()
    };
    let bytes = e.encode(&limits()).unwrap();
    assert!(matches!(
        Envelope::decode(&bytes, &small),
        Err(EnvelopeError::TooLarge { max: 64, .. })
    ));
    assert!(matches!(
        e.encode(&small),
        Err(EnvelopeError::TooLarge { max: 64, .. })
    ));
    for junk in [
        &b"not json"[..],
        b"[]",
        b"{}",
        b"{\"v\":1}",
        b"{\"v\":1,\"origin\":\"bad id!\"}",
    ] {
        assert!(
            matches!(
                Envelope::decode(junk, &limits()),
                Err(EnvelopeError::Malformed(_))
            ),
            "{}",
            String::from_utf8_lossy(junk)
        );
    }
}

#[test]
fn channel_limits_are_enforced_both_ways() {
    let few = EnvelopeLimits {
        max_channels: 2,
        max_name_bytes: 8,
        ..limits()
    };
    assert_eq!(
        event(&["a", "b", "c"]).encode(&few),
        Err(EnvelopeError::TooManyChannels { count: 3, max: 2 })
    );
    assert_eq!(
        event(&["a-very-long-name"]).encode(&few),
        Err(EnvelopeError::BadChannelName { len: 16, max: 8 })
    );
    assert_eq!(
        event(&[""]).encode(&few),
        Err(EnvelopeError::BadChannelName { len: 0, max: 8 })
    );
    let bytes = event(&["a", "b", "c"]).encode(&limits()).unwrap();
    assert!(matches!(
        Envelope::decode(&bytes, &few),
        Err(EnvelopeError::TooManyChannels { .. })
    ));
}

#[test]
fn node_ids_are_checked() {
    assert!(NodeId::new("api-7.pod_2").is_ok());
    for bad in ["", "a b", "a:b", "ü", &"x".repeat(65)] {
        assert!(NodeId::new(bad).is_err(), "{bad:?}");
    }
    let (a, b) = (NodeId::random(), NodeId::random());
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 16);
}

#[test]
fn routes_have_stable_keys() {
    let node = NodeId::new("n1").unwrap();
    for route in [
        Route::Channel("user/1".into()),
        Route::All,
        Route::Node(node.clone()),
    ] {
        assert_eq!(Route::from_key(&route.key()), Some(route));
    }
    assert_eq!(Route::Channel("a:b".into()).key(), "ch:a:b");
    assert_eq!(Route::Node(node).key(), "node:n1");
    assert_eq!(Route::from_key("other"), None);
}

#[test]
fn the_context_keeps_only_what_publishers_read_and_no_protected_field() {
    let mut ctx = HookContext::new(App::new(), "messages", "patch");
    ctx.id = Some(json!(4));
    ctx.data = Some(json!({"text": "secret data"}));
    ctx.params = Params::external("socketio");
    ctx.params.user = Some(json!({"id": 7, "email": "a@b", "password": "hash",
        "profile": {"token": "t", "name": "n"}}));
    ctx.params.authentication = Some(json!({"accessToken": "jwt"}));
    let context = EventContext::from_hook(&ctx, &["password", "profile.token"]);
    assert_eq!(
        serde_json::to_value(&context).unwrap(),
        json!({"method": "patch", "id": 4, "provider": "socketio",
               "user": {"id": 7, "email": "a@b", "profile": {"name": "n"}}})
    );
    ctx.id = Some(Value::Null);
    ctx.params.user = None;
    let context = EventContext::from_hook(&ctx, &[]);
    assert_eq!(context.id, None);
    assert_eq!(context.user, None);
}

#[test]
fn the_sequencer_numbers_each_route_and_restarts_its_epoch_when_full() {
    let mut s = Sequencer::new(NodeId::new("o").unwrap(), 4);
    let epoch = s.epoch();
    let mut e1 = event(&["a", "b"]);
    s.stamp(&mut e1);
    let mut e2 = event(&["b", "c"]);
    s.stamp(&mut e2);
    assert_eq!((e1.seq, e2.seq), (1, 2));
    assert_eq!(
        e2.routes(),
        vec![
            (Route::Channel("b".into()), 2),
            (Route::Channel("c".into()), 1)
        ]
    );
    let mut all = Envelope::server_event("news", json!(1), Audience::all());
    s.stamp(&mut all);
    assert_eq!(all.route_seq(&Route::All), Some(1));
    assert_eq!(s.epoch(), epoch, "four routes fit");
    let mut e3 = event(&["d"]);
    s.stamp(&mut e3);
    assert_ne!(e3.epoch, epoch, "a fifth route starts a new epoch");
    assert_eq!(
        (e3.seq, e3.route_seq(&Route::Channel("d".into()))),
        (1, Some(1))
    );
}

#[test]
fn the_inbox_drops_own_envelopes_dedupes_and_counts_gaps() {
    let counters = BrokerCounters::default();
    let me = NodeId::new("me").unwrap();
    let mut inbox = Inbox::new(me.clone(), 8);
    let mut own = Sequencer::new(me, 10);
    let mut other = Sequencer::new(NodeId::new("other").unwrap(), 10);
    let (a, b) = (Route::Channel("a".into()), Route::Channel("b".into()));

    let mut e = event(&["a"]);
    own.stamp(&mut e);
    assert_eq!(inbox.accept(&a, &e, &counters), Arrival::Own);

    let mut e1 = event(&["a", "b"]);
    other.stamp(&mut e1);
    assert_eq!(inbox.accept(&a, &e1, &counters), Arrival::Deliver);
    assert_eq!(inbox.accept(&b, &e1, &counters), Arrival::Duplicate);
    // Two envelopes on `a` never reach this node.
    for _ in 0..2 {
        other.stamp(&mut event(&["a"]));
    }
    let mut e4 = event(&["a", "b"]);
    other.stamp(&mut e4);
    assert_eq!(inbox.accept(&b, &e4, &counters), Arrival::Deliver);
    assert_eq!(inbox.accept(&a, &e4, &counters), Arrival::Duplicate);
    let stats = counters.snapshot();
    assert_eq!((stats.own, stats.duplicates), (1, 2));
    assert_eq!((stats.gaps, stats.lost), (1, 2), "b had no gap, a missed 2");

    // After unsubscribing from `a`, missed envelopes there are not gaps.
    inbox.forget_route(&a);
    other.stamp(&mut event(&["a"]));
    let mut e6 = event(&["a"]);
    other.stamp(&mut e6);
    assert_eq!(inbox.accept(&a, &e6, &counters), Arrival::Deliver);
    assert_eq!(counters.snapshot().gaps, 1);
}

#[test]
fn a_new_epoch_resets_baselines_and_the_inbox_stays_bounded() {
    let counters = BrokerCounters::default();
    let mut inbox = Inbox::new(NodeId::new("me").unwrap(), 2);
    let a = Route::Channel("a".into());
    let mut e = event(&["a"]);
    let origin = NodeId::new("o").unwrap();
    Sequencer::new(origin.clone(), 10).stamp(&mut e);
    for _ in 0..5 {
        Sequencer::new(origin.clone(), 10).stamp(&mut e); // fresh epoch, seq 1 each time
        assert_eq!(inbox.accept(&a, &e, &counters), Arrival::Deliver);
    }
    assert_eq!(counters.snapshot().gaps, 0);
    for name in ["p", "q", "r", "s"] {
        let mut e = event(&["a"]);
        Sequencer::new(NodeId::new(name).unwrap(), 10).stamp(&mut e);
        inbox.accept(&a, &e, &counters);
    }
    assert_eq!(inbox.origin_count(), 2);
}

#[test]
fn memory_nodes_route_by_interest_and_deliver_once() {
    let bus = MemoryBus::new();
    let (a, b, c) = (bus.node(), bus.node(), bus.node());
    let (got_a, got_b, got_c) = (collect(&a), collect(&b), collect(&c));
    b.subscribe("room/1");
    b.subscribe("user/7");
    a.subscribe("room/1"); // the origin's own members: never delivered back
    assert_eq!(bus.subscribers("room/1"), 2);
    assert_eq!(bus.subscribers("user/7"), 1);

    a.publish(event(&["room/1", "user/7"])).unwrap();
    let got = got_b.take();
    assert_eq!(got.len(), 1, "b is in both channels and gets it once");
    assert_eq!(got[0].origin, *a.node_id());
    assert!(got_a.take().is_empty(), "no echo to the origin");
    assert!(got_c.take().is_empty(), "c has no member of either channel");
    let (sa, sb, sc) = (a.stats(), b.stats(), c.stats());
    assert_eq!((sa.published, sa.published_messages, sa.own), (1, 2, 1));
    assert_eq!((sb.received, sb.delivered, sb.duplicates), (2, 1, 1));
    assert_eq!(sc.received, 0);

    b.unsubscribe("room/1");
    b.unsubscribe("user/7");
    assert_eq!(bus.subscribers("user/7"), 0);
    a.publish(event(&["room/1", "user/7"])).unwrap();
    assert!(got_b.take().is_empty());
}

#[test]
fn memory_nodes_send_to_all_and_to_one_connection() {
    let bus = MemoryBus::new();
    let (a, b, c) = (bus.node(), bus.node(), bus.node());
    let (got_a, got_b, got_c) = (collect(&a), collect(&b), collect(&c));
    a.publish(Envelope::server_event("news", json!("x"), Audience::all()))
        .unwrap();
    assert_eq!((got_b.take().len(), got_c.take().len()), (1, 1));
    a.publish(Envelope::server_event(
        "hello",
        json!({}),
        Audience::connection(c.node_id().clone(), 42),
    ))
    .unwrap();
    assert!(got_b.take().is_empty());
    let got = got_c.take();
    assert!(
        matches!(got[0].to, Audience::Connection { connection: 42, .. }),
        "{got:?}"
    );
    assert!(got_a.take().is_empty());
}

#[test]
fn a_memory_outage_fails_publishes_changes_state_and_counts_gaps() {
    let bus = MemoryBus::new();
    let (a, b) = (bus.node(), bus.node());
    let got_b = collect(&b);
    b.subscribe("room");
    let mut states = a.watch_state();
    a.publish(event(&["room"])).unwrap();

    a.set_connected(false);
    assert!(states.has_changed().unwrap());
    assert_eq!(*states.borrow_and_update(), BrokerState::Disconnected);
    assert!(!a.state().is_ready());
    for _ in 0..3 {
        assert!(matches!(
            a.publish(event(&["room"])),
            Err(BrokerError::Disconnected)
        ));
    }
    a.set_connected(true);
    assert_eq!(*states.borrow_and_update(), BrokerState::Connected);
    a.publish(event(&["room"])).unwrap();

    assert_eq!(got_b.take().len(), 2);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.published, sa.publish_failed, sa.reconnects), (2, 3, 1));
    assert_eq!((sb.gaps, sb.lost), (1, 3));

    // A receiver outage: b misses two, then sees the gap.
    b.set_connected(false);
    a.publish(event(&["room"])).unwrap();
    a.publish(event(&["room"])).unwrap();
    b.set_connected(true);
    a.publish(event(&["room"])).unwrap();
    assert_eq!(got_b.take().len(), 1);
    assert_eq!((b.stats().gaps, b.stats().lost), (2, 5));
}

#[test]
fn memory_limits_refuse_and_count_and_a_closed_node_stays_closed() {
    let bus = MemoryBus::new();
    let small = EnvelopeLimits {
        max_bytes: 200,
        ..limits()
    };
    let a = bus.node_with(NodeId::new("a").unwrap(), small);
    let big = Envelope::server_event("x", json!("y".repeat(500)), Audience::all());
    assert!(matches!(
        a.publish(big),
        Err(BrokerError::Envelope(EnvelopeError::TooLarge { .. }))
    ));
    assert_eq!(a.stats().too_large, 1);
    let b = bus.node();
    b.publish(Envelope::server_event("x", json!(1), Audience::all()))
        .unwrap();
    assert_eq!(a.stats().dropped, 1, "no sink was set");
    a.close();
    a.set_connected(true);
    assert_eq!(a.state(), BrokerState::Closed);
    assert!(matches!(a.publish(event(&["r"])), Err(BrokerError::Closed)));
}

#[test]
fn memory_publishes_from_several_threads_arrive_in_order_without_false_gaps() {
    let bus = MemoryBus::new();
    let (a, b) = (bus.node(), bus.node());
    let got_b = collect(&b);
    b.subscribe("room");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..250 {
                    a.publish(event(&["room"])).unwrap();
                }
            });
        }
    });
    let got = got_b.take();
    assert_eq!(got.len(), 1000);
    assert!(
        got.windows(2).all(|w| w[0].seq < w[1].seq),
        "in stamp order"
    );
    let stats = b.stats();
    assert_eq!(
        (stats.gaps, stats.duplicates, stats.delivered),
        (0, 0, 1000)
    );
}
