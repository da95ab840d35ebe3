//! CORS, configurable; the default matches the reference (`cors()` before everything: any
//! origin, credentials allowed, preflight answered with 204).

use axum::http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// CORS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Whether CORS headers are sent and preflight requests answered.
    pub enabled: bool,
    /// Allowed origins; `["*"]` allows any origin (the request's origin is mirrored, so
    /// credentials keep working).
    pub origins: Vec<String>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            enabled: true,
            origins: vec!["*".to_owned()],
            credentials: true,
        }
    }
}

impl CorsConfig {
    /// The tower layer for these settings, or `None` when CORS is off.
    pub(crate) fn layer(&self) -> Option<CorsLayer> {
        if !self.enabled {
            return None;
        }
        let origin = if self.origins.iter().any(|o| o == "*") {
            AllowOrigin::mirror_request()
        } else {
            AllowOrigin::list(
                self.origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_credentials(self.credentials)
                .allow_headers(AllowHeaders::mirror_request())
                .allow_methods([
                    Method::GET,
                    Method::HEAD,
                    Method::PUT,
                    Method::POST,
                    Method::DELETE,
                    Method::PATCH,
                ]),
        )
    }
}
