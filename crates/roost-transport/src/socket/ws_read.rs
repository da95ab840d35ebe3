//! Reading a client's websocket, for Primus and Engine.IO alike: socket reads into a scratch
//! buffer on the stack, decoded by [`roost_wire::websocket`], each message handed to the
//! transport before the poll returns.
//!
//! # Memory
//! An idle connection's reader owns no heap memory: the bytes of a read are decoded and
//! acted on within the poll that read them, from a buffer on the polling thread's stack.
//! Only the start of a frame cut by the end of a read, and the fragments of an unfinished
//! message, are kept (by the decoder), and released once the message is delivered: a large
//! frame does not leave a grown buffer behind. (tungstenite kept a read buffer per
//! connection, allocated at the upgrade and grown for good by the largest frame.)

use roost_wire::websocket::{Decoder, Error as FrameError, Limits, Message};
use std::io;
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Most bytes one socket read takes (the stack buffer's size).
pub(crate) const MAX_READ: usize = 8 * 1024;

/// Why reading ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The client's stream broke a websocket rule, or a frame or message is over the
    /// limits ([`FrameError::TooLarge`]).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The socket ended (end of stream) or failed.
    #[error("socket closed: {0}")]
    Closed(io::Error),
}

impl ReadError {
    /// A frame or message over the limits.
    pub(crate) fn is_too_large(&self) -> bool {
        matches!(self, ReadError::Frame(FrameError::TooLarge { .. }))
    }

    /// The socket went away (rather than the client breaking a rule).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self, ReadError::Closed(_))
    }
}

/// One connection's read side: the decoder's state and, rarely, bytes read but not yet
/// decoded (when the transport stopped reading in the middle of a read).
#[derive(Debug)]
pub(crate) struct WsReader {
    decoder: Decoder,
    /// Read and not yet decoded: the transport stopped after a message (a close, the end of
    /// an upgrade's probe) and may read on. Empty (no allocation) otherwise.
    unread: Vec<u8>,
    /// Most bytes one socket read takes.
    read_size: u16,
}

impl WsReader {
    /// A reader refusing frames and messages over `limits`, taking at most `read_size` bytes
    /// (at most [`MAX_READ`]) per socket read.
    pub(crate) fn new(limits: Limits, read_size: usize) -> Self {
        WsReader {
            decoder: Decoder::new(limits),
            unread: Vec::new(),
            read_size: read_size.clamp(1, MAX_READ) as u16,
        }
    }

    /// Heap bytes held (the start of a frame, fragments, unread bytes); 0 while idle.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.decoder.held() + self.unread.capacity()
    }

    /// Reads once from `io` and hands each message the read completed to `on_message`, in
    /// order. `Ready(Ok(None))` when the read was handled whole (poll again to read on),
    /// `Ready(Ok(Some(b)))` when `on_message` stopped with `b` (the rest of the read is kept
    /// for the next poll), `Pending` when the socket has nothing, `Ready(Err)` at the end of
    /// the stream, a socket error or a broken rule.
    pub(crate) fn poll_read<R, B>(
        &mut self,
        cx: &mut Context<'_>,
        io: Pin<&mut R>,
        mut on_message: impl FnMut(Message<'_>) -> ControlFlow<B>,
    ) -> Poll<Result<Option<B>, ReadError>>
    where
        R: AsyncRead + ?Sized,
    {
        if !self.unread.is_empty() {
            let mut unread = std::mem::take(&mut self.unread);
            let stopped = feed(&mut self.decoder, &mut unread, &mut on_message)?;
            if let Some((b, at)) = stopped {
                self.unread = unread.split_off(at);
                return Poll::Ready(Ok(Some(b)));
            }
            return Poll::Ready(Ok(None));
        }
        // Uninitialised: nothing to clear at each poll; only what the read filled is used.
        let mut scratch = [MaybeUninit::<u8>::uninit(); MAX_READ];
        let mut buf = ReadBuf::uninit(&mut scratch[..usize::from(self.read_size)]);
        let mut io = io;
        loop {
            match io.as_mut().poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(ReadError::Closed(e))),
                Poll::Ready(Ok(())) => break,
            }
        }
        let read = buf.filled_mut();
        if read.is_empty() {
            return Poll::Ready(Err(ReadError::Closed(io::ErrorKind::UnexpectedEof.into())));
        }
        match feed(&mut self.decoder, read, &mut on_message)? {
            Some((b, at)) => {
                self.unread = read[at..].to_vec();
                Poll::Ready(Ok(Some(b)))
            }
            None => Poll::Ready(Ok(None)),
        }
    }
}

/// Decodes all of `bytes`, handing each message to `on_message`; where it stopped, if it
/// did (what it returned and how far the bytes were used).
fn feed<B>(
    decoder: &mut Decoder,
    bytes: &mut [u8],
    on_message: &mut impl FnMut(Message<'_>) -> ControlFlow<B>,
) -> Result<Option<(B, usize)>, FrameError> {
    let mut at = 0;
    loop {
        let (used, message) = decoder.decode(&mut bytes[at..])?;
        at += used;
        match message {
            Some(message) => {
                if let ControlFlow::Break(b) = on_message(message) {
                    // Lets the decoder release the message's buffers.
                    decoder.decode(&mut [])?;
                    return Ok(Some((b, at)));
                }
            }
            // Everything used, and what the last message held released.
            None => return Ok(None),
        }
    }
}

/// A server (unmasked) control frame: `opcode` with `payload` (at most 125 bytes, as the
/// client's ping was).
fn control_frame(opcode: u8, payload: &[u8]) -> bytes::Bytes {
    let len = payload.len().min(125);
    let mut out = Vec::with_capacity(2 + len);
    out.push(0x80 | opcode);
    out.push(len as u8);
    out.extend_from_slice(&payload[..len]);
    bytes::Bytes::from(out)
}

/// The pong answering a ping with `payload` (RFC 6455 §5.5.3).
pub(crate) fn pong(payload: &[u8]) -> bytes::Bytes {
    control_frame(0xA, payload)
}

/// The close frame answering a client's close (RFC 6455 §5.5.1): its code echoed (the
/// reason left out), or no body when it had none.
pub(crate) fn close_reply(code: Option<u16>) -> bytes::Bytes {
    match code {
        Some(code) => control_frame(0x8, &code.to_be_bytes()),
        None => control_frame(0x8, &[]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9, 8, 7, 6];
        let mut out = vec![0x80 | opcode];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    /// Reads everything `io` has into owned messages (text as `Ok`, others as their
    /// opcode), stopping at a close.
    async fn read_all(
        reader: &mut WsReader,
        io: &mut (impl AsyncRead + Unpin),
    ) -> (Vec<String>, Option<ReadError>) {
        let mut out = Vec::new();
        loop {
            let step = std::future::poll_fn(|cx| {
                reader.poll_read(cx, Pin::new(&mut *io), |m| {
                    match m {
                        Message::Text(t) => out.push(t.to_owned()),
                        Message::Binary(b) => out.push(format!("binary {}", b.len())),
                        Message::Ping(p) => out.push(format!("ping {}", p.len())),
                        Message::Pong(_) => out.push("pong".into()),
                        Message::Close(c) => return ControlFlow::Break(c.map(|c| c.0)),
                    }
                    ControlFlow::Continue(())
                })
            })
            .await;
            match step {
                Ok(None) => {}
                Ok(Some(code)) => {
                    out.push(format!("close {code:?}"));
                    return (out, None);
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn messages_across_reads_and_nothing_held_after() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut bytes = masked(0x1, b"hello");
        bytes.extend(masked(0x9, b"p"));
        bytes.extend(masked(0x2, &[0; 20_000]));
        bytes.extend(masked(0x1, "é".repeat(5000).as_bytes()));
        bytes.extend(masked(0x8, &1000u16.to_be_bytes()));
        bytes.extend(masked(0x1, b"after"));
        client.write_all(&bytes).await.unwrap();
        let mut reader = WsReader::new(Limits::default(), 1024);
        let (got, error) = read_all(&mut reader, &mut server).await;
        assert!(error.is_none());
        assert_eq!(got[..3], ["hello", "ping 1", "binary 20000"]);
        assert_eq!(got[3], "é".repeat(5000));
        assert_eq!(got[4], "close Some(1000)");
        // What followed the close in the same read is kept, and read next.
        drop(client);
        let (got, error) = read_all(&mut reader, &mut server).await;
        assert_eq!(got, ["after"]);
        assert!(error.unwrap().is_closed());
        assert_eq!(reader.held(), 0);
    }

    #[tokio::test]
    async fn limits_and_rules_end_the_read() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(&masked(0x1, &[b'a'; 101])).await.unwrap();
        let limits = Limits {
            max_frame_size: Some(100),
            max_message_size: Some(100),
        };
        let mut reader = WsReader::new(limits, 4096);
        let (_, error) = read_all(&mut reader, &mut server).await;
        assert!(error.unwrap().is_too_large());

        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&[0x81, 0x01, b'x']).await.unwrap();
        let mut reader = WsReader::new(Limits::default(), 4096);
        let (_, error) = read_all(&mut reader, &mut server).await;
        let error = error.unwrap();
        assert!(!error.is_too_large() && !error.is_closed(), "{error}");
    }

    #[test]
    fn control_frames_are_unmasked_and_whole() {
        assert_eq!(&pong(b"ab")[..], &[0x8A, 2, b'a', b'b']);
        assert_eq!(&close_reply(None)[..], &[0x88, 0]);
        assert_eq!(&close_reply(Some(1001))[..], &[0x88, 2, 0x03, 0xE9]);
    }
}
