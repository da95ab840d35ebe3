//! [`TransportMetrics`]: counters of the Primus transport, plain atomics read by `/metrics`
//! (later) and by tests.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection ended. Every close goes through one function that takes this reason
/// (STYLE.md "Every exit goes through one close with a reason").
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
    /// The application closed the connection ([`Primus::close`](super::Primus::close)).
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

    fn index(self) -> usize {
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
    pub fn sends_server_close(self) -> bool {
        matches!(self, CloseReason::ServerClosed | CloseReason::ProtocolError)
    }

    /// The websocket close code, `None` for a close frame without status (seen as 1005).
    pub fn close_code(self) -> Option<u16> {
        match self {
            CloseReason::FrameTooLarge => Some(1009),
            _ => None,
        }
    }

    /// Whether frames still queued are written before closing. A slow consumer's backlog is
    /// dropped (that is the point of closing it); so is anything after a failed write.
    pub fn flushes_backlog(self) -> bool {
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

/// Counters of one Primus transport. Relaxed atomics: each is exact on its own, a set of
/// them read together is only roughly consistent.
#[derive(Debug, Default)]
pub struct TransportMetrics {
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Text frames received.
    pub frames_in: AtomicU64,
    /// Frames enqueued for writing (events, acks, pings, control answers).
    pub frames_out: AtomicU64,
    /// Text frames that were not JSON.
    pub malformed_frames: AtomicU64,
    /// Frames ignored as the reference ignores them (wrong shapes, reserved names, binary).
    pub ignored_frames: AtomicU64,
    /// Calls run.
    pub calls: AtomicU64,
    /// Upgrades refused because `max_connections` was reached.
    pub refused_connections: AtomicU64,
    /// Calls refused because `max_pending_calls` was reached.
    pub pending_call_limit_hits: AtomicU64,
    closes: [AtomicU64; 8],
    /// Where distributions go (fan-out latency, deliveries per event, queue depth).
    pub(crate) observer: crate::observe::ObserverSlot,
}

impl TransportMetrics {
    /// Reports fan-out and queue-depth distributions to `observer` from now on. False when
    /// an observer was already set.
    pub fn set_observer(&self, observer: std::sync::Arc<dyn crate::TransportObserver>) -> bool {
        self.observer.set(observer)
    }

    /// How many connections closed for `reason`.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[reason.index()].load(Ordering::Relaxed)
    }

    /// Connections closed as slow consumers.
    pub fn slow_consumer_closes(&self) -> u64 {
        self.closes(CloseReason::SlowConsumer)
    }

    /// Every limit hit: refused upgrades, refused calls, oversized frames, slow consumers.
    pub fn limit_hits(&self) -> u64 {
        self.refused_connections.load(Ordering::Relaxed)
            + self.pending_call_limit_hits.load(Ordering::Relaxed)
            + self.closes(CloseReason::FrameTooLarge)
            + self.closes(CloseReason::SlowConsumer)
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_close(&self, reason: CloseReason) {
        Self::inc(&self.closes[reason.index()]);
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}
