//! [`RedisBroker`]: the publish task, the subscribe task and the shared state between them
//! and the callers.

use crate::feathers_sync::{self, SyncMessage};
use crate::{redact_url, redis_channel, uses_sync_key, ClusterMode, RedisConfig};
use futures_util::StreamExt;
use roost_core::broker::sequence::{DEFAULT_MAX_ORIGINS, DEFAULT_MAX_ROUTE_COUNTERS};
use roost_core::broker::{
    bump, Arrival, Broker, BrokerCounters, BrokerError, BrokerState, BrokerStats, Envelope,
    EnvelopeSink, Inbox, InvalidNodeId, NodeId, Route, Sequencer, SinkSlot,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

/// The route key under which feathers-sync messages are numbered.
const SYNC_ROUTE: &str = "sync";

/// Why a [`RedisBroker`] could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL this build can use.
    #[error("invalid cluster Redis URL {url}: {reason}")]
    Url {
        /// The URL without its password.
        url: String,
        /// Why.
        reason: String,
    },
    /// `key_prefix` or `sync_key` is empty.
    #[error("cluster {0} must not be empty")]
    EmptyKey(&'static str),
    /// `tls_ca_file` cannot be read, or is set in a build without the `tls` feature.
    #[error("cluster tls_ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `node_id` breaks the rules of [`NodeId`].
    #[error("cluster node_id: {0}")]
    NodeId(#[from] InvalidNodeId),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One envelope ready to send: `(Redis channel, bytes)` per message, in order.
type Outgoing = Vec<(String, Arc<[u8]>)>;

struct Stamp {
    sequencer: Sequencer,
    /// Messages this node wrote on the feathers-sync key.
    sync_seq: u64,
}

struct Shared {
    node: NodeId,
    config: RedisConfig,
    client: redis::Client,
    counters: BrokerCounters,
    state: watch::Sender<BrokerState>,
    sink: SinkSlot,
    stamp: Mutex<Stamp>,
    queue: mpsc::Sender<Outgoing>,
    inbox: Mutex<Inbox>,
    /// Route keys this node wants (the subscribe task reconciles Redis with it).
    interest: Mutex<HashSet<String>>,
    interest_changed: Notify,
    reader_up: AtomicBool,
    writer_up: AtomicBool,
    /// Tells the publish task to reconnect (the subscribe task lost Redis).
    writer_reset: Notify,
    closed: AtomicBool,
}

impl Shared {
    /// Recomputes the state from the two connections; counts a reconnect on
    /// disconnected → connected.
    fn update_state(&self) {
        let next = if self.closed.load(Ordering::SeqCst) {
            BrokerState::Closed
        } else if self.reader_up.load(Ordering::SeqCst) && self.writer_up.load(Ordering::SeqCst) {
            BrokerState::Connected
        } else {
            BrokerState::Disconnected
        };
        self.state.send_if_modified(|state| {
            if *state == next || *state == BrokerState::Closed {
                return false;
            }
            if next == BrokerState::Disconnected && *state == BrokerState::Connecting {
                return false; // still connecting for the first time
            }
            if *state == BrokerState::Disconnected && next == BrokerState::Connected {
                bump(&self.counters.reconnects);
            }
            match next {
                BrokerState::Connected => {
                    tracing::info!(node = %self.node, "cluster broker connected to Redis")
                }
                BrokerState::Disconnected => {
                    tracing::warn!(node = %self.node, "cluster broker lost Redis; reconnecting")
                }
                _ => {}
            }
            *state = next;
            true
        });
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms.max(1))
    }

    fn channel(&self, route_key: &str) -> String {
        redis_channel(&self.config.key_prefix, route_key)
    }

    /// Hands a decoded envelope to the sink (or counts it dropped).
    fn deliver(&self, envelope: Envelope) {
        self.sink.deliver(envelope, &self.counters);
    }

    /// One message from the subscribe connection.
    fn on_message(&self, channel: &str, payload: &[u8]) {
        bump(&self.counters.received);
        let limits = &self.config.limits;
        if self.config.mode == ClusterMode::FeathersSync && channel == self.config.sync_key {
            match feathers_sync::decode(payload, limits) {
                Ok(SyncMessage::Roost { envelope, sync_seq }) => {
                    let arrival = lock(&self.inbox).accept_on(
                        Some((SYNC_ROUTE, sync_seq)),
                        &envelope,
                        &self.counters,
                    );
                    if arrival == Arrival::Deliver {
                        self.deliver(envelope);
                    }
                }
                Ok(SyncMessage::Node(envelope)) => self.deliver(envelope),
                Err(error) => {
                    bump(&self.counters.malformed);
                    tracing::warn!(%error, "dropped a malformed feathers-sync message");
                }
            }
            return;
        }
        let route = channel
            .strip_prefix(self.config.key_prefix.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(Route::from_key);
        let Some(route) = route else {
            bump(&self.counters.malformed);
            return;
        };
        match Envelope::decode(payload, limits) {
            Ok(envelope) => {
                if lock(&self.inbox).accept(&route, &envelope, &self.counters) == Arrival::Deliver {
                    self.deliver(envelope);
                }
            }
            Err(error) => {
                bump(&self.counters.malformed);
                tracing::warn!(%error, channel, "dropped a malformed cluster envelope");
            }
        }
    }
}

/// The Redis client for `config`: its URL, and with `tls_ca_file` that CA as the only root.
fn client(config: &RedisConfig) -> Result<redis::Client, RedisBrokerError> {
    let url_error = |e: redis::RedisError| RedisBrokerError::Url {
        url: redact_url(&config.url),
        reason: e.to_string(),
    };
    #[cfg(feature = "tls")]
    {
        // Fails only when a provider is installed already, which is fine. ring rather than
        // aws-lc-rs (rustls' default) keeps the build free of aws-lc's C toolchain; rustls
        // deprecates it only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(path) = &config.tls_ca_file {
            let pem = std::fs::read(path).map_err(|e| RedisBrokerError::CaFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            return redis::Client::build_with_tls(config.url.as_str(), certs).map_err(url_error);
        }
    }
    #[cfg(not(feature = "tls"))]
    if let Some(path) = &config.tls_ca_file {
        return Err(RedisBrokerError::CaFile {
            path: path.display().to_string(),
            reason: "this build has no TLS (roost-redis' `tls` feature)".into(),
        });
    }
    redis::Client::open(config.url.as_str()).map_err(url_error)
}

/// A cluster broker on Redis pub/sub. Create it inside a tokio runtime; it starts two tasks
/// and returns at once in state `connecting`.
pub struct RedisBroker {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl RedisBroker {
    /// Starts a broker for the node `config.node_id` (random when unset).
    pub fn start(config: RedisConfig) -> Result<RedisBroker, RedisBrokerError> {
        let node = match &config.node_id {
            // Node pods' messages carry no origin and are recorded under this name.
            Some(id) if id == feathers_sync::NODE_ORIGIN => {
                return Err(RedisBrokerError::NodeId(InvalidNodeId(id.clone())))
            }
            Some(id) => NodeId::new(id.clone())?,
            None => NodeId::random(),
        };
        if config.key_prefix.is_empty() {
            return Err(RedisBrokerError::EmptyKey("key_prefix"));
        }
        if config.sync_key.is_empty() {
            return Err(RedisBrokerError::EmptyKey("sync_key"));
        }
        let client = client(&config)?;
        let (queue, outgoing) = mpsc::channel(config.queue_capacity.max(1));
        let (state, _) = watch::channel(BrokerState::Connecting);
        let mut interest = HashSet::new();
        interest.insert(Route::All.key());
        interest.insert(Route::Node(node.clone()).key());
        let shared = Arc::new(Shared {
            stamp: Mutex::new(Stamp {
                sequencer: Sequencer::new(node.clone(), DEFAULT_MAX_ROUTE_COUNTERS),
                sync_seq: 0,
            }),
            inbox: Mutex::new(Inbox::new(node.clone(), DEFAULT_MAX_ORIGINS)),
            node,
            config,
            client,
            counters: BrokerCounters::default(),
            state,
            sink: SinkSlot::default(),
            queue,
            interest: Mutex::new(interest),
            interest_changed: Notify::new(),
            reader_up: AtomicBool::new(false),
            writer_up: AtomicBool::new(false),
            writer_reset: Notify::new(),
            closed: AtomicBool::new(false),
        });
        tracing::info!(
            node = %shared.node,
            url = %redact_url(&shared.config.url),
            mode = ?shared.config.mode,
            "cluster broker starting"
        );
        let tasks = vec![
            tokio::spawn(publish_task(shared.clone(), outgoing)),
            tokio::spawn(subscribe_task(shared.clone())),
        ];
        Ok(RedisBroker {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    /// Waits until the state is `connected`, at most `timeout`. Returns whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut states = self.shared.state.subscribe();
        tokio::time::timeout(timeout, states.wait_for(|s| *s == BrokerState::Connected))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.close();
    }
}

impl Broker for RedisBroker {
    fn node_id(&self) -> &NodeId {
        &self.shared.node
    }

    fn publish(&self, mut envelope: Envelope) -> Result<(), BrokerError> {
        let shared = &self.shared;
        let counters = &shared.counters;
        let limits = &shared.config.limits;
        if let Err(error) = envelope.check(limits) {
            bump(&counters.too_large);
            return Err(error.into());
        }
        // Stamp and enqueue under one lock, so the queue holds envelopes in stamp order.
        let mut stamp = lock(&shared.stamp);
        stamp.sequencer.stamp(&mut envelope);
        let sync = shared.config.mode == ClusterMode::FeathersSync && uses_sync_key(&envelope);
        let sync_seq = if sync {
            stamp.sync_seq += 1;
            stamp.sync_seq
        } else {
            0
        };
        // From here the numbers are used up: a failure leaves a gap receivers count.
        let state = *shared.state.borrow();
        match state {
            BrokerState::Connected => {}
            BrokerState::Closed => return Err(BrokerError::Closed),
            _ => {
                bump(&counters.publish_failed);
                return Err(BrokerError::Disconnected);
            }
        }
        let outgoing: Outgoing = if sync {
            let bytes =
                feathers_sync::encode(&envelope, sync_seq, shared.config.serializer, limits)
                    .map_err(|e| {
                        bump(&counters.too_large);
                        BrokerError::from(e)
                    })?;
            vec![(shared.config.sync_key.clone(), bytes.into())]
        } else {
            let bytes: Arc<[u8]> = envelope
                .encode(limits)
                .map_err(|e| {
                    bump(&counters.too_large);
                    BrokerError::from(e)
                })?
                .into();
            envelope
                .routes()
                .into_iter()
                .map(|(route, _)| (shared.channel(&route.key()), bytes.clone()))
                .collect()
        };
        if outgoing.is_empty() {
            return Ok(());
        }
        match shared.queue.try_send(outgoing) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&counters.publish_failed);
                Err(BrokerError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(BrokerError::Closed),
        }
    }

    fn subscribe(&self, channel: &str) {
        if self.shared.config.mode == ClusterMode::FeathersSync {
            return; // everything arrives on the key
        }
        let key = Route::Channel(channel.to_owned()).key();
        if lock(&self.shared.interest).insert(key) {
            self.shared.interest_changed.notify_one();
        }
    }

    fn unsubscribe(&self, channel: &str) {
        if self.shared.config.mode == ClusterMode::FeathersSync {
            return;
        }
        let route = Route::Channel(channel.to_owned());
        if lock(&self.shared.interest).remove(&route.key()) {
            lock(&self.shared.inbox).forget_route(&route);
            self.shared.interest_changed.notify_one();
        }
    }

    fn set_sink(&self, sink: Arc<dyn EnvelopeSink>) {
        self.shared.sink.set(sink);
    }

    fn state(&self) -> BrokerState {
        *self.shared.state.borrow()
    }

    fn watch_state(&self) -> watch::Receiver<BrokerState> {
        self.shared.state.subscribe()
    }

    fn stats(&self) -> BrokerStats {
        self.shared.counters.snapshot()
    }

    fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        self.shared.state.send_replace(BrokerState::Closed);
    }
}

/// Exponential backoff between `min` and `max`, with up to 25 % random jitter.
struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
    jitter: u64,
}

impl Backoff {
    fn new(config: &RedisConfig) -> Self {
        let min = Duration::from_millis(config.reconnect_min_ms.max(1));
        Backoff {
            next: min,
            min,
            max: Duration::from_millis(config.reconnect_max_ms.max(config.reconnect_min_ms).max(1)),
            jitter: std::process::id() as u64,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    async fn wait(&mut self) {
        // A cheap xorshift: jitter only has to keep nodes from reconnecting in lockstep.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let base = self.next.as_millis() as u64;
        let extra = if base >= 4 {
            self.jitter % (base / 4)
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(base + extra)).await;
        self.next = (self.next * 2).min(self.max);
    }
}

async fn publish_task(shared: Arc<Shared>, mut outgoing: mpsc::Receiver<Outgoing>) {
    let mut backoff = Backoff::new(&shared.config);
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(shared.timeout()))
        .set_response_timeout(Some(shared.timeout()));
    loop {
        let mut conn = match shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(error) => {
                tracing::debug!(%error, "cluster publish connection failed");
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        shared.writer_up.store(true, Ordering::SeqCst);
        shared.update_state();
        loop {
            tokio::select! {
                next = outgoing.recv() => {
                    let Some(messages) = next else { return };
                    let mut pipe = redis::pipe();
                    for (channel, bytes) in &messages {
                        pipe.cmd("PUBLISH").arg(channel).arg(&bytes[..]).ignore();
                    }
                    match pipe.query_async::<()>(&mut conn).await {
                        Ok(()) => {
                            bump(&shared.counters.published);
                            shared.counters.published_messages.fetch_add(messages.len() as u64, Ordering::Relaxed);
                        }
                        Err(error) => {
                            bump(&shared.counters.publish_failed);
                            tracing::warn!(%error, "cluster publish failed; the envelope is lost");
                            break;
                        }
                    }
                }
                () = shared.writer_reset.notified() => break,
            }
        }
        shared.writer_up.store(false, Ordering::SeqCst);
        shared.update_state();
        backoff.wait().await;
    }
}

async fn subscribe_task(shared: Arc<Shared>) {
    let mut backoff = Backoff::new(&shared.config);
    loop {
        let pubsub =
            match tokio::time::timeout(shared.timeout(), shared.client.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => pubsub,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cluster subscribe connection failed");
                    backoff.wait().await;
                    continue;
                }
                Err(_) => {
                    tracing::debug!("cluster subscribe connection timed out");
                    backoff.wait().await;
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        let mut applied: HashSet<String> = HashSet::new();
        if shared.config.mode == ClusterMode::FeathersSync
            && sink.subscribe(&shared.config.sync_key).await.is_err()
        {
            backoff.wait().await;
            continue;
        }
        if reconcile(&shared, &mut sink, &mut applied).await.is_err() {
            backoff.wait().await;
            continue;
        }
        backoff.reset();
        shared.reader_up.store(true, Ordering::SeqCst);
        shared.update_state();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { break };
                    shared.on_message(message.get_channel_name(), message.get_payload_bytes());
                }
                () = shared.interest_changed.notified() => {
                    if reconcile(&shared, &mut sink, &mut applied).await.is_err() {
                        break;
                    }
                }
            }
        }
        shared.reader_up.store(false, Ordering::SeqCst);
        shared.update_state();
        shared.writer_reset.notify_one();
        backoff.wait().await;
    }
}

/// Brings the connection's subscriptions in line with the node's interest.
async fn reconcile(
    shared: &Shared,
    sink: &mut redis::aio::PubSubSink,
    applied: &mut HashSet<String>,
) -> redis::RedisResult<()> {
    let wanted = lock(&shared.interest).clone();
    let add: Vec<String> = wanted
        .difference(applied)
        .map(|k| shared.channel(k))
        .collect();
    let remove: Vec<String> = applied
        .difference(&wanted)
        .map(|k| shared.channel(k))
        .collect();
    let timeout = shared.timeout();
    let timed_out = || redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out"));
    if !add.is_empty() {
        tokio::time::timeout(timeout, sink.subscribe(&add))
            .await
            .map_err(|_| timed_out())??;
    }
    if !remove.is_empty() {
        tokio::time::timeout(timeout, sink.unsubscribe(&remove))
            .await
            .map_err(|_| timed_out())??;
    }
    *applied = wanted;
    Ok(())
}
