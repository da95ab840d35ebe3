//! Websocket frames from a client (RFC 6455 §5), decoded in the server role: no I/O, the
//! caller hands in whatever bytes the socket gave and gets messages back.
//!
//! The rules, each a [`ProtocolError`] (close code 1002) unless it says otherwise:
//! - RSV1-3 must be 0 (no extension is negotiated); opcodes 3-7 and 0xB-0xF are reserved.
//! - Every client frame is masked (§5.1); the payload is unmasked in place.
//! - Lengths come in 7, 16 or 64 bits; a longer encoding than needed is accepted (as
//!   tungstenite accepted it), a 64-bit length with its top bit set is not.
//! - Control frames (close, ping, pong) carry at most 125 bytes and are never fragmented;
//!   they may arrive between the fragments of a message.
//! - A message is one final text/binary frame, or a non-final one followed by continuation
//!   frames up to a final one; a continuation outside a message, or a new text/binary frame
//!   inside one, is an error.
//! - A text message is UTF-8 (checked on the whole message: a character may span fragments).
//! - A close frame holds nothing, or a code (1000-1003, 1007-1014, 3000-4999) and a UTF-8
//!   reason.
//! - A frame whose payload is over [`Limits::max_frame_size`], or a message over
//!   [`Limits::max_message_size`], is refused from its header alone: [`Error::TooLarge`]
//!   (close code 1009), before any of its payload is buffered.
//!
//! # Memory
//! A frame that arrives whole in the caller's bytes is delivered from them (unmasked in
//! place): nothing is copied. Only the rest of a frame cut by the end of a read, and the
//! fragments of a message not yet final, are kept, in buffers released (capacity 0) once the
//! message is delivered. An idle decoder owns no heap memory.
//!
//! ```
//! use roost_wire::websocket::{Decoder, Limits, Message};
//!
//! let mut decoder = Decoder::new(Limits::default());
//! // A masked text frame "hi" (mask 1,2,3,4), in two reads.
//! let mut frame = vec![0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
//! let (first, rest) = frame.split_at_mut(5);
//! assert_eq!(decoder.decode(first).unwrap(), (5, None));
//! assert_eq!(decoder.decode(rest).unwrap(), (3, Some(Message::Text("hi"))));
//! assert_eq!(decoder.decode(&mut []).unwrap(), (0, None));
//! assert!(decoder.is_idle());
//! ```

use thiserror::Error;

/// Sizes a decoder accepts (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame.
    pub max_frame_size: Option<usize>,
    /// Largest message (the payloads of its frames together).
    pub max_message_size: Option<usize>,
}

impl Default for Limits {
    /// tungstenite's defaults: 16 MiB frames, 64 MiB messages.
    fn default() -> Self {
        Limits {
            max_frame_size: Some(16 << 20),
            max_message_size: Some(64 << 20),
        }
    }
}

/// Why the bytes are not a websocket stream a server can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Error {
    /// A frame or message over the limits (close code 1009).
    #[error("websocket {what} of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// `"frame"` or `"message"`.
        what: &'static str,
        /// Its size, as far as known from the headers.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A rule of RFC 6455 broken (close code 1002; 1007 would fit bad UTF-8 too, but the
    /// transports close every protocol error alike).
    #[error("websocket protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

impl Error {
    /// The close code the error calls for.
    pub fn close_code(&self) -> u16 {
        match self {
            Error::TooLarge { .. } => 1009,
            Error::Protocol(_) => 1002,
        }
    }
}

/// The rule a frame broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 set without an extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A client frame without a mask.
    #[error("unmasked client frame")]
    Unmasked,
    /// A 64-bit length with its most significant bit set.
    #[error("64-bit length with the top bit set")]
    LengthTopBit,
    /// A control frame over 125 bytes.
    #[error("control frame of {0} bytes")]
    ControlTooLong(u64),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    ControlFragmented,
    /// A continuation frame with no message to continue.
    #[error("continuation frame outside a message")]
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message is unfinished.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A text message that is not UTF-8.
    #[error("text message is not UTF-8")]
    InvalidUtf8,
    /// A close frame of one byte (half a code).
    #[error("close frame of one byte")]
    CloseTooShort,
    /// A close code an endpoint may not send.
    #[error("close code {0} not allowed")]
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8.
    #[error("close reason is not UTF-8")]
    InvalidCloseReason,
}

/// One message (or control frame) from the client, borrowed from the bytes it came in or
/// from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping (the server answers with a pong of the same payload).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: its code and reason when it has a body.
    Close(Option<(u16, &'a str)>),
}

/// The FIN bit of a frame's first byte: the last frame of a message.
pub const FIN: u8 = 0x80;
/// Opcodes (RFC 6455 §5.2).
pub const CONTINUATION: u8 = 0x0;
/// A text frame (UTF-8).
pub const TEXT: u8 = 0x1;
/// A binary frame.
pub const BINARY: u8 = 0x2;
/// A close frame.
pub const CLOSE: u8 = 0x8;
/// A ping.
pub const PING: u8 = 0x9;
/// A pong.
pub const PONG: u8 = 0xA;

/// The header of an unmasked (server to client) frame: `first` (FIN and opcode) and the
/// payload length in its shortest encoding. Returns the bytes and how many of them are used
/// (2, 4 or 10), so a writer keeps the header on the stack.
///
/// ```
/// use roost_wire::websocket::{server_header, FIN, TEXT};
/// let (head, len) = server_header(FIN | TEXT, 300);
/// assert_eq!(&head[..len], &[0x81, 126, 1, 44]);
/// ```
pub fn server_header(first: u8, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = first;
    let used = if len < 126 {
        head[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        head[1] = 126;
        head[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (head, used)
}

/// Largest payload of a control frame.
const MAX_CONTROL: u64 = 125;

/// A frame header, read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN.
    pub fin: bool,
    /// The opcode (one of the six RFC 6455 defines).
    pub opcode: u8,
    /// The masking key.
    pub mask: [u8; 4],
    /// Payload length.
    pub len: u64,
    /// Bytes of the header itself (2 to 14).
    pub header_len: usize,
}

impl Header {
    /// The header at the start of `bytes`: `Ok(None)` when more bytes are needed; an error
    /// as soon as the bytes present break a rule that does not depend on the state.
    pub fn parse(bytes: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let [first, second, ..] = *bytes else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
            return Err(ProtocolError::ReservedOpcode(opcode));
        }
        if second & 0x80 == 0 {
            return Err(ProtocolError::Unmasked);
        }
        let control = opcode & 0x8 != 0;
        if control && !fin {
            return Err(ProtocolError::ControlFragmented);
        }
        let short = second & 0x7F;
        let extra = match short {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + extra + 4;
        if bytes.len() < header_len {
            // The length's first byte alone tells a 64-bit length with its top bit set.
            if extra == 8 && bytes.len() > 2 && bytes[2] & 0x80 != 0 {
                return Err(ProtocolError::LengthTopBit);
            }
            return Ok(None);
        }
        let len = match extra {
            2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            8 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&bytes[2..10]);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBit);
                }
                len
            }
            _ => u64::from(short),
        };
        if control && len > MAX_CONTROL {
            return Err(ProtocolError::ControlTooLong(len));
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&bytes[2 + extra..header_len]);
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            len,
            header_len,
        }))
    }
}

/// XORs `payload` with `mask` (RFC 6455 §5.3), the payload starting at offset 0.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// Whether a client may send close `code` (RFC 6455 §7.4).
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's payload (unmasked): `None` when empty, else its code and reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseTooShort),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !close_code_allowed(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason =
                std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Where the frame just completed lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// In the caller's bytes, at this range.
    Input(usize, usize),
    /// In `partial`, after its header.
    Partial(usize),
}

/// A client's websocket stream, frame by frame: what is left of a frame cut by the end of a
/// read, and the message being assembled from fragments.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// The start of a frame (header and payload, still masked) whose end has not arrived.
    partial: Vec<u8>,
    /// The header of the frame in `partial`, once it is whole.
    partial_header: Option<Header>,
    /// The unmasked payloads of a fragmented message so far.
    message: Vec<u8>,
    /// The opcode (text or binary) of the fragmented message in progress.
    fragmented: Option<u8>,
    /// `partial` or `message` held the message last delivered: released at the next call.
    release: bool,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// True when no frame or message is in progress and nothing is held: the decoder owns no
    /// heap memory.
    pub fn is_idle(&self) -> bool {
        self.partial.capacity() == 0
            && self.message.capacity() == 0
            && self.fragmented.is_none()
            && self.partial_header.is_none()
    }

    /// Bytes held for a frame or message in progress (their capacity).
    pub fn held(&self) -> usize {
        self.partial.capacity() + self.message.capacity()
    }

    /// Decodes from the start of `input` (unmasking in place): how many bytes were used, and
    /// the message they completed, if any. Call it again with the rest of the input until it
    /// uses nothing and returns no message (a message borrows the decoder until then; the
    /// buffers it came from are released by that next call). Bytes used without a message are
    /// kept (a frame cut by the end of the input, or a fragment).
    ///
    /// After an error the stream is broken: the connection is closed, not read further.
    pub fn decode<'a>(
        &'a mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<Message<'a>>), Error> {
        if self.release {
            self.release = false;
            if self.partial_header.is_none() {
                self.partial = Vec::new();
            }
            if self.fragmented.is_none() {
                self.message = Vec::new();
            }
        }
        let mut used = 0;
        let (header, source) = loop {
            let Some((header, source)) = self.next_frame(input, &mut used)? else {
                return Ok((used, None));
            };
            if header.opcode & 0x8 != 0 || header.fin {
                break (header, source);
            }
            // A fragment of a message that is not final: kept with the message so far.
            let kind = match header.opcode {
                CONTINUATION => self
                    .fragmented
                    .ok_or(ProtocolError::UnexpectedContinuation)?,
                opcode => opcode,
            };
            self.fragmented = Some(kind);
            let payload: &mut [u8] = match source {
                Source::Input(start, end) => &mut input[start..end],
                Source::Partial(start) => &mut self.partial[start..],
            };
            unmask(payload, header.mask);
            self.message.extend_from_slice(payload);
            if let Source::Partial(_) = source {
                // Copied into the message: the frame's buffer goes now.
                self.partial = Vec::new();
            }
        };
        let payload: &mut [u8] = match source {
            Source::Input(start, end) => &mut input[start..end],
            Source::Partial(start) => {
                // Released at the next call, whatever the frame was.
                self.release = true;
                &mut self.partial[start..]
            }
        };
        unmask(payload, header.mask);
        let message = match header.opcode {
            CLOSE => Message::Close(parse_close(payload)?),
            PING => Message::Ping(payload),
            PONG => Message::Pong(payload),
            opcode => {
                let (kind, whole): (u8, &[u8]) = if opcode == CONTINUATION {
                    let kind = self
                        .fragmented
                        .take()
                        .ok_or(ProtocolError::UnexpectedContinuation)?;
                    self.message.extend_from_slice(payload);
                    self.release = true;
                    (kind, &self.message)
                } else {
                    (opcode, payload)
                };
                if kind == TEXT {
                    Message::Text(
                        std::str::from_utf8(whole).map_err(|_| ProtocolError::InvalidUtf8)?,
                    )
                } else {
                    Message::Binary(whole)
                }
            }
        };
        Ok((used, Some(message)))
    }

    /// The next whole frame from the kept bytes and `input[*used..]` (`used` moves past what
    /// it takes), checked: where its payload lies. `None` when the input ran out first (what
    /// it had is kept).
    fn next_frame(
        &mut self,
        input: &[u8],
        used: &mut usize,
    ) -> Result<Option<(Header, Source)>, Error> {
        if self.partial.is_empty() {
            let rest = &input[*used..];
            if rest.is_empty() {
                return Ok(None);
            }
            let Some(header) = Header::parse(rest)? else {
                self.partial.extend_from_slice(rest);
                *used = input.len();
                return Ok(None);
            };
            self.check(&header)?;
            let end = to_usize(header.len)
                .and_then(|len| len.checked_add(header.header_len))
                .filter(|end| *end <= rest.len());
            let Some(end) = end else {
                self.keep(&header, rest);
                *used = input.len();
                return Ok(None);
            };
            let source = Source::Input(*used + header.header_len, *used + end);
            *used += end;
            return Ok(Some((header, source)));
        }
        let header = match self.partial_header {
            Some(header) => header,
            None => {
                // The header itself was cut: complete it a byte at a time (at most 13 bytes,
                // once per frame cut there).
                loop {
                    if let Some(header) = Header::parse(&self.partial)? {
                        self.check(&header)?;
                        let kept = std::mem::take(&mut self.partial);
                        self.keep(&header, &kept);
                        break header;
                    }
                    let Some(byte) = input.get(*used) else {
                        return Ok(None);
                    };
                    self.partial.push(*byte);
                    *used += 1;
                }
            }
        };
        let total = to_usize(header.len)
            .and_then(|len| len.checked_add(header.header_len))
            .unwrap_or(usize::MAX);
        let missing = total.saturating_sub(self.partial.len());
        let take = missing.min(input.len() - *used);
        self.partial.extend_from_slice(&input[*used..*used + take]);
        *used += take;
        if self.partial.len() < total {
            return Ok(None);
        }
        self.partial_header = None;
        Ok(Some((header, Source::Partial(header.header_len))))
    }

    /// The checks of `header` that depend on the decoder: fragmentation and the limits.
    fn check(&self, header: &Header) -> Result<(), Error> {
        match header.opcode {
            CONTINUATION if self.fragmented.is_none() => {
                return Err(ProtocolError::UnexpectedContinuation.into())
            }
            TEXT | BINARY if self.fragmented.is_some() => {
                return Err(ProtocolError::ExpectedContinuation.into())
            }
            _ => {}
        }
        if let Some(max) = self.limits.max_frame_size {
            if header.len > max as u64 {
                return Err(Error::TooLarge {
                    what: "frame",
                    size: header.len,
                    max,
                });
            }
        }
        if header.opcode & 0x8 == 0 {
            if let Some(max) = self.limits.max_message_size {
                let size = (self.message.len() as u64).saturating_add(header.len);
                if size > max as u64 {
                    return Err(Error::TooLarge {
                        what: "message",
                        size,
                        max,
                    });
                }
            }
        }
        Ok(())
    }

    /// Keeps the start of a frame whose header is `header` (checked): room for all of it,
    /// which the limits bound.
    fn keep(&mut self, header: &Header, start: &[u8]) {
        let total = to_usize(header.len)
            .and_then(|len| len.checked_add(header.header_len))
            .unwrap_or(start.len());
        self.partial = Vec::with_capacity(total.max(start.len()));
        self.partial.extend_from_slice(start);
        self.partial_header = Some(*header);
        if header.opcode & 0x8 == 0 && !header.fin && self.message.capacity() == 0 {
            // The message's first fragment: it will need at least this much.
            self.message.reserve(to_usize(header.len).unwrap_or(0));
        }
    }
}

fn to_usize(len: u64) -> Option<usize> {
    usize::try_from(len).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&MASK);
        let mut body = payload.to_vec();
        unmask(&mut body, MASK);
        out.extend(body);
        out
    }

    /// What decoding `bytes` in chunks of `chunk` bytes yields, messages as owned values.
    fn decode_all(limits: Limits, bytes: &[u8], chunk: usize) -> Result<Vec<Owned>, Error> {
        let mut decoder = Decoder::new(limits);
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            let mut piece = piece.to_vec();
            let len = piece.len();
            let mut at = 0;
            loop {
                let (used, message) = decoder.decode(&mut piece[at..])?;
                at += used;
                match message {
                    Some(message) => out.push(Owned::from(message)),
                    None if at == len => break,
                    None => {}
                }
            }
        }
        let (used, message) = decoder.decode(&mut [])?;
        assert_eq!((used, message), (0, None));
        // Everything delivered: nothing held, unless a frame or message is unfinished.
        if decoder.fragmented.is_none() && decoder.partial.is_empty() {
            assert!(decoder.is_idle(), "{decoder:?}");
        }
        Ok(out)
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    impl From<Message<'_>> for Owned {
        fn from(message: Message<'_>) -> Self {
            match message {
                Message::Text(t) => Owned::Text(t.to_owned()),
                Message::Binary(b) => Owned::Binary(b.to_vec()),
                Message::Ping(b) => Owned::Ping(b.to_vec()),
                Message::Pong(b) => Owned::Pong(b.to_vec()),
                Message::Close(c) => Owned::Close(c.map(|(code, r)| (code, r.to_owned()))),
            }
        }
    }

    /// Decodes `bytes` whole and in every chunk size up to 20 (and a few larger), and checks
    /// every way gives the same answer.
    fn decode(bytes: &[u8]) -> Result<Vec<Owned>, Error> {
        decode_with(Limits::default(), bytes)
    }

    fn decode_with(limits: Limits, bytes: &[u8]) -> Result<Vec<Owned>, Error> {
        let whole = decode_all(limits, bytes, bytes.len());
        for chunk in (1..20).chain([100, 1000, 70_000]) {
            assert_eq!(
                decode_all(limits, bytes, chunk),
                whole,
                "in chunks of {chunk}"
            );
        }
        whole
    }

    fn protocol(e: ProtocolError) -> Result<Vec<Owned>, Error> {
        Err(Error::Protocol(e))
    }

    #[test]
    fn text_and_binary_messages_are_unmasked() {
        let mut bytes = frame(true, TEXT, b"hello");
        bytes.extend(frame(true, BINARY, &[0, 1, 2, 255]));
        bytes.extend(frame(true, TEXT, b""));
        assert_eq!(
            decode(&bytes),
            Ok(vec![
                Owned::Text("hello".into()),
                Owned::Binary(vec![0, 1, 2, 255]),
                Owned::Text(String::new())
            ])
        );
    }

    #[test]
    fn lengths_in_7_16_and_64_bits() {
        for len in [0, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = vec![b'a'; len];
            let bytes = frame(true, TEXT, &payload);
            let header_len = match len {
                0..=125 => 6,
                126..=65_535 => 8,
                _ => 14,
            };
            assert_eq!(bytes.len(), header_len + len);
            assert_eq!(
                decode_all(Limits::default(), &bytes, 7),
                Ok(vec![Owned::Text("a".repeat(len))])
            );
            assert_eq!(
                decode_all(Limits::default(), &bytes, bytes.len()),
                Ok(vec![Owned::Text("a".repeat(len))])
            );
        }
    }

    #[test]
    fn longer_length_encodings_than_needed_are_accepted() {
        // "hi" with a 16-bit length, then with a 64-bit one.
        let mut bytes = vec![0x81, 0x80 | 126, 0, 2, 0, 0, 0, 0, b'h', b'i'];
        bytes.extend([
            0x81,
            0x80 | 127,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            2,
            0,
            0,
            0,
            0,
            b'h',
            b'i',
        ]);
        assert_eq!(
            decode(&bytes),
            Ok(vec![Owned::Text("hi".into()), Owned::Text("hi".into())])
        );
    }

    #[test]
    fn a_64_bit_length_with_the_top_bit_set_is_refused() {
        let bytes = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        let none = Limits {
            max_frame_size: None,
            max_message_size: None,
        };
        assert_eq!(
            decode_with(none, &bytes),
            protocol(ProtocolError::LengthTopBit)
        );
    }

    #[test]
    fn reserved_bits_and_opcodes_are_refused() {
        for rsv in [0x40, 0x20, 0x10] {
            let mut bytes = frame(true, TEXT, b"x");
            bytes[0] |= rsv;
            assert_eq!(decode(&bytes), protocol(ProtocolError::ReservedBits));
        }
        for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let bytes = frame(true, opcode, b"x");
            assert_eq!(
                decode(&bytes),
                protocol(ProtocolError::ReservedOpcode(opcode))
            );
        }
    }

    #[test]
    fn an_unmasked_frame_is_refused() {
        assert_eq!(
            decode(&[0x81, 0x02, b'h', b'i']),
            protocol(ProtocolError::Unmasked)
        );
    }

    #[test]
    fn control_frames_are_short_and_whole() {
        let long = vec![0u8; 126];
        for opcode in [CLOSE, PING, PONG] {
            assert_eq!(
                decode(&frame(true, opcode, &long)),
                protocol(ProtocolError::ControlTooLong(126))
            );
            assert_eq!(
                decode(&frame(false, opcode, b"")),
                protocol(ProtocolError::ControlFragmented)
            );
        }
        let mut bytes = frame(true, PING, &[7; 125]);
        bytes.extend(frame(true, PONG, b"p"));
        assert_eq!(
            decode(&bytes),
            Ok(vec![Owned::Ping(vec![7; 125]), Owned::Pong(b"p".to_vec())])
        );
    }

    #[test]
    fn fragments_make_one_message_with_control_frames_between() {
        let mut bytes = frame(false, TEXT, "h€".as_bytes());
        bytes.extend(frame(true, PING, b"1"));
        bytes.extend(frame(false, CONTINUATION, b"llo"));
        bytes.extend(frame(false, CONTINUATION, b""));
        bytes.extend(frame(true, CONTINUATION, b"!"));
        bytes.extend(frame(false, BINARY, &[1]));
        bytes.extend(frame(true, CONTINUATION, &[2]));
        assert_eq!(
            decode(&bytes),
            Ok(vec![
                Owned::Ping(b"1".to_vec()),
                Owned::Text("h€llo!".into()),
                Owned::Binary(vec![1, 2]),
            ])
        );
    }

    #[test]
    fn a_character_may_span_fragments() {
        let euro = "€".as_bytes();
        let mut bytes = frame(false, TEXT, &euro[..1]);
        bytes.extend(frame(true, CONTINUATION, &euro[1..]));
        assert_eq!(decode(&bytes), Ok(vec![Owned::Text("€".into())]));
    }

    #[test]
    fn continuation_frames_belong_to_a_message() {
        assert_eq!(
            decode(&frame(true, CONTINUATION, b"x")),
            protocol(ProtocolError::UnexpectedContinuation)
        );
        let mut bytes = frame(false, TEXT, b"a");
        bytes.extend(frame(true, TEXT, b"b"));
        assert_eq!(
            decode(&bytes),
            protocol(ProtocolError::ExpectedContinuation)
        );
        let mut bytes = frame(false, BINARY, b"a");
        bytes.extend(frame(true, BINARY, b"b"));
        assert_eq!(
            decode(&bytes),
            protocol(ProtocolError::ExpectedContinuation)
        );
    }

    #[test]
    fn text_must_be_utf8() {
        assert_eq!(
            decode(&frame(true, TEXT, &[0xff, b'a'])),
            protocol(ProtocolError::InvalidUtf8)
        );
        let mut bytes = frame(false, TEXT, &[0xe2, 0x82]);
        bytes.extend(frame(true, CONTINUATION, b"a"));
        assert_eq!(decode(&bytes), protocol(ProtocolError::InvalidUtf8));
        // Binary is not checked.
        assert_eq!(
            decode(&frame(true, BINARY, &[0xff])),
            Ok(vec![Owned::Binary(vec![0xff])])
        );
    }

    #[test]
    fn close_frames_carry_an_allowed_code_and_a_utf8_reason() {
        assert_eq!(
            decode(&frame(true, CLOSE, b"")),
            Ok(vec![Owned::Close(None)])
        );
        let mut body = 1000u16.to_be_bytes().to_vec();
        body.extend_from_slice("bye €".as_bytes());
        assert_eq!(
            decode(&frame(true, CLOSE, &body)),
            Ok(vec![Owned::Close(Some((1000, "bye €".into())))])
        );
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert_eq!(
                decode(&frame(true, CLOSE, &u16::to_be_bytes(code))),
                Ok(vec![Owned::Close(Some((code, String::new())))]),
                "{code}"
            );
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(
                decode(&frame(true, CLOSE, &u16::to_be_bytes(code))),
                protocol(ProtocolError::InvalidCloseCode(code)),
                "{code}"
            );
        }
        assert_eq!(
            decode(&frame(true, CLOSE, &[3])),
            protocol(ProtocolError::CloseTooShort)
        );
        assert_eq!(
            decode(&frame(true, CLOSE, &[3, 232, 0xff])),
            protocol(ProtocolError::InvalidCloseReason)
        );
    }

    #[test]
    fn frame_and_message_limits_are_checked_from_the_header() {
        let limits = Limits {
            max_frame_size: Some(10),
            max_message_size: Some(15),
        };
        assert_eq!(
            decode_with(limits, &frame(true, TEXT, &[b'a'; 10])),
            Ok(vec![Owned::Text("a".repeat(10))])
        );
        let too_big = Err(Error::TooLarge {
            what: "frame",
            size: 11,
            max: 10,
        });
        assert_eq!(
            decode_with(limits, &frame(true, TEXT, &[b'a'; 11])),
            too_big
        );
        // Refused from the header alone: the payload never arrives.
        let header = &frame(true, BINARY, &[0; 1000])[..8];
        assert_eq!(
            decode_with(limits, header),
            Err(Error::TooLarge {
                what: "frame",
                size: 1000,
                max: 10
            })
        );
        let mut bytes = frame(false, TEXT, &[b'a'; 10]);
        bytes.extend(frame(true, CONTINUATION, &[b'a'; 5]));
        assert_eq!(
            decode_with(limits, &bytes),
            Ok(vec![Owned::Text("a".repeat(15))])
        );
        let mut bytes = frame(false, TEXT, &[b'a'; 10]);
        bytes.extend(frame(true, CONTINUATION, &[b'a'; 6]));
        assert_eq!(
            decode_with(limits, &bytes),
            Err(Error::TooLarge {
                what: "message",
                size: 16,
                max: 15
            })
        );
        assert_eq!(
            Error::TooLarge {
                what: "frame",
                size: 1,
                max: 0
            }
            .close_code(),
            1009
        );
        assert_eq!(Error::Protocol(ProtocolError::Unmasked).close_code(), 1002);
    }

    #[test]
    fn nothing_is_held_once_a_message_is_delivered() {
        let mut decoder = Decoder::new(Limits::default());
        let mut big = frame(true, TEXT, &[b'x'; 50_000]);
        let (first, second) = big.split_at_mut(1000);
        assert_eq!(decoder.decode(first).unwrap(), (1000, None));
        assert!(decoder.held() >= 50_000);
        let second_len = second.len();
        let (used, message) = decoder.decode(second).unwrap();
        assert_eq!(used, second_len);
        assert!(matches!(message, Some(Message::Text(t)) if t.len() == 50_000));
        assert_eq!(decoder.decode(&mut []).unwrap(), (0, None));
        assert!(decoder.is_idle());
        assert_eq!(decoder.held(), 0);
        // A fragmented message, the same.
        let mut bytes = frame(false, BINARY, &[1; 3000]);
        bytes.extend(frame(true, CONTINUATION, &[2; 3000]));
        let mut at = 0;
        let mut got = None;
        while at < bytes.len() {
            let (used, message) = decoder.decode(&mut bytes[at..]).unwrap();
            at += used;
            if let Some(Message::Binary(b)) = message {
                got = Some(b.len());
            }
        }
        assert_eq!(got, Some(6000));
        assert_eq!(decoder.decode(&mut []).unwrap(), (0, None));
        assert!(decoder.is_idle());
    }

    #[test]
    fn a_whole_frame_in_the_input_is_not_copied() {
        let mut decoder = Decoder::new(Limits::default());
        let mut bytes = frame(true, BINARY, &[9; 300]);
        let start = bytes.as_ptr() as usize;
        let (_, message) = decoder.decode(&mut bytes).unwrap();
        let Some(Message::Binary(payload)) = message else {
            panic!("binary");
        };
        assert_eq!(payload.as_ptr() as usize - start, 8);
        assert_eq!(decoder.held(), 0);
    }

    #[test]
    fn unmask_is_the_xor_at_any_length() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len as u8).collect();
            let mut masked = data.clone();
            unmask(&mut masked, MASK);
            for (i, byte) in masked.iter().enumerate() {
                assert_eq!(*byte, data[i] ^ MASK[i % 4]);
            }
        }
    }
}
