//! The Primus websocket transport (docs/protocol.md §1–§10): the `/primus` endpoint, live
//! connections, the heartbeat, and the fan-out engine that delivers the app's events.
//!
//! # Map
//! - `endpoint`: the HTTP side — upgrades, `426`, `/primus/spec`, `/primus/primus.js`.
//! - `connection`: one connection — registration, the reader loop, calls.
//! - `writer`: the socket's write side: frames encoded once, written at once from the
//!   sending task when nothing is queued, the bounded per-connection queue otherwise.
//! - `registry`: open connections by id, and the [`DeliverySink`](roost_core::DeliverySink)
//!   that fans events out.
//! - `heartbeat`: one ticker pinging every connection and closing silent ones.
//! - `config`: [`PrimusConfig`]. Close reasons, counters, admission and shutdown are the
//!   shared `crate::socket` layer's.
//!
//! # The life of a call
//! The upgrade task reads a text frame, `roost_wire::primus::decode`s it into an emitter
//! EVENT `[method, path, ...args]` with an ack id, and runs the call:
//! `call_external(app, method, path, args, connection.params())`, polled once in place (a
//! call that never waits, such as a memory service's, ends there) and moved to its own task
//! when it waits. While the call runs, the
//! events it publishes reach the sink and are queued to their recipients, so the caller's
//! own event frames precede the ack frame that is queued when the call returns.
//!
//! # The life of an event
//! The app's publish step hands a [`Delivery`](roost_core::Delivery) to the sink; each
//! batch (one payload) is encoded once into a websocket frame (header and EVENT payload) and
//! clones of it are sent to the batch's connections without waiting: written at once with a
//! non-blocking write when a connection has nothing queued, queued (and its task woken)
//! when the kernel cannot take it. A full queue closes its connection as a slow consumer.
//!
//! # Task shape per connection
//! One task, the upgrade task, reads, and writes what had to be queued; calls that wait run
//! in short-lived tasks.
//! Every close goes through [`Primus::close`] with a [`CloseReason`].

mod config;
mod connection;
mod endpoint;
mod heartbeat;
mod registry;
mod writer;

pub use crate::socket::{CloseReason, TransportMetrics};
pub use config::PrimusConfig;

use crate::socket::lifecycle::Lifecycle;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::Router;
use bytes::Bytes;
use registry::{PrimusSink, Registry};
use roost_core::{App, ConnectionId};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The provider name of Primus connections.
pub(crate) const PROVIDER: &str = "primus";

/// The Primus transport of one app. Cheap to clone.
///
/// Create it inside a tokio runtime (it starts the heartbeat ticker), put it in front of the
/// other routes with [`Primus::wrap`], and call [`Primus::shutdown`] when the server stops.
#[derive(Clone)]
pub struct Primus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) app: App,
    pub(crate) config: PrimusConfig,
    pub(crate) registry: Registry,
    pub(crate) metrics: TransportMetrics,
    /// Shutdown: refuses upgrades, stops the heartbeat; connection tasks and calls in
    /// flight, awaited at shutdown.
    pub(crate) lifecycle: Lifecycle,
    pub(crate) client_library: Option<Bytes>,
    /// Connections open or being upgraded, checked against `max_connections`.
    pub(crate) slots: Arc<AtomicUsize>,
}

impl Primus {
    /// The transport for `app`: adds its delivery sink for `primus` connections and starts the
    /// heartbeat (when `ping_interval_ms > 0`). Must be called inside a tokio runtime.
    pub fn new(app: App, config: PrimusConfig) -> Primus {
        Self::with_client_library(app, config, None)
    }

    /// [`Primus::new`] serving `library` (the bytes of `primus.js`) at `/primus/primus.js`.
    pub fn with_client_library(app: App, config: PrimusConfig, library: Option<Vec<u8>>) -> Primus {
        let interval = Duration::from_millis(config.ping_interval_ms);
        let inner = Arc::new(Inner {
            app,
            config,
            registry: Registry::default(),
            metrics: TransportMetrics::default(),
            lifecycle: Lifecycle::default(),
            client_library: library.map(Bytes::from),
            slots: Arc::new(AtomicUsize::new(0)),
        });
        inner.app.add_delivery_sink(
            PROVIDER,
            Arc::new(PrimusSink {
                inner: Arc::downgrade(&inner),
            }),
        );
        if !interval.is_zero() {
            tokio::spawn(heartbeat::run(
                Arc::downgrade(&inner),
                interval,
                inner.lifecycle.token().clone(),
            ));
        }
        Primus { inner }
    }

    /// `router` with every `/primus…` request (and upgrade) handled by Primus first.
    pub fn wrap(&self, router: Router) -> Router {
        let primus = self.clone();
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let primus = primus.clone();
            async move {
                if endpoint::claims(request.uri().path()) {
                    endpoint::handle(primus, request).await
                } else {
                    next.run(request).await
                }
            }
        }))
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The settings.
    pub fn config(&self) -> &PrimusConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn metrics(&self) -> &TransportMetrics {
        &self.inner.metrics
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// The ids of the open connections.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        self.inner.registry.ids()
    }

    /// Closes connection `id` on purpose: `"primus::server::close"` then a close frame, so
    /// the client does not reconnect. False when it was not open.
    pub fn close(&self, id: ConnectionId) -> bool {
        self.inner.close(id, CloseReason::ServerClosed)
    }

    /// Runs one heartbeat tick now (for tests and tools; the ticker does this on its own).
    pub fn heartbeat_tick(&self) {
        heartbeat::tick(&self.inner);
    }

    /// Drains and stops the transport (the shared steps of `crate::socket`) within
    /// `deadline`: refuses new upgrades and new calls (an `Unavailable` error ack), stops the
    /// heartbeat, lets the calls in flight finish and queue their acks, then closes every
    /// socket as `server_shutdown` *without* `"primus::server::close"` (its backlog, acks
    /// included, written first, then a close frame), so clients reconnect to another node or
    /// to the restarted one, and waits for the connections' last words.
    pub async fn shutdown(&self, deadline: Duration) -> crate::ShutdownReport {
        let inner = &self.inner;
        inner
            .lifecycle
            .shut_down(
                PROVIDER,
                inner.registry.ids(),
                || inner.calls_in_flight(),
                |id| {
                    inner.close(id, CloseReason::ServerShutdown);
                },
                async {},
                deadline,
            )
            .await
    }
}

impl Inner {
    /// Calls running now on every connection.
    pub(crate) fn calls_in_flight(&self) -> usize {
        self.registry
            .read()
            .values()
            .map(|h| h.pending_calls.load(Ordering::Acquire))
            .sum()
    }

    /// The one close: forgets the connection, tells its task why (it stops reading and
    /// writes its last words), leaves every channel and fires the app's `disconnect`, and counts the
    /// reason. Only the first close of a connection does anything.
    pub(crate) fn close(&self, id: ConnectionId, reason: CloseReason) -> bool {
        let Some(handle) = self.registry.remove(id) else {
            return false;
        };
        handle.outbox.close_with(reason);
        self.metrics.count_close(reason);
        self.app.disconnect(id);
        tracing::debug!(%id, %reason, "primus connection closed");
        true
    }
}

impl fmt::Debug for Primus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Primus")
            .field("connections", &self.connection_count())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
