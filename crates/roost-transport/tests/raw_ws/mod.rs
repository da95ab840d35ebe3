//! A raw websocket client for the memory tests: the handshake by hand, then frames read and
//! written on the TCP stream, so that a test decides exactly when a client reads (a client
//! that does not read makes the server's writes stall mid-message) and what the client keeps
//! (a message is counted in a small reused buffer, not stored).
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Completes a websocket handshake on `path` and returns the stream, unread beyond the `101`
/// answer.
pub async fn connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    stream
}

/// A client frame: `first` (FIN and opcode), then `payload` masked with `mask` as a client
/// must, with the shortest length encoding.
pub fn client_frame(first: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Sends one text frame, masked (with a zero key) as a client must.
pub async fn send_text(stream: &mut TcpStream, text: &str) {
    let frame = client_frame(0x81, [0; 4], text.as_bytes());
    stream.write_all(&frame).await.unwrap();
}

/// One data message as the client saw it: its length, its first bytes (up to the `keep`
/// asked for) and its last byte.
pub struct Seen {
    pub len: usize,
    pub head: Vec<u8>,
    pub last: u8,
}

/// Reads one data message (a server's frames are not masked), possibly in fragments, into
/// `buf` piece by piece. Control frames are skipped.
pub async fn read_message(stream: &mut TcpStream, buf: &mut [u8], keep: usize) -> Seen {
    let mut seen = Seen {
        len: 0,
        head: Vec::new(),
        last: 0,
    };
    loop {
        let b0 = stream.read_u8().await.unwrap();
        let b1 = stream.read_u8().await.unwrap();
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let mut len = u64::from(b1 & 0x7f);
        if len == 126 {
            len = u64::from(stream.read_u16().await.unwrap());
        } else if len == 127 {
            len = stream.read_u64().await.unwrap();
        }
        let opcode = b0 & 0x0f;
        let mut left = usize::try_from(len).unwrap();
        while left > 0 {
            let want = left.min(buf.len());
            let n = stream.read(&mut buf[..want]).await.unwrap();
            assert!(n > 0, "closed mid-frame");
            if opcode < 8 {
                let room = keep.saturating_sub(seen.head.len()).min(n);
                seen.head.extend_from_slice(&buf[..room]);
                seen.last = buf[n - 1];
                seen.len += n;
            }
            left -= n;
        }
        if opcode < 8 && b0 & 0x80 != 0 {
            return seen;
        }
    }
}

/// The highest reading of `read` over `window`, sampled every few milliseconds.
pub async fn peak_over(window: Duration, read: impl Fn() -> usize) -> usize {
    let end = Instant::now() + window;
    let mut peak = read();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
        peak = peak.max(read());
    }
    peak
}

/// [`read_message`], skipping Engine.IO pings (each answered with a pong): the next
/// Socket.IO packet.
pub async fn read_engineio(stream: &mut TcpStream, buf: &mut [u8], keep: usize) -> Seen {
    loop {
        let seen = read_message(stream, buf, keep).await;
        if seen.head == b"2" && seen.len == 1 {
            send_text(stream, "3").await;
            continue;
        }
        return seen;
    }
}

/// Reads one message on every stream at once ([`read_engineio`] when `engineio`, else
/// [`read_message`]), each into a 64 KiB buffer of its own; the streams come back with what
/// each saw, in order.
pub async fn read_each(
    streams: Vec<TcpStream>,
    keep: usize,
    engineio: bool,
) -> Vec<(TcpStream, Seen)> {
    let mut readers = Vec::new();
    for mut s in streams {
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let seen = if engineio {
                read_engineio(&mut s, &mut buf, keep).await
            } else {
                read_message(&mut s, &mut buf, keep).await
            };
            (s, seen)
        }));
    }
    let mut seen = Vec::new();
    for r in readers {
        seen.push(r.await.unwrap());
    }
    seen
}
