//! The Socket.IO transport (docs/protocol.md §13, docs/feathers-semantics.md §H10–H20): Socket.IO v5 over
//! Engine.IO 4 at `/socket.io/`, on the same axum router as REST and Primus. Both layers are
//! Roost's own: Engine.IO (long-polling, the upgrade, websocket-only, heartbeats, payload
//! limits) in `engine`, the Socket.IO packet layer on top of it here.
//!
//! # Map
//! - `config`: [`SocketIoConfig`], the `[socketio]` section.
//! - [`packet`]: the Socket.IO v5 packet codec, `roost_wire::socketio` (pure functions,
//!   property-tested there, beside the Primus codec).
//! - `engine`: the Engine.IO 4 server: sessions and their packet queues, the requests
//!   (handshake behind the `max_connections` check, polling, websocket and upgrade),
//!   heartbeats, the websocket writer that sends a long packet as fragments of its shared
//!   bytes.
//! - `handler`: the Socket.IO side of a session: a session's life, the namespace connect (handshake
//!   authentication), packets in, the connect timeout.
//! - `call`: one event from the client → [`call_external`] → its ack (admission, the
//!   in-flight guard and the ack value are the shared `crate::socket` layer's).
//! - `delivery`: the [`DeliverySink`](roost_core::DeliverySink) for Socket.IO connections.
//! - this module: [`SocketIo`], the connection registry, the one close, shutdown (the
//!   shared steps of `crate::socket`, then every session closed).
//!
//! # The life of a connection
//! A request to `/socket.io/` without `sid` is an Engine.IO handshake: `engine` takes a slot
//! (or answers 503) and opens a session, which `handler` registers and gives
//! `connect_timeout_ms` to send `CONNECT` (`40`, optional auth object). Another namespace
//! gets `44/<nsp>,{"message":"Invalid namespace"}`. For `/` the handler registers a
//! [`ConnectionInfo`] (provider `socketio`, handshake headers kept compact as Primus keeps
//! them) WITHOUT
//! announcing it and, when the handshake carried an `Authorization` header and a
//! [`HandshakeAuth`] is installed, runs authentication `create` with
//! `{strategy: 'jwt', accessToken}` through [`call_external`]: `login` happens before
//! `connection`. A failure refuses the namespace with
//! `44{"message":…,"data":…}` (the Feathers error's message and, when it has one, its
//! `data`: `{"name":"JsonWebTokenError"}` for a bad token, as the reference sends). Success
//! answers `40{"sid":"<session id>"}`, registers the connection here and announces it (app
//! `connection`).
//!
//! # The life of a call
//! `42<ack id>["<method>","<path>",...args]` → [`call_external`] → `43<ack id>[null,
//! dispatch || result]` or `43<ack id>[errorJSON]`. Calls run concurrently, bounded by
//! `max_pending_calls` per connection. Events a call publishes are queued synchronously by
//! the sink, so they precede its ack. Client acks (`3`) are ignored, as Socket.IO ignores
//! an ack it did not ask for. A malformed packet, a packet out of order (an event before
//! `CONNECT`, a second `CONNECT`) or a binary packet (types 5/6, or an Engine.IO binary
//! message: Roost supports no attachments) closes the session as a protocol error,
//! counted, as Socket.IO closes on a parse error.
//!
//! # The life of an event
//! The app splits each [`Delivery`](roost_core::Delivery) by provider ([`App::add_delivery_sink`]); this sink gets
//! only Socket.IO recipients. Each batch is encoded once, as the whole
//! Engine.IO packet (`442["<path> <event>",payload]`), into shared bytes and each
//! recipient's session queue gets a clone: a polling answer streams those bytes, a websocket
//! sends a long packet as fragments that are slices of them, so one payload costs one copy
//! however many sessions receive it. A recipient whose queue is full (`max_buffer_size`
//! packets or `max_buffer_bytes` bytes) is counted and closed as a slow consumer.
//!
//! # Closing
//! Every close of a connection goes through one function with a [`CloseReason`]: it forgets
//! the connection, counts the reason, fires app `disconnect` (leaving every channel), then
//! acts on the session. An app `disconnect` for an open connection (token expiry, docs/feathers-semantics.md
//! §E22) or [`SocketIo::close`] sends the namespace `DISCONNECT` (`41`: the client sees
//! `io server disconnect` and does not reconnect) and leaves the session to the client; a
//! slow consumer, a protocol error or shutdown closes the session (the client reconnects).

mod config;
pub use roost_wire::socketio as packet;

mod call;
mod delivery;
mod engine;
mod handler;

pub use config::SocketIoConfig;

use crate::socket::admission::CallSlots;
use crate::socket::lifecycle::Lifecycle;
use crate::socket::{CloseReason, TransportMetrics};
use crate::CorsConfig;
use axum::Router;
use engine::{EndReason, Session, Sid};
use roost_core::external::call_external;
use roost_core::{App, ConnectionId, ConnectionInfo, HandshakeHeaders, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The provider name of Socket.IO connections.
pub(crate) const PROVIDER: &str = "socketio";

/// The path Socket.IO is served at.
pub(crate) const PATH: &str = "/socket.io";

/// Turns handshake headers into the data of an authentication `create`: `Some((service
/// path, {strategy: 'jwt', accessToken}))` when the headers carry credentials. Installed by
/// the app that owns authentication (the transport does not know about it).
pub type HandshakeAuth = Arc<dyn Fn(&Map<String, Value>) -> Option<(String, Value)> + Send + Sync>;

/// Counters only Socket.IO has, beside the [`TransportMetrics`] it shares with Primus.
/// Relaxed atomics, like those.
#[derive(Debug, Default)]
pub struct SocketIoMetrics {
    /// Engine.IO sessions open now, whether or not they joined the namespace.
    pub sessions_open: AtomicU64,
    /// Namespace connects refused with `CONNECT_ERROR` (handshake authentication failed,
    /// a namespace other than `/`).
    pub connect_errors: AtomicU64,
    /// Sessions closed because they had not joined the namespace within
    /// `connect_timeout_ms`.
    pub connect_timeouts: AtomicU64,
    /// Binary packets refused (Socket.IO types 5/6, Engine.IO binary messages); each closed
    /// its session.
    pub binary_packets: AtomicU64,
}

/// The Socket.IO transport of one app. Cheap to clone. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<Inner>,
}

struct Inner {
    app: App,
    config: SocketIoConfig,
    metrics: TransportMetrics,
    sio_metrics: SocketIoMetrics,
    handshake_auth: Option<HandshakeAuth>,
    registry: RwLock<Registry>,
    /// Sessions open or being opened, checked against `max_connections`.
    slots: Arc<AtomicUsize>,
    /// Shutdown: refuses handshakes; calls in flight, awaited at shutdown.
    lifecycle: Lifecycle,
}

#[derive(Default)]
struct Registry {
    /// Connections joined to the namespace.
    conns: HashMap<ConnectionId, Arc<Conn>>,
    /// Every open Engine.IO session, joined or not (for shutdown and the payload check).
    sessions: HashMap<Sid, Arc<Session>>,
}

/// A connection: a session that joined the namespace.
struct Conn {
    id: ConnectionId,
    socket: Arc<Session>,
    pending_calls: AtomicUsize,
}

impl CallSlots for Conn {
    fn pending_calls(&self) -> &AtomicUsize {
        &self.pending_calls
    }
}

impl Inner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn conn(&self, id: ConnectionId) -> Option<Arc<Conn>> {
        self.read().conns.get(&id).cloned()
    }

    /// The one close: forgets the connection, counts the reason, fires app `disconnect`
    /// (which leaves every channel), then acts on the session if it is still open. Only the
    /// first close of a connection does anything.
    fn close(self: &Arc<Self>, id: ConnectionId, reason: CloseReason) -> bool {
        self.close_connection(id, reason, None)
    }

    /// [`Inner::close`], given the connection's info when the app already forgot it (an app
    /// `disconnect`): the session gets its handshake headers back from it.
    fn close_connection(
        self: &Arc<Self>,
        id: ConnectionId,
        reason: CloseReason,
        info: Option<&ConnectionInfo>,
    ) -> bool {
        let Some(conn) = self.write().conns.remove(&id) else {
            return false;
        };
        self.metrics.count_close(reason);
        let registered = self.app.connection(id);
        let session_open = conn.socket.data.leave(id, info.or(registered.as_deref()));
        self.app.disconnect(id);
        tracing::debug!(%id, %reason, sid = %conn.socket.id, "socket.io connection closed");
        if !session_open {
            return true;
        }
        match reason {
            // The client left the namespace; its session stays until it closes it.
            CloseReason::ClientClosed => handler::arm_connect_timeout(self, &conn.socket),
            // `socket.disconnect()`: the client sees `io server disconnect` and does not
            // reconnect. Without room for that packet the session is closed instead.
            CloseReason::ServerClosed => match conn.socket.emit(packet::DISCONNECT.to_owned()) {
                Ok(()) => {
                    TransportMetrics::inc(&self.metrics.frames_out);
                    handler::arm_connect_timeout(self, &conn.socket);
                }
                Err(_) => conn.socket.close(EndReason::TransportError),
            },
            CloseReason::ServerShutdown => conn.socket.close(EndReason::ServerShutdown),
            // Its backlog is why it is closed: dropped, as after a failed write.
            CloseReason::SlowConsumer | CloseReason::WriteError | CloseReason::HeartbeatTimeout => {
                conn.socket.close(EndReason::TransportError);
            }
            _ => conn.socket.close(EndReason::ProtocolError),
        }
        true
    }
}

/// The connection's close reason for a session that ended.
fn close_reason(reason: EndReason) -> CloseReason {
    match reason {
        EndReason::ClientClosed | EndReason::ConnectTimeout => CloseReason::ClientClosed,
        EndReason::HeartbeatTimeout => CloseReason::HeartbeatTimeout,
        EndReason::TransportError => CloseReason::WriteError,
        EndReason::ServerShutdown => CloseReason::ServerShutdown,
        EndReason::TooLarge => CloseReason::FrameTooLarge,
        EndReason::MultiplePolls | EndReason::ProtocolError => CloseReason::ProtocolError,
    }
}

impl SocketIo {
    /// The transport for `app`: routes the app's deliveries for `socketio` connections here
    /// and disconnects a Socket.IO socket when the app emits `disconnect` for it. Must be
    /// called inside a tokio runtime.
    pub fn new(
        app: App,
        config: SocketIoConfig,
        handshake_auth: Option<HandshakeAuth>,
    ) -> SocketIo {
        let inner = Arc::new(Inner {
            app,
            config,
            metrics: TransportMetrics::default(),
            sio_metrics: SocketIoMetrics::default(),
            handshake_auth,
            registry: RwLock::new(Registry::default()),
            slots: Arc::new(AtomicUsize::new(0)),
            lifecycle: Lifecycle::default(),
        });
        inner.app.add_delivery_sink(
            PROVIDER,
            Arc::new(delivery::SocketIoSink::new(Arc::downgrade(&inner))),
        );
        // Token expiry and server-side `app.emit('disconnect')` end the socket (§E22, §H17).
        let weak = Arc::downgrade(&inner);
        inner.app.on_disconnect(move |_app, info| {
            if let Some(inner) = weak.upgrade() {
                inner.close_connection(info.id(), CloseReason::ServerClosed, Some(info));
            }
        });
        SocketIo { inner }
    }

    /// `router` with every `/socket.io/…` request handled by Socket.IO first, behind the
    /// `max_connections` check, with the CORS settings of `cors` (give REST's: the same
    /// headers, and `OPTIONS` preflights answered, on long-polling as on REST).
    pub fn wrap(&self, router: Router, cors: &CorsConfig) -> Router {
        router.layer(axum::middleware::from_fn_with_state(
            engine::http::Engine::new(Arc::clone(&self.inner), cors.layer()),
            engine::http::serve,
        ))
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The settings.
    pub fn config(&self) -> &SocketIoConfig {
        &self.inner.config
    }

    /// The counters (same shape as Primus').
    pub fn metrics(&self) -> &TransportMetrics {
        &self.inner.metrics
    }

    /// The counters only Socket.IO has.
    pub fn socketio_metrics(&self) -> &SocketIoMetrics {
        &self.inner.sio_metrics
    }

    /// How many connections (sessions joined to the namespace) are open.
    pub fn connection_count(&self) -> usize {
        self.inner.read().conns.len()
    }

    /// How many Engine.IO sessions are open, joined or not.
    pub fn session_count(&self) -> usize {
        self.inner.read().sessions.len()
    }

    /// The ids of the open connections.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        self.inner.read().conns.keys().copied().collect()
    }

    /// Disconnects connection `id` (namespace disconnect, the client does not reconnect).
    /// False when it was not open.
    pub fn close(&self, id: ConnectionId) -> bool {
        self.inner.close(id, CloseReason::ServerClosed)
    }

    /// Drains and stops the transport (the shared steps of `crate::socket`) within
    /// `deadline`: refuses new sessions and new calls (an `Unavailable` error ack), lets the
    /// calls in flight finish and queue their acks, then closes every connection (counted as
    /// `server_shutdown`; the client sees a transport close and reconnects) and every
    /// session, and waits for them.
    pub async fn shutdown(&self, deadline: Duration) -> crate::ShutdownReport {
        let inner = &self.inner;
        let sessions_closed = async {
            let sessions: Vec<Arc<Session>> = inner.read().sessions.values().cloned().collect();
            for session in &sessions {
                session.close(EndReason::ServerShutdown);
            }
            futures_util::future::join_all(sessions.iter().map(|s| s.closed())).await;
        };
        inner
            .lifecycle
            .shut_down(
                PROVIDER,
                self.connection_ids(),
                || {
                    inner
                        .read()
                        .conns
                        .values()
                        .map(|c| c.pending_calls.load(Ordering::Acquire))
                        .sum()
                },
                |id| {
                    inner.close(id, CloseReason::ServerShutdown);
                },
                sessions_closed,
                deadline,
            )
            .await
    }
}

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("connections", &self.connection_count())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Registers a connection for a session joining the namespace (not announced yet), with the
/// session's handshake headers.
fn register(
    inner: &Inner,
    headers: HandshakeHeaders,
) -> (Arc<ConnectionInfo>, Option<(String, Value)>) {
    let credentials = inner
        .handshake_auth
        .as_ref()
        .and_then(|f| f(&headers.to_map()));
    let info = inner
        .app
        .register_connection(ConnectionInfo::from_handshake(
            ConnectionId::next(),
            PROVIDER,
            headers,
        ));
    (info, credentials)
}

/// Runs handshake authentication for a registered connection: `login` before `connection`.
async fn authenticate(
    inner: &Inner,
    info: &ConnectionInfo,
    (path, data): (String, Value),
) -> Result<(), roost_core::Error> {
    call_external(
        &inner.app,
        "create",
        &Value::String(path),
        vec![data, Value::Object(Map::new())],
        info.params(),
    )
    .await
    .map(drop)
}
