//! Sequence numbers: the origin stamps them ([`Sequencer`]); receivers deliver each envelope
//! once and count gaps per origin and route ([`Inbox`]).
//!
//! Every envelope gets one number per origin (`seq`, for "deliver once") and one per route it
//! is published on (a channel, `all`, a node), because with interest routing a node sees only
//! the routes it subscribes to: a gap in a route's numbers is an envelope this node should have
//! received and did not (Redis restarted, the subscriber connection was dropped as too slow, the
//! origin could not publish). Both sides keep bounded state.

use super::envelope::{random_u64, Envelope, NodeId, Route, ENVELOPE_VERSION};
use super::BrokerCounters;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Default bound on the routes a [`Sequencer`] keeps counters for.
pub const DEFAULT_MAX_ROUTE_COUNTERS: usize = 100_000;

/// Default bound on the origins an [`Inbox`] tracks.
pub const DEFAULT_MAX_ORIGINS: usize = 1024;

/// Stamps outgoing envelopes of one node: origin, epoch, `seq`, id and per-route numbers.
///
/// Call [`Sequencer::stamp`] in publication order (a broker stamps in its single writer), so
/// that every route's numbers reach subscribers in order.
#[derive(Debug)]
pub struct Sequencer {
    origin: NodeId,
    epoch: u64,
    next: u64,
    routes: HashMap<String, u64>,
    max_routes: usize,
}

impl Sequencer {
    /// A sequencer for `origin` with a random epoch, keeping at most `max_routes` route
    /// counters: past that it forgets them all and starts a new epoch (receivers then restart
    /// their baselines instead of counting gaps).
    pub fn new(origin: NodeId, max_routes: usize) -> Self {
        Sequencer {
            origin,
            epoch: (random_u64() >> 1).max(1),
            next: 1,
            routes: HashMap::new(),
            max_routes: max_routes.max(1),
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Sets origin, version, epoch, `seq`, the id (when empty) and the per-route numbers.
    pub fn stamp(&mut self, envelope: &mut Envelope) {
        let new_routes = envelope
            .routes()
            .iter()
            .filter(|(route, _)| !self.routes.contains_key(&route.key()))
            .count();
        if self.routes.len() + new_routes > self.max_routes {
            self.routes.clear();
            self.epoch = self.epoch % (u64::MAX >> 1) + 1;
            self.next = 1;
        }
        envelope.version = ENVELOPE_VERSION;
        envelope.origin = self.origin.clone();
        envelope.epoch = self.epoch;
        envelope.seq = self.next;
        self.next += 1;
        if envelope.id.is_empty() {
            envelope.id = format!("{}:{}:{}", self.origin, self.epoch, envelope.seq);
        }
        let mut next_for = |route: Route| -> u64 {
            let n = self.routes.entry(route.key()).or_insert(0);
            *n += 1;
            *n
        };
        match &mut envelope.to {
            super::Audience::Channels { channels } => {
                for c in channels.iter_mut() {
                    c.seq = next_for(Route::Channel(c.name.clone()));
                }
            }
            super::Audience::All { seq } => *seq = next_for(Route::All),
            super::Audience::Connection { node, seq, .. } => {
                *seq = next_for(Route::Node(node.clone()))
            }
            super::Audience::Publish => {}
        }
    }
}

/// What [`Inbox::accept`] decided about one arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// New: hand it to the node's delivery.
    Deliver,
    /// This node published it: never delivered a second time.
    Own,
    /// Already delivered through another of its routes (or a repeat).
    Duplicate,
}

#[derive(Debug, Default)]
struct OriginState {
    epoch: u64,
    /// Highest `seq` delivered in this epoch. One origin's envelopes reach a subscriber in
    /// the order they were published (Redis keeps the order of one connection's commands), so
    /// anything at or below it was delivered already.
    delivered: u64,
    /// Last sequence number seen per route key.
    routes: HashMap<String, u64>,
    /// When this origin was last heard from (an [`Inbox`] tick), to evict the stalest.
    seen: u64,
}

/// The receiving side of one node: drops its own envelopes, delivers each envelope once and
/// counts per-route sequence gaps. Bounded to `max_origins` origins (the stalest is forgotten
/// past that) and to the routes this node subscribes to (call [`Inbox::forget_route`] when it
/// unsubscribes).
#[derive(Debug)]
pub struct Inbox {
    node: NodeId,
    origins: HashMap<NodeId, OriginState>,
    max_origins: usize,
    tick: u64,
}

impl Inbox {
    /// The inbox of `node`.
    pub fn new(node: NodeId, max_origins: usize) -> Self {
        Inbox {
            node,
            origins: HashMap::new(),
            max_origins: max_origins.max(1),
            tick: 0,
        }
    }

    /// Records `envelope`, which arrived on `route`, and says what to do with it. Gaps in the
    /// route's numbers are added to `counters` (`gaps`, `lost`) and logged.
    pub fn accept(
        &mut self,
        route: &Route,
        envelope: &Envelope,
        counters: &BrokerCounters,
    ) -> Arrival {
        let key = route.key();
        let route_seq = envelope.route_seq(route).map(|seq| (key.as_str(), seq));
        self.accept_on(route_seq, envelope, counters)
    }

    /// [`Inbox::accept`] for a message whose route number is given apart: `(route key, the
    /// origin's number on it)`, e.g. the feathers-sync key, where Roost's extension carries
    /// its own counter. `None` checks no gap.
    pub fn accept_on(
        &mut self,
        route_seq: Option<(&str, u64)>,
        envelope: &Envelope,
        counters: &BrokerCounters,
    ) -> Arrival {
        if envelope.origin == self.node {
            counters.own.fetch_add(1, Ordering::Relaxed);
            return Arrival::Own;
        }
        self.tick += 1;
        if !self.origins.contains_key(&envelope.origin) && self.origins.len() >= self.max_origins {
            if let Some(stalest) = self
                .origins
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(id, _)| id.clone())
            {
                self.origins.remove(&stalest);
            }
        }
        let state = self.origins.entry(envelope.origin.clone()).or_default();
        state.seen = self.tick;
        if state.epoch != envelope.epoch {
            // A new origin, or one that restarted its numbering: new baselines, no gap.
            if state.epoch != 0 {
                tracing::info!(origin = %envelope.origin, epoch = envelope.epoch, "cluster origin started a new sequence epoch");
            }
            state.epoch = envelope.epoch;
            state.delivered = 0;
            state.routes.clear();
        }
        if let Some((key, seq)) = route_seq {
            match state.routes.get(key).copied() {
                Some(last) if seq > last + 1 => {
                    let missing = seq - last - 1;
                    counters.gaps.fetch_add(1, Ordering::Relaxed);
                    counters.lost.fetch_add(missing, Ordering::Relaxed);
                    tracing::warn!(origin = %envelope.origin, route = %key, missing, "cluster envelopes lost on a route");
                }
                _ => {}
            }
            let last = state.routes.entry(key.to_owned()).or_insert(seq);
            *last = (*last).max(seq);
        }
        if envelope.seq <= state.delivered {
            counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return Arrival::Duplicate;
        }
        state.delivered = envelope.seq;
        Arrival::Deliver
    }

    /// Forgets the numbers seen on `route` (the node unsubscribed: when it subscribes again,
    /// the first envelope sets a new baseline instead of counting a gap).
    pub fn forget_route(&mut self, route: &Route) {
        let key = route.key();
        for state in self.origins.values_mut() {
            state.routes.remove(&key);
        }
    }

    /// How many origins are tracked.
    pub fn origin_count(&self) -> usize {
        self.origins.len()
    }
}
