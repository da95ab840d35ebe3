//! A session's websocket: a new websocket-only session (the open packet first), or the
//! upgrade of a polling session (`2probe` → `3probe`, then `5`); then one task reads and
//! writes until the session ends, and writes its last words.
//!
//! # Memory
//! tungstenite copies each message it sends into the connection's write buffer, which
//! keeps its largest size for the connection's life: a 9 MB event to 300 sessions would hold
//! 2.7 GB. So a text packet longer than [`FRAGMENT_SIZE`] goes out as websocket fragments
//! (RFC 6455 §5.4), each a slice of the packet's shared bytes: one payload costs one copy
//! however many sessions receive it, and a write buffer never holds more than one fragment
//! beyond `WRITE_BUFFER_SIZE`. (The same scheme as Primus' writer.)

use super::http::{open_packet, switching_protocols, websocket_handshake};
use super::{EndReason, Frame, Session, Transport, CLOSE};
use crate::headers::handshake_headers;
use crate::socket::admission::SlotGuard;
use crate::socket::TransportMetrics;
use crate::socketio::{handler, Inner};
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::{ready, Either, Ready};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use roost_wire::engineio::{self, Packet};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame as WireFrame;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

/// A session's websocket, straight on the upgraded connection.
type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Text packets longer than this go out as fragments of this many bytes.
pub(crate) const FRAGMENT_SIZE: usize = 16 * 1024;
/// Bytes tungstenite buffers before writing to the socket (and at every flush).
const WRITE_BUFFER_SIZE: usize = 4096;
/// `close_timeout_ms` when the transport is gone already.
const DEFAULT_CLOSE_TIMEOUT_MS: u64 = 1000;

fn ws_config(inner: &Inner) -> WebSocketConfig {
    let max = usize::try_from(inner.config.max_payload).unwrap_or(usize::MAX);
    WebSocketConfig::default()
        .read_buffer_size(inner.config.read_buffer_size)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        // maxPayload bounds websocket messages too, as in Engine.IO.
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// A websocket handshake without `sid`: a new websocket-only session, opened once the
/// connection is upgraded.
pub(super) fn open(inner: &Arc<Inner>, mut request: Request, slot: SlotGuard) -> Response {
    let (on_upgrade, accept) = match websocket_handshake(&mut request) {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let headers = handshake_headers(request.headers());
    drop(request);
    let config = ws_config(inner);
    let weak = Arc::downgrade(inner);
    let opening = async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "socket.io websocket upgrade failed");
                return None;
            }
        };
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let inner = weak.upgrade()?;
        let session = Session::open(&inner, Transport::Websocket, headers, slot)?;
        let open = open_packet(&inner, &session, Transport::Websocket);
        if socket.send(Message::Text(open.into())).await.is_err() {
            return None;
        }
        session.start(&inner);
        Some((weak, session, socket))
    };
    // Boxed: the opening's futures (the handshake, the open packet's send) are freed when it
    // is done instead of sizing the task for its whole life.
    inner
        .lifecycle
        .tasks()
        .spawn(Box::pin(opening).then(serve_opened));
    switching_protocols(&accept)
}

/// A websocket handshake with the `sid` of a polling session: the upgrade.
pub(super) fn upgrade(inner: &Arc<Inner>, session: Arc<Session>, mut request: Request) -> Response {
    {
        let mut state = session.lock();
        if state.transport != Transport::Polling || state.upgrade_pending || state.end.is_some() {
            return super::http::refused_upgrade();
        }
        state.upgrade_pending = true;
    }
    let (on_upgrade, accept) = match websocket_handshake(&mut request) {
        Ok(pair) => pair,
        Err(response) => {
            session.lock().upgrade_pending = false;
            return response;
        }
    };
    drop(request);
    let config = ws_config(inner);
    let upgrade_timeout = Duration::from_millis(inner.config.upgrade_timeout_ms);
    let weak = Arc::downgrade(inner);
    let probing = async move {
        let probed = async {
            let upgraded = on_upgrade.await.ok()?;
            let mut socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            let done = tokio::select! {
                done = tokio::time::timeout(upgrade_timeout, probe(&session, &mut socket)) => done,
                () = session.closed() => return None,
            };
            matches!(done, Ok(true)).then_some(socket)
        }
        .await;
        match probed {
            Some(socket) => {
                session.upgraded();
                tracing::debug!(sid = %session.id, "socket.io session upgraded to websocket");
                Some((weak, session, socket))
            }
            None => {
                // The session stays on polling, as with the reference.
                let mut state = session.lock();
                state.upgrading = false;
                state.upgrade_pending = false;
                drop(state);
                tracing::debug!(sid = %session.id, "socket.io upgrade failed");
                None
            }
        }
    };
    inner
        .lifecycle
        .tasks()
        .spawn(Box::pin(probing).then(serve_opened));
    switching_protocols(&accept)
}

/// The upgrade's probe: `2probe` → `3probe` (from now on polls end at once with a noop, so
/// the client can pause polling), then `5`. True when it completed.
async fn probe(session: &Session, socket: &mut Socket) -> bool {
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.as_str() == "2probe" => {}
        _ => return false,
    }
    session.lock().upgrading = true;
    session.polls.notify_waiters();
    if socket
        .send(Message::Text(Utf8Bytes::from_static("3probe")))
        .await
        .is_err()
    {
        return false;
    }
    matches!(socket.next().await, Some(Ok(Message::Text(text))) if text.as_str() == "5")
}

/// How the read/write loop ended.
enum End {
    /// The session was closed (the reason is on it).
    Closed,
    /// The read side ended for this reason.
    Read(EndReason),
    /// The socket refused a write.
    WriteFailed,
}

/// A session whose websocket is open, for [`serve`].
type Opened = Option<(Weak<Inner>, Arc<Session>, Socket)>;

/// The rest of a websocket task once its opening (or upgrade) is done: [`serve`] when it
/// succeeded. Chained with `then`, so the task's future holds the opening or the serving,
/// never both, and the socket once (an `async` block awaiting `serve(socket)` would keep
/// room for the socket beside `serve`'s own copy).
fn serve_opened(opened: Opened) -> Either<impl Future<Output = ()> + Send, Ready<()>> {
    match opened {
        Some((inner, session, socket)) => Either::Left(serve(inner, session, socket)),
        None => Either::Right(ready(())),
    }
}

/// Reads and writes the session's websocket in this one task until the session ends, then
/// writes its last words. Holds the transport weakly: the transport holds the sessions.
/// A plain function returning an `async move` block: the socket is used where it was
/// captured (an `async fn` would store its arguments and the locals they move into).
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn serve(
    inner: Weak<Inner>,
    session: Arc<Session>,
    mut socket: Socket,
) -> impl Future<Output = ()> + Send {
    async move {
        let mut writer = Writer::default();
        let end = poll_fn(|cx| {
            session.waker.register(cx.waker());
            loop {
                if session.is_closed() {
                    return Poll::Ready(End::Closed);
                }
                // Writes first: what the last reads queued goes out before more is read.
                if let Poll::Ready(error) = writer.poll_write(cx, &mut socket, &session) {
                    tracing::debug!(sid = %session.id, %error, "socket.io write failed");
                    return Poll::Ready(End::WriteFailed);
                }
                let next = match Pin::new(&mut socket).poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(next) => next,
                };
                let Some(inner) = inner.upgrade() else {
                    return Poll::Ready(End::Read(EndReason::ServerShutdown));
                };
                match next {
                    None => return Poll::Ready(End::Read(EndReason::ClientClosed)),
                    Some(Err(error)) => return Poll::Ready(End::Read(classify(&error))),
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reason) = on_text(&inner, &session, text.as_str()) {
                            return Poll::Ready(End::Read(reason));
                        }
                    }
                    Some(Ok(Message::Binary(_))) => handler::on_binary(&inner, &session),
                    Some(Ok(Message::Close(_))) => {
                        return Poll::Ready(End::Read(EndReason::ClientClosed))
                    }
                    // tungstenite answers pings; reading never yields raw frames.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                }
            }
        })
        .await;
        match end {
            End::Closed => {}
            End::Read(reason) => session.close(reason),
            End::WriteFailed => {
                session.close(EndReason::TransportError);
                return;
            }
        }
        let reason = session.end().unwrap_or(EndReason::ClientClosed);
        // Read now rather than kept: every idle session's task would carry it.
        let close_timeout =
            Duration::from_millis(inner.upgrade().map_or(DEFAULT_CLOSE_TIMEOUT_MS, |inner| {
                inner.config.close_timeout_ms
            }));
        // Boxed: the close's futures would otherwise widen every idle session's task.
        Box::pin(writer.finish(&mut socket, &session, reason, close_timeout)).await;
    }
}

/// Acts on one Engine.IO packet; the reason to end the session when it must end.
fn on_text(inner: &Arc<Inner>, session: &Arc<Session>, text: &str) -> Option<EndReason> {
    match engineio::decode(text) {
        Some(Packet::Message(data)) => handler::on_message(inner, session, data),
        Some(Packet::Pong | Packet::Ping) => session.pong(),
        Some(Packet::Noop) => {}
        Some(Packet::Close) => return Some(EndReason::ClientClosed),
        // `5` outside an upgrade and `b` (binary goes in binary frames here) are malformed.
        Some(Packet::Upgrade | Packet::Binary) | None => {
            tracing::debug!(sid = %session.id, "malformed engine.io packet");
            TransportMetrics::inc(&inner.metrics.malformed_frames);
            return Some(EndReason::ProtocolError);
        }
    }
    None
}

/// Which end a read error means.
fn classify(error: &tungstenite::Error) -> EndReason {
    match error {
        tungstenite::Error::Capacity(_) => EndReason::TooLarge,
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_) => EndReason::ClientClosed,
        _ => EndReason::ProtocolError,
    }
}

/// A packet going out in fragments: its bytes and how far it got.
#[derive(Debug)]
struct Fragmenting {
    bytes: Bytes,
    sent: usize,
}

impl Fragmenting {
    /// The next fragment; `self.sent` moves past it.
    fn next(&mut self) -> Message {
        let end = self
            .sent
            .saturating_add(FRAGMENT_SIZE)
            .min(self.bytes.len());
        let opcode = if self.sent == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let fragment = self.bytes.slice(self.sent..end);
        self.sent = end;
        Message::Frame(WireFrame::message(fragment, opcode, self.done()))
    }

    fn done(&self) -> bool {
        self.sent >= self.bytes.len()
    }
}

/// How `frame` goes out: whole, or as fragments when it is longer than [`FRAGMENT_SIZE`].
fn start(frame: Frame) -> (Message, Option<Box<Fragmenting>>) {
    if frame.len() <= FRAGMENT_SIZE {
        return (Message::Text(frame), None);
    }
    let mut rest = Box::new(Fragmenting {
        bytes: Bytes::from(frame),
        sent: 0,
    });
    let first = rest.next();
    (first, Some(rest))
}

/// The write side of a session's task: the packets taken from its queue and not yet handed
/// to the socket, the rest of a packet going out in fragments, and whether the socket has
/// unflushed data.
#[derive(Debug, Default)]
struct Writer {
    batch: VecDeque<Frame>,
    fragmenting: Option<Box<Fragmenting>>,
    unflushed: bool,
}

impl Writer {
    /// Writes what is queued (a long packet fragment by fragment), then flushes once, then
    /// takes the next batch. Pending when all is written (the queue wakes the task) or the
    /// socket is not ready; ready only with the socket's error.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        socket: &mut Socket,
        session: &Session,
    ) -> Poll<tungstenite::Error> {
        loop {
            if self.fragmenting.is_some() || !self.batch.is_empty() {
                if let Err(e) = ready!(Pin::new(&mut *socket).poll_ready(cx)) {
                    return Poll::Ready(e);
                }
                let message = match &mut self.fragmenting {
                    Some(rest) => {
                        let message = rest.next();
                        if rest.done() {
                            self.fragmenting = None;
                        }
                        message
                    }
                    None => {
                        let Some(frame) = self.batch.pop_front() else {
                            continue;
                        };
                        let (message, rest) = start(frame);
                        self.fragmenting = rest;
                        message
                    }
                };
                if let Err(e) = Pin::new(&mut *socket).start_send(message) {
                    return Poll::Ready(e);
                }
                self.unflushed = true;
                continue;
            }
            if self.unflushed {
                if let Err(e) = ready!(Pin::new(&mut *socket).poll_flush(cx)) {
                    return Poll::Ready(e);
                }
                self.unflushed = false;
            }
            if session.take(&mut self.batch) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// The last words after the session ended for `reason`, within `close_timeout`: the
    /// rest of a packet cut between fragments and what is still queued (the queue was
    /// emptied at the close unless the reason flushes it), `1` when the reason says so, and
    /// a close frame (1009 for a message over `maxPayload`).
    async fn finish(
        self,
        socket: &mut Socket,
        session: &Session,
        reason: EndReason,
        close_timeout: Duration,
    ) {
        let mut backlog = self.batch;
        let mut rest = VecDeque::new();
        session.take(&mut rest);
        backlog.extend(rest);
        let mut fragmenting = self.fragmenting;
        let _ = tokio::time::timeout(close_timeout, async {
            if reason == EndReason::ClientClosed {
                // tungstenite already queued the answer to the client's close frame.
                return socket.flush().await;
            }
            if let Some(rest) = &mut fragmenting {
                while !rest.done() {
                    socket.feed(rest.next()).await?;
                }
            }
            if reason.flushes() {
                for frame in backlog {
                    let (first, rest) = start(frame);
                    socket.feed(first).await?;
                    if let Some(mut rest) = rest {
                        while !rest.done() {
                            socket.feed(rest.next()).await?;
                        }
                    }
                }
            }
            if reason.says_close() {
                socket.feed(Message::Text(CLOSE)).await?;
            }
            let frame = (reason == EndReason::TooLarge).then(|| CloseFrame {
                code: CloseCode::Size,
                reason: Utf8Bytes::from_static(""),
            });
            socket.send(Message::Close(frame)).await
        })
        .await;
    }
}

impl Session {
    /// Moves every queued packet into the (empty) `batch`, swapping allocations so a busy
    /// writer reuses them. False when nothing is queued: then both allocations are released,
    /// so an idle session holds none.
    fn take(&self, batch: &mut VecDeque<Frame>) -> bool {
        let mut state = self.lock();
        if state.frames.is_empty() {
            state.frames = VecDeque::new();
            drop(state);
            *batch = VecDeque::new();
            return false;
        }
        std::mem::swap(&mut state.frames, batch);
        state.bytes = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_packet_goes_out_in_fragments_of_its_own_bytes() {
        let text: String = (0..FRAGMENT_SIZE * 2 + 10)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let frame = Frame::from(text.clone());
        let shared = Bytes::from(frame.clone());
        let (first, rest) = start(frame);
        let mut rest = rest.unwrap_or_else(|| panic!("fragmented"));
        let mut messages = vec![first];
        while !rest.done() {
            messages.push(rest.next());
        }
        assert_eq!(messages.len(), 3);
        let mut joined = Vec::new();
        for (i, message) in messages.into_iter().enumerate() {
            let Message::Frame(frame) = message else {
                panic!("a raw frame");
            };
            let opcode = frame.header().opcode;
            let expected = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            assert_eq!(opcode, expected);
            assert_eq!(frame.header().is_final, i == 2);
            let payload = frame.into_payload();
            // A slice of the shared bytes, not a copy.
            let offset = payload.as_ptr() as usize - shared.as_ptr() as usize;
            assert_eq!(offset, i * FRAGMENT_SIZE);
            joined.extend_from_slice(&payload);
        }
        assert_eq!(joined, text.as_bytes());
        // A short packet goes whole.
        let (whole, rest) = start(Frame::from("442[1]"));
        assert!(rest.is_none());
        assert_eq!(whole, Message::Text(Frame::from("442[1]")));
    }
}
