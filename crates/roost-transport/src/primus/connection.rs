//! One connection's life: registration, the loop that reads and writes (in the upgrade
//! task) and the calls it starts.
//!
//! Task shape: one task per connection, the upgrade task, reads the socket (our websocket
//! reader, [`WsReader`], over [`SharedIo`]: no read buffer while idle). Writes do not need
//! it: a frame is written by whoever sends it when the connection's queue is empty
//! (`writer`); the task writes only what the kernel could not
//! take at once ([`Outbox::poll_drain`]), woken for that. It reads until the socket ends or
//! the connection is closed, then writes its last words. A second task per connection for the write half cost about 0.6 KiB per
//! idle connection (its future, the task, the split lock). A call runs in a task of its own
//! while it is in flight (bounded by `max_pending_calls`), so a slow service does not stop
//! the connection from answering heartbeats.

use super::registry::{to_frame, Handle};
use super::writer::{EnqueueError, Io, Outbox, SharedIo};
use super::{Inner, Primus, PROVIDER};
use crate::socket::admission::{self, SlotGuard};
use crate::socket::ws_read::{self, ReadError, WsReader};
use crate::socket::{CloseReason, TransportMetrics};
use roost_core::connection::SOCKET_QUERY_FIELD;
use roost_core::external::call_external;
use roost_core::{ConnectionId, ConnectionInfo, Error, HandshakeHeaders, Value};
use roost_wire::primus::{self as wire, AckId, Decoded};
use roost_wire::websocket::Message;
use std::future::{poll_fn, Future};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

/// What the handshake told us about the connection.
pub(crate) struct Handshake {
    pub(crate) headers: HandshakeHeaders,
    pub(crate) query: Value,
}

/// A Primus spark id: 21 characters of nanoid's alphabet, kept inline (no allocation per
/// connection).
#[derive(Clone, Copy)]
pub(crate) struct SparkId([u8; 21]);

impl SparkId {
    /// A fresh id. Not a secret: random enough to tell sparks apart in logs, derived from
    /// std's per-process hash keys.
    fn new() -> SparkId {
        use std::hash::{BuildHasher, Hasher};
        const ALPHABET: &[u8; 64] =
            b"useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
        let mut out = [0u8; 21];
        let mut bits = 0u64;
        let mut left = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if left < 6 {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                bits = h.finish();
                left = 64;
            }
            *slot = ALPHABET[(bits & 63) as usize];
            bits >>= 6;
            left -= 6;
        }
        SparkId(out)
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Always ASCII: every byte comes from the alphabet.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for SparkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for SparkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the connection's loop ended.
enum End {
    /// Closed through `Inner::close` (the reason is on the outbox).
    Closed,
    /// The read side ended for this reason.
    Read(CloseReason),
    /// The client sent a close frame (with this code): answered with one.
    ClientClose(Option<u16>),
    /// The socket refused a write.
    WriteFailed,
}

/// Runs one upgraded connection to its end: reads and writes in this one task.
///
/// Registration and the `connection` listeners run here, synchronously; the future returned
/// holds only what the connection needs while it is open. It is the largest item an idle
/// connection costs (the task's cell), so what only closing needs is boxed then.
pub(crate) fn run(
    primus: Primus,
    io: Io,
    reader: WsReader,
    handshake: Handshake,
    slot: SlotGuard,
) -> impl Future<Output = ()> + Send + 'static {
    let handle = open(&primus, io, handshake);
    // One span per connection (debug level: free when disabled) joining its log lines.
    let span = tracing::debug_span!("primus", conn = %handle.id, spark = %handle.spark_id);
    tracing::Instrument::instrument(serve(primus, reader, handle, slot), span)
}

/// Registers the connection and runs the `connection` listeners (joining `anonymous`,
/// sending a greeting) before the first frame is read.
fn open(primus: &Primus, io: Io, handshake: Handshake) -> Arc<Handle> {
    let inner = &primus.inner;
    let id = ConnectionId::next();
    let handle = Arc::new(Handle {
        id,
        spark_id: SparkId::new(),
        outbox: Outbox::new(
            io,
            inner.config.writer_queue_frames,
            inner.config.writer_queue_bytes,
        ),
        alive: AtomicBool::new(true),
        pending_calls: AtomicUsize::new(0),
    });
    let info = ConnectionInfo::from_handshake(id, PROVIDER, handshake.headers)
        .with_field(SOCKET_QUERY_FIELD, handshake.query);
    inner.registry.insert(Arc::clone(&handle));
    TransportMetrics::inc(&inner.metrics.connections_open);
    TransportMetrics::inc(&inner.metrics.connections_total);
    tracing::debug!(%id, spark = %handle.spark_id, "primus connection open");
    inner.app.connect(info);
    if inner.lifecycle.is_shutting_down() {
        // Shutdown began while this connection registered; it may have missed the
        // connection in the registry. Close it as shutdown would have.
        inner.close(id, CloseReason::ServerShutdown);
    }
    handle
}

/// The connection's life after `open`. A plain function returning an `async move` block,
/// not an `async fn`: an `async fn` keeps its arguments in the future twice (as arguments
/// and as locals).
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn serve(
    primus: Primus,
    mut reader: WsReader,
    handle: Arc<Handle>,
    slot: SlotGuard,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let mut socket = SharedIo {
            owner: Arc::clone(&handle),
        };
        let inner = &primus.inner;
        let id = handle.id;
        let outbox = &handle.outbox;
        let end = poll_fn(|cx| {
            outbox.register(cx.waker());
            loop {
                if outbox.close_reason().is_some() {
                    return Poll::Ready(End::Closed);
                }
                // What the kernel could not take at once goes first: what the last reads
                // queued (acks, the spark id) goes out before more is read.
                if let Poll::Ready(Err(e)) = outbox.poll_drain(cx) {
                    tracing::debug!(%id, error = %e, "primus write failed");
                    return Poll::Ready(End::WriteFailed);
                }
                let read = reader.poll_read(cx, Pin::new(&mut socket), |message| {
                    on_message(&primus, &handle, message)
                });
                match ready!(read) {
                    Ok(None) => {}
                    Ok(Some(end)) => return Poll::Ready(end),
                    Err(e) => return Poll::Ready(End::Read(classify(&e))),
                }
            }
        })
        .await;
        let mut client_close = None;
        match end {
            End::Closed => {}
            End::Read(reason) => {
                inner.close(id, reason);
            }
            End::ClientClose(code) => {
                inner.close(id, CloseReason::ClientClosed);
                client_close = Some(ws_read::close_reply(code));
            }
            End::WriteFailed => {
                inner.close(id, CloseReason::WriteError);
                // Nothing more can be written.
                outbox.release();
                drop(slot);
                return;
            }
        }
        let reason = outbox.close_reason().unwrap_or(CloseReason::ClientClosed);
        let close_timeout = Duration::from_millis(inner.config.close_timeout_ms);
        // Boxed: the close's futures (a timer) would otherwise widen every idle
        // connection's task.
        drop((reader, socket));
        Box::pin(finish(outbox, reason, client_close, close_timeout)).await;
        drop(slot);
    }
}

/// The last words after the connection was closed with `reason`, within `close_timeout`
/// (a peer that stopped reading cannot hold us): the backlog when the reason flushes it
/// (always the rest of a partly written frame), `"primus::server::close"` when it says so,
/// and a close frame; or, when the client closed, what it had queued and the answer to its
/// close frame (`client_close`, when it sent one). Refuses new frames, then lets the socket
/// go.
async fn finish(
    outbox: &Outbox,
    reason: CloseReason,
    client_close: Option<bytes::Bytes>,
    close_timeout: Duration,
) {
    let _ = tokio::time::timeout(close_timeout, async {
        if reason == CloseReason::ClientClosed {
            outbox.close_queue(true, client_close);
        } else {
            outbox.close_queue(reason.flushes_backlog(), Outbox::last_words(reason));
        }
        poll_fn(|cx| outbox.poll_drain(cx)).await?;
        poll_fn(|cx| outbox.poll_shutdown(cx)).await
    })
    .await;
    outbox.release();
}

/// Which close reason a read error means.
fn classify(error: &ReadError) -> CloseReason {
    if error.is_too_large() {
        CloseReason::FrameTooLarge
    } else if error.is_closed() {
        CloseReason::ClientClosed
    } else {
        tracing::debug!(%error, "primus websocket protocol error");
        CloseReason::ProtocolError
    }
}

/// Acts on one websocket message; stops reading when the connection ends.
fn on_message(primus: &Primus, handle: &Arc<Handle>, message: Message<'_>) -> ControlFlow<End> {
    match message {
        Message::Text(text) => on_text(primus, handle, text.as_bytes()),
        Message::Binary(_) => TransportMetrics::inc(&primus.inner.metrics.ignored_frames),
        Message::Ping(payload) => {
            // The websockets transformer counts a websocket ping as a pong.
            handle.alive.store(true, Ordering::Release);
            handle.outbox.send_control(ws_read::pong(payload));
        }
        Message::Pong(_) => {}
        Message::Close(close) => return ControlFlow::Break(End::ClientClose(close.map(|c| c.0))),
    }
    if handle.outbox.close_reason().is_some() {
        return ControlFlow::Break(End::Closed);
    }
    ControlFlow::Continue(())
}

/// Acts on one text frame. Malformed and ignored frames are counted, never answered.
fn on_text(primus: &Primus, handle: &Arc<Handle>, text: &[u8]) {
    let metrics = &primus.inner.metrics;
    TransportMetrics::inc(&metrics.frames_in);
    let limit = primus.inner.config.max_frame_size_anonymous;
    if text.len() > limit && !crate::is_authenticated(&primus.inner.app, handle.id) {
        // Parsing JSON costs tens of times its size: a large frame before login is answered
        // from its top level alone (read without building anything below it).
        TransportMetrics::inc(&metrics.anonymous_frame_limit_hits);
        if let Some(ack) = wire::event_ack_id(text) {
            let error = crate::anonymous_too_large_error(limit as u64);
            primus
                .inner
                .send(handle, &wire::encode_ack_err(&ack, &error.to_json()));
        }
        return;
    }
    let max_values = primus.inner.config.max_frame_values;
    if text.len() > max_values && roost_wire::json_cost::has_more_values_than(text, max_values) {
        TransportMetrics::inc(&metrics.value_limit_hits);
        if let Some(ack) = wire::event_ack_id(text) {
            let error = crate::too_many_values_error(max_values);
            primus
                .inner
                .send(handle, &wire::encode_ack_err(&ack, &error.to_json()));
        }
        return;
    }
    let message = match wire::decode(text) {
        Ok(Decoded::Message(message)) => message,
        Ok(Decoded::Ignored(why)) => {
            tracing::trace!(id = %handle.id, ?why, "frame ignored");
            TransportMetrics::inc(&metrics.ignored_frames);
            return;
        }
        Err(wire::Malformed::TooDeep { ack }) => {
            // Valid JSON the parser cannot hold: answered like REST answers the same body.
            TransportMetrics::inc(&metrics.too_deep_calls);
            if let Some(ack) = ack {
                let error = crate::too_deep_error();
                primus
                    .inner
                    .send(handle, &wire::encode_ack_err(&ack, &error.to_json()));
            }
            return;
        }
        Err(e) => {
            tracing::trace!(id = %handle.id, error = %e, "malformed frame");
            TransportMetrics::inc(&metrics.malformed_frames);
            return;
        }
    };
    match message {
        wire::Message::Pong(_) => handle.alive.store(true, Ordering::Release),
        wire::Message::IdRequest => primus
            .inner
            .send(handle, &wire::encode_id(handle.spark_id.as_str())),
        wire::Message::Event { name, args, ack } => start_call(primus, handle, name, args, ack),
        // A ping from a client, or an ack of a request the server never makes.
        wire::Message::Ping(_) | wire::Message::Ack { .. } => {
            TransportMetrics::inc(&metrics.ignored_frames);
        }
    }
}

fn answer(id: &AckId, result: Result<roost_core::HookContext, Error>) -> Vec<u8> {
    match result {
        Ok(ctx) => wire::encode_ack_ok(id, &admission::reply_value(ctx)),
        Err(error) => wire::encode_ack_err(id, &error.to_json()),
    }
}

/// `[method, path, ...args]` from an emitter EVENT: admitted (or answered at once), then
/// run: to the end here when it never waits, otherwise in its own task. Events the call
/// publishes are queued by the sink while it runs, so they precede its ack.
fn start_call(
    primus: &Primus,
    handle: &Arc<Handle>,
    method: String,
    args: Vec<Value>,
    ack: Option<AckId>,
) {
    let inner = &primus.inner;
    let call = match admission::admit(
        &inner.app,
        &inner.metrics,
        inner.config.max_pending_calls,
        inner.lifecycle.is_shutting_down(),
        handle,
        method,
        args,
    ) {
        Ok(call) => call,
        Err(error) => {
            if let Some(ack) = ack {
                inner.send(handle, &wire::encode_ack_err(&ack, &error.to_json()));
            }
            return;
        }
    };
    let primus = primus.clone();
    let handle = Arc::clone(handle);
    let id = handle.id;
    admission::start(inner.lifecycle.tasks(), id, async move {
        let admission::Admitted {
            method,
            path,
            args,
            guard,
        } = call;
        let _guard = guard;
        let inner = &primus.inner;
        let Some(info) = inner.app.connection(handle.id) else {
            return;
        };
        let result = call_external(&inner.app, &method, &path, args, info.params()).await;
        if let Some(ack) = ack {
            inner.send(&handle, &answer(&ack, result));
        }
    });
}

impl Inner {
    /// Queues one frame for `handle`; a full queue closes the connection as slow.
    pub(crate) fn send(&self, handle: &Handle, bytes: &[u8]) {
        let Some(frame) = to_frame(bytes) else {
            return;
        };
        match handle.outbox.send(frame) {
            Ok(()) => TransportMetrics::inc(&self.metrics.frames_out),
            Err(EnqueueError::Full) => {
                self.close(handle.id, CloseReason::SlowConsumer);
            }
            Err(EnqueueError::Closed) => {}
        }
    }
}
