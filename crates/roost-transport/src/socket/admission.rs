//! Admission, shared by Primus and Socket.IO: a connection slot per open connection
//! ([`SlotGuard`]), the checks a call passes before it runs ([`admit`]), the guard that
//! frees its in-flight slot ([`PendingGuard`]), how it runs ([`start`]) and the value its
//! ack carries ([`reply_value`]).

use super::metrics::TransportMetrics;
use roost_core::{App, ConnectionId, Error, ErrorKind, HookContext, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio_util::task::TaskTracker;

/// One reserved connection slot, released when dropped (also when an upgrade or a
/// handshake fails).
#[derive(Debug)]
pub(crate) struct SlotGuard(Arc<AtomicUsize>);

impl SlotGuard {
    /// Takes a slot when fewer than `max` are taken.
    pub(crate) fn reserve(slots: &Arc<AtomicUsize>, max: usize) -> Option<SlotGuard> {
        slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| SlotGuard(Arc::clone(slots)))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection as admission sees it: the count of its calls in flight.
pub(crate) trait CallSlots: Send + Sync + 'static {
    /// Calls running now on this connection.
    fn pending_calls(&self) -> &AtomicUsize;
}

/// One call in flight on a connection; the count goes down when this is dropped, however
/// the call ends (answered, failed, panicked, its task dropped at shutdown).
pub(crate) struct PendingGuard<C: CallSlots>(Arc<C>);

impl<C: CallSlots> Drop for PendingGuard<C> {
    fn drop(&mut self) {
        self.0.pending_calls().fetch_sub(1, Ordering::AcqRel);
    }
}

/// A call that may run: `[method, path, ...args]` taken apart, holding its in-flight slot.
pub(crate) struct Admitted<C: CallSlots> {
    pub(crate) method: String,
    pub(crate) path: Value,
    pub(crate) args: Vec<Value>,
    pub(crate) guard: PendingGuard<C>,
}

/// Checks one call from a client: counted in `calls`; refused with `MethodNotAllowed` when
/// no service has `method` (the reference never answers those; Roost does, so clients do
/// not wait forever), with `TooManyRequests` (counted in `pending_call_limit_hits`) when
/// `max_pending` calls already run on `conn`. `args` are the event's arguments after the
/// method: the path first. While the transport drains (`draining`), calls are refused with
/// `Unavailable`, so the client retries where it reconnects. The error is what the ack carries.
pub(crate) fn admit<C: CallSlots>(
    app: &App,
    metrics: &TransportMetrics,
    max_pending: usize,
    draining: bool,
    conn: &Arc<C>,
    method: String,
    mut args: Vec<Value>,
) -> Result<Admitted<C>, Error> {
    TransportMetrics::inc(&metrics.calls);
    if !app.is_external_method(&method) {
        return Err(Error::new(
            ErrorKind::MethodNotAllowed,
            format!("Method '{method}' is not a method of any service"),
        ));
    }
    if draining {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "The server is shutting down",
        ));
    }
    let before = conn.pending_calls().fetch_add(1, Ordering::AcqRel);
    let guard = PendingGuard(Arc::clone(conn));
    if before >= max_pending {
        drop(guard);
        TransportMetrics::inc(&metrics.pending_call_limit_hits);
        return Err(Error::new(
            ErrorKind::TooManyRequests,
            format!("Too many calls in flight on this connection (limit {max_pending})"),
        ));
    }
    let path = if args.is_empty() {
        Value::Null
    } else {
        args.remove(0)
    };
    Ok(Admitted {
        method,
        path,
        args,
        guard,
    })
}

/// Runs an admitted call's future. Most calls (memory services, hooks that do not wait)
/// finish without ever waiting: they run to the end here, without a task spawn, its
/// scheduling and its wake-up. A call that waits continues in a task tracked by `tasks`
/// (spawning polls it again, which registers the real waker), so calls of one connection
/// still run concurrently and shutdown can wait for them. A panicking service ends only its
/// call (its ack is not sent), as it would in its own task.
pub(crate) fn start(
    tasks: &TaskTracker,
    conn: ConnectionId,
    call: impl Future<Output = ()> + Send + 'static,
) {
    let mut call = Box::pin(call);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let first =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
    match first {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tasks.spawn(call);
        }
        Err(_) => {
            tracing::error!(connection = %conn, "a service call panicked; its ack is not sent");
        }
    }
}

/// What a call's ack carries: `dispatch || result` (JavaScript truthiness), `null` when both
/// are missing.
pub(crate) fn reply_value(ctx: HookContext) -> Value {
    match (ctx.dispatch, ctx.result) {
        (Some(dispatch), _) if roost_core::js::is_truthy(&dispatch) => dispatch,
        (_, Some(result)) => result,
        (Some(dispatch), None) => dispatch,
        (None, None) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Conn(AtomicUsize);

    impl CallSlots for Conn {
        fn pending_calls(&self) -> &AtomicUsize {
            &self.0
        }
    }

    #[test]
    fn slots_are_bounded_and_freed() {
        let slots = Arc::new(AtomicUsize::new(0));
        let a = SlotGuard::reserve(&slots, 2);
        let b = SlotGuard::reserve(&slots, 2);
        assert!(a.is_some() && b.is_some());
        assert!(SlotGuard::reserve(&slots, 2).is_none());
        drop(a);
        assert!(SlotGuard::reserve(&slots, 2).is_some());
        drop(b);
        assert_eq!(slots.load(Ordering::Acquire), 0);
    }

    #[test]
    fn calls_are_admitted_up_to_the_limit_and_counted() {
        let app = App::new();
        app.use_service(
            "echo",
            roost_core::MemoryService::new(Default::default()),
            Default::default(),
        )
        .unwrap();
        let metrics = TransportMetrics::default();
        let conn = Arc::new(Conn(AtomicUsize::new(0)));
        let args = || vec![Value::from("echo"), Value::from(1)];
        let first = admit(&app, &metrics, 1, false, &conn, "get".into(), args()).unwrap();
        assert_eq!(first.path, Value::from("echo"));
        assert_eq!(first.args, vec![Value::from(1)]);
        let refused = admit(&app, &metrics, 1, false, &conn, "get".into(), args()).err();
        assert_eq!(refused.map(|e| e.kind), Some(ErrorKind::TooManyRequests));
        drop(first);
        assert_eq!(conn.0.load(Ordering::Acquire), 0);
        let unknown = admit(&app, &metrics, 1, false, &conn, "nosuch".into(), args()).err();
        assert_eq!(unknown.map(|e| e.kind), Some(ErrorKind::MethodNotAllowed));
        let draining = admit(&app, &metrics, 1, true, &conn, "get".into(), args()).err();
        assert_eq!(draining.map(|e| e.kind), Some(ErrorKind::Unavailable));
        assert_eq!(TransportMetrics::get(&metrics.calls), 4);
        assert_eq!(TransportMetrics::get(&metrics.pending_call_limit_hits), 1);
        assert_eq!(conn.0.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_reply_is_dispatch_when_truthy_else_result() {
        let app = App::new();
        let mut ctx = HookContext::new(app, "m", "get");
        assert_eq!(reply_value(ctx.clone()), Value::Null);
        ctx.result = Some(Value::from(1));
        ctx.dispatch = Some(Value::from(""));
        assert_eq!(reply_value(ctx.clone()), Value::from(1));
        ctx.dispatch = Some(Value::from("d"));
        assert_eq!(reply_value(ctx.clone()), Value::from("d"));
        ctx.result = None;
        ctx.dispatch = Some(Value::from(0));
        assert_eq!(reply_value(ctx), Value::from(0));
    }
}
