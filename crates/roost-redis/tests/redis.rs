//! RedisBroker against a real redis-server: two nodes in one process, interest routing,
//! delivery once, no echo, a Redis restart mid-test, and the feathers-sync key with messages
//! in Node's exact format. Needs `ROOST_TEST_REDIS_URL` (scripts/services/with-databases.sh
//! sets it); without it each test prints SKIP and passes. The restart test starts a Redis of
//! its own with scripts/services/redis.sh so stopping it disturbs nobody.
#![allow(clippy::unwrap_used)]

mod common;

use common::{node, texts, until, PATIENCE};
use roost_core::broker::{
    Audience, Broker, BrokerError, BrokerState, ChannelTarget, Envelope, EventContext,
};
use roost_redis::{ClusterMode, RedisConfig, Serializer};
use roost_testkit::services::ScriptServer;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("ROOST_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!(
            "SKIP {test}: ROOST_TEST_REDIS_URL is not set \
             (run under scripts/services/with-databases.sh or scripts/test.sh)"
        );
    }
    url
}

fn config(url: &str) -> RedisConfig {
    static N: AtomicU64 = AtomicU64::new(0);
    RedisConfig {
        url: url.to_owned(),
        key_prefix: format!(
            "roost-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        timeout_ms: 1000,
        ..RedisConfig::default()
    }
}

fn event(channels: &[&str], text: &str) -> Envelope {
    Envelope::service_event(
        "messages",
        "created",
        json!({"text": text}),
        None,
        channels
            .iter()
            .map(|c| ChannelTarget {
                name: (*c).into(),
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

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// `PUBSUB NUMSUB channel`: how many connections subscribe to it.
async fn numsub(url: &str, channel: &str) -> i64 {
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut raw(url).await)
        .await
        .unwrap();
    n
}

async fn until_numsub(url: &str, channel: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let n = numsub(url, channel).await;
        if n == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "NUMSUB {channel} stayed {n}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_route_by_interest_and_deliver_once() {
    let Some(url) = redis_url("two_nodes_route_by_interest_and_deliver_once") else {
        return;
    };
    let config = config(&url);
    let p = config.key_prefix.clone();
    let (a, got_a) = node(&config, "node-a").await;
    let (b, got_b) = node(&config, "node-b").await;
    assert_eq!(a.state(), BrokerState::Connected);

    b.subscribe("rooms/1");
    b.subscribe("users/7");
    a.subscribe("rooms/1"); // the origin has members too: it must not get its envelope back
    until_numsub(&url, &format!("{p}:ch:rooms/1"), 2).await;
    until_numsub(&url, &format!("{p}:ch:users/7"), 1).await;
    assert_eq!(numsub(&url, &format!("{p}:ch:rooms/2")).await, 0);

    // A channel nobody on b is in, then one b is in twice: b gets only the second, once.
    a.publish(event(&["rooms/2"], "nobody")).unwrap();
    a.publish(event(&["rooms/1", "users/7"], "both")).unwrap();
    until("b receives", || b.stats().received >= 2).await;
    until("a hears its own echo", || a.stats().own >= 1).await;
    until("a counts its sends", || a.stats().published == 2).await;
    assert_eq!(texts(&got_b), ["both"]);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.published, sa.published_messages), (2, 3));
    assert_eq!((sb.received, sb.delivered, sb.duplicates), (2, 1, 1));
    assert_eq!((sb.gaps, sb.lost, sb.malformed), (0, 0, 0));
    assert!(
        got_a.lock().unwrap().is_empty(),
        "no echo: {:?}",
        texts(&got_a)
    );

    // b's members leave: Redis stops sending it anything for those channels.
    b.unsubscribe("rooms/1");
    b.unsubscribe("users/7");
    until_numsub(&url, &format!("{p}:ch:rooms/1"), 1).await;
    until_numsub(&url, &format!("{p}:ch:users/7"), 0).await;
    a.publish(event(&["rooms/1", "users/7"], "after")).unwrap();
    // A server event to all, published after it, proves the earlier one had its chance.
    a.publish(Envelope::server_event(
        "news",
        json!({"text": "all"}),
        Audience::all(),
    ))
    .unwrap();
    until("b gets the broadcast", || texts(&got_b).len() == 2).await;
    assert_eq!(texts(&got_b), ["both", "all"]);
    assert_eq!(b.stats().received, 3);

    // One connection of one node.
    a.publish(Envelope::server_event(
        "hello",
        json!({"text": "direct"}),
        Audience::connection(b.node_id().clone(), 42),
    ))
    .unwrap();
    until("b gets the direct event", || texts(&got_b).len() == 3).await;
    assert!(matches!(
        got_b.lock().unwrap()[2].to,
        Audience::Connection { connection: 42, .. }
    ));
    assert!(got_a.lock().unwrap().is_empty());

    a.close();
    assert_eq!(a.state(), BrokerState::Closed);
    assert!(matches!(
        a.publish(event(&["x"], "closed")),
        Err(BrokerError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_roost_channels_is_counted_not_fatal() {
    let Some(url) = redis_url("junk_on_roost_channels_is_counted_not_fatal") else {
        return;
    };
    let config = config(&url);
    let (b, got_b) = node(&config, "node-b").await;
    b.subscribe("room");
    let channel = format!("{}:ch:room", config.key_prefix);
    until_numsub(&url, &channel, 1).await;
    let mut conn = raw(&url).await;
    for junk in [
        &b"not json"[..],
        b"{\"v\":9}",
        b"{\"v\":1,\"origin\":\"x\"}",
        &vec![b' '; 2 * 1024 * 1024],
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(junk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    until("junk counted", || b.stats().malformed == 4).await;
    assert!(got_b.lock().unwrap().is_empty());
    assert_eq!(b.state(), BrokerState::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_disconnects_reconnects_and_counts_what_was_lost() {
    if redis_url("a_redis_restart_disconnects_reconnects_and_counts_what_was_lost").is_none() {
        return;
    }
    let redis = ScriptServer::start("redis");
    let config = config(&redis.url);
    let room = format!("{}:ch:room", config.key_prefix);
    let (a, _) = node(&config, "node-a").await;
    let (b, got_b) = node(&config, "node-b").await;
    let mut states = a.watch_state();
    b.subscribe("room");
    until_numsub(&redis.url, &room, 1).await;
    a.publish(event(&["room"], "before")).unwrap();
    until("b gets the first", || texts(&got_b).len() == 1).await;

    redis.run("halt");
    tokio::time::timeout(
        PATIENCE,
        states.wait_for(|s| *s == BrokerState::Disconnected),
    )
    .await
    .expect("a sees the outage")
    .unwrap();
    until("b sees the outage", || {
        b.state() == BrokerState::Disconnected
    })
    .await;
    assert!(!a.state().is_ready());
    for _ in 0..3 {
        assert!(matches!(
            a.publish(event(&["room"], "lost")),
            Err(BrokerError::Disconnected)
        ));
    }
    assert_eq!(a.stats().publish_failed, 3);

    redis.run("resume");
    assert!(a.wait_connected(PATIENCE).await, "a reconnects");
    assert!(b.wait_connected(PATIENCE).await, "b reconnects");
    // b subscribes again by itself.
    until_numsub(&redis.url, &room, 1).await;
    a.publish(event(&["room"], "after")).unwrap();
    until("b gets the one after", || texts(&got_b).len() == 2).await;
    assert_eq!(texts(&got_b), ["before", "after"]);
    let (sa, sb) = (a.stats(), b.stats());
    assert!(sa.reconnects >= 1 && sb.reconnects >= 1, "{sa:?} {sb:?}");
    assert_eq!(
        (sb.gaps, sb.lost),
        (1, 3),
        "the three lost envelopes are counted"
    );
    assert_eq!(a.state(), BrokerState::Connected);
}

fn sync_config(url: &str, serializer: Serializer) -> RedisConfig {
    let mut config = config(url);
    config.mode = ClusterMode::FeathersSync;
    config.serializer = serializer;
    config.sync_key = format!("{}:feathers-sync", config.key_prefix);
    config
}

/// A message exactly as a Node pod publishes it (from the stored npm vectors).
fn node_messages() -> Vec<(String, String)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cluster.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["feathersSync"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serializer"].as_str().unwrap().to_owned(),
                c["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feathers_sync_mode_reads_node_messages_and_writes_node_format() {
    let Some(url) = redis_url("feathers_sync_mode_reads_node_messages_and_writes_node_format")
    else {
        return;
    };
    for serializer in [Serializer::Json, Serializer::Flatted] {
        let config = sync_config(&url, serializer);
        let key = config.sync_key.clone();
        let (a, got_a) = node(&config, "roost-a").await;
        let (b, got_b) = node(&config, "roost-b").await;
        until_numsub(&url, &key, 2).await;

        // Node pods' messages, both serializers whatever ours is, each delivered once.
        let mut conn = raw(&url).await;
        let messages = node_messages();
        for (_, text) in &messages {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(&key)
                .arg(text)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        until("node messages arrive", || {
            got_b.lock().unwrap().len() == messages.len()
        })
        .await;
        let first = got_b.lock().unwrap()[0].clone();
        assert_eq!(first.to, Audience::Publish);
        assert_eq!(first.event, "created");
        assert_eq!(first.context.provider.as_deref(), Some("socketio"));
        until("node messages reach a too", || {
            got_a.lock().unwrap().len() == messages.len()
        })
        .await;

        // A raw subscriber stands in for a Node pod: Roost's message is one PUBLISH on the key.
        let mut pubsub = redis::Client::open(url.as_str())
            .unwrap()
            .get_async_pubsub()
            .await
            .unwrap();
        pubsub.subscribe(&key).await.unwrap();
        a.publish(event(&["rooms/1"], "from roost")).unwrap();
        let message = {
            use futures_util::StreamExt;
            let mut stream = pubsub.on_message();
            tokio::time::timeout(PATIENCE, stream.next())
                .await
                .unwrap()
                .unwrap()
        };
        let text = String::from_utf8(message.get_payload_bytes().to_vec()).unwrap();
        let node_view: Value = match serializer {
            Serializer::Json => serde_json::from_str(&text).unwrap(),
            Serializer::Flatted => roost_redis::flatted::parse(
                text.as_bytes(),
                &roost_redis::flatted::FlattedLimits::default(),
            )
            .unwrap(),
        };
        assert_eq!(node_view["event"], "created");
        assert_eq!(node_view["path"], "messages");
        assert_eq!(node_view["data"], json!({"text": "from roost"}));
        assert_eq!(node_view["context"]["method"], "create");
        assert_eq!(
            node_view["context"]["result"],
            json!({"text": "from roost"})
        );

        // b gets it once with its channel names; a never gets its own back.
        until("b gets roost's event", || {
            got_b.lock().unwrap().len() == messages.len() + 1
        })
        .await;
        until("a hears its echo", || a.stats().own == 1).await;
        let last = got_b.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.origin.as_str(), "roost-a");
        assert!(
            matches!(&last.to, Audience::Channels { channels } if channels[0].name == "rooms/1")
        );
        assert_eq!(got_a.lock().unwrap().len(), messages.len());
        assert_eq!(b.stats().malformed, 0);

        // Server events have no feathers-sync form: they use the native routes.
        a.publish(Envelope::server_event(
            "news",
            json!({"text": "all"}),
            Audience::all(),
        ))
        .unwrap();
        until("b gets the broadcast", || {
            got_b.lock().unwrap().len() == messages.len() + 2
        })
        .await;
    }
}

/// Redis drops a subscriber that falls behind (`client-output-buffer-limit pubsub`); `CLIENT
/// KILL TYPE pubsub` does the same on demand. Whatever is lost while subscribers are cut off
/// is counted: every envelope the origin numbered is either delivered or counted as lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_cut_off_mid_stream_lose_nothing_silently() {
    if redis_url("subscribers_cut_off_mid_stream_lose_nothing_silently").is_none() {
        return;
    }
    // A Redis of our own: CLIENT KILL TYPE pubsub would cut other tests' nodes off too.
    let redis = ScriptServer::start("redis");
    let url = redis.url.clone();
    let config = config(&url);
    let room = format!("{}:ch:room", config.key_prefix);
    let (a, _) = node(&config, "node-a").await;
    let (b, got_b) = node(&config, "node-b").await;
    b.subscribe("room");
    until_numsub(&url, &room, 1).await;
    let mut conn = raw(&url).await;
    let mut attempts = 0u64;
    for i in 0..300 {
        if i % 50 == 25 {
            let _: () = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        attempts += 1;
        let _ = a.publish(event(&["room"], "flow"));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Settle, then one more envelope so a gap at the tail shows too.
    assert!(a.wait_connected(PATIENCE).await);
    assert!(b.wait_connected(PATIENCE).await);
    until_numsub(&url, &room, 1).await;
    a.publish(event(&["room"], "marker")).unwrap();
    attempts += 1;
    until("b gets the marker", || {
        texts(&got_b).last().map(String::as_str) == Some("marker")
    })
    .await;
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        sb.delivered + sb.lost,
        attempts,
        "every numbered envelope is delivered or counted lost: {sa:?} {sb:?}"
    );
    assert_eq!(sb.delivered, texts(&got_b).len() as u64);
    assert!(sb.reconnects >= 1, "{sb:?}");
    assert_eq!(sb.lost > 0, sb.gaps > 0);
    eprintln!(
        "cut off: {attempts} numbered, {} delivered, {} lost in {} gaps",
        sb.delivered, sb.lost, sb.gaps
    );
}
