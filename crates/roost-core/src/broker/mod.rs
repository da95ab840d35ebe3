//! The broker seam: how nodes of a cluster hand events to each other.
//!
//! A node delivers every event to its own connections at once, without waiting for any
//! broker, and also publishes an [`Envelope`] through its [`Broker`] when other nodes may hold
//! recipients. Other nodes' brokers hand the envelope to their [`EnvelopeSink`], which runs the
//! same delivery against that node's own membership.
//!
//! # Routing by interest
//! An envelope names its [`Audience`]: channel names computed on the origin by its publishers,
//! everyone, or one connection of one node. A broker publishes it on one [`Route`] per channel
//! (`ch:<name>`), on `all`, or on `node:<id>`. Nodes subscribe only to the channels they have
//! members of ([`Broker::subscribe`] when a channel gets its first local member,
//! [`Broker::unsubscribe`] when it empties), plus `all` and their own `node:<id>` always. So a
//! node with no member of a channel receives nothing for it. Filters and membership stay on
//! each node; only channel *names* cross the wire.
//!
//! # Delivery guarantee
//! At most once, in publication order per origin and route, never to the origin itself:
//! - an envelope that names several channels a node subscribes to arrives once per channel and
//!   is handed to the sink once ([`Inbox`] dedupes by origin and sequence number);
//! - a node never receives its own envelopes back into its sink (it delivered locally already);
//! - nothing is retried or replayed: envelopes published while the broker is disconnected, or
//!   sent while a subscriber was disconnected, are lost — and counted: the origin counts
//!   `publish_failed`, receivers count `gaps` and `lost` from the per-route sequence numbers
//!   (see [`sequence`]).
//!
//! [`MemoryBus`] is the in-process implementation (several nodes in one process, for tests);
//! `roost-redis` implements the trait on Redis pub/sub.

mod envelope;
mod memory;
pub mod sequence;
#[cfg(test)]
mod tests;

pub use envelope::{
    Audience, ChannelTarget, Envelope, EnvelopeError, EnvelopeLimits, EventContext, InvalidNodeId,
    NodeId, Route, ENVELOPE_VERSION, MAX_NODE_ID_BYTES,
};
pub use memory::{MemoryBroker, MemoryBus};
pub use sequence::{Arrival, Inbox, Sequencer};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::watch;

/// Whether a broker can currently publish and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Starting, not connected yet.
    Connecting,
    /// Connected: publishing and receiving.
    Connected,
    /// Lost its connection; reconnecting with backoff. Local delivery goes on.
    Disconnected,
    /// Closed for good ([`Broker::close`]).
    Closed,
}

impl BrokerState {
    /// A lower-case name for logs, metrics and `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Connecting => "connecting",
            BrokerState::Connected => "connected",
            BrokerState::Disconnected => "disconnected",
            BrokerState::Closed => "closed",
        }
    }

    /// Whether this state counts as ready.
    pub fn is_ready(self) -> bool {
        self == BrokerState::Connected
    }
}

/// Why [`Broker::publish`] did not take an envelope. Each case is also counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The envelope breaks the size limits (counted as `too_large`).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The broker is disconnected; the envelope is lost (counted as `publish_failed`).
    #[error("the cluster broker is disconnected")]
    Disconnected,
    /// The broker's outgoing queue is full; the envelope is lost (`publish_failed`).
    #[error("the cluster broker's outgoing queue is full")]
    QueueFull,
    /// The broker was closed.
    #[error("the cluster broker is closed")]
    Closed,
}

/// Receives envelopes from other nodes. Called from the broker's reader: must not block or
/// await (hand the work to the node's delivery, which enqueues onto connection queues).
pub trait EnvelopeSink: Send + Sync + 'static {
    /// One envelope from another node, already deduplicated.
    fn receive(&self, envelope: Envelope);
}

impl<F> EnvelopeSink for F
where
    F: Fn(Envelope) + Send + Sync + 'static,
{
    fn receive(&self, envelope: Envelope) {
        self(envelope)
    }
}

/// A cluster broker. Implementations: [`MemoryBroker`] (in process), `roost_redis::RedisBroker`.
///
/// Every method returns at once: `publish` enqueues (it never waits for the network), and
/// subscription changes are applied by the broker's own task.
pub trait Broker: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> &NodeId;

    /// Stamps `envelope` (origin, epoch, sequence numbers, id) and publishes it on every route
    /// of its audience. Fails, and counts why, when it is too large, the broker is
    /// disconnected or its queue is full; the caller has delivered locally already and only
    /// logs the error.
    fn publish(&self, envelope: Envelope) -> Result<(), BrokerError>;

    /// Starts receiving envelopes for `channel` (its first local member joined). Idempotent.
    fn subscribe(&self, channel: &str);

    /// Stops receiving envelopes for `channel` (its last local member left). Idempotent.
    fn unsubscribe(&self, channel: &str);

    /// Where envelopes from other nodes go. Envelopes that arrive before a sink is set are
    /// counted as `dropped`.
    fn set_sink(&self, sink: Arc<dyn EnvelopeSink>);

    /// The current state.
    fn state(&self) -> BrokerState;

    /// A receiver that sees every state change (for `/readyz`, logs and tests).
    fn watch_state(&self) -> watch::Receiver<BrokerState>;

    /// The counters so far.
    fn stats(&self) -> BrokerStats;

    /// Stops the broker's tasks and unsubscribes; the state becomes [`BrokerState::Closed`].
    fn close(&self);
}

/// Where a broker hands the envelopes of other nodes ([`Broker::set_sink`]); empty until set.
#[derive(Default)]
pub struct SinkSlot(RwLock<Option<Arc<dyn EnvelopeSink>>>);

impl SinkSlot {
    /// Sets (or replaces) the sink.
    pub fn set(&self, sink: Arc<dyn EnvelopeSink>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(sink);
    }

    /// Hands `envelope` to the sink, counted `delivered`; with no sink yet it is counted
    /// `dropped`.
    pub fn deliver(&self, envelope: Envelope, counters: &BrokerCounters) {
        let sink = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match sink {
            Some(sink) => {
                bump(&counters.delivered);
                sink.receive(envelope);
            }
            None => bump(&counters.dropped),
        }
    }
}

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// The live counters of a broker (relaxed atomics).
        #[derive(Debug, Default)]
        pub struct BrokerCounters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A snapshot of [`BrokerCounters`], for `/metrics`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct BrokerStats {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl BrokerCounters {
            /// The values now.
            pub fn snapshot(&self) -> BrokerStats {
                BrokerStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl BrokerStats {
            /// `(name, value)` pairs in a fixed order, for metrics exposition.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Envelopes this node published (accepted and sent).
    published,
    /// Messages sent to the bus: one per route of each published envelope.
    published_messages,
    /// Envelopes this node could not publish (disconnected, queue full, send error): lost.
    publish_failed,
    /// Envelopes refused because they break the size limits.
    too_large,
    /// Messages received from the bus (one per route an envelope arrived on).
    received,
    /// Envelopes handed to the sink.
    delivered,
    /// Arrivals of an envelope already delivered (it named several subscribed channels).
    duplicates,
    /// This node's own envelopes coming back from the bus (ignored).
    own,
    /// Sequence gaps seen (per origin and route).
    gaps,
    /// Envelopes missing in those gaps.
    lost,
    /// Messages that could not be decoded (or broke the limits): dropped.
    malformed,
    /// Envelopes received while no sink was set: dropped.
    dropped,
    /// Times the broker connected again after losing its connection.
    reconnects,
}

/// Increments a counter by one.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
