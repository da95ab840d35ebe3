//! Shutdown, the same for both socket transports: refuse new connections and calls, let the
//! calls in flight finish and be acknowledged, close every open
//! one as [`CloseReason::ServerShutdown`](super::CloseReason::ServerShutdown), then wait (within
//! a deadline) for what is still running: connection tasks writing their last words, calls in
//! flight, sessions closing.

use roost_core::ConnectionId;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A transport's shutdown flag and the tasks shutdown waits for.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// Cancelled when shutdown begins: refuses upgrades and handshakes, stops heartbeats.
    shutdown: CancellationToken,
    /// Connection tasks and calls in flight.
    tasks: TaskTracker,
}

impl Lifecycle {
    /// Whether shutdown began.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Cancelled when shutdown begins.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The tasks shutdown waits for.
    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Drains and shuts a transport down within `deadline`: refuses new connections and new
    /// calls (callers check [`Self::is_shutting_down`]; a refused call gets an `Unavailable`
    /// ack so its client can retry where it reconnects), waits for the calls in flight
    /// (`in_flight` counts them) to finish and queue their acks, then `close`s each of `open`
    /// (which the transport counts as `server_shutdown`; the close makes clients reconnect) and
    /// waits for the tracked tasks and for `also` (what else the transport waits on, such as
    /// sessions closing). What the deadline cut is in the report, and logged.
    pub(crate) async fn shut_down(
        &self,
        transport: &'static str,
        open: Vec<ConnectionId>,
        in_flight: impl Fn() -> usize,
        close: impl Fn(ConnectionId),
        also: impl Future<Output = ()>,
        deadline: Duration,
    ) -> ShutdownReport {
        let until = tokio::time::Instant::now() + deadline;
        self.shutdown.cancel();
        let calls_running = in_flight();
        while in_flight() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let calls_cut = in_flight();
        let connections_closed = open.len();
        for id in open {
            close(id);
        }
        self.tasks.close();
        let tasks = self.tasks.wait();
        let everything = async {
            tokio::join!(tasks, also);
        };
        let tasks_cut = match tokio::time::timeout_at(until, everything).await {
            Ok(()) => 0,
            Err(_) => {
                tracing::warn!(transport, "tasks still running after the shutdown deadline");
                self.tasks.len()
            }
        };
        ShutdownReport {
            connections_closed,
            calls_running,
            calls_cut,
            tasks_cut,
        }
    }
}

/// What a socket transport's shutdown did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections closed for the shutdown.
    pub connections_closed: usize,
    /// Calls running when the drain began (each finished and acknowledged unless cut).
    pub calls_running: usize,
    /// Calls still running when the deadline forced the sockets closed (their acks are lost).
    pub calls_cut: usize,
    /// Connection tasks and calls still running at the deadline, abandoned.
    pub tasks_cut: usize,
}
