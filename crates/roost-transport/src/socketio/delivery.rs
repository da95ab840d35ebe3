//! The [`DeliverySink`] for Socket.IO connections: each batch encoded once, each recipient
//! queued a clone of the same bytes; a full buffer closes the recipient as a slow consumer.

use super::{packet, Inner};
use crate::socket::{CloseReason, TransportMetrics};
use engineioxide::Str;
use roost_core::{Delivery, DeliverySink};
use std::sync::Weak;
use tokio::sync::mpsc::error::TrySendError;

/// The sink. Holds the transport weakly: the app owns the sink.
pub(super) struct SocketIoSink {
    inner: Weak<Inner>,
}

impl SocketIoSink {
    pub(super) fn new(inner: Weak<Inner>) -> SocketIoSink {
        SocketIoSink { inner }
    }
}

impl DeliverySink for SocketIoSink {
    fn deliver(&self, delivery: Delivery) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let name = delivery.wire_name();
        let mut slow = Vec::new();
        let mut queued = 0;
        for batch in &delivery.batches {
            let payload = match serde_json::to_string(&*batch.payload) {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::error!(event = %name, %error, "event payload not serializable");
                    continue;
                }
            };
            // Encoded once per batch; each recipient's buffer gets a clone of these bytes.
            let frame = Str::from(packet::event(&name, &payload));
            let registry = inner.read();
            for id in &batch.connections {
                let Some(conn) = registry.conns.get(id) else {
                    continue;
                };
                match conn.socket.emit(frame.clone()) {
                    Ok(()) => {
                        queued += 1;
                        TransportMetrics::inc(&inner.metrics.frames_out);
                    }
                    Err(TrySendError::Full(_)) => slow.push(*id),
                    Err(TrySendError::Closed(_)) => {}
                }
            }
        }
        if let Some(observer) = inner.metrics.observer.get() {
            observer.event_delivered("socketio", queued);
        }
        for id in slow {
            inner.close(id, CloseReason::SlowConsumer);
        }
    }
}
