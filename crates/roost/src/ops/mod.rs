//! What an operator needs beside the transports: readiness ([`readiness`]), the first page
//! and the `listening on` line ([`first_page`]). [`Ops`] answers these paths in front of
//! every transport.

pub mod first_page;
pub mod readiness;

use crate::storage::Storage;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use first_page::Links;
use readiness::{Readiness, ReadinessCheck, StorageCheck};
use roost_core::App;
use std::sync::Arc;
use std::time::Duration;

/// The operator-facing side of one server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ops {
    app: App,
    readiness: Readiness,
    links: Links,
}

impl Ops {
    /// Ops for `app`: readiness checks `storage` (within `server.readiness_timeout_ms`).
    pub fn new(app: &App, config: &crate::config::Config, storage: Arc<Storage>) -> Ops {
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(StorageCheck(storage))];
        Ops {
            app: app.clone(),
            readiness: Readiness::new(
                checks,
                Duration::from_millis(config.server.readiness_timeout_ms),
            ),
            links: Links {
                dashboard: false,
                primus: config.primus.enabled,
                socketio: config.socketio.enabled,
            },
        }
    }

    /// The readiness state (the drain turns it off).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// `router` with `/readyz`, and `/` plus the docs unless a service claims them, answered
    /// first.
    pub fn wrap(&self, router: Router) -> Router {
        let ops = self.clone();
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let ops = ops.clone();
            async move {
                let read = matches!(*request.method(), Method::GET | Method::HEAD);
                let path = request.uri().path().to_owned();
                match ops.answer(&path, read).await {
                    Some(response) => response,
                    None => next.run(request).await,
                }
            }
        }))
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
