//! Roost transports on one axum port: REST, Primus websockets and Socket.IO.
//!
//! # What is public, and for whom
//! - Building the router: [`router`], [`router_with_primus`] and their `_hook` variants,
//!   with [`RestConfig`], [`CorsConfig`], [`RestMetrics`] and [`RequestParamsHook`].
//! - The socket transports: [`Primus`] with [`PrimusConfig`], [`SocketIo`] with
//!   [`SocketIoConfig`] and [`HandshakeAuth`]; what they share: [`CloseReason`],
//!   [`TransportMetrics`], [`TransportObserver`], [`ShutdownReport`].
//! - For the `roost` server and tools: [`body_timeout::TimedBody`] (the request body
//!   deadline), [`response::error_response`], [`socketio::SocketIoMetrics`] and
//!   [`socketio::packet`] (the Socket.IO packet layer, for the fuzz targets).
//!
//! Everything else is private to the crate.
//!
//! # Map
//! - `rest`: routes, verbs to methods, status codes, query strings, bodies.
//! - [`response`]: JSON and Feathers error responses.
//! - `cors`: the CORS layer.
//! - `socket`: what both socket transports share: close reasons, counters, connection and
//!   call admission, the ack value, shutdown. `primus` and `socketio` stand side by side on it.
//! - `headers`: request and handshake headers as Feathers sees them (REST and both sockets).
//! - [`body_timeout`]: the deadline on reading a request body.
//! - [`primus`]: the Primus websocket transport: endpoint, connections, heartbeat and the
//!   fan-out engine (see its module docs for the life of a call and of an event).
//! - [`socketio`]: the Socket.IO transport (our own Engine.IO 4 server and our packet
//!   layer, `roost_wire::socketio`): handshake
//!   authentication, calls, deliveries for Socket.IO connections (see its module docs).
//!
//! # The life of a REST request
//! [`router`] sends every path that no other route claims to `rest::handle`, which finds
//! the service with `App::lookup`, picks the method from the verb, parses the query string
//! with `qs`, reads the JSON body within the limit, runs the call through the hook chain and
//! answers with `dispatch` (or `result`) and Feathers' status codes.
//!
//! # Example
//! Every transport on one router: REST for every service path, Primus at `/primus`,
//! Socket.IO at `/socket.io`, with the default limits.
//!
//! ```
//! use roost_transport::{CorsConfig, Primus, PrimusConfig, RestConfig, SocketIo, SocketIoConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = roost_core::App::new();
//! let primus = Primus::new(app.clone(), PrimusConfig::default());
//! let socketio = SocketIo::new(app.clone(), SocketIoConfig::default(), None);
//! let router = roost_transport::router_with_primus(
//!     app,
//!     RestConfig::default(),
//!     &CorsConfig::default(),
//!     Some(&primus),
//! );
//! let router = socketio.wrap(router, &CorsConfig::default());
//! // Serve it: axum::serve(listener, router).await
//! # let _ = router;
//! assert_eq!(primus.connection_count(), 0);
//! assert_eq!(socketio.session_count(), 0);
//! # }
//! ```

pub mod body_timeout;
mod cors;
mod headers;
mod observe;
pub mod primus;
pub mod response;
mod rest;
mod socket;
pub mod socketio;

pub use cors::CorsConfig;
pub use observe::TransportObserver;
pub use primus::{Primus, PrimusConfig};
pub use rest::{RequestParamsHook, RestConfig, RestMetrics};
pub use socket::lifecycle::ShutdownReport;
pub use socket::{CloseReason, TransportMetrics};
pub use socketio::{HandshakeAuth, SocketIo, SocketIoConfig};

use axum::Router;
use rest::RestState;
use roost_core::{App, Error};
use std::sync::Arc;

/// The REST router for `app`: every unclaimed path is a service path. Put Primus in front
/// of it with [`Primus::wrap`] (or use [`router_with_primus`]).
pub fn router(app: App, rest: RestConfig, cors: &CorsConfig) -> Router {
    router_with_params_hook(app, rest, cors, None, RestMetrics::default())
}

/// [`router`] with a [`RequestParamsHook`] run on every REST request's params (the binary
/// parses the `Authorization` header there), counting into `metrics`.
pub fn router_with_params_hook(
    app: App,
    rest: RestConfig,
    cors: &CorsConfig,
    params_hook: Option<RequestParamsHook>,
    metrics: RestMetrics,
) -> Router {
    let state = RestState {
        app,
        config: Arc::new(rest),
        params_hook,
        metrics,
    };
    let router = Router::new().fallback(rest::handle).with_state(state);
    match cors.layer() {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// Every transport on one router: `/primus…` to Primus (when given), everything else to REST.
pub fn router_with_primus(
    app: App,
    rest: RestConfig,
    cors: &CorsConfig,
    primus: Option<&Primus>,
) -> Router {
    router_with_primus_and_hook(app, rest, cors, primus, None, RestMetrics::default())
}

/// [`router_with_primus`] with a [`RequestParamsHook`] for REST requests and the REST
/// counters to fill.
pub fn router_with_primus_and_hook(
    app: App,
    rest: RestConfig,
    cors: &CorsConfig,
    primus: Option<&Primus>,
    params_hook: Option<RequestParamsHook>,
    metrics: RestMetrics,
) -> Router {
    let router = router_with_params_hook(app, rest, cors, params_hook, metrics);
    match primus {
        Some(primus) => primus.wrap(router),
        None => router,
    }
}

/// The answer to a socket call whose JSON nests deeper than serde_json's limit of 128 levels
/// (REST answers the same body `400 Invalid JSON`).
pub(crate) fn too_deep_error() -> Error {
    Error::bad_request("Invalid JSON: the message is nested too deeply (the limit is 127 levels)")
}

/// The answer to a call over a socket that has not logged in, in a message larger than the
/// transport allows before login.
pub(crate) fn anonymous_too_large_error(limit: u64) -> Error {
    Error::bad_request(format!(
        "The message is larger than the limit of {limit} bytes for connections that have not logged in"
    ))
    .with_data(serde_json::json!({ "limit": limit }))
}

/// Whether connection `id` of `app` has logged in.
pub(crate) fn is_authenticated(app: &App, id: roost_core::ConnectionId) -> bool {
    app.connection(id)
        .is_some_and(|info| info.has(roost_core::connection::AUTHENTICATION_FIELD))
}

/// The answer to a socket call whose message holds more JSON values than the transport
/// parses.
pub(crate) fn too_many_values_error(limit: usize) -> Error {
    Error::bad_request(format!("The message holds more than {limit} JSON values"))
        .with_data(serde_json::json!({ "limit": limit }))
}
