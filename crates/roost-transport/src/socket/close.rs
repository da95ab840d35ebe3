//! [`CloseReason`]: why a socket connection ended, one name per reason, shared by Primus
//! and Socket.IO (each transport closes every connection through one function that takes
//! one of these).

use std::fmt;

/// Why a connection ended. Every close goes through one function that takes this reason
/// (one exit per connection, one reason per exit).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed the websocket or the TCP connection went away.
    ClientClosed,
    /// The websocket protocol was violated (bad frame, bad UTF-8 in a text frame).
    ProtocolError,
    /// No pong (nor websocket ping) since the previous heartbeat tick.
    HeartbeatTimeout,
    /// The connection's writer queue was full (frames or bytes).
    SlowConsumer,
    /// Writing to the socket failed.
    WriteError,
    /// The server is shutting down.
    ServerShutdown,
    /// A message over `max_frame_size` arrived (closed with 1009).
    FrameTooLarge,
    /// The application closed the connection ([`Primus::close`](crate::Primus::close),
    /// [`SocketIo::close`](crate::SocketIo::close), an app `disconnect`).
    ServerClosed,
}

impl CloseReason {
    /// Every reason, in counter order.
    pub const ALL: [CloseReason; 8] = [
        CloseReason::ClientClosed,
        CloseReason::ProtocolError,
        CloseReason::HeartbeatTimeout,
        CloseReason::SlowConsumer,
        CloseReason::WriteError,
        CloseReason::ServerShutdown,
        CloseReason::FrameTooLarge,
        CloseReason::ServerClosed,
    ];

    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::WriteError => "write_error",
            CloseReason::ServerShutdown => "server_shutdown",
            CloseReason::FrameTooLarge => "frame_too_large",
            CloseReason::ServerClosed => "server_closed",
        }
    }

    pub(crate) fn index(self) -> usize {
        CloseReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0)
    }

    /// Whether the server ends the connection on purpose and says so with
    /// `"primus::server::close"`, so the client does not reconnect. Lost connections, heartbeat
    /// timeouts and slow consumers get no such frame: their clients should reconnect. Neither
    /// does a server shutdown: the reference closes every socket without it on SIGTERM, so
    /// clients reconnect to the restarted server (or another node) by themselves.
    pub(crate) fn sends_server_close(self) -> bool {
        matches!(self, CloseReason::ServerClosed | CloseReason::ProtocolError)
    }

    /// The websocket close code, `None` for a close frame without status (seen as 1005).
    pub(crate) fn close_code(self) -> Option<u16> {
        match self {
            CloseReason::FrameTooLarge => Some(1009),
            _ => None,
        }
    }

    /// Whether frames still queued are written before closing. A slow consumer's backlog is
    /// dropped (that is the point of closing it); so is anything after a failed write.
    pub(crate) fn flushes_backlog(self) -> bool {
        matches!(
            self,
            CloseReason::ServerShutdown | CloseReason::ServerClosed | CloseReason::ProtocolError
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
