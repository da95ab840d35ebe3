//! One event from the client: `42<ack id>["<method>","<path>",...args]` → [`call_external`]
//! → `43<ack id>[null, dispatch || result]` or `43<ack id>[errorJSON]`.

use super::{packet, Conn, Inner};
use crate::primus::{CloseReason, TransportMetrics};
use roost_core::external::call_external;
use roost_core::{Error, ErrorKind, HookContext, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc::error::TrySendError;

/// Decrements the in-flight count when a call ends, however it ends.
struct PendingGuard(Arc<Conn>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.pending_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An EVENT on connection `conn` (its payload validated by the codec: an array naming the
/// event). Runs the call on its own task; answers at once when it cannot run.
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
    TransportMetrics::inc(&inner.metrics.calls);
    if !inner.app.is_external_method(&method) {
        // The reference binds no listener for this name and never answers (§H14); Roost
        // answers, as it does on Primus, so clients do not wait forever.
        let error = Error::new(
            ErrorKind::MethodNotAllowed,
            format!("Method '{method}' is not a method of any service"),
        );
        send_ack(inner, &conn, ack_id, &[error.to_json()]);
        return;
    }
    if inner.shutting_down.load(Ordering::Acquire) {
        // Draining: calls in flight finish, new ones are refused with an answer.
        let error = Error::new(ErrorKind::Unavailable, "The server is shutting down");
        send_ack(inner, &conn, ack_id, &[error.to_json()]);
        return;
    }
    let before = conn.pending_calls.fetch_add(1, Ordering::AcqRel);
    let guard = PendingGuard(Arc::clone(&conn));
    if before >= inner.config.max_pending_calls {
        drop(guard);
        TransportMetrics::inc(&inner.metrics.pending_call_limit_hits);
        let error = Error::new(
            ErrorKind::TooManyRequests,
            format!(
                "Too many calls in flight on this connection (limit {})",
                inner.config.max_pending_calls
            ),
        );
        send_ack(inner, &conn, ack_id, &[error.to_json()]);
        return;
    }
    let Some(info) = inner.app.connection(conn.id) else {
        return;
    };
    let path = if args.is_empty() {
        Value::Null
    } else {
        args.remove(0)
    };
    let inner = Arc::clone(inner);
    tokio::spawn(tracing::Instrument::in_current_span(async move {
        let result = call_external(&inner.app, &method, &path, args, info.params()).await;
        match result {
            Ok(ctx) => send_ack(&inner, &conn, ack_id, &[Value::Null, answer(ctx)]),
            Err(error) => send_ack(&inner, &conn, ack_id, &[error.to_json()]),
        }
        // After the ack is queued: a drain waits for this count before closing.
        drop(guard);
    }));
}

/// `dispatch || result`, `null` when both are missing.
fn answer(ctx: HookContext) -> Value {
    match (ctx.dispatch, ctx.result) {
        (Some(dispatch), _) if roost_core::js::is_truthy(&dispatch) => dispatch,
        (_, Some(result)) => result,
        (Some(dispatch), None) => dispatch,
        (None, None) => Value::Null,
    }
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
        Err(TrySendError::Full(_)) => {
            inner.close(conn.id, CloseReason::SlowConsumer);
        }
        Err(TrySendError::Closed(_)) => {}
    }
}
