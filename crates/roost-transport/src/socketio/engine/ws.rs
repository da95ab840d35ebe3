//! A session's websocket: a new websocket-only session (the open packet first), or the
//! upgrade of a polling session (`2probe` → `3probe`, then `5`); then one task reads and
//! writes until the session ends, and writes its last words.
//!
//! # Reading
//! With our own reader ([`WsReader`]): no read buffer while the session is idle, pings
//! answered with pongs through the writer, a client's close answered with a close frame.
//!
//! # Writing
//! Packets are written straight to the socket, each websocket frame a header on the stack
//! and a slice of the packet's shared bytes (short packets gathered, up to [`GATHER`] per
//! vectored write): nothing is copied per session and no write buffer is kept. A text packet longer than [`FRAGMENT_SIZE`] goes out
//! as websocket fragments (RFC 6455 §5.4), so a pong can go between them. (tungstenite
//! copied each message into a write buffer that kept its largest size for the connection's
//! life: a 9 MB event to 300 sessions held 2.7 GB.)

use super::http::{open_packet, switching_protocols, websocket_handshake};
use super::{EndReason, Frame, Session, Transport, CLOSE};
use crate::headers::handshake_headers;
use crate::socket::admission::SlotGuard;
use crate::socket::ws_read::{self, ReadError, WsReader};
use crate::socket::TransportMetrics;
use crate::socketio::{handler, Inner};
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::{ready, Either, Ready};
use futures_util::FutureExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use roost_wire::engineio::{self, Packet};
use roost_wire::websocket::{self, Limits, Message};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWrite;

/// The upgraded connection.
type Io = TokioIo<Upgraded>;

/// A session's websocket: the upgraded connection and what its reader holds.
struct Socket {
    io: Io,
    reader: WsReader,
}

/// Text packets longer than this go out as fragments of this many bytes.
pub(crate) const FRAGMENT_SIZE: usize = 16 * 1024;
/// Most packets one vectored write gathers.
const GATHER: usize = 32;
/// `close_timeout_ms` when the transport is gone already.
const DEFAULT_CLOSE_TIMEOUT_MS: u64 = 1000;

// Opcodes and FIN of the frames the server writes (RFC 6455 §5.2).
use websocket::{CLOSE as OP_CLOSE, CONTINUATION as OP_CONTINUATION, FIN, TEXT as OP_TEXT};

fn reader(inner: &Inner) -> WsReader {
    let max = usize::try_from(inner.config.max_payload).unwrap_or(usize::MAX);
    // maxPayload bounds websocket messages too, as in Engine.IO.
    WsReader::new(
        Limits {
            max_message_size: Some(max),
            max_frame_size: Some(max),
        },
        inner.config.read_buffer_size,
    )
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
    let reader = reader(inner);
    let weak = Arc::downgrade(inner);
    let opening = async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "socket.io websocket upgrade failed");
                return None;
            }
        };
        let mut socket = Socket {
            io: TokioIo::new(upgraded),
            reader,
        };
        let inner = weak.upgrade()?;
        let session = Session::open(&inner, Transport::Websocket, headers, slot)?;
        let open = open_packet(&inner, &session, Transport::Websocket);
        if write_out(&mut socket.io, Out::whole(Bytes::from(open)))
            .await
            .is_err()
        {
            return None;
        }
        session.start(&inner);
        Some((weak, session, socket))
    };
    // Boxed: the opening's futures (the handshake, the open packet's write) are freed when
    // it is done instead of sizing the task for its whole life.
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
    let reader = reader(inner);
    let upgrade_timeout = Duration::from_millis(inner.config.upgrade_timeout_ms);
    let weak = Arc::downgrade(inner);
    let probing = async move {
        let probed = async {
            let upgraded = on_upgrade.await.ok()?;
            let mut socket = Socket {
                io: TokioIo::new(upgraded),
                reader,
            };
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
    if !next_text_is(socket, "2probe").await {
        return false;
    }
    session.lock().upgrading = true;
    session.polls.notify_waiters();
    if write_out(&mut socket.io, Out::whole(Bytes::from_static(b"3probe")))
        .await
        .is_err()
    {
        return false;
    }
    next_text_is(socket, "5").await
}

/// Whether the next message (pings and pongs aside) is the text `expected`. What the client
/// sent after it stays with the reader.
async fn next_text_is(socket: &mut Socket, expected: &str) -> bool {
    let Socket { io, reader } = socket;
    poll_fn(|cx| loop {
        let read = reader.poll_read(cx, Pin::new(&mut *io), |message| match message {
            Message::Text(text) => ControlFlow::Break(text == expected),
            Message::Ping(_) | Message::Pong(_) => ControlFlow::Continue(()),
            Message::Binary(_) | Message::Close(_) => ControlFlow::Break(false),
        });
        match ready!(read) {
            Ok(None) => {}
            Ok(Some(matched)) => return Poll::Ready(matched),
            Err(_) => return Poll::Ready(false),
        }
    })
    .await
}

/// How the read/write loop ended.
enum End {
    /// The session was closed (the reason is on it).
    Closed,
    /// The read side ended for this reason.
    Read(EndReason),
    /// The client sent a close frame (with this code): answered with one.
    ClientClose(Option<u16>),
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
    socket: Socket,
) -> impl Future<Output = ()> + Send {
    async move {
        let Socket { mut io, mut reader } = socket;
        let mut writer = Writer::default();
        let end = poll_fn(|cx| {
            session.waker.register(cx.waker());
            loop {
                if session.is_closed() {
                    return Poll::Ready(End::Closed);
                }
                // Writes first: what the last reads queued goes out before more is read.
                if let Poll::Ready(error) = writer.poll_write(cx, &mut io, &session) {
                    tracing::debug!(sid = %session.id, %error, "socket.io write failed");
                    return Poll::Ready(End::WriteFailed);
                }
                let read = reader.poll_read(cx, Pin::new(&mut io), |message| {
                    on_message(&inner, &session, &mut writer, message)
                });
                match ready!(read) {
                    Ok(None) => {}
                    Ok(Some(end)) => return Poll::Ready(end),
                    Err(error) => return Poll::Ready(End::Read(classify(&error))),
                }
            }
        })
        .await;
        drop(reader);
        let mut client_close = None;
        match end {
            End::Closed => {}
            End::Read(reason) => session.close(reason),
            End::ClientClose(code) => {
                session.close(EndReason::ClientClosed);
                client_close = Some(ws_read::close_reply(code));
            }
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
        Box::pin(writer.finish(&mut io, &session, reason, client_close, close_timeout)).await;
    }
}

/// Acts on one websocket message; stops reading when the session ends.
fn on_message(
    inner: &Weak<Inner>,
    session: &Arc<Session>,
    writer: &mut Writer,
    message: Message<'_>,
) -> ControlFlow<End> {
    let Some(inner) = inner.upgrade() else {
        return ControlFlow::Break(End::Read(EndReason::ServerShutdown));
    };
    match message {
        Message::Text(text) => {
            if let Some(reason) = on_text(&inner, session, text) {
                return ControlFlow::Break(End::Read(reason));
            }
        }
        Message::Binary(_) => handler::on_binary(&inner, session),
        Message::Ping(payload) => writer.pong = Some(ws_read::pong(payload)),
        Message::Pong(_) => {}
        Message::Close(close) => return ControlFlow::Break(End::ClientClose(close.map(|c| c.0))),
    }
    if session.is_closed() {
        return ControlFlow::Break(End::Closed);
    }
    ControlFlow::Continue(())
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
fn classify(error: &ReadError) -> EndReason {
    if error.is_too_large() {
        EndReason::TooLarge
    } else if error.is_closed() {
        EndReason::ClientClosed
    } else {
        tracing::debug!(%error, "socket.io websocket protocol error");
        EndReason::ProtocolError
    }
}

/// One websocket frame going out: its header (on the stack), its payload (shared bytes) and
/// how much of both the socket took.
#[derive(Debug)]
struct Out {
    head: [u8; 10],
    head_len: u8,
    payload: Bytes,
    written: usize,
}

impl Out {
    /// A frame: `first` (FIN and opcode) and `payload`, unmasked (server to client).
    fn new(first: u8, payload: Bytes) -> Out {
        let (head, head_len) = websocket::server_header(first, payload.len());
        Out {
            head,
            head_len: head_len as u8,
            payload,
            written: 0,
        }
    }

    /// A final text frame holding all of `payload`.
    fn whole(payload: Bytes) -> Out {
        Out::new(FIN | OP_TEXT, payload)
    }

    /// Bytes already encoded as a frame (a pong, a close reply).
    fn encoded(frame: Bytes) -> Out {
        Out {
            head: [0; 10],
            head_len: 0,
            payload: frame,
            written: 0,
        }
    }

    /// A close frame with `code`, or without a body.
    fn close(code: Option<u16>) -> Out {
        let body = code.map_or(Bytes::new(), |code| {
            Bytes::copy_from_slice(&code.to_be_bytes())
        });
        Out::new(FIN | OP_CLOSE, body)
    }

    /// Writes the rest of the frame: header and payload in one vectored write while the
    /// header is not all out.
    fn poll_write(&mut self, cx: &mut Context<'_>, io: &mut Io) -> Poll<io::Result<()>> {
        let head_len = usize::from(self.head_len);
        loop {
            let result = if self.written < head_len {
                let slices = [
                    IoSlice::new(&self.head[self.written..head_len]),
                    IoSlice::new(&self.payload),
                ];
                Pin::new(&mut *io).poll_write_vectored(cx, &slices)
            } else if self.written - head_len < self.payload.len() {
                Pin::new(&mut *io).poll_write(cx, &self.payload[self.written - head_len..])
            } else {
                return Poll::Ready(Ok(()));
            };
            match ready!(result) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Writes all of `out`.
async fn write_out(io: &mut Io, mut out: Out) -> io::Result<()> {
    poll_fn(|cx| out.poll_write(cx, io)).await
}

/// A packet going out in fragments: its bytes and how far it got.
#[derive(Debug)]
struct Fragmenting {
    bytes: Bytes,
    sent: usize,
}

impl Fragmenting {
    /// The next fragment; `self.sent` moves past it.
    fn next(&mut self) -> Out {
        let end = self
            .sent
            .saturating_add(FRAGMENT_SIZE)
            .min(self.bytes.len());
        let opcode = if self.sent == 0 {
            OP_TEXT
        } else {
            OP_CONTINUATION
        };
        let fragment = self.bytes.slice(self.sent..end);
        self.sent = end;
        let fin = if self.done() { FIN } else { 0 };
        Out::new(fin | opcode, fragment)
    }

    fn done(&self) -> bool {
        self.sent >= self.bytes.len()
    }
}

/// How `frame` goes out: whole, or as fragments when it is longer than [`FRAGMENT_SIZE`].
fn start(frame: Frame) -> (Out, Option<Box<Fragmenting>>) {
    if frame.len() <= FRAGMENT_SIZE {
        return (Out::whole(Bytes::from(frame)), None);
    }
    let mut rest = Box::new(Fragmenting {
        bytes: Bytes::from(frame),
        sent: 0,
    });
    let first = rest.next();
    (first, Some(rest))
}

/// The write side of a session's task: the packets taken from its queue and not yet
/// written, the rest of a packet going out in fragments, the frame being written, a pong
/// to send, and whether the socket has unflushed data.
#[derive(Debug, Default)]
struct Writer {
    batch: VecDeque<Frame>,
    fragmenting: Option<Box<Fragmenting>>,
    out: Option<Out>,
    /// The answer to the client's last ping (RFC 6455 lets the last one alone be answered).
    pong: Option<Bytes>,
    unflushed: bool,
}

impl Writer {
    /// Writes what is queued (a long packet fragment by fragment, a pong between frames),
    /// then flushes once, then takes the next batch. Pending when all is written (the queue
    /// wakes the task) or the socket is not ready; ready only with the socket's error.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut Io,
        session: &Session,
    ) -> Poll<io::Error> {
        loop {
            if let Some(out) = &mut self.out {
                if let Err(e) = ready!(out.poll_write(cx, io)) {
                    return Poll::Ready(e);
                }
                self.out = None;
                self.unflushed = true;
                continue;
            }
            if let Some(pong) = self.pong.take() {
                self.out = Some(Out::encoded(pong));
                continue;
            }
            if let Some(rest) = &mut self.fragmenting {
                let out = rest.next();
                if rest.done() {
                    self.fragmenting = None;
                }
                self.out = Some(out);
                continue;
            }
            if self.batch.len() > 1 && io.is_write_vectored() {
                // Several short packets: as many as one vectored write takes.
                if let Err(e) = ready!(self.poll_gather(cx, io)) {
                    return Poll::Ready(e);
                }
                self.unflushed = true;
                continue;
            }
            if let Some(frame) = self.batch.pop_front() {
                let (out, rest) = start(frame);
                self.out = Some(out);
                self.fragmenting = rest;
                continue;
            }
            if self.unflushed {
                if let Err(e) = ready!(Pin::new(&mut *io).poll_flush(cx)) {
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

    /// One vectored write of the short packets at the head of the batch (up to
    /// [`GATHER`]): the packets it took whole leave the batch; one it took in part becomes
    /// `self.out` with what was written.
    fn poll_gather(&mut self, cx: &mut Context<'_>, io: &mut Io) -> Poll<io::Result<()>> {
        let mut heads = [[0u8; 4]; GATHER];
        let mut head_lens = [0u8; GATHER];
        let mut count = 0;
        for (i, frame) in self.batch.iter().take(GATHER).enumerate() {
            if frame.len() > FRAGMENT_SIZE {
                break;
            }
            // At most FRAGMENT_SIZE bytes: a header of 2 or 4 bytes.
            let (head, used) = websocket::server_header(FIN | OP_TEXT, frame.len());
            heads[i].copy_from_slice(&head[..4]);
            head_lens[i] = used as u8;
            count = i + 1;
        }
        if count == 0 {
            // The first packet is long: it goes out in fragments.
            if let Some(frame) = self.batch.pop_front() {
                let (out, rest) = start(frame);
                self.out = Some(out);
                self.fragmenting = rest;
            }
            return Poll::Ready(Ok(()));
        }
        let written = {
            let mut slices = [IoSlice::new(&[]); 2 * GATHER];
            for (i, frame) in self.batch.iter().take(count).enumerate() {
                slices[2 * i] = IoSlice::new(&heads[i][..usize::from(head_lens[i])]);
                slices[2 * i + 1] = IoSlice::new(frame.as_bytes());
            }
            match ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..2 * count])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
        };
        let mut left = written;
        for head_len in head_lens.iter().take(count) {
            if left == 0 {
                break;
            }
            let Some(frame) = self.batch.pop_front() else {
                break;
            };
            let total = usize::from(*head_len) + frame.len();
            if left >= total {
                left -= total;
                continue;
            }
            // Taken in part: the rest goes out before anything else.
            let mut out = Out::whole(Bytes::from(frame));
            out.written = left;
            self.out = Some(out);
            break;
        }
        Poll::Ready(Ok(()))
    }

    /// The last words after the session ended for `reason`, within `close_timeout`: the
    /// rest of a frame cut by a full socket; when the client closed, the answer to its
    /// close frame (`client_close`, when it sent one); otherwise the rest of a packet cut
    /// between fragments and what is still queued (the queue was emptied at the close
    /// unless the reason flushes it), `1` when the reason says so, and a close frame (1009
    /// for a message over `maxPayload`).
    async fn finish(
        self,
        io: &mut Io,
        session: &Session,
        reason: EndReason,
        client_close: Option<Bytes>,
        close_timeout: Duration,
    ) {
        let mut backlog = self.batch;
        let mut rest = VecDeque::new();
        session.take(&mut rest);
        backlog.extend(rest);
        let mut fragmenting = self.fragmenting;
        let cut = self.out;
        let pong = self.pong;
        let _ = tokio::time::timeout(close_timeout, async {
            if let Some(out) = cut {
                write_out(io, out).await?;
            }
            if let Some(pong) = pong {
                write_out(io, Out::encoded(pong)).await?;
            }
            if reason == EndReason::ClientClosed {
                if let Some(reply) = client_close {
                    write_out(io, Out::encoded(reply)).await?;
                }
                return tokio::io::AsyncWriteExt::flush(io).await;
            }
            if let Some(rest) = &mut fragmenting {
                while !rest.done() {
                    write_out(io, rest.next()).await?;
                }
            }
            if reason.flushes() {
                for frame in backlog {
                    let (first, rest) = start(frame);
                    write_out(io, first).await?;
                    if let Some(mut rest) = rest {
                        while !rest.done() {
                            write_out(io, rest.next()).await?;
                        }
                    }
                }
            }
            if reason.says_close() {
                write_out(io, start(CLOSE).0).await?;
            }
            let code = (reason == EndReason::TooLarge).then_some(1009);
            write_out(io, Out::close(code)).await?;
            tokio::io::AsyncWriteExt::flush(io).await
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The frame `out` puts on the wire.
    fn wire(out: &Out) -> Vec<u8> {
        let mut bytes = out.head[..usize::from(out.head_len)].to_vec();
        bytes.extend_from_slice(&out.payload);
        bytes
    }

    #[test]
    fn a_long_packet_goes_out_in_fragments_of_its_own_bytes() {
        let text: String = (0..FRAGMENT_SIZE * 2 + 10)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let frame = Frame::from(text.clone());
        let shared = Bytes::from(frame.clone());
        let (first, rest) = start(frame);
        let mut rest = rest.unwrap_or_else(|| panic!("fragmented"));
        let mut outs = vec![first];
        while !rest.done() {
            outs.push(rest.next());
        }
        assert_eq!(outs.len(), 3);
        let mut joined = Vec::new();
        for (i, out) in outs.into_iter().enumerate() {
            let opcode = out.head[0] & 0x0F;
            let expected = if i == 0 { OP_TEXT } else { OP_CONTINUATION };
            assert_eq!(opcode, expected);
            assert_eq!(out.head[0] & FIN != 0, i == 2);
            // A slice of the shared bytes, not a copy.
            let offset = out.payload.as_ptr() as usize - shared.as_ptr() as usize;
            assert_eq!(offset, i * FRAGMENT_SIZE);
            if i == 2 {
                assert_eq!(&out.head[..2], &[FIN | OP_CONTINUATION, 10]);
            } else {
                let len = FRAGMENT_SIZE as u16;
                assert_eq!(&out.head[1..4], &[126, (len >> 8) as u8, len as u8]);
            }
            joined.extend_from_slice(&out.payload);
        }
        assert_eq!(joined, text.as_bytes());
        // A short packet goes whole.
        let (whole, rest) = start(Frame::from("442[1]"));
        assert!(rest.is_none());
        assert_eq!(wire(&whole), b"\x81\x06442[1]");
    }

    #[test]
    fn frame_headers_use_the_shortest_length() {
        assert_eq!(
            wire(&Out::whole(Bytes::from_static(b"3probe"))),
            b"\x81\x063probe"
        );
        let big = Out::whole(Bytes::from(vec![b'x'; 70_000]));
        assert_eq!(big.head_len, 10);
        assert_eq!(&big.head[..2], &[0x81, 127]);
        assert_eq!(
            u64::from_be_bytes(big.head[2..10].try_into().unwrap()),
            70_000
        );
        assert_eq!(wire(&Out::close(Some(1009))), [0x88, 2, 0x03, 0xf1]);
        assert_eq!(wire(&Out::close(None)), [0x88, 0]);
    }
}
