//! Roost's own websocket reader on the wire, for Primus and Socket.IO alike: a ping is
//! answered with a pong of the same payload, a client's close with a close frame echoing its
//! code, a frame that breaks RFC 6455 closes the connection as a protocol error, and a
//! message over the limit as too large (1009). Raw sockets, so every byte is the test's.
#![allow(clippy::unwrap_used)]

mod common;
mod raw_ws;
mod sio_client;

use roost_transport::primus::CloseReason;
use roost_transport::{PrimusConfig, SocketIoConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A masked client frame (key 1,2,3,4) of `first` (FIN and opcode) and `payload`.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_ws::client_frame(first, [1, 2, 3, 4], payload)
}

/// The next frame from the server: first byte and payload; `None` at the end of the stream.
async fn next_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let b0 = s.read_u8().await.ok()?;
        let b1 = s.read_u8().await.ok()?;
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let len = match b1 & 0x7f {
            126 => u64::from(s.read_u16().await.ok()?),
            127 => s.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0; usize::try_from(len).unwrap()];
        s.read_exact(&mut payload).await.ok()?;
        Some((b0, payload))
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap()
}

/// Frames until the close frame (its payload), skipping data frames.
async fn close_payload(s: &mut TcpStream) -> Vec<u8> {
    loop {
        let (b0, payload) = next_frame(s).await.expect("a close frame");
        if b0 == 0x88 {
            return payload;
        }
    }
}

async fn primus(config: PrimusConfig) -> (SocketAddr, roost_transport::Primus, TcpStream) {
    let (addr, primus) = common::start_with(common::app(), config, None).await;
    let s = raw_ws::connect(addr, "/primus").await;
    sio_client::eventually("open", || primus.connection_count() == 1).await;
    (addr, primus, s)
}

fn quiet() -> PrimusConfig {
    PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    }
}

#[tokio::test]
async fn primus_answers_pings_and_echoes_a_close() {
    let (_, primus, mut s) = primus(quiet()).await;
    // A ping cut in two writes, then a call: the pong comes first, in order.
    let ping = frame(0x89, b"are you there");
    s.write_all(&ping[..3]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(&ping[3..]).await.unwrap();
    let call = br#"{"type":0,"data":["get","echo",["x"]],"id":1}"#;
    s.write_all(&frame(0x81, call)).await.unwrap();
    assert_eq!(
        next_frame(&mut s).await,
        Some((0x8A, b"are you there".to_vec()))
    );
    let (b0, ack) = next_frame(&mut s).await.unwrap();
    assert_eq!(b0, 0x81);
    assert!(String::from_utf8(ack).unwrap().contains(r#""id":1"#));
    // A close with a code and a reason: the code comes back, then the stream ends.
    let mut close = 1001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"going away");
    s.write_all(&frame(0x88, &close)).await.unwrap();
    assert_eq!(close_payload(&mut s).await, 1001u16.to_be_bytes());
    assert_eq!(next_frame(&mut s).await, None);
    sio_client::eventually("closed", || primus.connection_count() == 0).await;
    assert_eq!(primus.metrics().closes(CloseReason::ClientClosed), 1);
}

#[tokio::test]
async fn primus_closes_on_a_broken_rule_as_a_protocol_error() {
    let broken: [(&str, Vec<u8>); 5] = [
        ("rsv bit", {
            let mut f = frame(0x81, b"x");
            f[0] |= 0x40;
            f
        }),
        ("reserved opcode", frame(0x83, b"")),
        ("unmasked", vec![0x81, 0x01, b'x']),
        ("text not utf-8", frame(0x81, &[0xff])),
        ("close code 1005", frame(0x88, &1005u16.to_be_bytes())),
    ];
    for (what, bytes) in broken {
        let (_, primus, mut s) = primus(quiet()).await;
        s.write_all(&bytes).await.unwrap();
        // "primus::server::close" then a close frame without status.
        let (b0, text) = next_frame(&mut s).await.unwrap();
        assert_eq!(b0, 0x81, "{what}");
        assert!(
            String::from_utf8(text)
                .unwrap()
                .contains("primus::server::close"),
            "{what}"
        );
        assert_eq!(close_payload(&mut s).await, b"", "{what}");
        sio_client::eventually("counted", || {
            primus.metrics().closes(CloseReason::ProtocolError) == 1
        })
        .await;
    }
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_from_its_header() {
    let (_, primus, mut s) = primus(PrimusConfig {
        max_frame_size: 1000,
        ..quiet()
    })
    .await;
    // Only the header of a 1 MB frame: refused before its payload arrives.
    let header = &frame(0x82, &vec![0; 1 << 20])[..14];
    s.write_all(header).await.unwrap();
    assert_eq!(close_payload(&mut s).await, 1009u16.to_be_bytes());
    sio_client::eventually("counted", || {
        primus.metrics().closes(CloseReason::FrameTooLarge) == 1
    })
    .await;
    // Fragments adding up to more than the limit, too.
    let (_, primus, mut s) = self::primus(PrimusConfig {
        max_frame_size: 1000,
        ..quiet()
    })
    .await;
    s.write_all(&frame(0x01, &[b'a'; 600])).await.unwrap();
    s.write_all(&frame(0x80, &[b'a'; 600])).await.unwrap();
    assert_eq!(close_payload(&mut s).await, 1009u16.to_be_bytes());
    sio_client::eventually("counted", || {
        primus.metrics().closes(CloseReason::FrameTooLarge) == 1
    })
    .await;
}

#[tokio::test]
async fn socketio_answers_pings_reads_fragments_and_echoes_a_close() {
    let (addr, _primus, socketio) =
        sio_client::start(common::app(), SocketIoConfig::default()).await;
    let mut s = raw_ws::connect(addr, sio_client::WS_PATH).await;
    let (_, open) = next_frame(&mut s).await.unwrap();
    assert!(open.starts_with(b"0{"));
    // The namespace connect in two fragments with a ping between them.
    s.write_all(&frame(0x01, b"4")).await.unwrap();
    s.write_all(&frame(0x89, b"p")).await.unwrap();
    s.write_all(&frame(0x80, b"0")).await.unwrap();
    assert_eq!(next_frame(&mut s).await, Some((0x8A, b"p".to_vec())));
    let (b0, joined) = next_frame(&mut s).await.unwrap();
    assert_eq!(b0, 0x81);
    assert!(joined.starts_with(b"40"), "{joined:?}");
    sio_client::eventually("joined", || socketio.connection_count() == 1).await;
    s.write_all(&frame(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close_payload(&mut s).await, 1000u16.to_be_bytes());
    assert_eq!(next_frame(&mut s).await, None);
    sio_client::eventually("closed", || socketio.connection_count() == 0).await;
}

#[tokio::test]
async fn socketio_closes_a_message_over_max_payload_with_1009() {
    let (addr, _primus, socketio) = sio_client::start(
        common::app(),
        SocketIoConfig {
            max_payload: 1000,
            ..SocketIoConfig::default()
        },
    )
    .await;
    let mut s = raw_ws::connect(addr, sio_client::WS_PATH).await;
    next_frame(&mut s).await.unwrap();
    let header = &frame(0x81, &vec![b'4'; 5000])[..8];
    s.write_all(header).await.unwrap();
    // The close packet `1`, then the close frame.
    assert_eq!(close_payload(&mut s).await, 1009u16.to_be_bytes());
    sio_client::eventually("closed", || socketio.session_count() == 0).await;
}

#[tokio::test]
async fn socketio_writes_many_packets_in_order() {
    let (addr, _primus, socketio) =
        sio_client::start(common::app(), SocketIoConfig::default()).await;
    let mut s = raw_ws::connect(addr, sio_client::WS_PATH).await;
    next_frame(&mut s).await.unwrap();
    s.write_all(&frame(0x81, b"40")).await.unwrap();
    assert!(next_frame(&mut s).await.unwrap().1.starts_with(b"40"));
    sio_client::eventually("joined", || socketio.connection_count() == 1).await;
    // 200 calls in one write, short and long answers mixed: the acks come back whole, each
    // in its own frame (several per vectored write).
    let mut calls = Vec::new();
    for id in 0..200u32 {
        let arg = if id % 50 == 7 {
            "z".repeat(40_000)
        } else {
            id.to_string()
        };
        calls.extend(frame(
            0x81,
            format!(r#"42{id}["get","echo","{arg}"]"#).as_bytes(),
        ));
    }
    s.write_all(&calls).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 200 {
        // A long ack may come in fragments: joined here.
        let (b0, mut text) = next_frame(&mut s).await.unwrap();
        assert!(b0 == 0x81 || b0 == 0x01, "{b0:#x}");
        let mut fin = b0 & 0x80 != 0;
        while !fin {
            let (b0, more) = next_frame(&mut s).await.unwrap();
            assert_eq!(b0 & 0x0f, 0, "a continuation");
            fin = b0 & 0x80 != 0;
            text.extend(more);
        }
        let text = String::from_utf8(text).unwrap();
        let id: u32 = text[2..text.find('[').unwrap()].parse().unwrap();
        if id % 50 == 7 {
            assert_eq!(text.len(), 2 + id.to_string().len() + 40_000 + 9, "{id}");
        } else {
            assert_eq!(text, format!(r#"43{id}[null,"{id}"]"#));
        }
        seen.push(id);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}
