//! Shutdown, the same for both socket transports: refuse new connections, close every open
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

    /// Shuts a transport down: refuses new connections, `close`s each of `open` (which the
    /// transport counts as `server_shutdown`), then waits at most `deadline` for the tracked
    /// tasks and for `also` (what else the transport waits on, such as sessions closing).
    pub(crate) async fn shut_down(
        &self,
        transport: &'static str,
        open: Vec<ConnectionId>,
        close: impl Fn(ConnectionId),
        also: impl Future<Output = ()>,
        deadline: Duration,
    ) {
        self.shutdown.cancel();
        for id in open {
            close(id);
        }
        self.tasks.close();
        let tasks = self.tasks.wait();
        let everything = async {
            tokio::join!(tasks, also);
        };
        if tokio::time::timeout(deadline, everything).await.is_err() {
            tracing::warn!(transport, "tasks still running after the shutdown deadline");
        }
    }
}
