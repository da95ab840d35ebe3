//! [`TransportObserver`]: distributions the transports report to whoever records them (the
//! `roost` binary turns them into Prometheus histograms). Counters stay plain atomics in
//! [`TransportMetrics`](crate::primus::TransportMetrics); an observer is optional and set
//! once.

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Receives per-event and per-connection observations. Called on hot paths: must not block.
pub trait TransportObserver: Send + Sync + 'static {
    /// One event reached `deliveries` connections of `transport` (its frames queued).
    fn event_delivered(&self, transport: &'static str, deliveries: usize);
    /// The last frame of one event was handed to its socket `elapsed` after publication
    /// (Primus: the sink's call until every recipient's writer wrote or dropped its copy).
    fn event_fanned_out(&self, transport: &'static str, elapsed: Duration);
    /// A connection's writer queue held `frames` frames (sampled at each heartbeat tick).
    fn writer_queue_depth(&self, transport: &'static str, frames: usize);
}

/// The optional observer of one transport.
#[derive(Default)]
pub(crate) struct ObserverSlot(OnceLock<Arc<dyn TransportObserver>>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Some(TransportObserver)"
        } else {
            "None"
        })
    }
}

impl ObserverSlot {
    /// Sets the observer; false when one was already set.
    pub(crate) fn set(&self, observer: Arc<dyn TransportObserver>) -> bool {
        self.0.set(observer).is_ok()
    }

    pub(crate) fn get(&self) -> Option<&Arc<dyn TransportObserver>> {
        self.0.get()
    }
}

/// Times one event from publication until every copy of its frames is gone: each encoded
/// frame owns an `Arc` of this, so the last writer to drop its copy (after writing it, or
/// when its connection closed) records the fan-out.
pub(crate) struct FanoutClock {
    transport: &'static str,
    start: Instant,
    observer: Arc<dyn TransportObserver>,
    deliveries: AtomicUsize,
}

impl FanoutClock {
    pub(crate) fn start(
        transport: &'static str,
        observer: &Arc<dyn TransportObserver>,
    ) -> Arc<Self> {
        Arc::new(FanoutClock {
            transport,
            start: Instant::now(),
            observer: Arc::clone(observer),
            deliveries: AtomicUsize::new(0),
        })
    }

    /// Counts recipients whose queue took a copy.
    pub(crate) fn delivered(&self, n: usize) {
        self.deliveries.fetch_add(n, Ordering::Relaxed);
    }

    /// `bytes` as a buffer that keeps this clock alive as long as any clone of it lives.
    pub(crate) fn wrap(self: &Arc<Self>, bytes: Vec<u8>) -> Bytes {
        Bytes::from_owner(Timed {
            bytes,
            _clock: Arc::clone(self),
        })
    }
}

impl Drop for FanoutClock {
    fn drop(&mut self) {
        let deliveries = *self.deliveries.get_mut();
        self.observer.event_delivered(self.transport, deliveries);
        if deliveries > 0 {
            self.observer
                .event_fanned_out(self.transport, self.start.elapsed());
        }
    }
}

struct Timed {
    bytes: Vec<u8>,
    _clock: Arc<FanoutClock>,
}

impl AsRef<[u8]> for Timed {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}
