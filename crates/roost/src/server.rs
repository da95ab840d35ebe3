//! Starting and stopping the server: one port for every transport, `/healthz`, graceful
//! shutdown on SIGINT/SIGTERM.

use crate::config::{Config, ServerConfig};
use axum::routing::get;
use axum::{Json, Router};
use roost_core::App;
use roost_transport::{HandshakeAuth, Primus, RequestParamsHook, SocketIo};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// The Primus transport for `app` when `[primus] enabled` (the default), with the client
/// library read from `primus.client_library`, or the embedded one ([`crate::primus_client`]). Installs itself as the app's delivery sink.
/// Call inside the runtime.
pub fn primus(app: &App, config: &Config) -> Result<Option<Primus>, String> {
    if !config.primus.enabled {
        return Ok(None);
    }
    let library = match &config.primus.client_library {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("primus.client_library {}: {e}", path.display()))?,
        ),
        None => Some(crate::primus_client::library(config.primus.ping_interval_ms).into_bytes()),
    };
    Ok(Some(Primus::with_client_library(
        app.clone(),
        config.primus.clone(),
        library,
    )))
}

/// The Socket.IO transport for `app` when `[socketio] enabled` (the default), with the
/// handshake authentication of the default app when given. Routes the app's deliveries for
/// Socket.IO connections to itself. Call inside the runtime.
pub fn socketio(
    app: &App,
    config: &Config,
    handshake_auth: Option<HandshakeAuth>,
) -> Option<SocketIo> {
    config
        .socketio
        .enabled
        .then(|| SocketIo::new(app.clone(), config.socketio.clone(), handshake_auth))
}

/// `router` with `/socket.io/…` handled by `socketio` first (when given).
pub fn with_socketio(router: Router, socketio: Option<&SocketIo>) -> Router {
    match socketio {
        Some(socketio) => socketio.wrap(router),
        None => router,
    }
}

/// The full router: health and every transport on one port.
pub fn router(app: &App, config: &Config, primus: Option<&Primus>) -> Router {
    router_with_params_hook(app, config, primus, None)
}

/// [`router`] with a hook completing every REST request's params (the default app parses
/// the `Authorization` header there: [`crate::chat::ChatApp::rest_params_hook`]).
pub fn router_with_params_hook(
    app: &App,
    config: &Config,
    primus: Option<&Primus>,
    params_hook: Option<RequestParamsHook>,
) -> Router {
    router_with_transports(app, config, primus, None, params_hook, None)
}

/// Every transport on one router: health, `/metrics` (REST, both socket transports and,
/// when given, authentication), Socket.IO (when given) in front of Primus (when given) in
/// front of REST.
pub fn router_with_transports(
    app: &App,
    config: &Config,
    primus: Option<&Primus>,
    socketio: Option<&SocketIo>,
    params_hook: Option<RequestParamsHook>,
    auth: Option<&roost_auth::Authentication>,
) -> Router {
    let metrics_auth = auth.cloned();
    let metrics_primus = primus.cloned();
    let metrics_socketio = socketio.cloned();
    let rest_metrics = roost_transport::RestMetrics::default();
    let metrics_rest = rest_metrics.clone();
    let health = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/metrics",
            get(move || {
                let mut body = crate::metrics::render_all(
                    Some(&metrics_rest),
                    metrics_primus.as_ref(),
                    metrics_socketio.as_ref(),
                );
                if let Some(auth) = &metrics_auth {
                    crate::metrics::render_auth(&mut body, auth);
                }
                crate::listen::render(&mut body);
                async move { ([("content-type", "text/plain; version=0.0.4")], body) }
            }),
        );
    let router = health.merge(roost_transport::router_with_primus_and_hook(
        app.clone(),
        config.rest.clone(),
        &config.cors,
        primus,
        params_hook,
        rest_metrics,
    ));
    with_socketio(router, socketio)
}

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
/// `TcpListener::bind` asks for 128: a burst of a few hundred simultaneous connects (clients
/// reconnecting after a restart; `roost-bench connect`) then overflows the queue and each
/// dropped SYN costs its client a 1 s retransmit. Node listens with 511.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the configured address.
pub async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::new(config.server.host, config.server.port);
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's `TcpListener::bind` does on Unix: a restarted server can rebind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until `shutdown` resolves, then stops accepting and drains: calls in flight finish
/// and are acknowledged, new calls are refused, then every socket is closed so that clients
/// reconnect (Primus without `primus::server::close`), all within `grace_secs`; what the
/// deadline cut is logged with counts.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    grace_secs: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
    primus: Option<Primus>,
) -> std::io::Result<()> {
    serve_with_socketio(listener, router, grace_secs, shutdown, primus, None).await
}

/// [`serve`], also closing every Socket.IO socket at shutdown.
pub async fn serve_with_socketio(
    listener: TcpListener,
    router: Router,
    grace_secs: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
    primus: Option<Primus>,
    socketio: Option<SocketIo>,
) -> std::io::Result<()> {
    let server = ServerConfig {
        shutdown_grace_secs: grace_secs,
        ..ServerConfig::default()
    };
    serve_with_limits(listener, router, &server, shutdown, primus, socketio).await
}

/// [`serve_with_socketio`] with the connection limits of `server` (timeouts, per-IP cap; see
/// [`crate::listen`]) and its shutdown grace.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    primus: Option<Primus>,
    socketio: Option<SocketIo>,
) -> std::io::Result<()> {
    let grace_secs = server.shutdown_grace_secs;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_secs(grace_secs);
    // The sockets drain within most of the grace period; the rest is for the HTTP side.
    let sockets_deadline = grace.mul_f64(0.8);
    let limits = crate::listen::Limits::new(server);
    let server = crate::listen::serve(listener, router, limits, async move {
        shutdown.await;
        let _ = tx.send(());
        let started = std::time::Instant::now();
        let (socketio, primus) = tokio::join!(
            async {
                match socketio {
                    Some(s) => Some(s.shutdown(sockets_deadline).await),
                    None => None,
                }
            },
            async {
                match primus {
                    Some(p) => Some(p.shutdown(sockets_deadline).await),
                    None => None,
                }
            },
        );
        for (transport, report) in [("primus", primus), ("socketio", socketio)] {
            let Some(r) = report else { continue };
            if r.calls_cut > 0 || r.tasks_cut > 0 {
                tracing::warn!(
                    transport,
                    connections = r.connections_closed,
                    calls_running = r.calls_running,
                    calls_cut = r.calls_cut,
                    tasks_cut = r.tasks_cut,
                    "drain deadline reached: calls in flight cut (their acks are lost)"
                );
            } else {
                tracing::info!(
                    transport,
                    connections = r.connections_closed,
                    calls_acknowledged = r.calls_running,
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "drained: every call in flight acknowledged, every socket closed"
                );
            }
        }
    });
    let mut server = std::pin::pin!(server);
    tokio::select! {
        () = &mut server => Ok(()),
        () = async {
            let _ = rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs, "HTTP requests still in flight after the grace period; stopping");
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
}
