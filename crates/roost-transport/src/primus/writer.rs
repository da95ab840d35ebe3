//! The writer side of a connection: a bounded queue of encoded frames ([`Outbox`]) that anyone
//! may fill without waiting, and the one writer task per connection that drains it.
//!
//! Enqueueing never awaits: when the queue is full (in frames or in bytes) the caller gets
//! [`Full`] and closes the connection as a slow consumer. The writer waits for the first frame,
//! takes everything else already queued, writes it all and flushes once.

use super::metrics::CloseReason;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One encoded text frame. Clones share the bytes, so a fan-out encodes once.
pub(crate) type Frame = Utf8Bytes;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnqueueError {
    /// The queue is at its frame or byte limit: the connection is a slow consumer.
    Full,
    /// The writer is gone: the connection is closing.
    Closed,
}

/// The sending half of a connection's queue, with its byte budget and close signal.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Frame>,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    /// Cancelled once, by the close function; the reader and the writer stop on it.
    pub(crate) cancel: CancellationToken,
    /// Set by the close function before it cancels: how the writer finishes.
    pub(crate) reason: OnceLock<CloseReason>,
}

impl Outbox {
    /// A queue of at most `max_frames` frames and `max_bytes` bytes, and its receiver.
    pub(crate) fn new(
        max_frames: usize,
        max_bytes: usize,
        cancel: CancellationToken,
    ) -> (Self, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(max_frames.max(1));
        let outbox = Outbox {
            tx,
            queued_bytes: AtomicUsize::new(0),
            max_bytes,
            cancel,
            reason: OnceLock::new(),
        };
        (outbox, rx)
    }

    /// Queues `frame` without waiting. A frame alone may exceed the byte limit (a large call
    /// result must still go out); a frame that would push a non-empty queue past it may not.
    pub(crate) fn enqueue(&self, frame: Frame) -> Result<(), EnqueueError> {
        let len = frame.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(EnqueueError::Full);
        }
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => EnqueueError::Full,
                    mpsc::error::TrySendError::Closed(_) => EnqueueError::Closed,
                })
            }
        }
    }

    fn dequeued(&self, frame: &Frame) {
        self.queued_bytes.fetch_sub(frame.len(), Ordering::AcqRel);
    }
}

/// How the writer ended.
pub(crate) enum WriterExit {
    /// Cancelled by the close function.
    Closed,
    /// The socket refused a write: the caller closes the connection with `WriteError`.
    WriteFailed,
}

/// The writer task: owns the socket's write half until the connection ends.
pub(crate) async fn run_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Frame>,
    outbox: &Outbox,
    close_timeout: Duration,
) -> WriterExit {
    let mut batch: Vec<Frame> = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            () = outbox.cancel.cancelled() => break,
            frame = rx.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        batch.push(first);
        while let Ok(frame) = rx.try_recv() {
            batch.push(frame);
        }
        let write = async {
            for frame in batch.drain(..) {
                outbox.dequeued(&frame);
                sink.feed(Message::Text(frame)).await?;
            }
            sink.flush().await
        };
        let failed = tokio::select! {
            biased;
            () = outbox.cancel.cancelled() => break,
            result = write => result.is_err(),
        };
        if failed {
            return WriterExit::WriteFailed;
        }
    }
    let reason = outbox
        .reason
        .get()
        .copied()
        .unwrap_or(CloseReason::ClientClosed);
    // The last words, within a deadline: a peer that stopped reading cannot hold us.
    let _ = tokio::time::timeout(close_timeout, async {
        if reason == CloseReason::ClientClosed {
            // tungstenite already queued the answer to the client's close frame.
            return sink.flush().await;
        }
        if reason.flushes_backlog() {
            while let Ok(frame) = rx.try_recv() {
                outbox.dequeued(&frame);
                sink.feed(Message::Text(frame)).await?;
            }
        }
        if reason.sends_server_close() {
            let text =
                String::from_utf8_lossy(&roost_wire::primus::encode_server_close()).into_owned();
            sink.feed(Message::Text(text.into())).await?;
        }
        let frame = reason.close_code().map(|code| CloseFrame {
            code,
            reason: Utf8Bytes::from_static(""),
        });
        sink.send(Message::Close(frame)).await
    })
    .await;
    WriterExit::Closed
}
