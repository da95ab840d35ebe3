//! One large event to many Primus connections costs one copy of its payload, not one per
//! connection, while it is on its way and after it arrived. In its own test binary, so the
//! live heap (counted exactly by a wrapping global allocator) reflects this test alone.
//!
//! The subscribers are raw websocket clients that complete the handshake and then read
//! nothing: the server's writes stall with the payload part-sent, which is when copies per
//! connection would all be alive at once. Then each reads the message, counting its bytes
//! in a small reused buffer, so the test's own side adds almost nothing to the heap.
#![allow(clippy::unwrap_used)]

mod common;
mod flood_kit;

use roost_core::json;
use roost_transport::{Primus, PrimusConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn live_kib() -> usize {
    flood_kit::live_kib(&HEAP)
}

const SUBSCRIBERS: usize = 32;
/// The large field of the event, in bytes.
const PAYLOAD: usize = 8 << 20;

/// Completes a websocket handshake on `/primus` and returns the stream, unread beyond the
/// `101` answer.
async fn raw_connect(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /primus HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    stream
}

/// Reads one data message (a server's frames are not masked), possibly in fragments, and
/// returns its length and its first and last bytes. Control frames are skipped.
async fn read_message(stream: &mut TcpStream, buf: &mut [u8]) -> (usize, u8, u8) {
    let mut total = 0usize;
    let (mut first, mut last) = (0u8, 0u8);
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
                if total == 0 {
                    first = buf[0];
                }
                last = buf[n - 1];
                total += n;
            }
            left -= n;
        }
        if opcode < 8 && b0 & 0x80 != 0 {
            return (total, first, last);
        }
    }
}

/// The live heap's highest reading over `window`, sampled every few milliseconds.
async fn peak_over(window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut peak = live_kib();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
        peak = peak.max(live_kib());
    }
    peak
}

#[tokio::test]
async fn one_large_event_to_many_connections_costs_one_payload() {
    let config = PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    };
    let (addr, primus): (SocketAddr, Primus) =
        common::start_with(common::app(), config, None).await;
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        subscribers.push(raw_connect(addr).await);
    }
    for _ in 0..500 {
        if primus.connection_count() == SUBSCRIBERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(primus.connection_count(), SUBSCRIBERS);
    let app = primus.app().clone();
    let event = |text: String| json!({"text": text});
    // Warm up: a small event through every connection (writers, buffers), read by all.
    app.deliver(app.send_to_all("big", event("w".into())).unwrap());
    let mut buf = vec![0u8; 64 * 1024];
    for s in &mut subscribers {
        read_message(s, &mut buf).await;
    }
    let wire_len = roost_wire::primus::encode_event("big", &event("x".repeat(PAYLOAD))).len();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let baseline = live_kib();

    let delivery = app.send_to_all("big", event("x".repeat(PAYLOAD))).unwrap();
    app.deliver(delivery);
    // The writers push what the sockets take, then wait for readers that do not read.
    let peak = peak_over(Duration::from_millis(700)).await;

    let mut readers = Vec::new();
    for mut s in subscribers {
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let got = read_message(&mut s, &mut buf).await;
            (s, got)
        }));
    }
    let mut subscribers = Vec::new();
    for r in readers {
        let (s, (len, first, last)) = r.await.unwrap();
        assert_eq!(len, wire_len, "every subscriber got the whole message");
        assert_eq!((first, last), (b'{', b'}'));
        subscribers.push(s);
    }
    // The last fragments were handed over; give the writers a moment to drop their clones.
    let mut after = live_kib();
    for _ in 0..100 {
        if after <= baseline + 4096 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = live_kib();
    }
    let payload_kib = PAYLOAD / 1024;
    println!(
        "live heap: {baseline} KiB before, peak {peak} KiB while {SUBSCRIBERS} connections \
         received a {payload_kib} KiB event, {after} KiB after"
    );
    // The event's JSON value and its one encoded frame (both about one payload), plus a
    // write buffer of a few fragments per connection. A copy per connection would be
    // SUBSCRIBERS payloads.
    assert!(
        peak <= baseline + 3 * payload_kib + SUBSCRIBERS * 128,
        "live heap {baseline} KiB → {peak} KiB for one {payload_kib} KiB event to \
         {SUBSCRIBERS} connections"
    );
    // Afterwards no connection keeps a message-sized buffer.
    assert!(
        after <= baseline + SUBSCRIBERS * 64 + 1024,
        "live heap {baseline} KiB → {after} KiB after the event was read"
    );
    drop(subscribers);
}
