//! [`PrimusConfig`]: the `[primus]` settings.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The Primus transport's settings. Every limit is per process unless it says per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrimusConfig {
    /// Serve Primus at all (default `true`). When off, `/primus…` paths fall through to REST.
    pub enabled: bool,
    /// Heartbeat interval in milliseconds (default 10000, the iR Engine setting; Primus' own
    /// default is 30000). `0` turns heartbeats off, like `pingInterval: false`. A connection
    /// that sent no pong (nor websocket ping) since the previous tick is closed.
    pub ping_interval_ms: u64,
    /// Largest websocket message accepted, in bytes (default 1 MiB, like `rest.body_limit`;
    /// Primus' `maxLength` is 10 MiB, but parsing JSON costs tens of times its size in
    /// memory). A larger one closes the connection with code 1009.
    pub max_frame_size: usize,
    /// Largest message accepted from a connection that has not logged in (default 64 KiB:
    /// logins, signups and small calls fit). A larger EVENT is answered with a `BadRequest`
    /// ack without being parsed, and the connection stays open.
    pub max_frame_size_anonymous: usize,
    /// Most JSON values (objects, arrays, strings and keys, numbers, literals) one message
    /// may hold (default 20000). Parsed JSON costs up to about 1 KiB of memory per value: a
    /// message with more is answered with a `BadRequest` ack without being parsed.
    pub max_frame_values: usize,
    /// Most open connections (default 100000). Further upgrades are refused with 503 and a
    /// Feathers `Unavailable` error.
    pub max_connections: usize,
    /// Most calls one connection may have in flight (default 64). A call beyond it is
    /// answered with a `TooManyRequests` error ack and not run.
    pub max_pending_calls: usize,
    /// Most frames waiting in one connection's writer queue (default 1024). A connection
    /// whose queue is full is closed as a slow consumer.
    pub writer_queue_frames: usize,
    /// Most bytes waiting in one connection's writer queue (default 4 MiB). A single frame
    /// larger than this is still accepted when the queue is empty.
    pub writer_queue_bytes: usize,
    /// Most bytes one socket read takes (default 8192, also the most it can take: larger
    /// values read 8192). They are read into a buffer on the reading thread's stack and
    /// decoded before the read returns, so this costs nothing per idle connection; only the
    /// start of a frame cut by the end of a read (or a fragmented message) is kept, until the
    /// message is whole. Not a limit (`max_frame_size` is).
    pub read_buffer_size: usize,
    /// No longer used (default 4096; still accepted so existing configurations load): it
    /// sized tungstenite's buffer for the control frames it answered. Pongs and close answers
    /// now join the connection's ordered queue directly, like every frame Roost sends.
    pub write_buffer_size: usize,
    /// Milliseconds a closing connection gets to write its last frames (default 1000).
    pub close_timeout_ms: u64,
    /// The browser client library served at `/primus/primus.js` (a file the binary reads at
    /// start). Unset: the transport answers 404 there; the `roost` binary serves its embedded
    /// library instead.
    pub client_library: Option<PathBuf>,
}

impl Default for PrimusConfig {
    fn default() -> Self {
        PrimusConfig {
            enabled: true,
            ping_interval_ms: 10_000,
            max_frame_size: 1024 * 1024,
            max_frame_size_anonymous: 64 * 1024,
            max_frame_values: 20_000,
            max_connections: 100_000,
            max_pending_calls: 64,
            writer_queue_frames: 1024,
            writer_queue_bytes: 4 * 1024 * 1024,
            read_buffer_size: 8192,
            write_buffer_size: 4096,
            close_timeout_ms: 1000,
            client_library: None,
        }
    }
}

impl PrimusConfig {
    /// The settings that would only fail at first use, checked up front: every limit must
    /// be positive.
    ///
    /// ```
    /// use roost_transport::PrimusConfig;
    ///
    /// let config = PrimusConfig::default();
    /// assert_eq!(config.ping_interval_ms, 10_000);
    /// assert_eq!(config.max_frame_size, 1024 * 1024);
    /// assert!(config.validate().is_ok());
    ///
    /// let broken = PrimusConfig { max_pending_calls: 0, ..PrimusConfig::default() };
    /// assert_eq!(broken.validate().unwrap_err(), "primus.max_pending_calls must be > 0");
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_frame_size", self.max_frame_size),
            ("max_frame_size_anonymous", self.max_frame_size_anonymous),
            ("max_frame_values", self.max_frame_values),
            ("max_connections", self.max_connections),
            ("max_pending_calls", self.max_pending_calls),
            ("writer_queue_frames", self.writer_queue_frames),
            ("writer_queue_bytes", self.writer_queue_bytes),
            ("read_buffer_size", self.read_buffer_size),
            ("write_buffer_size", self.write_buffer_size),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("primus.{key} must be > 0"));
            }
        }
        Ok(())
    }
}
