//! The write side of a connection, owned by Roost after the upgrade: the socket itself
//! ([`Io`]), a bounded queue of encoded websocket frames behind it, and the non-blocking
//! write that anyone holding the connection's [`Outbox`] may do.
//!
//! # Writes
//! A frame is encoded once (websocket header + payload, [`text_frame`]) into shared bytes
//! ([`Frame`]): a fan-out hands every recipient a clone of the same allocation. Sending a
//! frame to a connection whose queue is empty writes it at once, from the sending task,
//! with a non-blocking write (the socket polled with a no-op waker: either the kernel takes
//! the bytes now or the write is `Pending` and nothing waits). Only what the kernel did not
//! take is queued, and only then is the connection's task woken to write the rest when the
//! socket becomes writable. So an idle subscriber costs a syscall per event and no task
//! wake-up. A connection with anything queued queues behind it: the order of frames per
//! connection is the order of the sends, and the queue's lock is held across each write so
//! two writers never interleave bytes of two frames.
//!
//! Heartbeats (`"primus::ping::"`), acks, events, websocket control frames answering the
//! client's (pongs, the answer to a client's close) and the last words (`"primus::server::close"`, the close frame) all take this one path.
//!
//! # Budgets
//! The queue is bounded in frames and in bytes not yet handed to the socket. A frame alone
//! may exceed the byte budget (a large call result must still go out); a frame that would
//! push a non-empty queue past it may not. A full queue refuses the frame with
//! [`EnqueueError::Full`] and the caller closes the connection as a slow consumer.
//!
//! # Memory
//! An idle connection's queue owns no allocation: the `VecDeque` is allocated by the first
//! frame that has to wait and released when the task has written the last one. A large frame
//! is never copied per connection: a connection that could not take it at once keeps a
//! clone of the shared bytes and how far it got. (tungstenite copied every message into a
//! per-connection write buffer that kept its largest size for the connection's life; its
//! read buffer went too, see `socket::ws_read`.)

use crate::socket::CloseReason;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use roost_wire::websocket;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The upgraded connection (the client's TCP stream under hyper's upgrade).
pub(crate) type Io = TokioIo<Upgraded>;

/// One encoded websocket frame, header and payload. Clones share the bytes, so a fan-out
/// encodes once.
pub(crate) type Frame = Bytes;

/// Frames one vectored write hands the kernel at most.
const MAX_SLICES: usize = 64;

/// The header of an unmasked (server to client) final frame of `opcode` with `len` bytes of
/// payload, written into `out`.
fn header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    let (head, used) = websocket::server_header(websocket::FIN | opcode, len);
    out.extend_from_slice(&head[..used]);
}

/// A text frame holding `payload`, encoded once (RFC 6455 §5.2). `None` when `payload` is
/// not UTF-8: the encoders only produce UTF-8; should that ever break, the frame is dropped
/// and logged rather than sent broken.
pub(crate) fn text_frame(payload: &[u8]) -> Option<Vec<u8>> {
    if let Err(e) = std::str::from_utf8(payload) {
        tracing::error!(error = %e, "encoder produced invalid UTF-8; frame dropped");
        return None;
    }
    let mut out = Vec::with_capacity(payload.len() + 10);
    header(&mut out, 0x1, payload.len());
    out.extend_from_slice(payload);
    Some(out)
}

/// A close frame: with `code` and an empty reason, or without a body.
fn close_frame(code: Option<u16>) -> Frame {
    let mut out = Vec::with_capacity(4);
    match code {
        Some(code) => {
            header(&mut out, 0x8, 2);
            out.extend_from_slice(&code.to_be_bytes());
        }
        None => header(&mut out, 0x8, 0),
    }
    Frame::from(out)
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnqueueError {
    /// The queue is at its frame or byte limit: the connection is a slow consumer.
    Full,
    /// The connection is closing (or its socket failed).
    Closed,
}

/// The socket and the frames waiting for it.
#[derive(Debug)]
struct State {
    /// The socket; `None` once the connection is done with it.
    io: Option<Io>,
    /// Frames waiting; the first one may be partly written.
    frames: VecDeque<Frame>,
    /// Bytes of the first frame already written.
    head_written: usize,
    /// Set when the connection closes: later frames are refused with `Closed`.
    closed: bool,
    /// A write failed: the socket is dead; the connection's task ends the connection.
    failed: bool,
}

/// A connection's socket, its queue with its frame and byte budgets, and its close signal.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The connection's task, woken by the first frame queued and by a close.
    waker: AtomicWaker,
    /// Bytes queued and not yet handed to the socket.
    queued_bytes: AtomicUsize,
    max_frames: usize,
    max_bytes: usize,
    /// Set once, by the close function, which then wakes the connection's task: the task
    /// stops reading and writes its last words for this reason.
    reason: OnceLock<CloseReason>,
}

impl Outbox {
    /// `io`'s outbox: a queue of at most `max_frames` frames and `max_bytes` bytes. The
    /// queue allocates nothing until a frame has to wait.
    pub(crate) fn new(io: Io, max_frames: usize, max_bytes: usize) -> Self {
        Outbox {
            state: Mutex::new(State {
                io: Some(io),
                frames: VecDeque::new(),
                head_written: 0,
                closed: false,
                failed: false,
            }),
            waker: AtomicWaker::new(),
            queued_bytes: AtomicUsize::new(0),
            max_frames: max_frames.max(1),
            max_bytes,
            reason: OnceLock::new(),
        }
    }

    /// Marks the connection closed for `reason` and wakes its task. Only the first call
    /// counts; false for later ones.
    pub(crate) fn close_with(&self, reason: CloseReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        self.waker.wake();
        first
    }

    /// Why the connection was closed, once it was.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// Registers the connection task to be woken by a queued frame or a close.
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `frame` without waiting: written now when nothing is queued and the kernel
    /// takes it, otherwise queued (the rest of it, when the kernel took a part) for the
    /// connection's task. A frame alone may exceed the byte limit; a frame that would push a
    /// non-empty queue past it may not.
    pub(crate) fn send(&self, frame: Frame) -> Result<(), EnqueueError> {
        let mut state = self.lock();
        if state.closed || state.failed {
            return Err(EnqueueError::Closed);
        }
        self.send_locked(&mut state, frame)
    }

    fn send_locked(&self, state: &mut State, frame: Frame) -> Result<(), EnqueueError> {
        let len = frame.len();
        if state.frames.is_empty() {
            let Some(io) = state.io.as_mut() else {
                return Err(EnqueueError::Closed);
            };
            let written = match write_now(io, &frame) {
                Ok(written) => written,
                Err(e) => {
                    tracing::debug!(error = %e, "primus write failed");
                    state.failed = true;
                    self.waker.wake();
                    return Ok(());
                }
            };
            if written == len {
                return Ok(());
            }
            // The kernel's buffer is full: the rest waits for the task.
            self.queued_bytes.fetch_add(len - written, Ordering::AcqRel);
            state.head_written = written;
            state.frames.push_back(frame);
            self.waker.wake();
            return Ok(());
        }
        if state.frames.len() >= self.max_frames {
            return Err(EnqueueError::Full);
        }
        let before = self.queued_bytes.load(Ordering::Acquire);
        if before.saturating_add(len) > self.max_bytes {
            return Err(EnqueueError::Full);
        }
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        state.frames.push_back(frame);
        Ok(())
    }

    /// Frames waiting now.
    pub(crate) fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Writes what is queued, as much as the socket takes (several frames per vectored
    /// write). Ready(Ok) when the queue is empty (its allocation then released), Pending
    /// while the socket is full (the task is woken when it drains), Ready(Err) when the
    /// socket failed.
    pub(crate) fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        loop {
            if state.failed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if state.frames.is_empty() {
                if state.frames.capacity() > 0 {
                    state.frames = VecDeque::new();
                }
                return Poll::Ready(Ok(()));
            }
            let Some(io) = state.io.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let head = state.head_written;
            let result = if state.frames.len() == 1 || !io.is_write_vectored() {
                Pin::new(io).poll_write(cx, &state.frames[0][head..])
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                for (slot, frame) in slices.iter_mut().zip(state.frames.iter()) {
                    *slot = IoSlice::new(if count == 0 { &frame[head..] } else { frame });
                    count += 1;
                }
                Pin::new(io).poll_write_vectored(cx, &slices[..count])
            };
            let written = match result {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    state.failed = true;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => {
                    state.failed = true;
                    return Poll::Ready(Err(e));
                }
            };
            self.queued_bytes.fetch_sub(written, Ordering::AcqRel);
            let mut left = written;
            while left > 0 {
                let Some(first) = state.frames.front() else {
                    break;
                };
                let rest = first.len() - state.head_written;
                if left >= rest {
                    left -= rest;
                    state.frames.pop_front();
                    state.head_written = 0;
                } else {
                    state.head_written += left;
                    left = 0;
                }
            }
        }
    }

    /// Reads from the socket (for the websocket reader, through [`SharedIo`]).
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        match state.io.as_mut() {
            Some(io) => Pin::new(io).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }

    /// A control frame answering the client's (a pong): queued in order like any frame,
    /// past the budgets (they are small, at most one per client frame), even while closing.
    pub(crate) fn send_control(&self, frame: Frame) {
        let mut state = self.lock();
        if state.failed {
            return;
        }
        if state.frames.is_empty() {
            let _ = self.send_locked(&mut state, frame);
        } else {
            self.queued_bytes.fetch_add(frame.len(), Ordering::AcqRel);
            state.frames.push_back(frame);
        }
    }

    /// Refuses further frames, keeps the backlog when `keep_backlog` (otherwise only the
    /// rest of a partly written frame, which must end before anything else is written),
    /// then queues `last` (the last words) behind it.
    pub(crate) fn close_queue(&self, keep_backlog: bool, last: impl IntoIterator<Item = Frame>) {
        let mut state = self.lock();
        state.closed = true;
        if state.failed {
            return;
        }
        if !keep_backlog {
            let keep = usize::from(state.head_written > 0);
            let dropped: usize = state.frames.iter().skip(keep).map(Bytes::len).sum();
            state.frames.truncate(keep);
            self.queued_bytes.fetch_sub(dropped, Ordering::AcqRel);
        }
        for frame in last {
            if state.frames.is_empty() {
                let _ = self.send_locked(&mut state, frame);
            } else {
                self.queued_bytes.fetch_add(frame.len(), Ordering::AcqRel);
                state.frames.push_back(frame);
            }
        }
    }

    /// Shuts the socket's write side down (after the close frame went out).
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        match state.io.as_mut() {
            Some(io) if !state.failed => Pin::new(io).poll_shutdown(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Lets the socket and whatever is still queued go: the connection is over.
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.io = None;
        state.frames = VecDeque::new();
        self.queued_bytes.store(0, Ordering::Release);
    }

    /// The frame for `"primus::server::close"` and the close frame `reason` ends with.
    pub(crate) fn last_words(reason: CloseReason) -> Vec<Frame> {
        let mut last = Vec::with_capacity(2);
        if reason.sends_server_close() {
            if let Some(frame) = text_frame(&roost_wire::primus::encode_server_close()) {
                last.push(Frame::from(frame));
            }
        }
        last.push(close_frame(reason.close_code()));
        last
    }
}

/// Writes as much of `frame` as the kernel takes now, never waiting: the socket polled with
/// a no-op waker (a `Pending` registers nothing anyone waits on; the connection's task
/// registers its own waker when it writes the rest).
fn write_now(io: &mut Io, frame: &[u8]) -> io::Result<usize> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut written = 0;
    while written < frame.len() {
        match Pin::new(&mut *io).poll_write(&mut cx, &frame[written..]) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => written += n,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(written)
}

/// What the websocket reader reads from: the socket, behind the connection's lock (writes
/// go through the [`Outbox`]).
pub(crate) struct SharedIo<H> {
    pub(crate) owner: Arc<H>,
}

/// Whatever holds a connection's [`Outbox`].
pub(crate) trait HasOutbox {
    fn outbox(&self) -> &Outbox;
}

impl<H: HasOutbox> AsyncRead for SharedIo<H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.owner.outbox().poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length_in_the_shortest_form() {
        assert_eq!(text_frame(b"hi").unwrap(), vec![0x81, 2, b'h', b'i']);
        let mid = text_frame(&[b'x'; 300]).unwrap();
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let top16 = text_frame(&vec![b'x'; 65_535]).unwrap();
        assert_eq!(&top16[..4], &[0x81, 126, 0xff, 0xff]);
        let big = text_frame(&vec![b'x'; 70_000]).unwrap();
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
        assert_eq!(big.len(), 70_010);
        assert!(text_frame(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn close_frames_carry_the_code_or_nothing() {
        assert_eq!(&close_frame(None)[..], &[0x88, 0]);
        assert_eq!(&close_frame(Some(1009))[..], &[0x88, 2, 0x03, 0xf1]);
        let words = Outbox::last_words(CloseReason::ServerClosed);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0][0], 0x81);
        assert_eq!(Outbox::last_words(CloseReason::SlowConsumer).len(), 1);
    }
}
