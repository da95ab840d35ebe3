//! The socket layer both real-time transports stand on. [`primus`](crate::primus) and
//! [`socketio`](crate::socketio) differ in framing, heartbeats and sessions; what a socket
//! connection means to the app is the same for both and lives here:
//!
//! - [`close`]: [`CloseReason`], why a connection ended. Each transport closes every
//!   connection through one function that takes a reason and counts it.
//! - [`metrics`]: [`TransportMetrics`], the counters each transport keeps, same names for
//!   both.
//! - `admission`: who may open a connection (`max_connections`, a slot held while the
//!   connection lives) and which calls may run (the method exists, fewer than
//!   `max_pending_calls` in flight, a guard that frees the slot however the call ends),
//!   running a call (in place when it never waits) and the value its ack carries.
//! - `ws_read`: reading a client's websocket (frames decoded by `roost_wire::websocket`):
//!   no read buffer while idle, pongs and close answers handed to the transport's writer.
//! - `lifecycle`: shutdown, the same steps for both: refuse new connections, close every
//!   connection as `server_shutdown`, wait for connection tasks and calls in flight.
//!
//! Handshake headers (lower-case names, repeats joined with `", "`) are read by
//! `crate::headers`, which REST shares.

pub(crate) mod admission;
pub(crate) mod close;
pub(crate) mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod ws_read;

pub use close::CloseReason;
pub use metrics::TransportMetrics;
