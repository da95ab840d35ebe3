//! Test helpers for Roost's integration tests: a minimal HTTP/1.1 client over a real TCP
//! socket, so tests speak the same bytes a client would without a heavy HTTP client crate,
//! and [`vectors`], the Feathers query vectors every adapter is checked against.
//!
//! For Roost's own tests only (`publish = false`): a dev-dependency of the crates whose
//! `tests/` use it. [`request`] / [`json_request`] and [`HttpResponse`] for HTTP,
//! [`ws::connect`] and [`ws::WsClient`] for websockets, [`vectors`] for adapters, [`services`]
//! for servers and Node pods of a test's own.
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // A stand-in server answering one request.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut socket, _) = listener.accept().await?;
//!     let mut buf = [0u8; 1024];
//!     let _ = socket.read(&mut buf).await?;
//!     let body = r#"{"id":1,"text":"hi"}"#;
//!     let head = format!(
//!         "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
//!         body.len()
//!     );
//!     socket.write_all(head.as_bytes()).await?;
//!     socket.write_all(body.as_bytes()).await?;
//!     socket.shutdown().await
//! });
//! let answer =
//!     roost_testkit::json_request(addr, "POST", "/messages", &serde_json::json!({"text": "hi"}))
//!         .await?;
//! assert_eq!(answer.status, 201);
//! assert_eq!(answer.header("content-type"), Some("application/json"));
//! assert_eq!(answer.json()["text"], "hi");
//! # Ok::<(), std::io::Error>(())
//! # })?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod services;
pub mod vectors;

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower-case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON (`Value::Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer, within [`REQUEST_GUARD`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    request_from(None, addr, method, path, headers, body).await
}

/// How long a request may go unanswered before the helper gives up: a guard against a hang,
/// not a speed bar. Generous, because CI machines can be loaded (50 debug-build bcrypt signups
/// at once on 2 busy cores took longer than an earlier 10 s guard).
pub const REQUEST_GUARD: Duration = Duration::from_secs(60);

/// [`request`] from the local address `from` (e.g. `127.0.0.2`, another client address on
/// the loopback interface) when given.
pub async fn request_from(
    from: Option<std::net::IpAddr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    tokio::time::timeout(REQUEST_GUARD, async {
        let mut stream = match from {
            Some(ip) => {
                let socket = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await?
            }
            None => TcpStream::connect(addr).await?,
        };
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        if let Some(body) = body {
            stream.write_all(body).await?;
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw, method == "HEAD")
    })
    .await
    .map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer within the request guard (60 s)",
        )
    })?
}

/// Sends a JSON body.
pub async fn json_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &Value,
) -> std::io::Result<HttpResponse> {
    let bytes = serde_json::to_vec(body)?;
    request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(&bytes),
    )
    .await
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

fn parse(raw: &[u8], head_only: bool) -> std::io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked && !head_only {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("bad chunk"))?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| bad("bad chunk"))?;
        let size = usize::from_str_radix(size_text.trim(), 16).map_err(|_| bad("bad chunk"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("short chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A websocket client for the Primus transport's tests: real frames over a real socket.
///
/// ```no_run
/// use roost_testkit::ws::connect;
/// # async fn run(addr: std::net::SocketAddr) -> Result<(), String> {
/// // A Roost server's Primus endpoint at `addr`.
/// let mut client = connect(addr, "/primus").await?;
/// client.call(1, "create", "messages", &[serde_json::json!({"text": "hi"})]).await;
/// // The ack's data is `[error, result]`; events sent before it come back too.
/// let (data, _events_before) = client.ack(1).await;
/// assert!(data[0].is_null(), "{}", data[0]);
/// assert_eq!(data[1]["text"], "hi");
/// client.close().await;
/// # Ok(())
/// # }
/// ```
pub mod ws {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    use tokio_tungstenite::tungstenite::{Bytes, Message};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    /// How long any single receive waits before the test fails.
    pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

    /// What the server sent.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Received {
        /// A text frame.
        Text(String),
        /// A close frame with its code (`None`: no status, seen as 1005).
        Close(Option<u16>),
        /// The stream ended without a close frame.
        End,
    }

    /// One websocket connection.
    pub struct WsClient {
        stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    }

    /// Connects to `ws://addr{path}` (path with query).
    pub async fn connect(addr: SocketAddr, path: &str) -> Result<WsClient, String> {
        connect_with_headers(addr, path, &[]).await
    }

    /// [`connect`] with extra handshake headers (e.g. `Authorization`), sent in this order (a
    /// name may repeat).
    pub async fn connect_with_headers(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let url = format!("ws://{addr}{path}");
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            request.headers_mut().append(name, value);
        }
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(64 << 20);
        config.max_frame_size = Some(64 << 20);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        match tokio::time::timeout(RECV_TIMEOUT, connect).await {
            Ok(Ok((stream, _response))) => Ok(WsClient { stream }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".to_owned()),
        }
    }

    impl WsClient {
        /// Sends a text frame.
        pub async fn send_text(&mut self, text: &str) {
            self.stream
                .send(Message::text(text))
                .await
                .expect("send text");
        }

        /// Sends a text frame without failing when the socket is gone.
        pub async fn try_send_text(&mut self, text: &str) -> bool {
            self.stream.send(Message::text(text)).await.is_ok()
        }

        /// Sends a binary frame.
        pub async fn send_binary(&mut self, bytes: Vec<u8>) -> bool {
            self.stream.send(Message::binary(bytes)).await.is_ok()
        }

        /// Sends a websocket ping control frame.
        pub async fn send_ping(&mut self) {
            self.stream
                .send(Message::Ping(Bytes::from_static(b"hi")))
                .await
                .expect("send ping");
        }

        /// Sends `value` as JSON text.
        pub async fn send_json(&mut self, value: &Value) {
            self.send_text(&value.to_string()).await;
        }

        /// Sends an emitter EVENT `[method, path, ...args]` with ack id `id`.
        pub async fn call(&mut self, id: u64, method: &str, path: &str, args: &[Value]) {
            let mut data = vec![json!(method), json!(path)];
            data.extend(args.iter().cloned());
            self.send_json(&json!({"type": 0, "data": data, "id": id}))
                .await;
        }

        /// The next frame (pongs to websocket pings are skipped); panics after
        /// [`RECV_TIMEOUT`].
        pub async fn recv(&mut self) -> Received {
            loop {
                let next = tokio::time::timeout(RECV_TIMEOUT, self.stream.next())
                    .await
                    .expect("nothing received within the timeout");
                return match next {
                    None | Some(Err(_)) => Received::End,
                    Some(Ok(Message::Text(t))) => Received::Text(t.as_str().to_owned()),
                    Some(Ok(Message::Close(frame))) => {
                        Received::Close(frame.map(|f| u16::from(f.code)))
                    }
                    Some(Ok(_)) => continue,
                };
            }
        }

        /// The next text frame that is not a heartbeat ping, as JSON; panics on anything else.
        pub async fn recv_json(&mut self) -> Value {
            loop {
                match self.recv().await {
                    Received::Text(t) if t.starts_with("\"primus::ping::") => continue,
                    Received::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                    other => panic!("expected a text frame, got {other:?}"),
                }
            }
        }

        /// Waits for the ack with `id`, returning its `data` array; event frames before it
        /// are returned too, in order.
        pub async fn ack(&mut self, id: u64) -> (Value, Vec<Value>) {
            let mut events = Vec::new();
            loop {
                let frame = self.recv_json().await;
                if frame.get("type") == Some(&json!(1)) && frame.get("id") == Some(&json!(id)) {
                    return (frame["data"].clone(), events);
                }
                events.push(frame);
            }
        }

        /// Reads until the server closes; returns the frames seen (text) and the close.
        pub async fn until_closed(&mut self) -> (Vec<String>, Received) {
            let mut texts = Vec::new();
            loop {
                match self.recv().await {
                    Received::Text(t) => texts.push(t),
                    other => return (texts, other),
                }
            }
        }

        /// Closes from the client side (close frame without status, like `primus.end()`).
        pub async fn close(mut self) {
            let _ = self.stream.close(None).await;
        }

        /// Closes with a specific code.
        pub async fn close_with(mut self, code: u16) {
            let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            };
            let _ = self.stream.close(Some(frame)).await;
        }
    }
}
