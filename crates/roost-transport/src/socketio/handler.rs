//! The Socket.IO side of an Engine.IO session (`engine` calls in here): what happens to a
//! session from its open to its close, and to every packet it sends.
//!
//! A session is in one [`Phase`] at a time: `Idle` (no namespace joined: after the
//! handshake, a refused connect or leaving), `Connecting` (handshake authentication
//! running), `Connected` (a registered connection) or `Closed`. The phase changes only under
//! the session's own lock, which is never held while calling into the app; the registry lock
//! is taken inside it, never the other way round.

use super::engine::{EmitError, EndReason, Session};
use super::{authenticate, call, close_reason, packet, register, Conn, Inner, PROVIDER};
use crate::socket::{CloseReason, TransportMetrics};
use packet::{PacketError, PacketType, ROOT_NAMESPACE};
use roost_core::{ConnectionId, ConnectionInfo, Error, HandshakeHeaders};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::task::AbortHandle;

/// Where a session stands with the namespace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    #[default]
    Idle,
    Connecting,
    Connected(ConnectionId),
    Closed,
}

#[derive(Debug, Default)]
struct NsState {
    phase: Phase,
    /// Bumped each time the session leaves the namespace, so a connect timeout armed
    /// before that does not fire.
    generation: u64,
    /// The handshake's headers while the session has no connection; a connection holds
    /// them (its [`ConnectionInfo`]) and they come back here when it leaves, so a joined
    /// session keeps one copy, not two.
    headers: Option<HandshakeHeaders>,
    /// The armed connect timeout's task, aborted when the session joins: a joined session
    /// does not keep a sleeping task for `connect_timeout_ms`.
    timeout: Option<AbortHandle>,
}

/// What we keep on each Engine.IO session.
#[derive(Debug, Default)]
pub(crate) struct SocketState {
    ns: Mutex<NsState>,
}

/// A connection's handshake headers, read back from its [`ConnectionInfo`].
fn headers_of(info: &ConnectionInfo) -> HandshakeHeaders {
    let headers = info.headers();
    HandshakeHeaders::from_pairs(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?))),
    )
}

impl SocketState {
    /// The state of a new session, with its handshake's headers.
    pub(crate) fn new(headers: HandshakeHeaders) -> SocketState {
        SocketState {
            ns: Mutex::new(NsState {
                headers: Some(headers),
                ..NsState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, NsState> {
        self.ns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection, when the session joined the namespace.
    pub(super) fn connected(&self) -> Option<ConnectionId> {
        match self.lock().phase {
            Phase::Connected(id) => Some(id),
            _ => None,
        }
    }

    /// Connection `id` (`info`, while the app still has it) left the namespace: its headers
    /// come back to the session. True when the session is still open.
    pub(super) fn leave(&self, id: ConnectionId, info: Option<&ConnectionInfo>) -> bool {
        let mut ns = self.lock();
        if ns.phase == Phase::Connected(id) {
            ns.phase = Phase::Idle;
            ns.generation += 1;
            ns.headers = Some(info.map(headers_of).unwrap_or_default());
            true
        } else {
            false
        }
    }
}

/// A new session (before its first packet): registered, counted, given
/// `connect_timeout_ms` to join the namespace. During shutdown it is closed at once.
pub(super) fn on_open(inner: &Arc<Inner>, session: &Arc<Session>) {
    if inner.lifecycle.is_shutting_down() {
        session.close(EndReason::ServerShutdown);
        return;
    }
    inner
        .write()
        .sessions
        .insert(session.id, Arc::clone(session));
    TransportMetrics::inc(&inner.sio_metrics.sessions_open);
    tracing::debug!(sid = %session.id, transport = ?session.transport(), "socket.io session open");
    arm_connect_timeout(inner, session);
}

/// A session ended: forgotten, and its connection closed for the matching reason.
pub(super) fn on_close(inner: &Arc<Inner>, session: &Arc<Session>, reason: EndReason) {
    let phase = std::mem::replace(&mut session.data.lock().phase, Phase::Closed);
    if inner.write().sessions.remove(&session.id).is_some() {
        inner
            .sio_metrics
            .sessions_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    if let Phase::Connected(id) = phase {
        inner.close(id, close_reason(reason));
    }
    // A session closed while `Connecting`: the connect task finds it `Closed` and
    // forgets its connection.
}

/// One Socket.IO packet (an Engine.IO message, its `4` taken off).
pub(super) fn on_message(inner: &Arc<Inner>, socket: &Arc<Session>, msg: &str) {
    // The session's span (debug level: free when disabled) around each of its packets,
    // so its lines, and the calls it starts, join by `sid`.
    let _span = tracing::debug_span!("socketio", sid = %socket.id).entered();
    TransportMetrics::inc(&inner.metrics.frames_in);
    let limit = inner.config.max_payload_anonymous;
    if msg.len() as u64 > limit {
        let connected = socket.data.connected();
        if !connected.is_some_and(|id| crate::is_authenticated(&inner.app, id)) {
            // Parsing JSON costs tens of times its size: a large packet before login is
            // answered from its head alone.
            TransportMetrics::inc(&inner.metrics.anonymous_frame_limit_hits);
            // A call gets an error ack and the session stays; anything else that large
            // ends the session, as a packet Socket.IO cannot take does.
            match (connected, packet::event_ack_id(msg)) {
                (Some(_), Some(id)) => {
                    let error = crate::anonymous_too_large_error(limit);
                    emit_or_close(inner, socket, packet::ack(id, &[error.to_json()]));
                }
                _ => protocol_error(inner, socket),
            }
            return;
        }
    }
    let max_values = inner.config.max_payload_values;
    if msg.len() > max_values
        && roost_wire::json_cost::has_more_values_than(msg.as_bytes(), max_values)
    {
        TransportMetrics::inc(&inner.metrics.value_limit_hits);
        match (socket.data.connected(), packet::event_ack_id(msg)) {
            (Some(_), Some(id)) => {
                let error = crate::too_many_values_error(max_values);
                emit_or_close(inner, socket, packet::ack(id, &[error.to_json()]));
            }
            _ => protocol_error(inner, socket),
        }
        return;
    }
    let packet = match packet::parse(msg) {
        Ok(packet) => packet,
        Err(PacketError::TooDeep(Some(id))) if socket.data.connected().is_some() => {
            // A call in valid JSON the parser cannot hold: answered like REST answers
            // the same body; the session stays open.
            TransportMetrics::inc(&inner.metrics.too_deep_calls);
            let error = crate::too_deep_error();
            emit_or_close(inner, socket, packet::ack(id, &[error.to_json()]));
            return;
        }
        Err(error) => {
            tracing::debug!(sid = %socket.id, %error, "malformed socket.io packet");
            TransportMetrics::inc(&inner.metrics.malformed_frames);
            protocol_error(inner, socket);
            return;
        }
    };
    if packet.kind.is_binary() {
        refuse_binary(inner, socket, packet.kind, packet.id);
        return;
    }
    if packet.kind == PacketType::Connect {
        if packet.nsp == ROOT_NAMESPACE {
            connect(inner, socket);
        } else {
            // Socket.IO's answer; the session stays open for another connect.
            TransportMetrics::inc(&inner.sio_metrics.connect_errors);
            let refusal = packet::connect_error(packet.nsp, "Invalid namespace", None);
            emit_or_close(inner, socket, refusal);
        }
        return;
    }
    let conn = match socket.data.connected() {
        Some(id) if packet.nsp == ROOT_NAMESPACE => inner.conn(id),
        _ => None,
    };
    let Some(conn) = conn else {
        // An event, ack or disconnect for a namespace the session has not joined, or a
        // CONNECT_ERROR from a client: Socket.IO closes the session ("invalid state").
        tracing::debug!(sid = %socket.id, kind = ?packet.kind, nsp = packet.nsp, "socket.io packet out of order");
        TransportMetrics::inc(&inner.metrics.malformed_frames);
        protocol_error(inner, socket);
        return;
    };
    match packet.kind {
        PacketType::Event => call::on_event(inner, conn, packet.id, packet.data),
        PacketType::Disconnect => {
            inner.close(conn.id, CloseReason::ClientClosed);
        }
        // An ack for an event we never sent with an id: ignored, as Socket.IO does.
        PacketType::Ack => TransportMetrics::inc(&inner.metrics.ignored_frames),
        _ => {
            TransportMetrics::inc(&inner.metrics.malformed_frames);
            protocol_error(inner, socket);
        }
    }
}

/// An Engine.IO binary message: refused (Roost supports no attachments).
pub(super) fn on_binary(inner: &Arc<Inner>, socket: &Arc<Session>) {
    TransportMetrics::inc(&inner.metrics.frames_in);
    refuse_binary(inner, socket, PacketType::BinaryEvent, None);
}

/// Closes a session that broke the protocol, with its connection when it has one.
fn protocol_error(inner: &Arc<Inner>, socket: &Arc<Session>) {
    if let Some(id) = socket.data.connected() {
        inner.close(id, CloseReason::ProtocolError);
    }
    socket.close(EndReason::ProtocolError);
}

/// Roost supports no binary attachments: an event that expects an answer gets a
/// `BadRequest` ack saying so, then the session is closed as a protocol error.
fn refuse_binary(inner: &Arc<Inner>, socket: &Arc<Session>, kind: PacketType, ack_id: Option<u64>) {
    TransportMetrics::inc(&inner.sio_metrics.binary_packets);
    tracing::debug!(sid = %socket.id, ?kind, "socket.io binary packet refused");
    if let (PacketType::BinaryEvent, Some(id)) = (kind, ack_id) {
        let error = Error::bad_request("Binary attachments are not supported by this server");
        if socket.emit(packet::ack(id, &[error.to_json()])).is_ok() {
            TransportMetrics::inc(&inner.metrics.frames_out);
        }
    }
    protocol_error(inner, socket);
}

/// Sends a packet outside any connection; a full buffer closes the session.
fn emit_or_close(inner: &Inner, socket: &Arc<Session>, text: String) {
    match socket.emit(text) {
        Ok(()) => TransportMetrics::inc(&inner.metrics.frames_out),
        Err(EmitError::Full) => socket.close(EndReason::TransportError),
        Err(EmitError::Closed) => {}
    }
}

/// `CONNECT` to `/`: register the connection, authenticate the handshake when it carries
/// credentials, then join (or refuse with `CONNECT_ERROR`).
fn connect(inner: &Arc<Inner>, socket: &Arc<Session>) {
    let headers = {
        let mut ns = socket.data.lock();
        if ns.phase != Phase::Idle {
            drop(ns);
            tracing::debug!(sid = %socket.id, "socket.io CONNECT while connecting or connected");
            TransportMetrics::inc(&inner.metrics.malformed_frames);
            protocol_error(inner, socket);
            return;
        }
        ns.phase = Phase::Connecting;
        ns.headers.take().unwrap_or_default()
    };
    let (info, credentials) = register(inner, headers);
    match credentials {
        None => join(inner, socket, &info),
        Some(credentials) => {
            let inner = Arc::clone(inner);
            let socket = Arc::clone(socket);
            tokio::spawn(async move {
                match authenticate(&inner, &info, credentials).await {
                    Ok(()) => join(&inner, &socket, &info),
                    Err(error) => refuse(&inner, &socket, &info, &error),
                }
            });
        }
    }
}

/// The namespace connect succeeded: the connection is registered here, announced to the
/// app (`connection`), and the client gets `40{"sid":…}`.
fn join(inner: &Arc<Inner>, socket: &Arc<Session>, info: &Arc<ConnectionInfo>) {
    let id = info.id();
    let joined = {
        let mut ns = socket.data.lock();
        if ns.phase == Phase::Connecting {
            ns.phase = Phase::Connected(id);
            if let Some(timeout) = ns.timeout.take() {
                timeout.abort();
            }
            let conn = Arc::new(Conn {
                id,
                socket: Arc::clone(socket),
                pending_calls: AtomicUsize::new(0),
            });
            inner.write().conns.insert(id, conn);
            true
        } else {
            false
        }
    };
    if !joined {
        // The session closed while authenticating.
        inner.app.forget_connection(id);
        return;
    }
    TransportMetrics::inc(&inner.metrics.connections_open);
    TransportMetrics::inc(&inner.metrics.connections_total);
    tracing::debug!(%id, sid = %socket.id, provider = PROVIDER, "socket.io connection open");
    // Announced before the client hears `40`, so nothing it sends can overtake its
    // `connection` listeners; events they publish to it wait in the client's buffer until
    // it sees `40`, as socket.io-client buffers events before its connect.
    inner.app.announce_connection(info);
    if inner.conn(id).is_none() {
        return;
    }
    match socket.emit(packet::connect(socket.id.as_str())) {
        Ok(()) => TransportMetrics::inc(&inner.metrics.frames_out),
        Err(EmitError::Full) => {
            inner.close(id, CloseReason::SlowConsumer);
        }
        Err(EmitError::Closed) => {}
    }
}

/// Handshake authentication failed: `44{"message":…,"data":…}`; the session stays open
/// (the client may connect again) until its connect timeout.
fn refuse(inner: &Arc<Inner>, socket: &Arc<Session>, info: &ConnectionInfo, error: &Error) {
    inner.app.forget_connection(info.id());
    {
        let mut ns = socket.data.lock();
        if ns.phase != Phase::Connecting {
            return;
        }
        ns.phase = Phase::Idle;
        // The session may connect again, with the same handshake.
        ns.headers = Some(headers_of(info));
    }
    TransportMetrics::inc(&inner.sio_metrics.connect_errors);
    tracing::debug!(sid = %socket.id, reason = %error.message, "socket.io handshake authentication failed");
    let refusal = packet::connect_error(ROOT_NAMESPACE, &error.message, error.data.as_ref());
    emit_or_close(inner, socket, refusal);
}

/// Closes the session if it has not joined the namespace `connect_timeout_ms` from now
/// (and has not joined and left meanwhile). The task ends with the session, or when it
/// joins.
pub(super) fn arm_connect_timeout(inner: &Arc<Inner>, socket: &Arc<Session>) {
    // Under the lock until the handle is stored, so a join cannot miss it.
    let mut ns = socket.data.lock();
    let generation = ns.generation;
    let timeout = Duration::from_millis(inner.config.connect_timeout_ms);
    let weak = Arc::downgrade(inner);
    let session = Arc::clone(socket);
    let task = tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = session.closed() => return,
        }
        let idle = {
            let ns = session.data.lock();
            ns.phase == Phase::Idle && ns.generation == generation
        };
        if idle {
            if let Some(inner) = weak.upgrade() {
                TransportMetrics::inc(&inner.sio_metrics.connect_timeouts);
            }
            tracing::debug!(sid = %session.id, "socket.io session joined no namespace in time; closed");
            session.close(EndReason::ConnectTimeout);
        }
    });
    if let Some(earlier) = ns.timeout.replace(task.abort_handle()) {
        earlier.abort();
    }
}
