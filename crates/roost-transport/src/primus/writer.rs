//! The writer side of a connection: a bounded queue of encoded frames ([`Outbox`]) that anyone
//! may fill without waiting, and the [`Writer`] that drains it into the socket.
//!
//! Enqueueing never awaits: when the queue is full (in frames or in bytes) the caller gets
//! [`Full`](EnqueueError::Full) and closes the connection as a slow consumer. The
//! [`Writer`] (polled by the connection's one task) waits for the first frame, takes
//! everything else already queued, writes it all and flushes once.
//!
//! # Memory
//! An idle connection's queue owns no allocation: the `VecDeque` is allocated by the first
//! frame queued, handed whole to the writer, and released when the writer finds the queue
//! empty again. (A `tokio::sync::mpsc` channel allocated its state and a 32-slot block up
//! front: about 1.5 KiB per connection, BENCHMARKS.md.)
//!
//! A frame queued to many connections is one allocation: every queue holds a clone of the
//! same bytes. tungstenite copies each message it sends into the connection's write buffer,
//! and that buffer keeps its largest size for the connection's life; a 9 MB event to 100
//! connections would hold 900 MB. So a text message longer than [`FRAGMENT_SIZE`] goes out
//! as websocket fragments (RFC 6455 §5.4), each a slice of the shared bytes: a connection's
//! write buffer never holds more than one fragment beyond `write_buffer_size`, and one
//! payload costs one copy however many connections receive it.

use super::endpoint::Socket;
use crate::socket::CloseReason;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::{Sink, SinkExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame as WireFrame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

/// One encoded text frame. Clones share the bytes, so a fan-out encodes once.
pub(crate) type Frame = Utf8Bytes;

/// Text messages longer than this are sent as fragments of this many bytes (the last one
/// shorter), each a slice of the frame's shared bytes. Small enough that a connection's
/// write buffer stays small after a large message, large enough that the fragments' headers
/// and write calls cost little.
pub(crate) const FRAGMENT_SIZE: usize = 16 * 1024;

/// A message going out in fragments: its bytes and how far it got.
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

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnqueueError {
    /// The queue is at its frame or byte limit: the connection is a slow consumer.
    Full,
    /// The writer is gone: the connection is closing.
    Closed,
}

/// The frames waiting for the writer.
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Set when the writer stops: later frames are refused with `Closed`.
    closed: bool,
}

/// A connection's queue, with its frame and byte budgets and its close signal.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    /// The writer, waiting for a frame.
    waker: AtomicWaker,
    /// Bytes queued and not yet handed to the socket (also those the writer holds in its
    /// batch), so a burst cannot hold twice the budget.
    queued_bytes: AtomicUsize,
    max_frames: usize,
    max_bytes: usize,
    /// Set once, by the close function, which then wakes the connection's task: the task
    /// stops reading and writes its last words for this reason. (A flag and the task's
    /// waker rather than a child `CancellationToken`: that one cost a tree node and a wait
    /// future per idle connection.)
    reason: OnceLock<CloseReason>,
}

impl Outbox {
    /// A queue of at most `max_frames` frames and `max_bytes` bytes. Allocates nothing.
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
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

    /// Registers the connection task to be woken by a frame or a close.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` without waiting. A frame alone may exceed the byte limit (a large call
    /// result must still go out); a frame that would push a non-empty queue past it may not.
    pub(crate) fn enqueue(&self, frame: Frame) -> Result<(), EnqueueError> {
        let len = frame.len();
        let mut queue = self.lock();
        if queue.closed {
            return Err(EnqueueError::Closed);
        }
        if queue.frames.len() >= self.max_frames {
            return Err(EnqueueError::Full);
        }
        // Only enqueuers add, under the lock; the writer subtracts concurrently, so this
        // can only overestimate what is queued.
        let before = self.queued_bytes.load(Ordering::Acquire);
        if before > 0 && before.saturating_add(len) > self.max_bytes {
            return Err(EnqueueError::Full);
        }
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        queue.frames.push_back(frame);
        let first = queue.frames.len() == 1;
        drop(queue);
        if first {
            // The writer re-checks the queue after registering, so waking on the first frame
            // of a batch is enough.
            self.waker.wake();
        }
        Ok(())
    }

    /// Moves every queued frame into the (empty) `batch`, swapping allocations so a busy
    /// writer reuses them. False when nothing is queued: then both allocations are released,
    /// so an idle connection holds none.
    fn take(&self, batch: &mut VecDeque<Frame>) -> bool {
        let mut queue = self.lock();
        if queue.frames.is_empty() {
            queue.frames = VecDeque::new();
            drop(queue);
            *batch = VecDeque::new();
            return false;
        }
        std::mem::swap(&mut queue.frames, batch);
        true
    }

    /// Frames waiting now (not those the writer took).
    pub(crate) fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Refuses further frames (the connection is closing); returns those still queued.
    pub(crate) fn close(&self) -> VecDeque<Frame> {
        let mut queue = self.lock();
        queue.closed = true;
        std::mem::take(&mut queue.frames)
    }

    /// `len` bytes were handed to the socket.
    fn dequeued(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

/// The write side of a connection's task: the frames taken from the [`Outbox`] and not yet
/// handed to the socket, the rest of a message going out in fragments, and whether the
/// socket has unflushed frames. Polled by the connection task beside its reads
/// ([`super::connection`]), so one task per connection does both.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    batch: VecDeque<Frame>,
    /// Boxed: it is rare, and the writer lives in every idle connection's task.
    fragmenting: Option<Box<Fragmenting>>,
    unflushed: bool,
}

impl Writer {
    /// Writes what is queued: every frame taken (a long one fragment by fragment), then one
    /// flush, then the next batch. Pending when everything is written and flushed (the
    /// outbox wakes the task on the next frame) or while the socket is not ready; ready only
    /// with the socket's error.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        socket: &mut Socket,
        outbox: &Outbox,
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
                            outbox.dequeued(rest.bytes.len());
                            self.fragmenting = None;
                        }
                        message
                    }
                    None => {
                        let Some(frame) = self.batch.pop_front() else {
                            continue;
                        };
                        let len = frame.len();
                        let (message, rest) = start(frame);
                        // A fragmented frame counts against the byte budget until its last
                        // fragment is handed over.
                        match rest {
                            Some(rest) => self.fragmenting = Some(rest),
                            None => outbox.dequeued(len),
                        }
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
            if outbox.take(&mut self.batch) {
                continue;
            }
            outbox.waker.register(cx.waker());
            if outbox.lock().frames.is_empty() {
                return Poll::Pending;
            }
        }
    }

    /// The last words after the connection was closed with `reason`, within `close_timeout`
    /// (a peer that stopped reading cannot hold us): the backlog when the reason flushes it
    /// (the rest of a fragmented message first), `"primus::server::close"` when it says so,
    /// and a close frame. Refuses new frames.
    pub(crate) async fn finish(
        self,
        socket: &mut Socket,
        outbox: &Outbox,
        reason: CloseReason,
        close_timeout: Duration,
    ) {
        // Frames taken but not yet written when the close came go first.
        let mut backlog = self.batch;
        backlog.extend(outbox.close());
        let mut fragmenting = self.fragmenting;
        let _ = tokio::time::timeout(close_timeout, async {
            if reason == CloseReason::ClientClosed {
                // tungstenite already queued the answer to the client's close frame.
                return socket.flush().await;
            }
            if reason.flushes_backlog() {
                if let Some(rest) = &mut fragmenting {
                    while !rest.done() {
                        socket.feed(rest.next()).await?;
                    }
                }
                for frame in backlog {
                    outbox.dequeued(frame.len());
                    let (first, rest) = start(frame);
                    socket.feed(first).await?;
                    if let Some(mut rest) = rest {
                        while !rest.done() {
                            socket.feed(rest.next()).await?;
                        }
                    }
                }
            }
            // (Without the backlog, a message cut between fragments stays cut: the close
            // frame below is a control frame, which may come between fragments.)
            if reason.sends_server_close() {
                let text = String::from_utf8_lossy(&roost_wire::primus::encode_server_close())
                    .into_owned();
                socket.feed(Message::Text(text.into())).await?;
            }
            let frame = reason.close_code().map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::from_static(""),
            });
            socket.send(Message::Close(frame)).await
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Frame {
        Frame::from("x".repeat(len))
    }

    fn outbox(frames: usize, bytes: usize) -> Outbox {
        Outbox::new(frames, bytes)
    }

    #[test]
    fn an_idle_queue_holds_no_allocation() {
        let outbox = outbox(4, 1024);
        assert_eq!(outbox.lock().frames.capacity(), 0);
        outbox.enqueue(frame(10)).unwrap();
        outbox.enqueue(frame(10)).unwrap();
        assert!(outbox.lock().frames.capacity() > 0);
        let mut batch = VecDeque::new();
        assert!(outbox.take(&mut batch));
        assert_eq!(batch.len(), 2);
        assert!(outbox.lock().frames.is_empty());
        while let Some(f) = batch.pop_front() {
            outbox.dequeued(f.len());
        }
        // Drained and nothing new: both the queue and the writer's batch let go.
        assert!(!outbox.take(&mut batch));
        assert_eq!(batch.capacity(), 0);
        assert_eq!(outbox.lock().frames.capacity(), 0);
        assert_eq!(outbox.queued_bytes.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_long_frame_goes_out_in_fragments_of_its_own_bytes() {
        let text: String = (0..FRAGMENT_SIZE * 2 + 10)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let frame = Frame::from(text.clone());
        let shared = Bytes::from(frame.clone());
        let (first, rest) = start(frame);
        let mut rest = rest.unwrap();
        let mut messages = vec![first];
        while !rest.done() {
            messages.push(rest.next());
        }
        assert_eq!(messages.len(), 3);
        let mut joined = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let Message::Frame(fragment) = message else {
                panic!("fragment {i} is not a raw frame");
            };
            let header = fragment.header();
            assert_eq!(header.is_final, i == 2);
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            assert_eq!(header.opcode, OpCode::Data(opcode));
            let payload: &[u8] = fragment.payload();
            assert!(payload.len() <= FRAGMENT_SIZE);
            // A slice of the shared bytes, not a copy.
            assert!(shared.as_ptr_range().contains(&payload.as_ptr()));
            joined.extend_from_slice(payload);
        }
        assert_eq!(joined, text.as_bytes());
        let (whole, rest) = start(Frame::from("x".repeat(FRAGMENT_SIZE)));
        assert!(matches!(whole, Message::Text(_)) && rest.is_none());
    }

    #[test]
    fn the_frame_budget_is_enforced() {
        let outbox = outbox(3, 1 << 20);
        for _ in 0..3 {
            outbox.enqueue(frame(1)).unwrap();
        }
        assert_eq!(outbox.enqueue(frame(1)), Err(EnqueueError::Full));
        // Taken by the writer, the frames no longer count against the frame budget.
        let mut batch = VecDeque::new();
        assert!(outbox.take(&mut batch));
        outbox.enqueue(frame(1)).unwrap();
    }

    #[test]
    fn the_byte_budget_counts_frames_until_they_are_written() {
        let outbox = outbox(100, 100);
        // A single frame over the budget is accepted when nothing is queued…
        outbox.enqueue(frame(150)).unwrap();
        // …but nothing may join it.
        assert_eq!(outbox.enqueue(frame(1)), Err(EnqueueError::Full));
        let mut batch = VecDeque::new();
        assert!(outbox.take(&mut batch));
        // Taken but not yet written: still counted.
        assert_eq!(outbox.enqueue(frame(1)), Err(EnqueueError::Full));
        let f = batch.pop_front().unwrap();
        outbox.dequeued(f.len());
        outbox.enqueue(frame(60)).unwrap();
        outbox.enqueue(frame(40)).unwrap();
        assert_eq!(outbox.enqueue(frame(1)), Err(EnqueueError::Full));
    }

    #[test]
    fn a_closed_queue_refuses_and_hands_back_its_backlog() {
        let outbox = outbox(10, 1024);
        outbox.enqueue(frame(3)).unwrap();
        outbox.enqueue(frame(4)).unwrap();
        let backlog = outbox.close();
        assert_eq!(backlog.len(), 2);
        assert_eq!(outbox.enqueue(frame(1)), Err(EnqueueError::Closed));
    }

    #[tokio::test]
    async fn the_writer_wakes_on_the_first_frame() {
        let outbox = std::sync::Arc::new(outbox(10, 1024));
        let waiter = {
            let outbox = std::sync::Arc::clone(&outbox);
            tokio::spawn(async move {
                std::future::poll_fn(|cx| {
                    outbox.waker.register(cx.waker());
                    if outbox.lock().frames.is_empty() {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                })
                .await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        outbox.enqueue(frame(1)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
