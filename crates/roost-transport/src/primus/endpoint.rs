//! The HTTP side of Primus: every request whose path starts with `/primus` (a prefix test, so
//! `/primusx` too, protocol.md §1). Upgrades become websocket connections; `/primus/spec`
//! answers the spec; `/primus/primus.js` serves the client library when one is configured;
//! anything else gets `426 Upgrade Required` like the websockets transformer.

use super::connection::{self, Handshake};
use super::metrics::TransportMetrics;
use super::{Primus, SlotGuard};
use crate::response::{error_response, json_response};
use crate::rest::handshake_headers;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roost_core::{json, Error, ErrorKind, Map, Value};
use roost_wire::qs::{self, QsOptions};

/// The path prefix Primus claims.
pub const PATHNAME: &str = "/primus";
/// The Primus version the spec reports (the reference's).
pub const PRIMUS_VERSION: &str = "8.0.9";

/// Whether Primus handles a request for `path`.
pub fn claims(path: &str) -> bool {
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

async fn upgrade(primus: Primus, request: Request) -> Response {
    let inner = &primus.inner;
    if inner.shutdown.is_cancelled() {
        return unavailable("The server is shutting down");
    }
    let Some(slot) = SlotGuard::reserve(&inner.slots, inner.config.max_connections) else {
        TransportMetrics::inc(&inner.metrics.refused_connections);
        return unavailable("Too many connections");
    };
    let (mut parts, _body) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let query = match parts.uri.query() {
        Some(raw) => match qs::parse(raw, &QsOptions::default()) {
            Ok(value @ Value::Object(_)) => value,
            _ => Value::Object(Map::new()),
        },
        None => Value::Object(Map::new()),
    };
    let handshake = Handshake {
        headers: handshake_headers(&parts.headers),
        query,
    };
    let config = &inner.config;
    let primus = primus.clone();
    ws.read_buffer_size(config.read_buffer_size)
        .write_buffer_size(config.write_buffer_size)
        .max_write_buffer_size(
            config
                .write_buffer_size
                .saturating_add(config.max_frame_size)
                .saturating_add(1),
        )
        .max_message_size(config.max_frame_size)
        .max_frame_size(config.max_frame_size)
        .on_upgrade(move |socket| {
            // Tracked, so shutdown waits for the connection's last words.
            let tasks = primus.inner.tasks.clone();
            tasks.track_future(connection::run(primus, socket, handshake, slot))
        })
}
