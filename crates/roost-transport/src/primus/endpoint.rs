//! The HTTP side of Primus: every request whose path starts with `/primus` (a prefix test, so
//! `/primusx` too, docs/protocol.md §1). Upgrades become websocket connections; `/primus/spec`
//! answers the spec; `/primus/primus.js` serves the client library when one is configured;
//! anything else gets `426 Upgrade Required` like the websockets transformer.

use super::connection::{self, Handshake};
use super::Primus;
use crate::headers::handshake_headers;
use crate::response::{error_response, json_response};
use crate::socket::admission::SlotGuard;
use crate::socket::ws_read::WsReader;
use crate::socket::TransportMetrics;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use roost_core::{json, Error, ErrorKind, Map, Value};
use roost_wire::qs::{self, QsOptions};
use roost_wire::websocket::Limits;

/// The path prefix Primus claims.
pub(crate) const PATHNAME: &str = "/primus";
/// The Primus version the spec reports (the reference's).
pub(crate) const PRIMUS_VERSION: &str = "8.0.9";

/// Whether Primus handles a request for `path`.
pub(crate) fn claims(path: &str) -> bool {
    path.starts_with(PATHNAME)
}

fn is_upgrade(request: &Request) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers one request on the Primus path.
pub(crate) async fn handle(primus: Primus, request: Request) -> Response {
    if is_upgrade(&request) {
        return upgrade(primus, request).await;
    }
    match request.uri().path() {
        "/primus/spec" => spec(&primus),
        "/primus/primus.js" => library(&primus),
        _ => upgrade_required(),
    }
}

fn spec(primus: &Primus) -> Response {
    let interval = primus.inner.config.ping_interval_ms;
    let ping_interval = if interval == 0 {
        Value::Bool(false)
    } else {
        json!(interval)
    };
    let mut response = json_response(&json!({
        "pingInterval": ping_interval,
        "pathname": PATHNAME,
        "version": PRIMUS_VERSION,
        "parser": "json",
        "transformer": "websockets",
    }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn library(primus: &Primus) -> Response {
    match &primus.inner.client_library {
        Some(bytes) => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            Body::from(bytes.clone()),
        )
            .into_response(),
        None => error_response(&Error::not_found("Primus client library is not configured")),
    }
}

fn upgrade_required() -> Response {
    (
        StatusCode::UPGRADE_REQUIRED,
        [
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
            (header::CONTENT_TYPE, "text/plain"),
        ],
        "Upgrade Required",
    )
        .into_response()
}

fn unavailable(message: &str) -> Response {
    error_response(&Error::new(ErrorKind::Unavailable, message))
}

fn rejection(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

/// The checks of a websocket handshake (RFC 6455 §4.2.1; `Upgrade: websocket` was checked
/// by [`is_upgrade`]), answered as axum's extractor answers them; the accept key when they
/// pass.
fn accept_key(request: &Request) -> Result<String, Response> {
    if request.method() != Method::GET {
        return Err(rejection(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request method must be `GET`",
        ));
    }
    let headers = request.headers();
    let connection_upgrade = headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));
    if !connection_upgrade {
        return Err(rejection(
            StatusCode::BAD_REQUEST,
            "Connection header did not include 'upgrade'",
        ));
    }
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"13"));
    if !version_13 {
        return Err(rejection(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Version` header did not include '13'",
        ));
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) => Ok(tungstenite::handshake::derive_accept_key(key.as_bytes())),
        None => Err(rejection(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Key` header missing",
        )),
    }
}

async fn upgrade(primus: Primus, mut request: Request) -> Response {
    let inner = &primus.inner;
    if inner.lifecycle.is_shutting_down() {
        return unavailable("The server is shutting down");
    }
    let Some(slot) = SlotGuard::reserve(&inner.slots, inner.config.max_connections) else {
        TransportMetrics::inc(&inner.metrics.refused_connections);
        return unavailable("Too many connections");
    };
    let accept = match accept_key(&request) {
        Ok(accept) => accept,
        Err(response) => return response,
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return rejection(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket request couldn't be upgraded since no upgrade state was present",
        );
    };
    let query = match request.uri().query() {
        Some(raw) => match qs::parse(raw, &QsOptions::default()) {
            Ok(value @ Value::Object(_)) => value,
            _ => Value::Object(Map::new()),
        },
        None => Value::Object(Map::new()),
    };
    let handshake = Handshake {
        headers: handshake_headers(request.headers()),
        query,
    };
    drop(request);
    let config = &inner.config;
    let reader = WsReader::new(
        Limits {
            max_message_size: Some(config.max_frame_size),
            max_frame_size: Some(config.max_frame_size),
        },
        config.read_buffer_size,
    );
    let primus = primus.clone();
    // Tracked, so shutdown waits for the connection's last words.
    let tasks = primus.inner.lifecycle.tasks().clone();
    tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "primus upgrade failed");
                return;
            }
        };
        connection::run(primus, TokioIo::new(upgraded), reader, handshake, slot).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
