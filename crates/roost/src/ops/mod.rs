//! What an operator needs beside the transports: readiness ([`readiness`]), the first page
//! and the `listening on` line ([`first_page`]), histograms at `/metrics` and the call spans
//! ([`observe`]), the live dashboard ([`dashboard`]) and the start of the drain
//! ([`Ops::drain_on`]; the transports' part is in [`crate::server`]). [`Ops::wrap`] puts
//! these in front of every transport.

pub(crate) mod dashboard;
pub(crate) mod first_page;
pub(crate) mod observe;
pub(crate) mod readiness;

use crate::storage::Storage;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use first_page::Links;
use observe::Observability;
use readiness::{BrokerCheck, Readiness, ReadinessCheck, StorageCheck};
use roost_core::App;
use roost_transport::{Primus, SocketIo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Request ids for logs, unique in the process.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The operator-facing side of one server. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    app: App,
    readiness: Readiness,
    links: Links,
    observability: Observability,
    drain_delay: Duration,
}

impl Ops {
    /// Ops for `app`: readiness checks `storage` (within `server.readiness_timeout_ms`);
    /// every call of `app` and the fan-out of both socket transports are timed.
    pub(crate) fn new(
        app: &App,
        config: &crate::config::Config,
        storage: Arc<Storage>,
        primus: Option<&Primus>,
        socketio: Option<&SocketIo>,
        auth: Option<&roost_auth::Authentication>,
    ) -> Result<Ops, String> {
        let mut checks: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(StorageCheck(storage))];
        if let Some(broker) = app.broker() {
            let required = config
                .cluster
                .as_ref()
                .is_none_or(|cluster| cluster.ready_requires_broker);
            checks.push(Arc::new(BrokerCheck::new(broker, required)));
        }
        let observability = Observability::new();
        observability.time_calls(app);
        if let Some(primus) = primus {
            primus
                .metrics()
                .set_observer(Arc::new(observability.clone()));
        }
        if let Some(socketio) = socketio {
            socketio
                .metrics()
                .set_observer(Arc::new(observability.clone()));
        }
        let dashboard = config.dashboard.enabled;
        if dashboard {
            let service = dashboard::DashboardService {
                config: config.dashboard.clone(),
                app: app.clone(),
                primus: primus.cloned(),
                socketio: socketio.cloned(),
                auth: auth.cloned(),
                observability: observability.clone(),
            };
            app.use_service(dashboard::SERVICE_PATH, service, Default::default())
                .map_err(|e| format!("dashboard: {e}"))?;
        }
        Ok(Ops {
            drain_delay: Duration::from_millis(config.server.drain_delay_ms),
            observability,
            app: app.clone(),
            readiness: Readiness::new(
                checks,
                Duration::from_millis(config.server.readiness_timeout_ms),
            ),
            links: Links {
                dashboard,
                primus: config.primus.enabled,
                socketio: config.socketio.enabled,
            },
        })
    }

    /// `signal`, then the drain begins: `/readyz` answers 503 and new requests are refused
    /// from that moment; after `server.drain_delay_ms` (the listener still accepting, so a
    /// balancer notices) the future resolves and the transports' shutdown follows in
    /// [`crate::server`].
    pub(crate) fn drain_on(
        &self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let readiness = self.readiness.clone();
        let delay = self.drain_delay;
        async move {
            signal.await;
            readiness.start_draining();
            if !delay.is_zero() {
                tracing::info!(
                    ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "not ready; draining after the delay"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// `router` behind the ops layer: `/readyz`; `/`, the docs and `/dashboard…` unless a
    /// service claims them; the histograms appended to `/metrics`; 503 for new requests once
    /// draining; an `http` span around everything else.
    pub(crate) fn wrap(&self, router: Router) -> Router {
        let ops = self.clone();
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let ops = ops.clone();
            async move {
                let read = matches!(*request.method(), Method::GET | Method::HEAD);
                let path = request.uri().path().to_owned();
                if path == "/metrics" {
                    return ops.with_histograms(next.run(request).await).await;
                }
                if ops.readiness.is_draining() && !ops.serves_while_draining(&request) {
                    return roost_transport::response::error_response(
                        &roost_core::Error::unavailable("The server is shutting down"),
                    );
                }
                match ops.answer(&path, read).await {
                    Some(response) => response,
                    None => {
                        // One span per HTTP request (REST, polling, upgrades): its `req` id
                        // joins the request's log lines. The path only: query strings may
                        // carry tokens.
                        let span = tracing::debug_span!(
                            "http",
                            req = tracing::field::Empty,
                            method = %request.method(),
                            path = %path,
                        );
                        if !span.is_disabled() {
                            span.record("req", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed));
                        }
                        next.run(request).instrument(span).await
                    }
                }
            }
        }))
    }

    /// While draining: the operator's paths, and requests of Socket.IO sessions already open
    /// (long-polling carries their packets, acks included); nothing new.
    fn serves_while_draining(&self, request: &Request) -> bool {
        let path = request.uri().path();
        if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            return true;
        }
        path.starts_with("/socket.io/")
            && request
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("sid=")))
    }

    /// The counters' `/metrics` answer with the histograms appended.
    async fn with_histograms(&self, response: Response) -> Response {
        if response.status() != StatusCode::OK {
            return response;
        }
        let (parts, body) = response.into_parts();
        let mut text = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the counters");
                String::new()
            }
        };
        text.push_str(&self.observability.render());
        Response::from_parts(parts, Body::from(text))
    }

    async fn answer(&self, path: &str, read: bool) -> Option<Response> {
        if path == "/readyz" {
            let report = self.readiness.report().await;
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return Some((status, axum::Json(report.body)).into_response());
        }
        if !read || self.app.lookup(path).is_some() {
            return None;
        }
        if self.links.dashboard {
            if let Some((content_type, body)) = dashboard::asset(path) {
                return Some(
                    (
                        [
                            (header::CONTENT_TYPE, content_type),
                            (header::CACHE_CONTROL, "no-cache"),
                        ],
                        body,
                    )
                        .into_response(),
                );
            }
        }
        match path {
            "/" => Some(
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    Body::from(first_page::render(&self.app, self.links)),
                )
                    .into_response(),
            ),
            first_page::DOCS_PATH => Some(
                (
                    [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                    first_page::CONFIG_DOCS,
                )
                    .into_response(),
            ),
            _ => None,
        }
    }
}
