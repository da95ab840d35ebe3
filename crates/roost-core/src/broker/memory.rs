//! [`MemoryBus`]: several nodes of one process sharing one in-memory bus, with the same
//! interest routing, stamping, dedupe and gap counting as a real broker. For tests.

use super::sequence::{Arrival, Inbox, Sequencer, DEFAULT_MAX_ORIGINS, DEFAULT_MAX_ROUTE_COUNTERS};
use super::{
    bump, Broker, BrokerCounters, BrokerError, BrokerState, BrokerStats, Envelope, EnvelopeLimits,
    EnvelopeSink, NodeId, Route, SinkSlot,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shared bus. Cheap to clone; every [`MemoryBroker`] made from it is one node.
#[derive(Clone, Default)]
pub struct MemoryBus {
    /// Route key → subscribed nodes.
    routes: Arc<Mutex<HashMap<String, HashSet<NodeId>>>>,
    nodes: Arc<Mutex<HashMap<NodeId, Arc<Node>>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new node on this bus with a random id and default limits.
    pub fn node(&self) -> MemoryBroker {
        self.node_with(NodeId::random(), EnvelopeLimits::default())
    }

    /// A new node with `id` and `limits`. It subscribes to `all` and `node:<id>` at once.
    pub fn node_with(&self, id: NodeId, limits: EnvelopeLimits) -> MemoryBroker {
        let (state, _) = watch::channel(BrokerState::Connected);
        let node = Arc::new(Node {
            id: id.clone(),
            limits,
            sequencer: Mutex::new(Sequencer::new(id.clone(), DEFAULT_MAX_ROUTE_COUNTERS)),
            inbox: Mutex::new(Inbox::new(id.clone(), DEFAULT_MAX_ORIGINS)),
            sink: SinkSlot::default(),
            counters: BrokerCounters::default(),
            state,
            interest: Mutex::new(HashSet::new()),
            outbox: Mutex::new((VecDeque::new(), false)),
        });
        lock(&self.nodes).insert(id.clone(), node.clone());
        let broker = MemoryBroker {
            bus: self.clone(),
            node,
        };
        broker.add_route(&Route::All);
        broker.add_route(&Route::Node(id));
        broker
    }

    /// How many nodes subscribe to the route of channel `name` (Redis' `PUBSUB NUMSUB`).
    pub fn subscribers(&self, channel: &str) -> usize {
        lock(&self.routes)
            .get(&Route::Channel(channel.to_owned()).key())
            .map_or(0, HashSet::len)
    }
}

struct Node {
    id: NodeId,
    limits: EnvelopeLimits,
    sequencer: Mutex<Sequencer>,
    inbox: Mutex<Inbox>,
    sink: SinkSlot,
    counters: BrokerCounters,
    state: watch::Sender<BrokerState>,
    /// Route keys this node wants (kept while disconnected, re-applied on reconnect).
    interest: Mutex<HashSet<String>>,
    /// Messages this node published and not yet handed over, in stamp order, and whether a
    /// caller is handing them over now (see [`Node::drain`]).
    outbox: Mutex<(VecDeque<Send>, bool)>,
}

/// One message on its way: receiving node, route, encoded envelope.
type Send = (Arc<Node>, Route, Arc<Vec<u8>>);

impl Node {
    /// Hands this node's published messages to their receivers in stamp order, like one
    /// Redis connection would. One caller drains at a time; a publish from another thread, or
    /// from a sink inside this drain, only queues, and the running drain delivers it. No lock
    /// is held while a receiver runs.
    fn drain(&self) {
        {
            let mut outbox = lock(&self.outbox);
            if outbox.1 {
                return;
            }
            outbox.1 = true;
        }
        loop {
            let next = {
                let mut outbox = lock(&self.outbox);
                match outbox.0.pop_front() {
                    Some(send) => send,
                    None => {
                        outbox.1 = false;
                        return;
                    }
                }
            };
            let (node, route, bytes) = next;
            node.receive(&route, &bytes);
        }
    }

    fn connected(&self) -> bool {
        *self.state.borrow() == BrokerState::Connected
    }

    /// One message from the bus, as a real broker's reader would see it.
    fn receive(&self, route: &Route, bytes: &[u8]) {
        bump(&self.counters.received);
        let envelope = match Envelope::decode(bytes, &self.limits) {
            Ok(envelope) => envelope,
            Err(error) => {
                bump(&self.counters.malformed);
                tracing::warn!(%error, "dropped a malformed cluster envelope");
                return;
            }
        };
        if lock(&self.inbox).accept(route, &envelope, &self.counters) != Arrival::Deliver {
            return;
        }
        self.sink.deliver(envelope, &self.counters);
    }
}

/// One node on a [`MemoryBus`].
#[derive(Clone)]
pub struct MemoryBroker {
    bus: MemoryBus,
    node: Arc<Node>,
}

impl MemoryBroker {
    /// Simulates losing (`false`) or regaining (`true`) the bus: while disconnected, publishes
    /// fail and nothing is received; subscriptions come back on reconnect.
    pub(crate) fn set_connected(&self, connected: bool) {
        if *self.node.state.borrow() == BrokerState::Closed {
            return;
        }
        let was = self.node.connected();
        if connected == was {
            return;
        }
        let keys: Vec<String> = lock(&self.node.interest).iter().cloned().collect();
        let mut routes = lock(&self.bus.routes);
        for key in keys {
            let subscribers = routes.entry(key.clone()).or_default();
            if connected {
                subscribers.insert(self.node.id.clone());
            } else {
                subscribers.remove(&self.node.id);
                if subscribers.is_empty() {
                    routes.remove(&key);
                }
            }
        }
        drop(routes);
        if connected {
            bump(&self.node.counters.reconnects);
            self.node.state.send_replace(BrokerState::Connected);
        } else {
            self.node.state.send_replace(BrokerState::Disconnected);
        }
    }

    fn add_route(&self, route: &Route) {
        let key = route.key();
        if !lock(&self.node.interest).insert(key.clone()) {
            return;
        }
        if self.node.connected() {
            lock(&self.bus.routes)
                .entry(key)
                .or_default()
                .insert(self.node.id.clone());
        }
    }

    fn remove_route(&self, route: &Route) {
        let key = route.key();
        if !lock(&self.node.interest).remove(&key) {
            return;
        }
        let mut routes = lock(&self.bus.routes);
        if let Some(subscribers) = routes.get_mut(&key) {
            subscribers.remove(&self.node.id);
            if subscribers.is_empty() {
                routes.remove(&key);
            }
        }
        drop(routes);
        lock(&self.node.inbox).forget_route(route);
    }
}

impl Broker for MemoryBroker {
    fn node_id(&self) -> &NodeId {
        &self.node.id
    }

    fn publish(&self, mut envelope: Envelope) -> Result<(), BrokerError> {
        let counters = &self.node.counters;
        if let Err(error) = envelope.check(&self.node.limits) {
            bump(&counters.too_large);
            return Err(error.into());
        }
        match *self.node.state.borrow() {
            BrokerState::Closed => return Err(BrokerError::Closed),
            BrokerState::Connected => {}
            _ => {
                // The number is used up, as a real broker's would be: receivers see the gap.
                lock(&self.node.sequencer).stamp(&mut envelope);
                bump(&counters.publish_failed);
                return Err(BrokerError::Disconnected);
            }
        }
        // Stamp, encode and queue under the sequencer lock, so messages leave in stamp order;
        // deliver after releasing it (sinks may publish again).
        {
            let mut sequencer = lock(&self.node.sequencer);
            sequencer.stamp(&mut envelope);
            let bytes = match envelope.encode(&self.node.limits) {
                Ok(bytes) => Arc::new(bytes),
                Err(error) => {
                    bump(&counters.too_large);
                    return Err(error.into());
                }
            };
            let routes = lock(&self.bus.routes);
            let nodes = lock(&self.bus.nodes);
            let mut outbox = lock(&self.node.outbox);
            for (route, _) in envelope.routes() {
                bump(&counters.published_messages);
                for id in routes.get(&route.key()).into_iter().flatten() {
                    if let Some(node) = nodes.get(id) {
                        outbox
                            .0
                            .push_back((node.clone(), route.clone(), bytes.clone()));
                    }
                }
            }
        }
        bump(&counters.published);
        self.node.drain();
        Ok(())
    }

    fn subscribe(&self, channel: &str) {
        self.add_route(&Route::Channel(channel.to_owned()));
    }

    fn unsubscribe(&self, channel: &str) {
        self.remove_route(&Route::Channel(channel.to_owned()));
    }

    fn set_sink(&self, sink: Arc<dyn EnvelopeSink>) {
        self.node.sink.set(sink);
    }

    fn state(&self) -> BrokerState {
        *self.node.state.borrow()
    }

    fn watch_state(&self) -> watch::Receiver<BrokerState> {
        self.node.state.subscribe()
    }

    fn stats(&self) -> BrokerStats {
        self.node.counters.snapshot()
    }

    fn close(&self) {
        self.set_connected(false);
        lock(&self.bus.nodes).remove(&self.node.id);
        self.node.state.send_replace(BrokerState::Closed);
    }
}
