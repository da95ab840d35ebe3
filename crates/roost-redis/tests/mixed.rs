//! A mixed cluster on one Redis: a Node pod running the real npm feathers-sync
//! (tools/cluster-vectors/mixed.js) next to two Roost nodes in feathers-sync mode, with the
//! JSON and the flatted serializer. Events cross both ways, each exactly once, and no node gets
//! its own event twice. Needs `ROOST_TEST_REDIS_URL` and `npm ci` in tools/cluster-vectors;
//! otherwise it prints SKIP and passes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{node as roost_node, texts, until};
use roost_core::broker::{Audience, Broker, ChannelTarget, Envelope, EventContext};
use roost_redis::{ClusterMode, RedisConfig, Serializer};
use roost_testkit::services::NodePod;
use serde_json::{json, Value};

fn from_roost(text: &str) -> Envelope {
    Envelope::service_event(
        "messages",
        "created",
        json!({"id": 2, "text": text}),
        None,
        vec![ChannelTarget {
            name: "rooms/1".into(),
            seq: 0,
            data: None,
        }],
        EventContext {
            method: Some("create".into()),
            id: None,
            user: Some(json!({"id": 7, "email": "ann@example.com"})),
            provider: Some("socketio".into()),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_roost_pods_exchange_events_exactly_once() {
    let Ok(url) = std::env::var("ROOST_TEST_REDIS_URL") else {
        eprintln!("SKIP node_and_roost_pods_exchange_events_exactly_once: ROOST_TEST_REDIS_URL is not set");
        return;
    };
    if let Some(missing) = NodePod::missing() {
        eprintln!("SKIP node_and_roost_pods_exchange_events_exactly_once: {missing}");
        return;
    }
    for (serializer, name) in [(Serializer::Json, "json"), (Serializer::Flatted, "flatted")] {
        let key = format!("mixed-{}-{name}", std::process::id());
        let config = RedisConfig {
            url: url.clone(),
            key_prefix: key.clone(),
            mode: ClusterMode::FeathersSync,
            serializer,
            sync_key: key.clone(),
            ..RedisConfig::default()
        };
        let mut pod = NodePod::start(&url, &key, name);
        let (a, got_a) = roost_node(&config, "roost-a").await;
        let (b, got_b) = roost_node(&config, "roost-b").await;
        until("the Node pod is ready", || pod.ready()).await;

        // Roost → Node (and the other Roost node).
        a.publish(from_roost("from roost")).unwrap();
        until("Node hears Roost's event", || !pod.heard().is_empty()).await;
        let heard = pod.heard();
        assert_eq!(heard[0]["event"], "created", "{name}");
        assert_eq!(heard[0]["path"], "messages");
        assert_eq!(heard[0]["data"], json!({"id": 2, "text": "from roost"}));
        assert_eq!(heard[0]["method"], "create");
        assert_eq!(heard[0]["provider"], "socketio");
        assert_eq!(
            heard[0]["user"],
            json!({"id": 7, "email": "ann@example.com"})
        );
        assert_eq!(heard[0]["result"], json!({"id": 2, "text": "from roost"}));
        until("b gets Roost's event", || texts(&got_b) == ["from roost"]).await;

        // Node → Roost: the pod creates; feathers-sync publishes it on the key.
        pod.send(&json!({"create": {"text": "from node"}, "params": {"provider": "rest", "user": {"id": 9}}}));
        until("both Roost nodes get Node's event", || {
            texts(&got_a) == ["from node"] && texts(&got_b) == ["from roost", "from node"]
        })
        .await;
        for got in [&got_a, &got_b] {
            let e = got.lock().unwrap().last().cloned().unwrap();
            assert_eq!(e.to, Audience::Publish);
            assert_eq!(e.path.as_deref(), Some("messages"));
            assert_eq!(e.event, "created");
            assert_eq!(e.context.method.as_deref(), Some("create"));
            assert_eq!(e.context.provider.as_deref(), Some("rest"));
            assert_eq!(e.context.user, Some(json!({"id": 9})));
            assert_eq!(e.payload(), &json!({"id": 1, "text": "from node"}));
        }

        // A last event from b: once everyone has it, anything duplicated earlier would have
        // arrived before it (Redis keeps the order in which it received the publishes).
        b.publish(from_roost("marker")).unwrap();
        until("Node hears the marker", || pod.heard().len() == 3).await;
        until("a gets the marker", || texts(&got_a).len() == 2).await;
        let node_texts: Vec<Value> = pod
            .heard()
            .iter()
            .map(|h| h["data"]["text"].clone())
            .collect();
        assert_eq!(
            node_texts,
            ["from roost", "from node", "marker"],
            "{name}: each once"
        );
        assert_eq!(texts(&got_a), ["from node", "marker"], "{name}");
        assert_eq!(
            texts(&got_b),
            ["from roost", "from node"],
            "{name}: b never gets its own"
        );
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!((sa.own, sb.own), (1, 1));
        assert_eq!((sa.malformed, sb.malformed, sa.gaps, sb.gaps), (0, 0, 0, 0));
    }
}
