//! The checks in front of Engine.IO: `max_connections` on handshakes (a request to
//! `/socket.io/` without `sid`), answered 503 before any session exists, and the polling
//! body size, so a body over `max_payload` is counted as `frame_too_large`.

use super::{Inner, PATH};
use crate::response::error_response;
use crate::socket::admission::SlotGuard;
use crate::socket::{CloseReason, TransportMetrics};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use engineioxide::socket::Sid;
use roost_core::{Error, ErrorKind};
use std::sync::Arc;

/// Whether Engine.IO serves `path` (its own prefix test).
fn is_socketio_path(path: &str) -> bool {
    path.strip_prefix(PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The `sid` query parameter, when there is one (it may not parse: Engine.IO answers that).
fn sid_param(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("sid="))
}

fn unavailable(message: &str) -> Response {
    error_response(&Error::new(ErrorKind::Unavailable, message))
}

/// The middleware.
pub(super) async fn check_handshake(
    State(inner): State<Arc<Inner>>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_socketio_path(request.uri().path()) {
        let query = request.uri().query().unwrap_or("");
        match sid_param(query) {
            None => {
                if inner.lifecycle.is_shutting_down() {
                    return unavailable("The server is shutting down");
                }
                let Some(slot) = SlotGuard::reserve(&inner.slots, inner.config.max_connections)
                else {
                    TransportMetrics::inc(&inner.metrics.refused_connections);
                    tracing::debug!("socket.io handshake refused: max_connections reached");
                    return unavailable("Too many connections");
                };
                // In the handshake request's extensions, the slot lives as long as the
                // request parts Engine.IO keeps in the session: it is held exactly while the
                // session exists (or until a failed handshake is dropped).
                request.extensions_mut().insert(Arc::new(slot));
            }
            Some(sid) if request.method() == Method::POST => {
                let too_large = request
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|len| len > inner.config.max_payload);
                if too_large {
                    // Out of the registry first: the session lock is never taken inside it.
                    let socket = sid
                        .parse::<Sid>()
                        .ok()
                        .and_then(|sid| inner.read().sessions.get(&sid).cloned());
                    if let Some(socket) = socket {
                        socket.data.hint_close(CloseReason::FrameTooLarge);
                    }
                }
            }
            Some(_) => {}
        }
    }
    next.run(request).await
}
