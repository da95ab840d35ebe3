//! [`SocketIoConfig`]: the `[socketio]` settings.

use serde::{Deserialize, Serialize};

/// The Socket.IO transport's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketIoConfig {
    /// Serve Socket.IO at `/socket.io/` (default `true`). When off, those paths fall
    /// through to REST.
    pub enabled: bool,
    /// Engine.IO `pingInterval` in milliseconds (default 25000, Socket.IO's default).
    pub ping_interval_ms: u64,
    /// Engine.IO `pingTimeout` in milliseconds (default 20000).
    pub ping_timeout_ms: u64,
    /// Engine.IO `maxPayload`: largest polling body or websocket message accepted, in bytes
    /// (default 1000000, Socket.IO's `maxHttpBufferSize`). A larger polling body is answered
    /// 413 and a larger websocket message ends the socket; both close the session.
    pub max_payload: u64,
    /// Largest message accepted from a connection that has not logged in (default 64 KiB:
    /// logins, signups and small calls fit). A larger EVENT is answered with a `BadRequest`
    /// ack without being parsed, and the session stays open; any other larger packet
    /// closes it as a protocol error.
    pub max_payload_anonymous: u64,
    /// Most JSON values one packet may hold (default 20000), as `primus.max_frame_values`:
    /// an EVENT with more is answered with a `BadRequest` ack without being parsed; any other
    /// packet with more closes the session as a protocol error.
    pub max_payload_values: usize,
    /// Most packets waiting to be written to one connection (default 1024; Engine.IO's
    /// per-socket buffer). A connection whose buffer is full when an event or an ack is
    /// queued is counted and closed as a slow consumer; nothing is dropped silently. With
    /// long-polling the buffer empties only when the client polls.
    pub max_buffer_size: usize,
    /// Most bytes of packets waiting to be written to one connection (default 4 MiB, as
    /// `primus.writer_queue_bytes`). Checked with `max_buffer_size` when an event or an ack
    /// is queued: a connection over either is counted and closed as a slow consumer. One
    /// packet larger than this is still queued when nothing else waits (a large event is
    /// bounded by what the app sends, not here).
    pub max_buffer_bytes: usize,
    /// Most bytes one websocket read takes (default 8192, also the most it can take), as
    /// `primus.read_buffer_size`: read into a buffer on the reading thread's stack, so it
    /// costs nothing per idle session; only an incomplete frame or message is kept until it
    /// is whole. Not a limit (`max_payload` is).
    pub read_buffer_size: usize,
    /// Milliseconds a websocket upgrade of a polling session may take from the websocket's
    /// open to the client's `5` (default 10000, Engine.IO's `upgradeTimeout`). A probe not
    /// done by then closes that websocket; the session stays on polling.
    pub upgrade_timeout_ms: u64,
    /// Milliseconds a closing session's websocket gets to write its last packets and close
    /// frame (default 1000); then the socket is dropped.
    pub close_timeout_ms: u64,
    /// Most Engine.IO sessions open at once, whether or not they joined the namespace yet
    /// (default 100000, like `primus.max_connections`). A handshake beyond it (a request to
    /// `/socket.io/` without `sid`) is refused with 503 and a Feathers `Unavailable` error
    /// before any session is created, and counted.
    pub max_connections: usize,
    /// Most calls one connection may have in flight (default 64). A call beyond it is
    /// answered with a `TooManyRequests` error ack and not run.
    pub max_pending_calls: usize,
    /// Milliseconds a client gets to connect to the namespace after the Engine.IO
    /// handshake (default 45000, Socket.IO's `connectTimeout`); a session that has not
    /// joined by then (or within as long after leaving it) is closed and counted.
    pub connect_timeout_ms: u64,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            enabled: true,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            max_payload: 1_000_000,
            max_payload_anonymous: 64 * 1024,
            max_payload_values: 20_000,
            max_buffer_size: 1024,
            max_buffer_bytes: 4 * 1024 * 1024,
            read_buffer_size: 8192,
            upgrade_timeout_ms: 10_000,
            close_timeout_ms: 1000,
            max_connections: 100_000,
            max_pending_calls: 64,
            connect_timeout_ms: 45_000,
        }
    }
}

impl SocketIoConfig {
    /// The settings that would only fail at first use, checked up front: every limit and
    /// timeout must be positive.
    ///
    /// ```
    /// use roost_transport::SocketIoConfig;
    ///
    /// let config = SocketIoConfig::default();
    /// assert_eq!(config.ping_interval_ms, 25_000);
    /// assert_eq!(config.max_payload, 1_000_000);
    /// assert!(config.validate().is_ok());
    ///
    /// let broken = SocketIoConfig { ping_timeout_ms: 0, ..SocketIoConfig::default() };
    /// assert_eq!(broken.validate().unwrap_err(), "socketio.ping_timeout_ms must be > 0");
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("ping_interval_ms", self.ping_interval_ms),
            ("ping_timeout_ms", self.ping_timeout_ms),
            ("max_payload", self.max_payload),
            ("max_payload_anonymous", self.max_payload_anonymous),
            ("max_payload_values", self.max_payload_values as u64),
            ("max_buffer_size", self.max_buffer_size as u64),
            ("max_buffer_bytes", self.max_buffer_bytes as u64),
            ("read_buffer_size", self.read_buffer_size as u64),
            ("upgrade_timeout_ms", self.upgrade_timeout_ms),
            ("close_timeout_ms", self.close_timeout_ms),
            ("max_connections", self.max_connections as u64),
            ("max_pending_calls", self.max_pending_calls as u64),
            ("connect_timeout_ms", self.connect_timeout_ms),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("socketio.{key} must be > 0"));
            }
        }
        Ok(())
    }
}
