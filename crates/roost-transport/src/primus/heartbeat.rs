//! The heartbeat: one ticker for all connections (a timer per connection would cost memory
//! on every idle socket). Each tick closes the connections that did not answer the previous
//! ping, then sends one shared `"primus::ping::<Date.now()>"` frame to the others, exactly as
//! Primus' global timer does (docs/protocol.md §3).

use super::registry::{enqueue_many, to_frame};
use super::Inner;
use crate::socket::CloseReason;
use roost_core::ConnectionId;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Ticks every `interval` until `stop` is cancelled or the transport is dropped.
pub(crate) async fn run(inner: Weak<Inner>, interval: Duration, stop: CancellationToken) {
    let start = tokio::time::Instant::now() + interval;
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        tick(&inner);
    }
}

/// One tick over every connection.
pub(crate) fn tick(inner: &Inner) {
    let mut dead: Vec<ConnectionId> = Vec::new();
    let mut alive: Vec<ConnectionId> = Vec::new();
    let observer = inner.metrics.observer.get();
    for (id, handle) in inner.registry.read().iter() {
        if let Some(observer) = observer {
            observer.writer_queue_depth("primus", handle.outbox.len());
        }
        if handle.alive.swap(false, Ordering::AcqRel) {
            alive.push(*id);
        } else {
            dead.push(*id);
        }
    }
    for id in dead {
        inner.close(id, CloseReason::HeartbeatTimeout);
    }
    if alive.is_empty() {
        return;
    }
    let Some(frame) = to_frame(&roost_wire::primus::encode_ping(unix_ms())) else {
        return;
    };
    let mut slow = Vec::new();
    enqueue_many(&inner.registry, &inner.metrics, &alive, &frame, &mut slow);
    for id in slow {
        inner.close(id, CloseReason::SlowConsumer);
    }
}
