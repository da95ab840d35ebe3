//! The [`DeliverySink`] for Socket.IO connections: each batch encoded once, as a whole
//! Engine.IO packet (`442["<name>",payload]`), each recipient queued a clone of the same
//! bytes; a full queue closes the recipient as a slow consumer.

use super::engine::{EmitError, Frame};
use super::Inner;
use crate::socket::{CloseReason, TransportMetrics};
use roost_core::{Delivery, DeliverySink, Value};
use std::sync::Weak;

/// The sink. Holds the transport weakly: the app owns the sink.
pub(super) struct SocketIoSink {
    inner: Weak<Inner>,
}

impl SocketIoSink {
    pub(super) fn new(inner: Weak<Inner>) -> SocketIoSink {
        SocketIoSink { inner }
    }
}

/// `442["<name>",payload]` in one buffer, the payload serialized straight into it (no
/// intermediate copy of a large payload).
fn encode(name: &str, payload: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(name.len() + 32);
    out.extend_from_slice(b"42[");
    serde_json::to_writer(&mut out, name)?;
    out.push(b',');
    serde_json::to_writer(&mut out, payload)?;
    out.push(b']');
    Ok(out)
}

impl DeliverySink for SocketIoSink {
    fn deliver(&self, delivery: Delivery) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let name = delivery.wire_name();
        let mut slow = Vec::new();
        // With an observer, each packet carries the event's clock: the last copy dropped
        // (written, or discarded with its session) records the fan-out.
        let clock = inner.metrics.fanout_clock("socketio");
        for batch in &delivery.batches {
            let bytes = match encode(&name, &batch.payload) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::error!(event = %name, %error, "event payload not serializable");
                    continue;
                }
            };
            // Encoded once per batch; each recipient's queue gets a clone of these bytes.
            let frame = match &clock {
                Some(clock) => Frame::try_from(clock.wrap(bytes)),
                None => Frame::try_from(bytes),
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::error!(%error, "encoder produced invalid UTF-8; event dropped");
                    continue;
                }
            };
            let mut batch_queued = 0;
            {
                let registry = inner.read();
                for id in &batch.connections {
                    let Some(conn) = registry.conns.get(id) else {
                        continue;
                    };
                    match conn.socket.enqueue(frame.clone()) {
                        Ok(()) => {
                            batch_queued += 1;
                            TransportMetrics::inc(&inner.metrics.frames_out);
                        }
                        Err(EmitError::Full) => slow.push(*id),
                        Err(EmitError::Closed) => {}
                    }
                }
            }
            if let Some(clock) = &clock {
                clock.delivered(batch_queued);
            }
        }
        for id in slow {
            inner.close(id, CloseReason::SlowConsumer);
        }
    }
}
