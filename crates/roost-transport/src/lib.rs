//! Roost transports: REST on axum now; Primus and Socket.IO share the same port later.
//!
//! # Map
//! - [`rest`]: routes, verbs to methods, status codes, query strings, bodies.
//! - [`response`]: JSON and Feathers error responses.
//! - [`cors`]: the CORS layer.
//!
//! # The life of a REST request
//! [`router`] sends every path that no other route claims to [`rest::handle`], which finds
//! the service with `App::lookup`, picks the method from the verb, parses the query string
//! with `qs`, reads the JSON body within the limit, runs the call through the hook chain and
//! answers with `dispatch` (or `result`) and Feathers' status codes.

pub mod cors;
pub mod response;
pub mod rest;

pub use cors::CorsConfig;
pub use rest::{RestConfig, RestState};

use axum::Router;
use roost_core::App;
use std::sync::Arc;

/// The REST router for `app`: every unclaimed path is a service path.
pub fn router(app: App, rest: RestConfig, cors: &CorsConfig) -> Router {
    let state = RestState {
        app,
        config: Arc::new(rest),
    };
    let router = Router::new().fallback(rest::handle).with_state(state);
    match cors.layer() {
        Some(layer) => router.layer(layer),
        None => router,
    }
}
