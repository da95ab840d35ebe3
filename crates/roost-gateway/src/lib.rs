//! Roost gateway mode: Roost holds the sockets, channels and fan-out in front of an existing
//! Feathers app, which keeps its services, hooks, authentication strategies and channel code
//! (`docs/gateway.md`).
//!
//! # Map
//! - [`config`]: `[gateway]` ([`GatewayConfig`]).
//! - `forward`: the forwarding service registered once per upstream path (or once for the
//!   wildcard), so every transport, hook, ack and error works unchanged for it.
//! - `client`: the pooled HTTP client and the bounded wait while the upstream is down.
//! - [`qs`]: the `qs.stringify` encoder of zero-SDK query strings.
//! - `endpoint`: `/_roost/events` and `/_roost/connections` for the plugin.
//! - [`metrics`]: `roost_gateway_…` counters.
//!
//! # The life of a forwarded call
//! A socket frame is decoded by its transport and routed by `App::lookup` to a forwarding
//! service like any other (a service Roost registers itself wins: literal paths outrank the
//! wildcard's placeholder). Roost's hooks run; the innermost step sends the call upstream —
//! as a REST request (rest mode) or as an envelope for the plugin (plugin mode) — and the
//! answer, or the upstream's Feathers error, becomes the ack. Logins through the upstream's
//! authentication service are kept on the connection, so later calls carry the token.
//!
//! # Public surface
//! For an application embedding Roost (the `roost` binary does the same from `[gateway]`):
//! [`GatewayConfig`] (with [`GatewayMode`] and [`ALL_SERVICES`]), [`Gateway::install`] on an
//! [`App`], then [`Gateway::routes`] on the HTTP router, [`Gateway::handshake_auth`] for the
//! Socket.IO transport and [`Gateway::metrics`] for `/metrics`. [`qs::stringify`] is public for
//! the tests that check forwarded query strings. The forwarding service, the HTTP client and
//! the plugin endpoints stay inside the crate.

mod client;
pub mod config;
mod endpoint;
mod expiry;
mod forward;
pub mod metrics;
pub mod qs;

pub use config::{GatewayConfig, GatewayMode, ALL_SERVICES};
pub use metrics::GatewayMetrics;

use client::{Upstream, UpstreamRequest};
use forward::{method_list, ForwardService, Shared, SECRET_HEADER, WILDCARD_PARAM};
use roost_core::{App, ServiceOptions};
use std::sync::{Arc, Mutex};

/// Why the gateway could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is inconsistent.
    #[error("gateway: {0}")]
    Config(String),
    /// A forwarding service could not be registered.
    #[error("gateway: cannot register `{path}`: {source}")]
    Register {
        /// The path.
        path: String,
        /// The app's refusal.
        source: roost_core::Error,
    },
}

/// An installed gateway; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstream", &self.shared.config.upstream)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Registers the upstream's services on `app`, after Roost's own services (they win), and
    /// its connection listeners. `None` when `[gateway]` is off. Call it after registering
    /// Roost's own services and, to run the rest-mode login expiry, inside a tokio runtime.
    /// Nothing is sent upstream until a call is forwarded.
    ///
    /// ```
    /// use roost_core::{App, MemoryService, ServiceOptions};
    /// use roost_gateway::{Gateway, GatewayConfig, ALL_SERVICES};
    ///
    /// let app = App::new();
    /// // Roost serves `notes` itself; everything else goes to the Feathers app upstream.
    /// app.use_service(
    ///     "notes",
    ///     MemoryService::new(Default::default()),
    ///     ServiceOptions::default(),
    /// )?;
    /// let config = GatewayConfig {
    ///     upstream: "http://127.0.0.1:3030".into(),
    ///     services: vec![ALL_SERVICES.into(), "users/:userId/messages".into()],
    ///     ..GatewayConfig::default()
    /// };
    /// let gateway = Gateway::install(&app, &config)?.expect("upstream set: the gateway is on");
    /// assert!(app.service("users/:userId/messages").is_ok());
    /// assert!(app.service("notes").is_ok());
    /// // The HTTP router gets the plugin's endpoints (used in plugin mode).
    /// let _router = gateway.routes(axum::Router::new());
    ///
    /// // Without an upstream the gateway is off and nothing is registered.
    /// assert!(Gateway::install(&App::new(), &GatewayConfig::default())?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install(app: &App, config: &GatewayConfig) -> Result<Option<Gateway>, GatewayError> {
        if !config.enabled() {
            return Ok(None);
        }
        config.validate().map_err(GatewayError::Config)?;
        let config = Arc::new(config.clone());
        let metrics = Arc::new(GatewayMetrics::default());
        let shared = Arc::new(Shared {
            app: app.clone(),
            upstream: Upstream::new(Arc::clone(&config), Arc::clone(&metrics)),
            config: Arc::clone(&config),
            metrics,
            seen: Mutex::new(Default::default()),
            instance: instance_id(),
            expiries: expiry::Expiries::default(),
        });
        let own = app.service_paths();
        // A path with custom methods is an upstream path too, registered literally so its
        // methods are callable (the wildcard only knows `methods."*"`).
        let mut entries: Vec<&String> = config.services.iter().collect();
        for path in config.methods.keys() {
            if path != ALL_SERVICES && !entries.contains(&path) {
                entries.push(path);
            }
        }
        for entry in entries {
            let wildcard = entry == ALL_SERVICES;
            let path = if wildcard {
                format!(":{WILDCARD_PARAM}")
            } else {
                roost_core::routing::normalize_path(entry)
            };
            if !wildcard && own.contains(&path) {
                tracing::info!(path, "gateway: Roost serves this path itself");
                continue;
            }
            let custom = config
                .methods
                .get(if wildcard {
                    ALL_SERVICES
                } else {
                    entry.as_str()
                })
                .cloned()
                .unwrap_or_default();
            let methods = method_list(&custom);
            let service = ForwardService {
                shared: Arc::clone(&shared),
                pattern: path.clone(),
                methods: methods.clone(),
            };
            let options = ServiceOptions {
                methods: Some(methods),
                // Events reach clients through the gateway only (rest mode: forwarded
                // writes; plugin mode: the app's publish rules), never twice.
                service_events: Some(Vec::new()),
                ..ServiceOptions::default()
            };
            app.use_service(&path, service, options)
                .map_err(|source| GatewayError::Register {
                    path: path.clone(),
                    source,
                })?;
            if let Ok(handle) = app.service(&path) {
                handle.publish(bus_publisher(&shared));
            }
        }
        match config.mode {
            GatewayMode::Rest => {
                // A generated Feathers app's channels.ts: every connection starts anonymous.
                app.on_connection(|app, info| {
                    app.channels().channel("anonymous").join([info.id()]);
                });
                shared.expiries.start(Arc::downgrade(&shared));
                let expiries = shared.expiries.clone();
                app.on_disconnect(move |_, info| expiries.disarm(info.id()));
            }
            GatewayMode::Plugin => {
                let weak = Arc::downgrade(&shared);
                app.on_disconnect(move |_, info| {
                    let Some(shared) = weak.upgrade() else { return };
                    if shared.forget(info.id()) {
                        notify_disconnect(&shared, info.id().0);
                    }
                });
            }
        }
        tracing::info!(upstream = %config.upstream, mode = ?config.mode, "gateway on");
        Ok(Some(Gateway { shared }))
    }

    /// `router` with the plugin's endpoints (`/_roost/events`, `/_roost/connections`).
    pub fn routes(&self, router: axum::Router) -> axum::Router {
        router.merge(endpoint::router(Arc::clone(&self.shared)))
    }

    /// For the Socket.IO transport: a handshake `Authorization: Bearer <token>` header logs
    /// the socket in through the upstream's authentication service (`create` with `{strategy:
    /// 'jwt', accessToken}`) before it connects, as a direct connection does. The value is a
    /// `roost_transport::HandshakeAuth`.
    #[allow(clippy::type_complexity)]
    pub fn handshake_auth(
        &self,
    ) -> Arc<
        dyn Fn(&roost_core::Map<String, roost_core::Value>) -> Option<(String, roost_core::Value)>
            + Send
            + Sync,
    > {
        let path = roost_core::routing::normalize_path(&self.shared.config.authentication_path);
        Arc::new(move |headers| {
            let header = headers.get("authorization")?.as_str()?.trim();
            let (scheme, token) = header.split_once(' ')?;
            let token = token.trim();
            if token.is_empty()
                || !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt"))
            {
                return None;
            }
            Some((
                path.clone(),
                serde_json::json!({ "strategy": "jwt", "accessToken": token }),
            ))
        })
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<GatewayMetrics> {
        &self.shared.metrics
    }
}

/// The publisher of a forwarding service. It runs only for the upstream's events heard on a
/// feathers-sync bus (`[cluster] mode = "feathers-sync"`): forwarded calls emit no service
/// events of their own. Being the service's publisher, it wins over any app-wide one.
/// - Plugin mode: nothing. The plugin of the app's pod posts the same event with the channels
///   the app's own `app.publish` rules chose; delivering the bus copy too would send it twice.
/// - Rest mode: `publish_channel`, as for writes forwarded through Roost (which then emit
///   nothing themselves: the bus brings those too); nothing for the authentication path.
fn bus_publisher(shared: &Arc<Shared>) -> roost_core::publish::Publisher {
    let weak = Arc::downgrade(shared);
    roost_core::publish::Publisher::new(move |_, ctx| {
        let Some(shared) = weak.upgrade() else {
            return Ok(None);
        };
        if shared.config.mode == GatewayMode::Plugin {
            GatewayMetrics::inc(&shared.metrics.bus_events_left_to_plugin);
            return Ok(None);
        }
        // Never a login's result (its access token) to a channel, as for forwarded logins.
        let channel = &shared.config.publish_channel;
        if channel.is_empty()
            || ctx.path.trim_matches('/') == shared.config.authentication_path.trim_matches('/')
        {
            return Ok(None);
        }
        GatewayMetrics::inc(&shared.metrics.bus_events);
        Ok(Some(shared.app.channels().channel(channel).into()))
    })
}

/// A practically unique id for this process: start time in nanoseconds and the process id.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Tells the plugin a connection it knows closed, so the app's `disconnect` listeners run
/// and its proxy is dropped. Best effort: a restarted app has no proxy to drop.
fn notify_disconnect(shared: &Arc<Shared>, id: u64) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let upstream = shared.upstream.clone();
    let secret = shared.config.secret.clone();
    let instance = shared.instance.clone();
    runtime.spawn(async move {
        let body = serde_json::json!({ "ids": [id], "instance": instance }).to_string();
        let request = UpstreamRequest {
            method: hyper::Method::POST,
            path_and_query: "/_roost/disconnect".to_owned(),
            headers: vec![(
                hyper::header::HeaderName::from_static(SECRET_HEADER),
                secret,
            )],
            body: Some(bytes::Bytes::from(body)),
        };
        if let Err(e) = upstream.send(request).await {
            tracing::debug!(error = %e, "gateway: disconnect not delivered to the upstream");
        }
    });
}
