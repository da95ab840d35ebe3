//! The Socket.IO transport (protocol.md §13, semantics §H10–H20): Socket.IO v5 over
//! Engine.IO 4 at `/socket.io/`, on the same axum router as REST and Primus, built on
//! [`socketioxide`].
//!
//! # Map
//! - [`config`]: [`SocketIoConfig`], the `[socketio]` section.
//! - this module: the layer, the namespace handlers (handshake authentication, connect,
//!   calls, disconnect), the connection registry and the [`DeliverySink`] for Socket.IO
//!   connections.
//!
//! # The life of a connection
//! socketioxide runs the Engine.IO handshake (polling then upgrade, or websocket only) and
//! the namespace `CONNECT`. Our middleware then registers a [`ConnectionInfo`] (provider
//! `socketio`, lower-case handshake headers) WITHOUT announcing it, and, when the handshake
//! carries an `Authorization` header and a [`HandshakeAuth`] is installed, runs
//! authentication `create` with `{strategy: 'jwt', accessToken}` through
//! [`call_external`]: `login` happens before `connection`. A failure refuses the socket with
//! `connect_error` (the message of the Feathers error). The connect handler then registers
//! the socket here and announces the connection (app `connection`).
//!
//! # The life of a call
//! Every event the client emits reaches one fallback handler: `emit(method, path, ...args,
//! ack)` → [`call_external`] → ack `(null, dispatch || result)` or `(errorJSON)`. Calls run
//! concurrently (socketioxide spawns each handler), bounded by `max_pending_calls`. Events a
//! call publishes are queued synchronously by the sink, so they precede its ack.
//!
//! # The life of an event
//! The app splits each [`Delivery`] by provider ([`App::add_delivery_sink`]); this sink gets
//! only Socket.IO recipients. Each batch's payload is serialized once (a JSON `RawValue`)
//! and each recipient gets `emit("<path> <event>", payload)`. A recipient whose socketioxide
//! buffer (`max_buffer_size` packets) is full is counted and closed as a slow consumer.
//!
//! # Closing
//! Every close goes through one function with a [`CloseReason`]. An app `disconnect` for an
//! open Socket.IO connection (token expiry, semantics §E22) disconnects the socket, as the
//! reference does.

pub mod config;

pub use config::SocketIoConfig;

use crate::primus::{CloseReason, TransportMetrics};
use axum::Router;
use roost_core::external::call_external;
use roost_core::{
    App, ConnectionId, ConnectionInfo, Delivery, DeliverySink, Error, ErrorKind, HookContext, Map,
    Value,
};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::{SendError, SocketError};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

/// The provider name of Socket.IO connections.
pub const PROVIDER: &str = "socketio";

/// Turns handshake headers into the data of an authentication `create`: `Some((service
/// path, {strategy: 'jwt', accessToken}))` when the headers carry credentials. Installed by
/// the app that owns authentication (the transport does not know about it).
pub type HandshakeAuth = Arc<dyn Fn(&Map<String, Value>) -> Option<(String, Value)> + Send + Sync>;

/// Why a socket was refused at its namespace connect; its text is the `connect_error`
/// message.
#[derive(Debug, thiserror::Error)]
enum ConnectRefused {
    /// Handshake authentication failed.
    #[error("{0}")]
    Authentication(String),
    /// The server is shutting down.
    #[error("Server is shutting down")]
    ShuttingDown,
}

/// The Socket.IO transport of one app. Cheap to clone. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<Inner>,
    layer: socketioxide::layer::SocketIoLayer,
}

struct Inner {
    app: App,
    config: SocketIoConfig,
    io: socketioxide::SocketIo,
    metrics: TransportMetrics,
    handshake_auth: Option<HandshakeAuth>,
    registry: RwLock<Registry>,
    shutting_down: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Registry {
    /// Open connections.
    conns: HashMap<ConnectionId, Arc<Conn>>,
    /// Sockets accepted by the middleware, not yet (or never) connected.
    pending: HashMap<Sid, ConnectionId>,
}

struct Conn {
    id: ConnectionId,
    socket: SocketRef,
    pending_calls: AtomicUsize,
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

    /// The one close: forgets the connection, counts the reason, makes it leave every
    /// channel and fires app `disconnect`, then disconnects the socket when the server
    /// initiated the close. Only the first close of a connection does anything.
    fn close(&self, id: ConnectionId, reason: CloseReason) -> bool {
        let Some(conn) = self.write().conns.remove(&id) else {
            return false;
        };
        self.metrics.count_close(reason);
        self.app.disconnect(id);
        tracing::debug!(%id, %reason, "socket.io connection closed");
        if server_initiated(reason) {
            disconnect_socket(conn.socket.clone());
        }
        true
    }
}

fn server_initiated(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::SlowConsumer | CloseReason::ServerClosed | CloseReason::ServerShutdown
    )
}

/// Sends the namespace disconnect and closes the socket. A full buffer refuses even that
/// packet; then it is retried for a while (the heartbeat also ends a stuck client).
fn disconnect_socket(socket: SocketRef) {
    match socket.clone().disconnect() {
        Ok(()) | Err(SocketError::Closed) => {}
        Err(SocketError::InternalChannelFull) => {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    for _ in 0..100 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if !socket.connected() {
                            return;
                        }
                        if !matches!(
                            socket.clone().disconnect(),
                            Err(SocketError::InternalChannelFull)
                        ) {
                            return;
                        }
                    }
                    tracing::warn!(sid = %socket.id, "socket.io: could not disconnect a stuck socket; its heartbeat will");
                });
            }
        }
    }
}

/// Maps socketioxide's reason to ours.
fn close_reason(reason: DisconnectReason) -> CloseReason {
    match reason {
        DisconnectReason::TransportClose | DisconnectReason::ClientNSDisconnect => {
            CloseReason::ClientClosed
        }
        DisconnectReason::HeartbeatTimeout => CloseReason::HeartbeatTimeout,
        DisconnectReason::TransportError => CloseReason::WriteError,
        DisconnectReason::ServerNSDisconnect => CloseReason::ServerClosed,
        DisconnectReason::ClosingServer => CloseReason::ServerShutdown,
        _ => CloseReason::ProtocolError,
    }
}

/// Handshake headers as Feathers keeps them: lower-case names, string values (repeated
/// headers joined with `, `).
fn headers_of(socket: &SocketRef) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in &socket.req_parts().headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(text));
            }
        }
    }
    headers
}

/// The arguments after the event name, however many there are.
struct Args(Vec<Value>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<Value>()? {
                    args.push(arg);
                }
                Ok(Args(args))
            }
        }
        // A tuple struct to socketioxide's parser: it hands over every argument.
        deserializer.deserialize_tuple_struct("Args", usize::MAX, ArgsVisitor)
    }
}

/// JavaScript truthiness, for `dispatch || result`.
fn truthy(value: &Value) -> bool {
    roost_core::js::is_truthy(value)
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
        let (layer, io) = socketioxide::SocketIo::builder()
            .req_path("/socket.io")
            .ping_interval(Duration::from_millis(config.ping_interval_ms))
            .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
            .max_payload(config.max_payload)
            .max_buffer_size(config.max_buffer_size)
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build_layer();
        let inner = Arc::new(Inner {
            app,
            config,
            io,
            metrics: TransportMetrics::default(),
            handshake_auth,
            registry: RwLock::new(Registry::default()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        });
        inner.app.add_delivery_sink(
            PROVIDER,
            Arc::new(SocketIoSink {
                inner: Arc::downgrade(&inner),
            }),
        );
        // Token expiry and server-side `app.emit('disconnect')` end the socket (§E22, §H17).
        let weak = Arc::downgrade(&inner);
        inner.app.on_disconnect(move |_app, info| {
            if let Some(inner) = weak.upgrade() {
                inner.close(info.id(), CloseReason::ServerClosed);
            }
        });
        let connect_inner = Arc::downgrade(&inner);
        let middleware_inner = Arc::downgrade(&inner);
        let handler = {
            move |socket: SocketRef| {
                let inner = connect_inner.clone();
                async move {
                    if let Some(inner) = inner.upgrade() {
                        on_connect(&inner, socket);
                    }
                }
            }
        };
        let middleware = move |socket: SocketRef| {
            let inner = middleware_inner.clone();
            async move {
                match inner.upgrade() {
                    Some(inner) => accept(&inner, &socket).await,
                    None => Err(ConnectRefused::ShuttingDown),
                }
            }
        };
        inner.io.ns("/", handler.with(middleware));
        SocketIo { inner, layer }
    }

    /// `router` with every `/socket.io/…` request handled by Socket.IO first.
    pub fn wrap(&self, router: Router) -> Router {
        router.layer(self.layer.clone())
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

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.read().conns.len()
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

    /// Stops the transport: refuses new sockets and closes every open one, within `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let ids = self.connection_ids();
        for id in ids {
            if let Some(conn) = self.inner.write().conns.remove(&id) {
                self.inner.metrics.count_close(CloseReason::ServerShutdown);
                self.inner.app.disconnect(id);
                drop(conn);
            }
        }
        if tokio::time::timeout(deadline, self.inner.io.close())
            .await
            .is_err()
        {
            tracing::warn!("socket.io: sockets still open after the shutdown deadline");
        }
    }
}

/// The namespace middleware: registers the connection (not yet announced) and runs
/// handshake authentication. An error refuses the socket with `connect_error`.
async fn accept(inner: &Arc<Inner>, socket: &SocketRef) -> Result<(), ConnectRefused> {
    if inner.shutting_down.load(Ordering::Acquire) {
        return Err(ConnectRefused::ShuttingDown);
    }
    let headers = headers_of(socket);
    let credentials = inner.handshake_auth.as_ref().and_then(|f| f(&headers));
    let id = ConnectionId::next();
    let info = inner
        .app
        .register_connection(ConnectionInfo::new(id, PROVIDER, headers));
    if let Some((path, data)) = credentials {
        let params = info.params();
        let result = call_external(
            &inner.app,
            "create",
            &Value::String(path),
            vec![data, Value::Object(Map::new())],
            params,
        )
        .await;
        if let Err(error) = result {
            inner.app.forget_connection(id);
            tracing::debug!(%id, reason = %error.message, "socket.io handshake authentication failed");
            return Err(ConnectRefused::Authentication(error.message));
        }
    }
    let sid = socket.id;
    inner.write().pending.insert(sid, id);
    // socketioxide may still fail to send the CONNECT answer after the middleware, and then
    // never runs the connect handler: a connection still pending after a while is forgotten.
    let weak = Arc::downgrade(inner);
    let grace = Duration::from_millis(inner.config.connect_timeout_ms);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        if let Some(inner) = weak.upgrade() {
            let stale = inner.write().pending.remove(&sid);
            if let Some(id) = stale {
                tracing::debug!(%id, "socket.io socket never connected; forgotten");
                inner.app.forget_connection(id);
            }
        }
    });
    Ok(())
}

/// The connect handler: the socket is connected to the namespace.
fn on_connect(inner: &Arc<Inner>, socket: SocketRef) {
    let Some(id) = inner.write().pending.remove(&socket.id) else {
        tracing::warn!(sid = %socket.id, "socket.io socket connected without its middleware");
        let _ = socket.disconnect();
        return;
    };
    let Some(info) = inner.app.connection(id) else {
        let _ = socket.disconnect();
        return;
    };
    let conn = Arc::new(Conn {
        id,
        socket: socket.clone(),
        pending_calls: AtomicUsize::new(0),
    });
    inner.write().conns.insert(id, Arc::clone(&conn));
    TransportMetrics::inc(&inner.metrics.connections_open);
    TransportMetrics::inc(&inner.metrics.connections_total);
    tracing::debug!(%id, sid = %socket.id, transport = ?socket.transport_type(), "socket.io connection open");

    let weak = Arc::downgrade(inner);
    socket.on_disconnect(move |reason: DisconnectReason| {
        let weak = weak.clone();
        async move {
            if let Some(inner) = weak.upgrade() {
                inner.close(id, close_reason(reason));
                // Closed by the server already: still make sure the app forgot it.
                inner.app.disconnect(id);
            }
        }
    });
    let weak = Arc::downgrade(inner);
    socket.on_fallback(
        move |Event(method): Event, TryData(args): TryData<Args>, ack: AckSender| {
            let weak = weak.clone();
            async move {
                if let Some(inner) = weak.upgrade() {
                    on_call(&inner, id, method, args.map(|a| a.0), ack).await;
                }
            }
        },
    );
    inner.app.announce_connection(&info);
}

/// Decrements the in-flight count when a call ends, however it ends.
struct PendingGuard(Arc<Conn>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.pending_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One call: `emit(method, path, ...args, ack)`.
async fn on_call(
    inner: &Arc<Inner>,
    id: ConnectionId,
    method: String,
    args: Result<Vec<Value>, socketioxide::ParserError>,
    ack: AckSender,
) {
    let Some(conn) = inner.conn(id) else {
        return;
    };
    TransportMetrics::inc(&inner.metrics.frames_in);
    let mut args = match args {
        Ok(args) => args,
        Err(error) => {
            tracing::trace!(%id, %error, "malformed socket.io event");
            TransportMetrics::inc(&inner.metrics.malformed_frames);
            return;
        }
    };
    TransportMetrics::inc(&inner.metrics.calls);
    if !inner.app.is_external_method(&method) {
        // The reference binds no listener for this name and never answers (§H14); Roost
        // answers, as it does on Primus, so clients do not wait forever.
        let error = Error::new(
            ErrorKind::MethodNotAllowed,
            format!("Method '{method}' is not a method of any service"),
        );
        send_ack(inner, &conn, ack, &(error.to_json(),));
        return;
    }
    let before = conn.pending_calls.fetch_add(1, Ordering::AcqRel);
    let guard = PendingGuard(Arc::clone(&conn));
    if before >= inner.config.max_pending_calls {
        drop(guard);
        TransportMetrics::inc(&inner.metrics.pending_call_limit_hits);
        let error = Error::new(
            ErrorKind::TooManyRequests,
            format!(
                "Too many calls in flight on this connection (limit {})",
                inner.config.max_pending_calls
            ),
        );
        send_ack(inner, &conn, ack, &(error.to_json(),));
        return;
    }
    let path = if args.is_empty() {
        Value::Null
    } else {
        args.remove(0)
    };
    let Some(info) = inner.app.connection(id) else {
        return;
    };
    let result = call_external(&inner.app, &method, &path, args, info.params()).await;
    drop(guard);
    match result {
        Ok(ctx) => send_ack(inner, &conn, ack, &(Value::Null, answer(ctx))),
        Err(error) => send_ack(inner, &conn, ack, &(error.to_json(),)),
    }
}

/// `dispatch || result`, `null` when both are missing.
fn answer(ctx: HookContext) -> Value {
    match (ctx.dispatch, ctx.result) {
        (Some(dispatch), _) if truthy(&dispatch) => dispatch,
        (_, Some(result)) => result,
        (Some(dispatch), None) => dispatch,
        (None, None) => Value::Null,
    }
}

/// Sends an ack; a full buffer closes the connection as a slow consumer.
fn send_ack<T: serde::Serialize>(inner: &Inner, conn: &Conn, ack: AckSender, data: &T) {
    match ack.send(data) {
        Ok(()) => TransportMetrics::inc(&inner.metrics.frames_out),
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            inner.close(conn.id, CloseReason::SlowConsumer);
        }
        Err(SendError::Socket(SocketError::Closed)) => {}
        Err(error) => tracing::error!(id = %conn.id, %error, "socket.io ack not sent"),
    }
}

/// The sink for Socket.IO recipients. Holds the transport weakly: the app owns the sink.
struct SocketIoSink {
    inner: Weak<Inner>,
}

impl DeliverySink for SocketIoSink {
    fn deliver(&self, delivery: Delivery) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let name = delivery.wire_name();
        let mut slow = Vec::new();
        for batch in &delivery.batches {
            // Serialized once per batch; each emit only copies these bytes into its frame.
            let payload = match serde_json::value::to_raw_value(&*batch.payload) {
                Ok(raw) => raw,
                Err(error) => {
                    tracing::error!(event = %name, %error, "event payload not serializable");
                    continue;
                }
            };
            let registry = inner.read();
            for id in &batch.connections {
                let Some(conn) = registry.conns.get(id) else {
                    continue;
                };
                match conn.socket.emit(&name, &payload) {
                    Ok(()) => TransportMetrics::inc(&inner.metrics.frames_out),
                    Err(SendError::Socket(SocketError::InternalChannelFull)) => slow.push(*id),
                    Err(SendError::Socket(SocketError::Closed)) => {}
                    Err(error) => {
                        tracing::error!(%id, event = %name, %error, "socket.io event not sent");
                    }
                }
            }
        }
        for id in slow {
            inner.close(id, CloseReason::SlowConsumer);
        }
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
