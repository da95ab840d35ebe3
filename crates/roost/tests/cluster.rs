//! Three real `roost serve` processes as one cluster on Redis, sharing one PostgreSQL
//! database, with Primus clients on different nodes (docs/cluster.md): a room message
//! reaches each room member on every node exactly once, one user's sockets on several nodes
//! all get `user/<id>` events, anonymous clients get nothing, and a node without a member of
//! a room receives no envelope for it (its `/metrics` say so); a Socket.IO member gets the
//! same events; a killed node's subscriptions leave Redis with it. Then Redis is stopped during
//! traffic: local delivery goes on, `/readyz` is unready then ready (a node with
//! `ready_requires_broker = false` stays ready and reports `degraded`), the loss is counted. And
//! two nodes in feathers-sync mode next to a Node pod with the real npm feathers-sync
//! (needs `npm ci` in tools/cluster-vectors).
//!
//! Needs `ROOST_TEST_REDIS_URL` and `ROOST_TEST_POSTGRES_URL`
//! (`scripts/services/with-databases.sh`); skipped with a note otherwise. Never asserts
//! timings: every wait is bounded polling for an outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use roost_core::{json, Value};
use roost_testkit::services::{NodePod, ScriptServer};
use roost_testkit::ws::{connect, WsClient};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roost");
/// The tests share one PostgreSQL database: one at a time, so their first nodes do not
/// create the same tables at once.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Upper bound of every wait for an outcome.
const PATIENCE: Duration = Duration::from_secs(30);

fn env_or_skip(test: &str) -> Option<(String, String)> {
    match (
        std::env::var("ROOST_TEST_REDIS_URL"),
        std::env::var("ROOST_TEST_POSTGRES_URL"),
    ) {
        (Ok(redis), Ok(pg)) => Some((redis, pg)),
        _ => {
            eprintln!(
                "SKIP {test}: ROOST_TEST_REDIS_URL / ROOST_TEST_POSTGRES_URL are not set \
                 (run under scripts/services/with-databases.sh)"
            );
            None
        }
    }
}

/// A unique suffix for key prefixes, node ids and emails.
fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{nanos}", std::process::id())
}

/// One `roost serve` process (killed on drop: it is ours).
struct Node {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Node {
    fn start(node_id: &str, redis: &str, prefix: &str, pg: &str) -> Node {
        Node::start_with(node_id, redis, prefix, pg, &[])
    }

    fn start_with(
        node_id: &str,
        redis: &str,
        prefix: &str,
        pg: &str,
        extra: &[(&str, &str)],
    ) -> Node {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data.path())
            .env("ROOST_LOG__FORMAT", "json")
            .env("ROOST_CLUSTER__REDIS", redis)
            .env("ROOST_CLUSTER__KEY_PREFIX", prefix)
            .env("ROOST_CLUSTER__NODE_ID", node_id)
            .env("ROOST_CLUSTER__RECONNECT_MAX_MS", "500")
            .env("ROOST_STORAGE__URL", pg)
            // One secret for the cluster, as an operator sets it.
            .env("ROOST_AUTH__SECRET", "cluster-test-secret-0123456789abcdef")
            .env("ROOST_AUTH__LOCAL__HASH_SIZE", "4")
            .env("ROOST_PRIMUS__PING_INTERVAL_MS", "0")
            .envs(extra.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, _log) = common::read_log(&mut child, PATIENCE);
        let addr = addr.expect("the node logs its address");
        Node {
            child,
            addr,
            _data: data,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = roost_testkit::request(self.addr, "GET", path, &[], None)
            .await
            .unwrap();
        (res.status, String::from_utf8_lossy(&res.body).into_owned())
    }

    async fn ready(&self) -> bool {
        self.get("/readyz").await.0 == 200
    }

    async fn wait_ready(&self, want: bool) {
        let start = Instant::now();
        while self.ready().await != want {
            assert!(start.elapsed() < PATIENCE, "/readyz never became {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `roost_cluster_<name>_total` at `/metrics`.
    async fn counter(&self, name: &str) -> u64 {
        let (_, text) = self.get("/metrics").await;
        let key = format!("roost_cluster_{name}_total ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /metrics"))
    }

    async fn socket(&self) -> Socket {
        Socket {
            ws: connect(self.addr, "/primus").await.unwrap(),
            next_id: 0,
            seen: Vec::new(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Primus client keeping the event frames that arrive before acks.
struct Socket {
    ws: WsClient,
    next_id: u64,
    seen: Vec<(String, Value)>,
}

impl Socket {
    async fn call(&mut self, method: &str, path: &str, args: &[Value]) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws.call(id, method, path, args).await;
        let (data, frames) = self.ws.ack(id).await;
        self.keep(frames);
        assert_eq!(data.get(0), Some(&Value::Null), "{method} {path}: {data}");
        data.get(1).cloned().unwrap_or(Value::Null)
    }

    fn keep(&mut self, frames: Vec<Value>) {
        self.seen
            .extend(frames.into_iter().filter(|f| f["type"] == 0).map(|f| {
                (
                    f["data"][0].as_str().unwrap_or_default().to_owned(),
                    f["data"][1].clone(),
                )
            }));
    }

    async fn login(&mut self, email: &str) -> Value {
        let data = json!({"strategy": "local", "email": email, "password": "pw"});
        self.call("create", "authentication", &[data, json!({})])
            .await
    }

    async fn say(&mut self, text: &str, room: Option<&str>) {
        let mut data = json!({"text": text});
        if let Some(room) = room {
            data["roomId"] = json!(room);
        }
        self.call("create", "messages", &[data, json!({})]).await;
    }

    /// Texts of the `messages created` events received so far (after a cheap call whose
    /// ack follows whatever was already queued to this socket).
    async fn texts(&mut self) -> Vec<String> {
        self.call("find", "messages", &[json!({"$limit": 0})]).await;
        self.seen
            .iter()
            .filter(|(name, _)| name == "messages created")
            .map(|(_, m)| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits until `text` has arrived (bounded), then returns every text so far.
    async fn until(&mut self, text: &str) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.texts().await;
            if texts.iter().any(|t| t == text) {
                return texts;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{text} never arrived: {texts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A Socket.IO client over a websocket (the frames the official client sends).
async fn sio_connect(addr: SocketAddr) -> WsClient {
    let mut ws = connect(addr, "/socket.io/?EIO=4&transport=websocket")
        .await
        .unwrap();
    sio_until(&mut ws, |t| t.starts_with("0{")).await;
    ws.send_text("40").await;
    sio_until(&mut ws, |t| t.starts_with("40")).await;
    ws
}

/// Reads frames (answering pings) until one satisfies `done`; returns the texts of the
/// `messages created` events read on the way, that frame's included.
async fn sio_until(ws: &mut WsClient, done: impl Fn(&str) -> bool) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        match ws.recv().await {
            roost_testkit::ws::Received::Text(t) if t == "2" => ws.send_text("3").await,
            roost_testkit::ws::Received::Text(t) => {
                if let Some(event) = t
                    .strip_prefix("42")
                    .and_then(|rest| serde_json::from_str::<Value>(rest).ok())
                {
                    if event[0] == "messages created" {
                        texts.push(event[1]["text"].as_str().unwrap_or_default().to_owned());
                    }
                }
                if done(&t) {
                    return texts;
                }
            }
            other => panic!("socket.io session ended: {other:?}"),
        }
    }
}

/// Runs `redis-cli -u url args…` and returns its output.
fn redis_cli(url: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(texts: &[String], text: &str) -> usize {
    texts.iter().filter(|t| *t == text).count()
}

async fn signup(node: &Node, email: &str) {
    let body = serde_json::to_vec(&json!({"email": email, "password": "pw"})).unwrap();
    let res = roost_testkit::request(
        node.addr,
        "POST",
        "/users",
        &[("Content-Type", "application/json")],
        Some(&body),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 201, "{:?}", res.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_by_channel_exactly_once() {
    let Some((redis, pg)) = env_or_skip("three_nodes_deliver_by_channel_exactly_once") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let run = unique();
    let prefix = format!("t{run}");
    // One node first, so the shared database's tables are created once.
    let a = Node::start(&format!("a{run}"), &redis, &prefix, &pg);
    a.wait_ready(true).await;
    let b = Node::start(&format!("b{run}"), &redis, &prefix, &pg);
    let c = Node::start(&format!("c{run}"), &redis, &prefix, &pg);
    b.wait_ready(true).await;
    c.wait_ready(true).await;
    let (alice, bob) = (format!("alice{run}@x.org"), format!("bob{run}@x.org"));
    signup(&a, &alice).await;
    signup(&a, &bob).await;

    // Room r1: a member on every node. Alice also has sockets on B and C. Anonymous
    // sockets on B and C.
    let mut sender = a.socket().await;
    sender.login(&bob).await;
    sender
        .call("join", "messages", &[json!({"roomId": "r1"})])
        .await;
    let mut member_b = b.socket().await;
    member_b.login(&bob).await;
    member_b
        .call("join", "messages", &[json!({"roomId": "r1"})])
        .await;
    let mut member_c = c.socket().await;
    member_c
        .call("join", "messages", &[json!({"roomId": "r1"})])
        .await;
    let mut alice_a = a.socket().await;
    alice_a.login(&alice).await;
    let mut alice_b = b.socket().await;
    alice_b.login(&alice).await;
    let mut alice_c = c.socket().await;
    alice_c.login(&alice).await;
    let mut anon_b = b.socket().await;
    let mut anon_c = c.socket().await;
    // A Socket.IO member of r1 on C too.
    let mut sio_c = sio_connect(c.addr).await;
    sio_c
        .send_text(r#"421["join","messages",{"roomId":"r1"}]"#)
        .await;
    sio_until(&mut sio_c, |t| t.starts_with("431[")).await;

    // A room message and a marker after it: once the marker is in, the message would
    // have arrived twice if it were going to (same origin, same route, in order).
    sender.say("room-1", Some("r1")).await;
    sender.say("room-1-marker", Some("r1")).await;
    for (name, socket) in [
        ("sender on a", &mut sender),
        ("member on b", &mut member_b),
        ("member on c", &mut member_c),
    ] {
        let texts = socket.until("room-1-marker").await;
        assert_eq!(count(&texts, "room-1"), 1, "{name}: {texts:?}");
    }
    let texts = sio_until(&mut sio_c, |t| t.contains("room-1-marker")).await;
    assert_eq!(texts, ["room-1", "room-1-marker"], "socket.io member on c");

    // Alice writes without a room: the event goes to user/<alice>, on all three nodes.
    alice_a.say("to-alice", None).await;
    alice_a.say("to-alice-marker", None).await;
    for (name, socket) in [
        ("alice on a", &mut alice_a),
        ("alice on b", &mut alice_b),
        ("alice on c", &mut alice_c),
    ] {
        let texts = socket.until("to-alice-marker").await;
        assert_eq!(count(&texts, "to-alice"), 1, "{name}: {texts:?}");
        assert_eq!(count(&texts, "room-1"), 0, "{name} is not in r1: {texts:?}");
    }
    // Nobody else got alice's or the room's events.
    assert_eq!(member_b.texts().await, ["room-1", "room-1-marker"]);
    assert_eq!(member_c.texts().await, ["room-1", "room-1-marker"]);
    assert!(anon_b.texts().await.is_empty());
    assert!(anon_c.texts().await.is_empty());

    // Room r2 has members on A and B only: C receives no envelope for it.
    let mut r2_b = b.socket().await;
    r2_b.call("join", "messages", &[json!({"roomId": "r2"})])
        .await;
    sender
        .call("join", "messages", &[json!({"roomId": "r2"})])
        .await;
    let c_before = c.counter("received").await;
    let b_before = b.counter("received").await;
    assert!(
        c_before > 0,
        "c received r1 and user/<alice> envelopes before"
    );
    sender.say("room-2", Some("r2")).await;
    let texts = r2_b.until("room-2").await;
    assert_eq!(count(&texts, "room-2"), 1);
    assert_eq!(b.counter("received").await, b_before + 1);
    assert_eq!(
        c.counter("received").await,
        c_before,
        "c has no member of r2"
    );
    assert!(!member_c.texts().await.iter().any(|t| t == "room-2"));
    // No echo: the origin drops its own envelopes, and counts no loss.
    assert_eq!(a.counter("lost").await, 0);
    assert_eq!(b.counter("lost").await, 0);
    assert_eq!(a.counter("publish_failed").await, 0);

    // C is killed: its subscriptions vanish from Redis with it, A and B go on.
    let channel = format!("{prefix}:ch:room/r1");
    let numsub = |text: String| text.lines().nth(1).unwrap_or_default().trim().to_owned();
    assert_eq!(
        numsub(redis_cli(&redis, &["PUBSUB", "NUMSUB", &channel])),
        "3"
    );
    drop(c);
    let start = Instant::now();
    while numsub(redis_cli(&redis, &["PUBSUB", "NUMSUB", &channel])) != "2" {
        assert!(
            start.elapsed() < PATIENCE,
            "c's subscription never went away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.say("after-c", Some("r1")).await;
    let texts = member_b.until("after-c").await;
    assert_eq!(count(&texts, "after-c"), 1);
    assert!(a.ready().await && b.ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_delivery_and_counts_the_loss() {
    let Some((_, pg)) = env_or_skip("a_redis_outage_keeps_local_delivery_and_counts_the_loss")
    else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    // A server of this test's own, so stopping it cannot disturb other tests.
    let redis = ScriptServer::start("redis");
    let run = unique();
    let prefix = format!("o{run}");
    let a = Node::start(&format!("a{run}"), &redis.url, &prefix, &pg);
    a.wait_ready(true).await;
    let b = Node::start(&format!("b{run}"), &redis.url, &prefix, &pg);
    b.wait_ready(true).await;
    // `[cluster] ready_requires_broker = false`: reports the outage, stays ready.
    let c = Node::start_with(
        &format!("c{run}"),
        &redis.url,
        &prefix,
        &pg,
        &[("ROOST_CLUSTER__READY_REQUIRES_BROKER", "false")],
    );
    c.wait_ready(true).await;
    let mut sender = a.socket().await;
    let mut member_a = a.socket().await;
    let mut member_b = b.socket().await;
    for socket in [&mut sender, &mut member_a, &mut member_b] {
        socket
            .call("join", "messages", &[json!({"roomId": "r1"})])
            .await;
    }
    sender.say("before", Some("r1")).await;
    member_b.until("before").await;

    redis.run("halt");
    a.wait_ready(false).await;
    b.wait_ready(false).await;
    let (_, readyz) = a.get("/readyz").await;
    assert!(readyz.contains("cluster"), "{readyz}");
    let start = Instant::now();
    loop {
        let (status, readyz) = c.get("/readyz").await;
        assert_eq!(status, 200, "ready_requires_broker = false: {readyz}");
        if readyz.contains("\"degraded\":\"cluster: cluster broker") {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "c never reported the outage: {readyz}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, metrics) = a.get("/metrics").await;
    assert!(
        metrics.contains("roost_cluster_state{state=\"disconnected\"} 1")
            || metrics.contains("roost_cluster_state{state=\"connecting\"} 1"),
        "{metrics}"
    );
    // Calls and local fan-out go on while Redis is down.
    for text in ["during-1", "during-2", "during-3"] {
        sender.say(text, Some("r1")).await;
    }
    let texts = member_a.until("during-3").await;
    assert_eq!(texts, ["before", "during-1", "during-2", "during-3"]);
    assert_eq!(a.counter("publish_failed").await, 3);

    redis.run("resume");
    a.wait_ready(true).await;
    b.wait_ready(true).await;
    let start = Instant::now();
    while c.get("/readyz").await.1.contains("degraded") {
        assert!(
            start.elapsed() < PATIENCE,
            "c never reported the broker back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sender.say("after", Some("r1")).await;
    let texts = member_b.until("after").await;
    assert_eq!(
        texts,
        ["before", "after"],
        "what was sent in the outage is lost"
    );
    // ... and counted on the receiver: one gap of three envelopes on room/r1's route.
    assert_eq!(b.counter("lost").await, 3);
    assert_eq!(b.counter("gaps").await, 1);
    assert!(a.counter("reconnects").await >= 1);
    assert!(b.counter("reconnects").await >= 1);
}

/// The texts of the `created` events the pod's listeners heard.
fn heard_texts(pod: &NodePod) -> Vec<String> {
    pod.heard()
        .iter()
        .filter(|h| h["event"] == "created")
        .map(|h| h["data"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roost_serve_nodes_join_a_feathers_sync_cluster_next_to_a_node_pod() {
    let test = "roost_serve_nodes_join_a_feathers_sync_cluster_next_to_a_node_pod";
    let Some((redis, pg)) = env_or_skip(test) else {
        return;
    };
    if let Some(missing) = NodePod::missing() {
        eprintln!("SKIP {test}: {missing}");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    for serializer in ["json", "flatted"] {
        let run = unique();
        let key = format!("sync{run}");
        let mut pod = NodePod::start(&redis, &key, serializer);
        let extra = [
            ("ROOST_CLUSTER__MODE", "feathers-sync"),
            ("ROOST_CLUSTER__SYNC_KEY", key.as_str()),
            ("ROOST_CLUSTER__SERIALIZER", serializer),
        ];
        let a = Node::start_with(&format!("a{run}"), &redis, &key, &pg, &extra);
        a.wait_ready(true).await;
        let b = Node::start_with(&format!("b{run}"), &redis, &key, &pg, &extra);
        b.wait_ready(true).await;
        wait_for("the Node pod is ready", || pod.ready()).await;
        let mut member_a = a.socket().await;
        let mut member_b = b.socket().await;
        let mut anonymous_b = b.socket().await;
        for socket in [&mut member_a, &mut member_b] {
            socket
                .call("join", "messages", &[json!({"roomId": "r1"})])
                .await;
        }

        // Node → Roost: each Roost node runs its own publishers (room/r1) for the pod's event.
        for text in ["from node", "node marker"] {
            pod.send(
                &json!({"create": {"text": text, "roomId": "r1"}, "params": {"provider": "rest"}}),
            );
        }
        for socket in [&mut member_a, &mut member_b] {
            let texts = socket.until("node marker").await;
            assert_eq!(count(&texts, "from node"), 1, "{serializer}: {texts:?}");
        }
        assert!(anonymous_b.texts().await.is_empty(), "{serializer}");

        // Roost → Node and the other Roost node, each once.
        member_a.say("from roost", Some("r1")).await;
        member_a.say("roost marker", Some("r1")).await;
        for socket in [&mut member_a, &mut member_b] {
            let texts = socket.until("roost marker").await;
            assert_eq!(count(&texts, "from roost"), 1, "{serializer}: {texts:?}");
        }
        wait_for("the pod hears Roost's marker", || {
            heard_texts(&pod).iter().any(|t| t == "roost marker")
        })
        .await;
        assert_eq!(count(&heard_texts(&pod), "from roost"), 1, "{serializer}");
        assert_eq!(a.counter("publish_failed").await, 0);
    }
}
