//! One client connection, over Primus or Socket.IO ([`Transport`]): TCP from a chosen
//! 127.0.0.x source, the websocket upgrade with small buffers, Feathers calls with ack ids,
//! and the heartbeat answer. Hot loops read frames themselves and sort them with
//! [`Transport::classify`], which looks at bytes without parsing JSON; setup paths use
//! [`Conn::call`].
//!
//! - Primus: `GET /primus` upgraded to a websocket, primus-emitter packets
//!   (`{"type":0,"data":["create","messages",{…},{}],"id":1}`, acks
//!   `{"id":1,"type":1,"data":[err,result]}`), pings `"primus::ping::<n>"` answered with
//!   `"primus::pong::<n>"`.
//! - Socket.IO v5 over Engine.IO 4, websocket only (docs/protocol.md §13): `GET
//!   /socket.io/?EIO=4&transport=websocket` upgraded at once, the server's open packet
//!   `0{"sid":…}`, our namespace connect `40` answered `40{"sid":…}`; calls
//!   `42<id>["create","messages",{…},{}]`, acks `43<id>[err,result]`, events `42["…",…]`,
//!   pings `2` answered with `3`; leaving is `41` then the websocket close.

use futures_util::{SinkExt, StreamExt};
use roost_wire::primus::{self, AckId, Decoded};
use roost_wire::socketio;
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

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// Primus (websockets transformer) + primus-emitter, at `/primus`.
    #[default]
    Primus,
    /// Socket.IO v5 over Engine.IO 4, websocket only, at `/socket.io/`.
    Socketio,
}

impl Transport {
    /// Its name in the JSON line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Primus => "primus",
            Transport::Socketio => "socketio",
        }
    }

    /// The websocket URL of connection `n`.
    fn url(self, addr: SocketAddr, n: usize) -> String {
        match self {
            Transport::Primus => format!("ws://{addr}/primus?_primuscb=rb{n}"),
            Transport::Socketio => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        }
    }

    /// The first ack id a client uses (primus-emitter counts from 1, Socket.IO from 0).
    fn first_ack_id(self) -> u64 {
        match self {
            Transport::Primus => 1,
            Transport::Socketio => 0,
        }
    }

    /// Sorts a text frame from the server without a JSON parse.
    pub(crate) fn classify(self, text: &str) -> Frame<'_> {
        match self {
            Transport::Primus => classify(text),
            Transport::Socketio => classify_socketio(text),
        }
    }

    /// The answer to a [`Frame::Ping`].
    pub(crate) fn pong(self, number: &str) -> Message {
        match self {
            Transport::Primus => pong(number),
            Transport::Socketio => Message::text(format!("3{number}")),
        }
    }

    /// The frame calling `method` with `args` (the service path first) under ack `id`.
    pub(crate) fn encode_call(self, method: &str, args: &[Value], id: u64) -> String {
        match self {
            Transport::Primus => {
                let bytes = primus::encode_call(method, args, &AckId::from(id));
                // The encoder writes JSON, which is UTF-8.
                String::from_utf8(bytes).unwrap_or_default()
            }
            Transport::Socketio => encode_socketio_call(method, args, id),
        }
    }
}

/// `42<id>["<method>",…args]`: an Engine.IO message carrying a Socket.IO EVENT with an ack id.
pub(crate) fn encode_socketio_call(method: &str, args: &[Value], id: u64) -> String {
    let mut out = format!("42{id}[");
    out.push_str(&Value::String(method.to_owned()).to_string());
    for arg in args {
        out.push(',');
        out.push_str(&arg.to_string());
    }
    out.push(']');
    out
}

/// Sorts an Engine.IO / Socket.IO text frame without a JSON parse: `2…` Engine.IO ping, `1`
/// Engine.IO close or `41…` namespace disconnect, `43<id>[null…` / `43<id>[<error>…` acks,
/// `42…` events.
pub(crate) fn classify_socketio(text: &str) -> Frame<'_> {
    let bytes = text.as_bytes();
    match bytes {
        [b'2', ..] => Frame::Ping(&text[1..]),
        [b'1', ..] | [b'4', b'1', ..] => Frame::ServerClose,
        [b'4', b'2', ..] => Frame::Event,
        [b'4', b'3', ..] => {
            let rest = &text[2..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match (
                rest[..digits].parse::<u64>(),
                rest[digits..].strip_prefix('['),
            ) {
                (Ok(id), Some(after)) => Frame::Ack {
                    id,
                    ok: after.starts_with("null"),
                },
                _ => Frame::Other,
            }
        }
        _ => Frame::Other,
    }
}

/// What a Socket.IO frame from the server means during a connection's setup.
#[derive(Debug, PartialEq)]
pub(crate) enum SetupFrame {
    /// `0{…}`: the Engine.IO open packet.
    Open,
    /// `40{"sid":…}`: the namespace connect succeeded.
    Connected,
    /// `44{…}`: the namespace connect was refused (the error object).
    Refused(Value),
    /// `43<id>[…]`: an ack, parsed.
    Ack { id: u64, args: Vec<Value> },
    /// Anything else (pings are sorted by [`classify_socketio`] first).
    Other,
}

/// Parses a Socket.IO frame seen while setting a connection up.
pub(crate) fn parse_socketio_setup(text: &str) -> SetupFrame {
    if text.starts_with("0{") {
        return SetupFrame::Open;
    }
    let Some(packet) = text.strip_prefix('4') else {
        return SetupFrame::Other;
    };
    match socketio::parse(packet) {
        Ok(socketio::Packet {
            kind: socketio::PacketType::Connect,
            ..
        }) => SetupFrame::Connected,
        Ok(socketio::Packet {
            kind: socketio::PacketType::ConnectError,
            data,
            ..
        }) => SetupFrame::Refused(data.unwrap_or(Value::Null)),
        Ok(socketio::Packet {
            kind: socketio::PacketType::Ack,
            id: Some(id),
            data: Some(Value::Array(args)),
            ..
        }) => SetupFrame::Ack { id, args },
        _ => SetupFrame::Other,
    }
}

/// Where connections go, over which transport, and the 127.0.0.x source addresses they come
/// from (each source has its own ~28,000 ephemeral ports towards one server port).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
    sources: Vec<Ipv4Addr>,
}

impl Target {
    /// `addr` must be on 127.0.0.0/8: this tool sends traffic nowhere else. `sources` (≥ 1)
    /// source addresses 127.0.0.1, 127.0.0.2, … are used in turn.
    pub(crate) fn new(
        addr: SocketAddr,
        sources: u8,
        transport: Transport,
    ) -> Result<Self, BenchError> {
        let IpAddr::V4(ip) = addr.ip() else {
            return Err(BenchError::Usage(format!("{addr}: only 127.0.0.x targets")));
        };
        if ip.octets()[0] != 127 {
            return Err(BenchError::Usage(format!("{addr}: only 127.0.0.x targets")));
        }
        let sources = (1..=sources.max(1))
            .map(|i| Ipv4Addr::new(127, 0, 0, i))
            .collect();
        Ok(Target {
            addr,
            transport,
            sources,
        })
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

/// Sorts a Primus text frame from the server without a JSON parse. Both servers write acks as
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

/// The Primus pong for a ping number.
pub(crate) fn pong(number: &str) -> Message {
    Message::text(format!("\"{}{number}\"", primus::PONG_PREFIX))
}

/// One open connection (namespace joined, for Socket.IO).
pub(crate) struct Conn {
    pub(crate) ws: WebSocketStream<TcpStream>,
    pub(crate) transport: Transport,
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
        let transport = target.transport;
        let url = transport.url(target.addr, n);
        // Small buffers, as the server uses: 10,000 clients fit in a few tens of MiB.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config)).await?;
        let mut conn = Conn {
            ws,
            transport,
            next_id: transport.first_ack_id(),
        };
        if transport == Transport::Socketio {
            conn.join_namespace().await?;
        }
        Ok(conn)
    }

    /// The next text message; other data messages (binary, websocket pings) are skipped.
    async fn next_text(&mut self) -> Result<Utf8Bytes, BenchError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Close(_))) | None => return Err(BenchError::Closed),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Socket.IO: waits for the Engine.IO open packet, sends the namespace connect `40` and
    /// waits for its answer (as `socket.io-client` does on a websocket-only connection).
    async fn join_namespace(&mut self) -> Result<(), BenchError> {
        let mut opened = false;
        loop {
            let text = self.next_text().await?;
            if let Frame::Ping(data) = classify_socketio(&text) {
                self.ws.send(self.transport.pong(data)).await?;
                continue;
            }
            match parse_socketio_setup(&text) {
                SetupFrame::Open if !opened => {
                    opened = true;
                    self.ws.send(Message::text("40")).await?;
                }
                SetupFrame::Connected if opened => return Ok(()),
                SetupFrame::Refused(error) => return Err(BenchError::Call(error)),
                _ => {}
            }
        }
    }

    /// A fresh ack id.
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one text frame.
    pub(crate) async fn send(&mut self, text: String) -> Result<(), BenchError> {
        self.ws.send(Message::Text(Utf8Bytes::from(text))).await?;
        Ok(())
    }

    /// Sorts a frame from the server (see [`Transport::classify`]).
    pub(crate) fn classify<'a>(&self, text: &'a str) -> Frame<'a> {
        self.transport.classify(text)
    }

    /// Answers a ping.
    pub(crate) async fn pong(&mut self, number: &str) -> Result<(), BenchError> {
        let pong = self.transport.pong(number);
        self.ws.send(pong).await?;
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
        self.send(self.transport.encode_call(method, &data, id))
            .await?;
        tokio::time::timeout(SETUP_TIMEOUT, self.wait_ack(id))
            .await
            .map_err(|_| BenchError::Timeout("call"))?
    }

    async fn wait_ack(&mut self, id: u64) -> Result<Value, BenchError> {
        loop {
            let text = self.next_text().await?;
            if let Frame::Ping(n) = self.classify(&text) {
                self.pong(n).await?;
                continue;
            }
            let ack = match self.transport {
                Transport::Primus => match primus::decode(text.as_bytes()) {
                    Ok(Decoded::Message(primus::Message::Ack { id: got, args })) => {
                        got.as_number().as_u64().map(|got| (got, args))
                    }
                    _ => None,
                },
                Transport::Socketio => match parse_socketio_setup(&text) {
                    SetupFrame::Ack { id: got, args } => Some((got, args)),
                    _ => None,
                },
            };
            if let Some((got, mut args)) = ack {
                if got != id {
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

    /// Closes like `primus.end()` or `socket.disconnect()` (Socket.IO's `41` first; then the
    /// close frame, and a brief wait for the server's answer), or, with `abrupt`, just drops
    /// the TCP connection.
    pub(crate) async fn close(mut self, abrupt: bool) {
        if abrupt {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if self.transport == Transport::Socketio
                && self.ws.send(Message::text("41")).await.is_err()
            {
                return;
            }
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
    fn socketio_frames_are_sorted_without_json() {
        let s = Transport::Socketio;
        assert_eq!(s.classify("2"), Frame::Ping(""));
        assert_eq!(s.classify("2probe"), Frame::Ping("probe"));
        assert_eq!(s.pong(""), Message::text("3"));
        assert_eq!(s.pong("probe"), Message::text("3probe"));
        assert_eq!(s.classify("1"), Frame::ServerClose);
        assert_eq!(s.classify("41"), Frame::ServerClose);
        assert_eq!(
            s.classify(r#"430[null,{"id":0,"text":"x"}]"#),
            Frame::Ack { id: 0, ok: true }
        );
        assert_eq!(s.classify("4318[null]"), Frame::Ack { id: 18, ok: true });
        assert_eq!(
            s.classify(r#"4319[{"name":"NotFound","code":404}]"#),
            Frame::Ack { id: 19, ok: false }
        );
        assert_eq!(
            s.classify(r#"42["messages created",{"text":"x"}]"#),
            Frame::Event
        );
        assert_eq!(s.classify(r#"0{"sid":"abc","upgrades":[]}"#), Frame::Other);
        assert_eq!(s.classify(r#"40{"sid":"abc"}"#), Frame::Other);
        assert_eq!(s.classify("43x[null]"), Frame::Other);
        assert_eq!(s.classify("4399999999999999999999[null]"), Frame::Other);
        assert_eq!(s.classify("43"), Frame::Other);
        assert_eq!(s.classify(""), Frame::Other);
        assert_eq!(s.classify("é"), Frame::Other);
    }

    #[test]
    fn socketio_setup_frames_are_parsed() {
        assert_eq!(
            parse_socketio_setup(r#"0{"sid":"a","upgrades":[],"pingInterval":25000}"#),
            SetupFrame::Open
        );
        assert_eq!(
            parse_socketio_setup(r#"40{"sid":"b"}"#),
            SetupFrame::Connected
        );
        assert_eq!(
            parse_socketio_setup(r#"44{"message":"jwt malformed"}"#),
            SetupFrame::Refused(serde_json::json!({"message": "jwt malformed"}))
        );
        assert_eq!(
            parse_socketio_setup(r#"437[null,{"accessToken":"t"}]"#),
            SetupFrame::Ack {
                id: 7,
                args: vec![Value::Null, serde_json::json!({"accessToken": "t"})]
            }
        );
        assert_eq!(parse_socketio_setup("437{}"), SetupFrame::Other);
        assert_eq!(parse_socketio_setup("437[nul"), SetupFrame::Other);
        assert_eq!(parse_socketio_setup("2"), SetupFrame::Other);
        assert_eq!(parse_socketio_setup(""), SetupFrame::Other);
    }

    #[test]
    fn socketio_calls_are_events_with_ack_ids() {
        let args = [
            serde_json::json!("messages"),
            serde_json::json!({"text": "a \"b\""}),
            serde_json::json!({}),
        ];
        let frame = Transport::Socketio.encode_call("create", &args, 12);
        assert_eq!(frame, r#"4212["create","messages",{"text":"a \"b\""},{}]"#);
        // What the server reads: an EVENT with ack id 12 and the call as its array.
        let packet = socketio::parse(&frame[1..]).unwrap();
        assert_eq!(packet.kind, socketio::PacketType::Event);
        assert_eq!(packet.id, Some(12));
        assert_eq!(packet.data.unwrap()[0], "create");
        assert_eq!(
            Transport::Socketio.encode_call("find", &[serde_json::json!("messages")], 0),
            r#"420["find","messages"]"#
        );
        // Primus frames are unchanged by the transport switch.
        let primus = Transport::Primus.encode_call("get", &[serde_json::json!("messages")], 3);
        assert!(primus.contains(r#""id":3"#));
        assert!(primus.contains(r#"["get","messages"]"#));
    }

    #[test]
    fn transports_pick_their_urls_and_ack_ids() {
        let addr: SocketAddr = "127.0.0.1:3030".parse().unwrap();
        assert_eq!(
            Transport::Socketio.url(addr, 5),
            "ws://127.0.0.1:3030/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            Transport::Primus.url(addr, 5),
            "ws://127.0.0.1:3030/primus?_primuscb=rb5"
        );
        assert_eq!(Transport::Socketio.first_ack_id(), 0);
        assert_eq!(Transport::Primus.first_ack_id(), 1);
    }

    #[test]
    fn targets_stay_on_loopback() {
        let p = Transport::Primus;
        assert!(Target::new("127.0.0.1:3030".parse().unwrap(), 1, p).is_ok());
        assert!(Target::new("10.0.0.1:3030".parse().unwrap(), 1, p).is_err());
        assert!(Target::new("[::1]:3030".parse().unwrap(), 1, p).is_err());
        let t = Target::new("127.0.0.1:3030".parse().unwrap(), 3, p).unwrap();
        assert_eq!(t.source(0), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(t.source(4), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(
            Target::new("127.0.0.1:1".parse().unwrap(), 1, p)
                .unwrap()
                .source(5),
            None
        );
    }
}
