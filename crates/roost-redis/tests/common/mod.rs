//! What the Redis broker tests share: Roost nodes that record what reaches them, and a
//! bounded wait.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use roost_core::broker::{Broker, Envelope};
use roost_redis::{RedisBroker, RedisConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long any wait may take before the test fails (a bound against hangs, not a timing).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The envelopes a node's sink received, in order.
pub type Got = Arc<Mutex<Vec<Envelope>>>;

/// A connected broker with `config` and node id `id`, recording what it receives.
pub async fn node(config: &RedisConfig, id: &str) -> (RedisBroker, Got) {
    let broker = RedisBroker::start(RedisConfig {
        node_id: Some(id.to_owned()),
        ..config.clone()
    })
    .unwrap();
    let got: Got = Arc::default();
    let sink = Arc::clone(&got);
    broker.set_sink(Arc::new(move |e: Envelope| sink.lock().unwrap().push(e)));
    assert!(
        broker.wait_connected(PATIENCE).await,
        "{id} did not connect"
    );
    (broker, got)
}

/// Polls `check` until it holds; fails after [`PATIENCE`].
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `text` of every envelope received so far.
pub fn texts(got: &Mutex<Vec<Envelope>>) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|e| e.data["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}
