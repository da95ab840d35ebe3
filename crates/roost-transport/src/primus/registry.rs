//! The transport's connection registry (id → [`Handle`]) and the fan-out engine: the
//! [`DeliverySink`] the app hands every event to.
//!
//! A delivery's batches are encoded once each (one websocket frame per distinct payload) and
//! clones of the same bytes are sent to each recipient: O(recipients) lookups, no walk over
//! all connections, no await. A recipient with nothing queued gets the frame written at once
//! from the publishing task (no wake-up of its task, see `writer`). Recipients whose queue is
//! full are closed as slow consumers once the registry lock is released.

use super::connection::SparkId;
use super::writer::{text_frame, EnqueueError, Frame, HasOutbox, Outbox};
use super::Inner;
use crate::socket::admission::CallSlots;
use crate::socket::{CloseReason, TransportMetrics};
use roost_core::{ConnectionId, Delivery, DeliverySink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, Weak};

/// What the transport keeps per open connection (the socket lives in the connection task).
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) id: ConnectionId,
    /// Primus' spark id, answered to `"primus::id::"`.
    pub(crate) spark_id: SparkId,
    pub(crate) outbox: Outbox,
    /// Set by a pong or a websocket ping, cleared by each heartbeat tick.
    pub(crate) alive: AtomicBool,
    /// Calls running now.
    pub(crate) pending_calls: AtomicUsize,
}

impl HasOutbox for Handle {
    fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

impl CallSlots for Handle {
    fn pending_calls(&self) -> &AtomicUsize {
        &self.pending_calls
    }
}

/// Open connections by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: RwLock<HashMap<ConnectionId, Arc<Handle>>>,
}

impl Registry {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, HashMap<ConnectionId, Arc<Handle>>> {
        self.conns.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, handle: Arc<Handle>) {
        self.conns
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(handle.id, handle);
    }

    pub(crate) fn remove(&self, id: ConnectionId) -> Option<Arc<Handle>> {
        self.conns
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    pub(crate) fn ids(&self) -> Vec<ConnectionId> {
        self.read().keys().copied().collect()
    }
}

/// Turns encoder output into a text frame. The encoders only produce UTF-8; should that
/// ever break, the frame is dropped and logged rather than sent broken.
pub(crate) fn to_frame(bytes: &[u8]) -> Option<Frame> {
    text_frame(bytes).map(Frame::from)
}

/// Sends `frame` to every id in `ids` that is open; pushes the ids whose queue is full to
/// `slow`; returns how many took it. The writes happen after the registry lock is released
/// (the handles are collected first), so connects and closes do not wait for a burst.
pub(crate) fn enqueue_many(
    registry: &Registry,
    metrics: &TransportMetrics,
    ids: &[ConnectionId],
    frame: &Frame,
    slow: &mut Vec<ConnectionId>,
) -> usize {
    let handles: Vec<Arc<Handle>> = {
        let conns = registry.read();
        ids.iter()
            .filter_map(|id| conns.get(id).map(Arc::clone))
            .collect()
    };
    let mut queued = 0;
    for handle in handles {
        match handle.outbox.send(frame.clone()) {
            Ok(()) => {
                queued += 1;
                TransportMetrics::inc(&metrics.frames_out);
            }
            Err(EnqueueError::Full) => slow.push(handle.id),
            Err(EnqueueError::Closed) => {}
        }
    }
    queued
}

/// The sink installed on the app. Holds the transport weakly: the app owns the sink, and the
/// transport owns the app.
pub(crate) struct PrimusSink {
    pub(crate) inner: Weak<Inner>,
}

impl DeliverySink for PrimusSink {
    fn deliver(&self, delivery: Delivery) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let name = delivery.wire_name();
        let mut slow = Vec::new();
        // With an observer, each frame carries the event's clock: the last copy dropped
        // (written, or discarded with its connection) records the fan-out.
        let clock = inner.metrics.fanout_clock("primus");
        for batch in &delivery.batches {
            let payload = roost_wire::primus::encode_event(&name, &batch.payload);
            let Some(bytes) = text_frame(&payload) else {
                continue;
            };
            let frame = match &clock {
                Some(clock) => clock.wrap(bytes),
                None => Frame::from(bytes),
            };
            let queued = enqueue_many(
                &inner.registry,
                &inner.metrics,
                &batch.connections,
                &frame,
                &mut slow,
            );
            if let Some(clock) = &clock {
                clock.delivered(queued);
            }
        }
        for id in slow {
            inner.close(id, CloseReason::SlowConsumer);
        }
    }
}
