//! One event from the client: `42<ack id>["<method>","<path>",...args]` → [`call_external`]
//! → `43<ack id>[null, dispatch || result]` or `43<ack id>[errorJSON]`. Admission, the
//! in-flight guard, how the call runs and the ack's value are the shared
//! [`socket`](crate::socket) layer's, as on Primus.

use super::engine::EmitError;
use super::{packet, Conn, Inner};
use crate::socket::admission;
use crate::socket::{CloseReason, TransportMetrics};
use roost_core::external::call_external;
use roost_core::Value;
use std::sync::Arc;

/// An EVENT on connection `conn` (its payload validated by the codec: an array naming the
/// event). Runs the call (in place when it never waits); answers at once when it cannot run.
pub(super) fn on_event(
    inner: &Arc<Inner>,
    conn: Arc<Conn>,
    ack_id: Option<u64>,
    data: Option<Value>,
) {
    let Some(Value::Array(mut args)) = data else {
        // `42` without a payload names no event: Socket.IO emits nothing.
        TransportMetrics::inc(&inner.metrics.ignored_frames);
        return;
    };
    let method = match args.first() {
        Some(Value::String(name)) => name.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            TransportMetrics::inc(&inner.metrics.ignored_frames);
            return;
        }
    };
    args.remove(0);
    let call = match admission::admit(
        &inner.app,
        &inner.metrics,
        inner.config.max_pending_calls,
        inner.lifecycle.is_shutting_down(),
        &conn,
        method,
        args,
    ) {
        Ok(call) => call,
        Err(error) => {
            send_ack(inner, &conn, ack_id, &[error.to_json()]);
            return;
        }
    };
    let Some(info) = inner.app.connection(conn.id) else {
        return;
    };
    let id = conn.id;
    let inner2 = Arc::clone(inner);
    admission::start(inner.lifecycle.tasks(), id, async move {
        let admission::Admitted {
            method,
            path,
            args,
            guard,
        } = call;
        let result = call_external(&inner2.app, &method, &path, args, info.params()).await;
        match result {
            Ok(ctx) => send_ack(
                &inner2,
                &conn,
                ack_id,
                &[Value::Null, admission::reply_value(ctx)],
            ),
            Err(error) => send_ack(&inner2, &conn, ack_id, &[error.to_json()]),
        }
        // After the ack is queued: a drain waits for this count before closing.
        drop(guard);
    });
}

/// Sends the ack of event `ack_id` (none without an id, or once the connection is gone); a
/// full buffer closes the connection as a slow consumer.
fn send_ack(inner: &Arc<Inner>, conn: &Conn, ack_id: Option<u64>, args: &[Value]) {
    let Some(ack_id) = ack_id else {
        return;
    };
    if !inner.read().conns.contains_key(&conn.id) {
        return;
    }
    match conn.socket.emit(packet::ack(ack_id, args)) {
        Ok(()) => TransportMetrics::inc(&inner.metrics.frames_out),
        Err(EmitError::Full) => {
            inner.close(conn.id, CloseReason::SlowConsumer);
        }
        Err(EmitError::Closed) => {}
    }
}
