//! Roost's own Engine.IO 4 server: sessions, their packet queue, heartbeats and close.
//!
//! - this module: [`Session`] (one Engine.IO session, long-polling or websocket), its
//!   [`Sid`], the queue of encoded packets anyone may fill without waiting, the heartbeat,
//!   and the one close of a session ([`Session::close`] with an [`EndReason`]).
//! - `http`: the requests at `/socket.io/` (handshake, polling `GET`/`POST`, websocket
//!   upgrade), with the `max_connections` check and `maxPayload`.
//! - `ws`: a websocket session's task: the upgrade probe, then reads and writes in one task;
//!   a long text packet goes out as websocket fragments, slices of the one encoded packet
//!   every recipient shares.
//!
//! # Packets
//! Engine.IO packets are text: a type digit and data (`0` open, `1` close, `2` ping,
//! `3` pong, `4` message, `5` upgrade, `6` noop). A queued packet is its whole encoding
//! (`442[…]` for a Socket.IO event) in shared bytes: a fan-out encodes once and each
//! session's queue holds a clone, whichever transport then writes it.
//!
//! # Heartbeat (as the reference server does it)
//! `pingInterval` after the session opens, and after each pong, the server queues `2`; a
//! session that does not answer `3` within `pingTimeout` is closed. A client ping counts as
//! a sign of life and is not answered.

pub(crate) mod http;
mod ws;

use super::handler::{self, SocketState};
use super::Inner;
use crate::socket::admission::SlotGuard;
use futures_util::task::AtomicWaker;
use roost_core::HandshakeHeaders;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tungstenite::Utf8Bytes;

/// One encoded Engine.IO packet (type digit included). Clones share the bytes.
pub(crate) type Frame = Utf8Bytes;

/// The ping packet.
const PING: Frame = Utf8Bytes::from_static("2");
/// The close packet.
const CLOSE: Frame = Utf8Bytes::from_static("1");
/// The noop packet: ends a pending poll during an upgrade.
const NOOP: Frame = Utf8Bytes::from_static("6");

/// A session id: 20 characters of the URL-safe base64 alphabet from 15 random bytes (120
/// bits: it is the session's only credential on polling requests).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sid([u8; Sid::LEN]);

const SID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Sid {
    const LEN: usize = 20;

    /// A fresh random id; `None` when the system has no randomness to give.
    fn new() -> Option<Sid> {
        let mut random = [0u8; 15];
        getrandom::fill(&mut random).ok()?;
        let mut out = [0u8; Sid::LEN];
        for (chunk, slot) in random.chunks(3).zip(out.chunks_mut(4)) {
            let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
            for (i, c) in slot.iter_mut().enumerate() {
                *c = SID_ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
            }
        }
        Some(Sid(out))
    }

    /// Reads an id from a query; `None` when it cannot be one of ours.
    pub(crate) fn parse(text: &str) -> Option<Sid> {
        let bytes = text.as_bytes();
        if bytes.len() != Sid::LEN || !bytes.iter().all(|b| SID_ALPHABET.contains(b)) {
            return None;
        }
        let mut out = [0u8; Sid::LEN];
        out.copy_from_slice(bytes);
        Some(Sid(out))
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Always ASCII: every byte comes from the alphabet.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended, in Engine.IO's terms (the Socket.IO layer turns it into a
/// [`CloseReason`](crate::socket::CloseReason) for the connection, if the session had one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The client sent `1`, closed its websocket or went away.
    ClientClosed,
    /// The server closed a session that did not join the namespace in time.
    ConnectTimeout,
    /// A packet the server could not take (Engine.IO or Socket.IO).
    ProtocolError,
    /// Two polling `GET`s at once.
    MultiplePolls,
    /// A polling body or websocket message over `maxPayload`.
    TooLarge,
    /// No pong within `pingTimeout`.
    HeartbeatTimeout,
    /// The transport failed, or the session could not be written to (slow consumer).
    TransportError,
    /// The server is shutting down.
    ServerShutdown,
}

impl EndReason {
    /// Whether packets still queued are written before the end (what the server said last
    /// before a protocol error or a shutdown reaches the client; a slow consumer's backlog
    /// is the reason it is closed).
    fn flushes(self) -> bool {
        matches!(
            self,
            EndReason::ConnectTimeout | EndReason::ProtocolError | EndReason::ServerShutdown
        )
    }

    /// Whether the client is told with the close packet `1`.
    fn says_close(self) -> bool {
        !matches!(
            self,
            EndReason::ClientClosed | EndReason::TransportError | EndReason::HeartbeatTimeout
        )
    }
}

/// The transport a session is on now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Polling,
    Websocket,
}

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmitError {
    /// `max_buffer_size` packets or `max_buffer_bytes` bytes are waiting: the session is a
    /// slow consumer.
    Full,
    /// The session is closed.
    Closed,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Frame>,
    /// Bytes of the packets in `frames`.
    bytes: usize,
    transport: Transport,
    /// A websocket probe succeeded (`2probe`): polls end at once with a noop.
    upgrading: bool,
    /// A websocket upgrade request was accepted and has not finished or failed.
    upgrade_pending: bool,
    /// A polling `GET` is waiting or being answered.
    polling: bool,
    /// Set once, by the close.
    end: Option<EndReason>,
    /// The `max_connections` slot, released at the close.
    slot: Option<SlotGuard>,
}

impl State {
    /// Takes every queued packet (their bytes no longer count).
    fn drain(&mut self) -> VecDeque<Frame> {
        self.bytes = 0;
        std::mem::take(&mut self.frames)
    }

    fn push(&mut self, frame: Frame) {
        self.bytes = self.bytes.saturating_add(frame.len());
        self.frames.push_back(frame);
    }
}

/// One Engine.IO session.
pub(crate) struct Session {
    /// The session id.
    pub(crate) id: Sid,
    /// The Socket.IO layer's state of the session, with the handshake request's headers,
    /// copied compact (a clone of the request's `HeaderMap` would share, and so keep alive,
    /// the HTTP connection's read buffer: about 16 KiB per session).
    pub(crate) data: SocketState,
    state: Mutex<State>,
    /// The websocket task, woken by a packet or the close.
    waker: AtomicWaker,
    /// Polling `GET`s waiting for a packet or the close, and whoever waits for the close.
    polls: Notify,
    /// Pongs received; the heartbeat waits for this to move.
    pongs: AtomicU64,
    /// Notified at each pong (or client ping) and at the close: the heartbeat waits here.
    pong: Notify,
    /// Set by the close (which then notifies `polls`, where [`Session::closed`] waits: a
    /// cancellation token would cost each session an allocation of its own).
    closed: AtomicBool,
    max_frames: usize,
    max_bytes: usize,
    inner: Weak<Inner>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session, registered with the transport, announced to the Socket.IO layer, its
    /// heartbeat started. `None` when no session id could be made.
    fn open(
        inner: &Arc<Inner>,
        transport: Transport,
        headers: HandshakeHeaders,
        slot: SlotGuard,
    ) -> Option<Arc<Session>> {
        let Some(id) = Sid::new() else {
            tracing::error!("no randomness for a socket.io session id");
            return None;
        };
        let session = Arc::new(Session {
            id,
            data: SocketState::new(headers),
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                transport,
                upgrading: false,
                upgrade_pending: false,
                polling: false,
                end: None,
                slot: Some(slot),
            }),
            waker: AtomicWaker::new(),
            polls: Notify::new(),
            pongs: AtomicU64::new(0),
            pong: Notify::new(),
            closed: AtomicBool::new(false),
            max_frames: inner.config.max_buffer_size.max(1),
            max_bytes: inner.config.max_buffer_bytes,
            inner: Arc::downgrade(inner),
        });
        Some(session)
    }

    /// Starts the session's life once its open packet is on its way: the Socket.IO layer
    /// learns of it and the heartbeat begins.
    fn start(self: &Arc<Self>, inner: &Arc<Inner>) {
        handler::on_open(inner, self);
        tokio::spawn(heartbeat(
            Arc::clone(self),
            Duration::from_millis(inner.config.ping_interval_ms),
            Duration::from_millis(inner.config.ping_timeout_ms),
        ));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The transport the session is on now.
    pub(crate) fn transport(&self) -> Transport {
        self.lock().transport
    }

    /// Queues a message packet (`4` + `text`) without waiting. The type digit goes in
    /// front of `text` in its own buffer (a large ack is not copied into a new one).
    pub(crate) fn emit(&self, mut text: String) -> Result<(), EmitError> {
        text.insert(0, '4');
        self.enqueue(Frame::from(text))
    }

    /// Queues an encoded packet without waiting; a clone of a fan-out's shared packet.
    pub(crate) fn enqueue(&self, frame: Frame) -> Result<(), EmitError> {
        let mut state = self.lock();
        if state.end.is_some() {
            return Err(EmitError::Closed);
        }
        if state.frames.len() >= self.max_frames {
            return Err(EmitError::Full);
        }
        // One packet larger than the limit still goes when nothing else waits.
        if !state.frames.is_empty() && state.bytes.saturating_add(frame.len()) > self.max_bytes {
            return Err(EmitError::Full);
        }
        state.push(frame);
        let first = state.frames.len() == 1;
        drop(state);
        if first {
            self.wake();
        }
        Ok(())
    }

    /// Queues a control packet (a ping): never refused for a full queue.
    fn enqueue_control(&self, frame: Frame) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.push(frame);
            drop(state);
            self.wake();
        }
    }

    fn wake(&self) {
        self.waker.wake();
        self.polls.notify_waiters();
    }

    /// Packets waiting now (not those a websocket writer took).
    fn queue_len(&self) -> usize {
        self.lock().frames.len()
    }

    /// The client answered a ping (or sent one).
    fn pong(&self) {
        self.pongs.fetch_add(1, Ordering::AcqRel);
        self.pong.notify_one();
    }

    /// Whether the session was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once the session is closed.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.polls.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Why the session ended, once it did.
    fn end(&self) -> Option<EndReason> {
        self.lock().end
    }

    /// The one close of a session: refuses further packets (dropping those queued unless the
    /// reason flushes them), frees its `max_connections` slot, forgets it, tells the
    /// Socket.IO layer, and wakes its transport to say its last words. Only the first close
    /// does anything.
    pub(crate) fn close(self: &Arc<Self>, reason: EndReason) {
        let slot = {
            let mut state = self.lock();
            if state.end.is_some() {
                return;
            }
            state.end = Some(reason);
            if !reason.flushes() {
                drop(state.drain());
            }
            state.slot.take()
        };
        drop(slot);
        self.closed.store(true, Ordering::Release);
        // The heartbeat waits here, not on `closed`.
        self.pong.notify_one();
        // Wakes the transport and whoever waits in `closed()`.
        self.wake();
        tracing::debug!(sid = %self.id, ?reason, "socket.io session closed");
        if let Some(inner) = self.inner.upgrade() {
            handler::on_close(&inner, self, reason);
        }
    }

    /// The client processed `5`: the websocket carries the session from now on.
    fn upgraded(&self) {
        let mut state = self.lock();
        state.transport = Transport::Websocket;
        state.upgrading = false;
        state.upgrade_pending = false;
        drop(state);
        // A poll still waiting ends with a noop; the websocket writer takes the queue.
        self.polls.notify_waiters();
    }
}

/// The session's heartbeat, as the reference server's: a ping `pingInterval` after the open
/// and after each pong; no pong within `pingTimeout` closes the session. Ends with it. A
/// plain function returning an `async move` block, so its arguments are stored once.
///
/// One timer, reset between the two waits (the time to the next ping, the time for its
/// pong): every session has this task, so its size counts.
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn heartbeat(
    session: Arc<Session>,
    interval: Duration,
    timeout: Duration,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let timer = tokio::time::sleep(interval);
        tokio::pin!(timer);
        // The pong count when the last ping went out, while its pong is awaited.
        let mut awaiting: Option<u64> = None;
        loop {
            tokio::select! {
                () = &mut timer => match awaiting {
                    None => {
                        if let Some(inner) = session.inner.upgrade() {
                            if let Some(observer) = inner.metrics.observer.get() {
                                // Sampled at each ping, as Primus samples at its heartbeat.
                                observer.writer_queue_depth("socketio", session.queue_len());
                            }
                        }
                        awaiting = Some(session.pongs.load(Ordering::Acquire));
                        session.enqueue_control(PING);
                        timer.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                    Some(_) => {
                        tracing::debug!(sid = %session.id, "socket.io heartbeat timeout");
                        session.close(EndReason::HeartbeatTimeout);
                        return;
                    }
                },
                // A pong, a client ping, or the close (which notifies here too: one future less
                // than waiting for the close apart).
                () = session.pong.notified() => {
                    if session.is_closed() {
                        return;
                    }
                    if awaiting.is_some_and(|seen| seen != session.pongs.load(Ordering::Acquire)) {
                        awaiting = None;
                        timer.as_mut().reset(tokio::time::Instant::now() + interval);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_parse_back() {
        let a = Sid::new().unwrap_or_else(|| panic!("randomness"));
        let b = Sid::new().unwrap_or_else(|| panic!("randomness"));
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAA!",
            "AAAAAAAAAAAAAAAAAAAAA",
            "é",
        ] {
            assert_eq!(Sid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reasons_flush_and_say_close_as_documented() {
        assert!(EndReason::ProtocolError.flushes() && EndReason::ProtocolError.says_close());
        assert!(!EndReason::TransportError.flushes() && !EndReason::TransportError.says_close());
        assert!(EndReason::ServerShutdown.says_close());
        assert!(!EndReason::ClientClosed.says_close());
    }
}
