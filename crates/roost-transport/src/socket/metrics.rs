//! [`TransportMetrics`]: the counters every socket transport keeps (Primus and Socket.IO
//! each own one), plain atomics read by `/metrics` and by tests.

use super::close::CloseReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one socket transport (Primus or Socket.IO, same names for both). Relaxed atomics: each is exact on its own, a set of
/// them read together is only roughly consistent.
#[derive(Debug, Default)]
pub struct TransportMetrics {
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Text frames received.
    pub frames_in: AtomicU64,
    /// Frames enqueued for writing (events, acks, pings, control answers).
    pub frames_out: AtomicU64,
    /// Text frames that were not JSON.
    pub malformed_frames: AtomicU64,
    /// Frames ignored as the reference ignores them (wrong shapes, reserved names, binary).
    pub ignored_frames: AtomicU64,
    /// Calls run.
    pub calls: AtomicU64,
    /// Upgrades refused because `max_connections` was reached.
    pub refused_connections: AtomicU64,
    /// Calls refused because `max_pending_calls` was reached.
    pub pending_call_limit_hits: AtomicU64,
    /// Calls refused with `BadRequest` because their JSON nests deeper than the parser allows.
    pub too_deep_calls: AtomicU64,
    /// Frames refused unparsed: larger than the limit for connections that have not logged in.
    pub anonymous_frame_limit_hits: AtomicU64,
    /// Frames refused unparsed: more JSON values than the transport parses.
    pub value_limit_hits: AtomicU64,
    closes: [AtomicU64; 8],
    /// Where distributions go (fan-out latency, deliveries per event, queue depth).
    pub(crate) observer: crate::observe::ObserverSlot,
}

impl TransportMetrics {
    /// Reports fan-out and queue-depth distributions to `observer` from now on. False when
    /// an observer was already set.
    pub fn set_observer(&self, observer: std::sync::Arc<dyn crate::TransportObserver>) -> bool {
        self.observer.set(observer)
    }

    /// The clock of one event's fan-out on `transport` (`"primus"`, `"socketio"`), when an
    /// observer is set.
    pub(crate) fn fanout_clock(
        &self,
        transport: &'static str,
    ) -> Option<std::sync::Arc<crate::observe::FanoutClock>> {
        self.observer
            .get()
            .map(|observer| crate::observe::FanoutClock::start(transport, observer))
    }

    /// How many connections closed for `reason`.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[reason.index()].load(Ordering::Relaxed)
    }

    /// Connections closed as slow consumers.
    pub fn slow_consumer_closes(&self) -> u64 {
        self.closes(CloseReason::SlowConsumer)
    }

    /// Every limit hit: refused upgrades, refused calls, oversized frames, slow consumers.
    pub fn limit_hits(&self) -> u64 {
        self.refused_connections.load(Ordering::Relaxed)
            + self.pending_call_limit_hits.load(Ordering::Relaxed)
            + self.too_deep_calls.load(Ordering::Relaxed)
            + self.anonymous_frame_limit_hits.load(Ordering::Relaxed)
            + self.value_limit_hits.load(Ordering::Relaxed)
            + self.closes(CloseReason::FrameTooLarge)
            + self.closes(CloseReason::SlowConsumer)
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_close(&self, reason: CloseReason) {
        Self::inc(&self.closes[reason.index()]);
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}
