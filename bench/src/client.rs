//! One Primus client connection: TCP from a chosen 127.0.0.x source, the websocket upgrade
//! to `/primus` with small buffers, Feathers calls as emitter packets with ack ids, and the
//! heartbeat answer. Hot loops read frames themselves and sort them with [`classify`], which
//! looks at bytes without parsing JSON; setup paths use [`Conn::call`].

use futures_util::{SinkExt, StreamExt};
use roost_wire::primus::{self, AckId, Decoded};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// How long one connect, handshake or setup call may take.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection or a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("the server closed the connection")]
    Closed,
    #[error("call failed: {0}")]
    Call(Value),
    #[error("{0}")]
    Usage(String),
}

/// Where connections go, and the 127.0.0.x source addresses they come from (each source has
/// its own ~28,000 ephemeral ports towards one server port).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    sources: Vec<Ipv4Addr>,
}

impl Target {
    /// `addr` must be on 127.0.0.0/8: this tool sends traffic nowhere else. `sources` (≥ 1)
    /// source addresses 127.0.0.1, 127.0.0.2, … are used in turn.
    pub(crate) fn new(addr: SocketAddr, sources: u8) -> Result<Self, BenchError> {
        let IpAddr::V4(ip) = addr.ip() else {
            return Err(BenchError::Usage(format!("{addr}: only 127.0.0.x targets")));
        };
        if ip.octets()[0] != 127 {
            return Err(BenchError::Usage(format!("{addr}: only 127.0.0.x targets")));
        }
        let sources = (1..=sources.max(1))
            .map(|i| Ipv4Addr::new(127, 0, 0, i))
            .collect();
        Ok(Target { addr, sources })
    }

    fn source(&self, n: usize) -> Option<Ipv4Addr> {
        if self.sources.len() <= 1 {
            return None;
        }
        Some(self.sources[n % self.sources.len()])
    }
}

/// A frame as the hot loops see it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// `"primus::ping::<n>"` with the number, to be answered with a pong.
    Ping(&'a str),
    /// `"primus::server::close"`: the server ends this connection on purpose.
    ServerClose,
    /// An ACK: its id and whether the call succeeded (`data[0]` is `null`).
    Ack { id: u64, ok: bool },
    /// An EVENT (service event or custom event).
    Event,
    /// Anything else.
    Other,
}

/// Sorts a text frame from the server without a JSON parse. Both servers write acks as
/// `{"id":N,"type":1,"data":[…]}`; any other ack layout goes through the real decoder.
pub(crate) fn classify(text: &str) -> Frame<'_> {
    if let Some(rest) = text.strip_prefix("\"primus::ping::") {
        return Frame::Ping(rest.trim_end_matches('"'));
    }
    if text.starts_with("\"primus::server::close\"") {
        return Frame::ServerClose;
    }
    if text.starts_with("{\"type\":0,") {
        return Frame::Event;
    }
    if let Some(rest) = text.strip_prefix("{\"id\":") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let (Ok(id), Some(after)) = (
            rest[..digits].parse::<u64>(),
            rest[digits..].strip_prefix(",\"type\":1,\"data\":["),
        ) {
            return Frame::Ack {
                id,
                ok: after.starts_with("null"),
            };
        }
    }
    match primus::decode(text.as_bytes()) {
        Ok(Decoded::Message(primus::Message::Ack { id, args })) => match id.as_number().as_u64() {
            Some(id) => Frame::Ack {
                id,
                ok: args.first().is_some_and(Value::is_null),
            },
            None => Frame::Other,
        },
        Ok(Decoded::Message(primus::Message::Event { .. })) => Frame::Event,
        _ => Frame::Other,
    }
}

/// The pong for a ping number.
pub(crate) fn pong(number: &str) -> Message {
    Message::text(format!("\"{}{number}\"", primus::PONG_PREFIX))
}

/// One open Primus connection.
pub(crate) struct Conn {
    pub(crate) ws: WebSocketStream<TcpStream>,
    next_id: u64,
}

impl Conn {
    /// Connects connection number `n` (which picks its source address) and upgrades it.
    pub(crate) async fn open(target: &Target, n: usize) -> Result<Conn, BenchError> {
        tokio::time::timeout(SETUP_TIMEOUT, Self::open_now(target, n))
            .await
            .map_err(|_| BenchError::Timeout("connect"))?
    }

    async fn open_now(target: &Target, n: usize) -> Result<Conn, BenchError> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = target.source(n) {
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        }
        let stream = socket.connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}/primus?_primuscb=rb{n}", target.addr);
        // Small buffers, as the server uses: 10,000 clients fit in a few tens of MiB.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config)).await?;
        Ok(Conn { ws, next_id: 1 })
    }

    /// A fresh ack id.
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one frame.
    pub(crate) async fn send(&mut self, bytes: Vec<u8>) -> Result<(), BenchError> {
        let text = String::from_utf8(bytes)
            .map_err(|_| BenchError::Usage("encoded frame is not UTF-8".to_owned()))?;
        self.ws.send(Message::Text(Utf8Bytes::from(text))).await?;
        Ok(())
    }

    /// Calls `method` on `path` with `args` and waits for its ack, answering pings and
    /// skipping events meanwhile: the result, or the error JSON as [`BenchError::Call`].
    pub(crate) async fn call(
        &mut self,
        method: &str,
        path: &str,
        args: &[Value],
    ) -> Result<Value, BenchError> {
        let id = self.next_id();
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(path.to_owned()));
        data.extend_from_slice(args);
        self.send(primus::encode_call(method, &data, &AckId::from(id)))
            .await?;
        tokio::time::timeout(SETUP_TIMEOUT, self.wait_ack(id))
            .await
            .map_err(|_| BenchError::Timeout("call"))?
    }

    async fn wait_ack(&mut self, id: u64) -> Result<Value, BenchError> {
        loop {
            let text = match self.ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => return Err(BenchError::Closed),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            };
            if let Frame::Ping(n) = classify(&text) {
                self.ws.send(pong(n)).await?;
                continue;
            }
            if let Ok(Decoded::Message(primus::Message::Ack { id: got, mut args })) =
                primus::decode(text.as_bytes())
            {
                if got.as_number().as_u64() != Some(id) {
                    continue;
                }
                return match args.first() {
                    Some(Value::Null) if args.len() > 1 => Ok(args.swap_remove(1)),
                    Some(Value::Null) => Ok(Value::Null),
                    _ => Err(BenchError::Call(
                        args.into_iter().next().unwrap_or_default(),
                    )),
                };
            }
        }
    }

    /// Closes like `primus.end()` (close frame, then wait briefly for the server's answer),
    /// or, with `abrupt`, just drops the TCP connection.
    pub(crate) async fn close(mut self, abrupt: bool) {
        if abrupt {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if self.ws.close(None).await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_sorted_without_json() {
        assert_eq!(
            classify("\"primus::ping::1795541829604\""),
            Frame::Ping("1795541829604")
        );
        assert_eq!(classify("\"primus::server::close\""), Frame::ServerClose);
        assert_eq!(
            classify(r#"{"id":18,"type":1,"data":[null,{"text":"x"}]}"#),
            Frame::Ack { id: 18, ok: true }
        );
        assert_eq!(
            classify(r#"{"id":19,"type":1,"data":[{"name":"NotFound","code":404}]}"#),
            Frame::Ack { id: 19, ok: false }
        );
        assert_eq!(
            classify(r#"{"type":0,"data":["messages created",{"text":"x"}]}"#),
            Frame::Event
        );
        assert_eq!(classify("\"hello\""), Frame::Other);
        assert_eq!(classify("not json"), Frame::Other);
    }

    #[test]
    fn other_ack_layouts_go_through_the_decoder() {
        assert_eq!(
            classify(r#"{"type":1,"data":[null,1],"id":7}"#),
            Frame::Ack { id: 7, ok: true }
        );
        assert_eq!(
            classify(r#"{"type":1,"data":[null,1],"id":"7"}"#),
            Frame::Other
        );
    }

    #[test]
    fn pongs_echo_the_number() {
        assert_eq!(pong("12"), Message::text("\"primus::pong::12\""));
    }

    #[test]
    fn targets_stay_on_loopback() {
        assert!(Target::new("127.0.0.1:3030".parse().unwrap(), 1).is_ok());
        assert!(Target::new("10.0.0.1:3030".parse().unwrap(), 1).is_err());
        assert!(Target::new("[::1]:3030".parse().unwrap(), 1).is_err());
        let t = Target::new("127.0.0.1:3030".parse().unwrap(), 3).unwrap();
        assert_eq!(t.source(0), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(t.source(4), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(
            Target::new("127.0.0.1:1".parse().unwrap(), 1)
                .unwrap()
                .source(5),
            None
        );
    }
}
