//! Starting and stopping the server: one port for every transport, `/healthz`, graceful
//! shutdown on SIGINT/SIGTERM.

use crate::config::Config;
use axum::routing::get;
use axum::{Json, Router};
use roost_core::App;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The full router: health and every transport on one port.
pub fn router(app: &App, config: &Config) -> Router {
    let health = Router::new().route(
        "/healthz",
        get(|| async { Json(serde_json::json!({"status": "ok"})) }),
    );
    health.merge(roost_transport::router(
        app.clone(),
        config.rest.clone(),
        &config.cors,
    ))
}

/// Binds the configured address.
pub async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(config.server.host, config.server.port)).await
}

/// Serves until `shutdown` resolves, then stops accepting and lets requests in flight finish
/// (bounded by `shutdown_grace_secs`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    grace_secs: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => result,
        () = async {
            let _ = rx.await;
            tokio::time::sleep(std::time::Duration::from_secs(grace_secs)).await;
        } => {
            tracing::warn!(grace_secs, "requests still in flight after the grace period; stopping");
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
