//! The requests at `/socket.io/`: the handshake (`GET` without `sid`, behind the
//! `max_connections` check), long-polling (`GET` waits for packets, `POST` brings them, both
//! with `\x1e` between packets) and the websocket (a new session, or the upgrade of a polling
//! one).
//!
//! Refusals answer as the reference server does: `400 {"code":N,"message":…}` with Engine.IO's
//! error codes (0 transport unknown, 1 session id unknown, 2 bad handshake method, 3 bad
//! request, 5 unsupported protocol version); a polling body over `maxPayload` gets 413 and
//! ends its session. A handshake beyond `max_connections` or during shutdown gets 503 with a
//! Feathers `Unavailable` error.

use super::{ws, EndReason, Frame, Session, Sid, Transport, CLOSE, NOOP};
use crate::headers::handshake_headers;
use crate::response::error_response;
use crate::socket::admission::SlotGuard;
use crate::socket::TransportMetrics;
use crate::socketio::{handler, Inner, PATH};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame as BodyFrame;
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use roost_core::{Error, ErrorKind};
use roost_wire::engineio::{self, Packet};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, ServiceExt};
use tower_http::cors::CorsLayer;

/// Whether the transport serves `path` (a prefix test on a path segment).
fn is_socketio_path(path: &str) -> bool {
    path.strip_prefix(PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// An Engine.IO refusal: `400 {"code":N,"message":…}`.
fn refusal(code: u8, message: &str) -> Response {
    let body = format!(r#"{{"code":{code},"message":"{message}"}}"#);
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn unknown_sid() -> Response {
    refusal(1, "Session ID unknown")
}

fn bad_request() -> Response {
    refusal(3, "Bad request")
}

/// A websocket upgrade for a session that is not on polling, or already upgrading.
pub(super) fn refused_upgrade() -> Response {
    bad_request()
}

fn unavailable(message: &str) -> Response {
    error_response(&Error::new(ErrorKind::Unavailable, message))
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// What the query of an Engine.IO request says.
struct Query<'a> {
    transport: Transport,
    sid: Option<&'a str>,
}

fn parse_query(query: &str) -> Result<Query<'_>, Response> {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let transport = match param("transport") {
        Some("polling") => Transport::Polling,
        Some("websocket") => Transport::Websocket,
        _ => return Err(refusal(0, "Transport unknown")),
    };
    if param("EIO") != Some("4") {
        return Err(refusal(5, "Unsupported protocol version"));
    }
    Ok(Query {
        transport,
        sid: param("sid"),
    })
}

/// The middleware's state: the transport, and the CORS layer of its answers (`None`: off).
#[derive(Clone)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
    cors: Option<CorsLayer>,
}

impl Engine {
    pub(crate) fn new(inner: Arc<Inner>, cors: Option<CorsLayer>) -> Self {
        Engine { inner, cors }
    }
}

/// The middleware in front of the app's router: every request under `/socket.io` is ours,
/// answered with the CORS headers REST sends (a preflight is answered by the CORS layer).
pub(crate) async fn serve(State(engine): State<Engine>, request: Request, next: Next) -> Response {
    if !is_socketio_path(request.uri().path()) {
        return next.run(request).await;
    }
    let Engine { inner, cors } = engine;
    let Some(cors) = cors else {
        return answer(inner, request).await;
    };
    let service = cors.layer(tower::service_fn(move |request| {
        let inner = Arc::clone(&inner);
        async move { Ok::<_, Infallible>(answer(inner, request).await) }
    }));
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A request under `/socket.io`.
async fn answer(inner: Arc<Inner>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").to_owned();
    let query = match parse_query(&query) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let session = match query.sid {
        None => return handshake(&inner, query.transport, request).await,
        Some(sid) => Sid::parse(sid).and_then(|sid| inner.read().sessions.get(&sid).cloned()),
    };
    let Some(session) = session else {
        return unknown_sid();
    };
    match (query.transport, request.method()) {
        (Transport::Polling, &Method::GET) => poll(&session).await,
        (Transport::Polling, &Method::POST) => post(&inner, &session, request).await,
        (Transport::Websocket, &Method::GET) => ws::upgrade(&inner, session, request),
        _ => bad_request(),
    }
}

/// A request without `sid`: a new session, over long-polling or websocket.
async fn handshake(inner: &Arc<Inner>, transport: Transport, request: Request) -> Response {
    if request.method() != Method::GET {
        return refusal(2, "Bad handshake method");
    }
    if inner.lifecycle.is_shutting_down() {
        return unavailable("The server is shutting down");
    }
    let Some(slot) = SlotGuard::reserve(&inner.slots, inner.config.max_connections) else {
        TransportMetrics::inc(&inner.metrics.refused_connections);
        tracing::debug!("socket.io handshake refused: max_connections reached");
        return unavailable("Too many connections");
    };
    match transport {
        Transport::Websocket => ws::open(inner, request, slot),
        Transport::Polling => {
            let headers = handshake_headers(request.headers());
            drop(request);
            let Some(session) = Session::open(inner, Transport::Polling, headers, slot) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let open = open_packet(inner, &session, Transport::Polling);
            session.start(inner);
            packets_response(VecDeque::from([Frame::from(open)]))
        }
    }
}

/// The open packet: `0{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}`.
pub(super) fn open_packet(inner: &Inner, session: &Session, transport: Transport) -> String {
    let upgrades = match transport {
        Transport::Polling => r#"["websocket"]"#,
        Transport::Websocket => "[]",
    };
    let config = &inner.config;
    format!(
        r#"0{{"sid":"{}","upgrades":{upgrades},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
        session.id, config.ping_interval_ms, config.ping_timeout_ms, config.max_payload
    )
}

/// A polling `GET`: waits for packets (or the close, or an upgrade) and answers them all,
/// `\x1e` between them, each the shared bytes of its packet.
async fn poll(session: &Arc<Session>) -> Response {
    {
        let mut state = session.lock();
        if state.transport != Transport::Polling {
            return bad_request();
        }
        if state.polling {
            drop(state);
            tracing::debug!(sid = %session.id, "two socket.io polls at once");
            session.close(EndReason::MultiplePolls);
            return text(StatusCode::BAD_REQUEST, "");
        }
        state.polling = true;
    }
    // Cleared however this request ends (the client may go away while it waits).
    struct Polling<'a>(&'a Session);
    impl Drop for Polling<'_> {
        fn drop(&mut self) {
            self.0.lock().polling = false;
        }
    }
    let _polling = Polling(session);
    loop {
        let notified = session.polls.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = session.lock();
            if let Some(end) = state.end {
                let mut frames = state.drain();
                if end.says_close() {
                    frames.push_back(CLOSE);
                }
                if frames.is_empty() {
                    frames.push_back(NOOP);
                }
                return packets_response(frames);
            }
            // Probing (the client pauses polling), or upgraded while this poll waited: the
            // queue is the websocket's now.
            if state.upgrading || state.transport != Transport::Polling {
                return packets_response(VecDeque::from([NOOP]));
            }
            if !state.frames.is_empty() {
                return packets_response(state.drain());
            }
        }
        notified.await;
    }
}

/// A polling `POST`: its packets, in order, until one ends the session.
async fn post(inner: &Arc<Inner>, session: &Arc<Session>, request: Request) -> Response {
    if session.transport() != Transport::Polling {
        return bad_request();
    }
    let max = inner.config.max_payload;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return too_large(session);
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let body = match http_body_util::Limited::new(request.into_body(), limit)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                return too_large(session);
            }
            // The client went away mid-body.
            session.close(EndReason::TransportError);
            return text(StatusCode::BAD_REQUEST, "");
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return protocol_error(inner, session);
    };
    for packet in engineio::decode_payload(body) {
        if session.is_closed() {
            break;
        }
        match packet {
            Some(Packet::Message(data)) => handler::on_message(inner, session, data),
            Some(Packet::Binary) => handler::on_binary(inner, session),
            Some(Packet::Pong | Packet::Ping) => session.pong(),
            Some(Packet::Noop) => {}
            Some(Packet::Close) => {
                session.close(EndReason::ClientClosed);
                break;
            }
            Some(Packet::Upgrade) | None => return protocol_error(inner, session),
        }
    }
    text(StatusCode::OK, "ok")
}

/// A packet Engine.IO cannot read: the session ends, counted as a malformed frame.
fn protocol_error(inner: &Arc<Inner>, session: &Arc<Session>) -> Response {
    tracing::debug!(sid = %session.id, "malformed engine.io packet");
    TransportMetrics::inc(&inner.metrics.malformed_frames);
    session.close(EndReason::ProtocolError);
    text(StatusCode::BAD_REQUEST, "")
}

fn too_large(session: &Arc<Session>) -> Response {
    tracing::debug!(sid = %session.id, "socket.io polling body over max_payload");
    session.close(EndReason::TooLarge);
    StatusCode::PAYLOAD_TOO_LARGE.into_response()
}

/// `200` with `frames` joined by `\x1e`, streamed from their shared bytes.
fn packets_response(frames: VecDeque<Frame>) -> Response {
    let body = Packets::new(frames);
    let len = body.remaining;
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// A polling answer's body: the packets and the separators between them, each chunk a
/// clone of a packet's shared bytes (no copy per session).
struct Packets {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Packets {
    fn new(frames: VecDeque<Frame>) -> Packets {
        let mut chunks = VecDeque::with_capacity(frames.len() * 2);
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 {
                chunks.push_back(Bytes::from_static(b"\x1e"));
            }
            chunks.push_back(Bytes::from(frame));
        }
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Packets { chunks, remaining }
    }
}

impl http_body::Body for Packets {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        match self.chunks.pop_front() {
            Some(chunk) => {
                self.remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(BodyFrame::data(chunk))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// The websocket handshake's `OnUpgrade`, and the accept key when the request is a valid
/// websocket handshake (RFC 6455 §4.2.1).
pub(super) fn websocket_handshake(request: &mut Request) -> Result<(OnUpgrade, String), Response> {
    let headers = request.headers();
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection_upgrade = headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY);
    let (true, true, true, Some(key)) = (upgrade, connection_upgrade, version_13, key) else {
        return Err(bad_request());
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    match request.extensions_mut().remove::<OnUpgrade>() {
        Some(on_upgrade) => Ok((on_upgrade, accept)),
        None => Err(bad_request()),
    }
}

/// `101 Switching Protocols` with `accept`.
pub(super) fn switching_protocols(accept: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
