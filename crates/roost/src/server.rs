//! The whole server as one value: [`Server::builder`] takes the settings ([`Config`]), your
//! [`App`] and where records live ([`Storage`]), and wires declared services, the default
//! chat app, gateway and cluster mode, every transport (Primus, Socket.IO, REST) on one
//! port, `/healthz`, `/readyz`, `/metrics` and the dashboard; [`Server::listen`] serves
//! until SIGINT/SIGTERM and drains. The `roost` binary is this builder over the loaded file.
//!
//! What Feathers writes as
//! `const app = koa(feathers()); app.configure(rest()); app.configure(primus(...)); app.listen(3030)`
//! is here:
//!
//! ```no_run
//! use roost::Server;
//! use roost_core::{App, MemoryService, ServiceOptions};
//!
//! # async fn run() -> Result<(), roost::server::ServerError> {
//! let app = App::new();
//! app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
//! Server::builder()
//!     .app(app)
//!     .configure(|config| config.server.port = 3030)
//!     .build()
//!     .await?
//!     .listen()
//!     .await
//! # }
//! ```
//!
//! In tests, bind port 0 and serve until a future of yours resolves:
//!
//! ```
//! use roost::Server;
//! use roost_core::{App, MemoryService, ServiceOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::new();
//! app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
//! let server = Server::builder().app(app).build().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(server.serve_until(listener, async {
//!     let _ = stopped.await;
//! }));
//! // ... requests to http://{addr}/todos ...
//! # let _ = addr;
//! let _ = stop.send(());
//! running.await??;
//! # Ok(())
//! # }
//! ```

use crate::chat::{self, ChatApp, ChatError};
use crate::config::{Config, ConfigError, ServerConfig};
use crate::ops::Ops;
use crate::storage::{Storage, StorageError};
use axum::routing::get;
use axum::{Json, Router};
use roost_auth::Authentication;
use roost_core::broker::Broker;
use roost_core::App;
use roost_transport::{HandshakeAuth, Primus, RequestParamsHook, SocketIo};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// Why a server could not be built or could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A declared service's table could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The default chat app could not start.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Registering a service or hook failed.
    #[error("{}", .0.message)]
    App(#[from] roost_core::Error),
    /// A part of the server could not start (gateway, cluster, the Primus client library,
    /// the dashboard); the message names it.
    #[error("{0}")]
    Setup(String),
    /// The configured address could not be bound.
    #[error("cannot listen on {host}:{port}: {source}")]
    Bind {
        /// `server.host`.
        host: IpAddr,
        /// `server.port`.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ServerError {
    /// Whether a migration was refused because it would lose data (`roost migrate` exits 2).
    pub fn is_destructive(&self) -> bool {
        matches!(self, ServerError::Storage(e) if e.is_destructive())
    }
}

/// The settings and parts of a [`Server`] before it starts; see [`Server::builder`].
#[must_use = "a builder does nothing until .build()"]
pub struct ServerBuilder {
    config: Config,
    app: Option<App>,
    storage: Option<Arc<Storage>>,
    authentication: Option<Authentication>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("app", &self.app.is_some())
            .field("storage", &self.storage.as_ref().map(|s| s.url()))
            .field("authentication", &self.authentication.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Replaces every setting with `config` (from [`Config::load`] or built in code),
    /// `[app]` included: `Config::default()` turns the default chat app on.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Changes settings in place: `.configure(|c| c.server.port = 0)`.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Serves `app` (your services, hooks, channels and publishers). Without it the server
    /// starts from an empty [`App`]. Declared services (`[services]`) and the default chat
    /// app are added to it; a path they use that `app` already has is an error.
    pub fn app(mut self, app: App) -> Self {
        self.app = Some(app);
        self
    }

    /// Where SQL-backed declared services and the default app keep their records. Without
    /// it, [`Storage::new`] over `[storage]` (memory unless a URL is set).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = Some(Arc::new(storage));
        self
    }

    /// Turns the default chat app (`users`, `authentication`, `messages`, its channels and
    /// publishing rules) on or off, whatever `[app] enabled` says. Off unless
    /// [`ServerBuilder::config`] gave a configuration with it on.
    pub fn default_app(mut self, on: bool) -> Self {
        self.config.app.enabled = on;
        self
    }

    /// The authentication of an app you composed yourself (from [`crate::chat`]'s parts or
    /// [`roost_auth`]): REST requests get `params.authentication` from their
    /// `Authorization` header, a Socket.IO handshake with that header logs in, `/metrics`
    /// counts logins, the dashboard's login uses it. Not together with the default app.
    pub fn authentication(mut self, auth: Authentication) -> Self {
        self.authentication = Some(auth);
        self
    }

    /// The app with every service of the configuration (declared services, then the
    /// default app, then the declared services' hooks), tables migrated in `storage`.
    async fn services(&self, storage: &Storage) -> Result<(App, Option<ChatApp>), ServerError> {
        let config = &self.config;
        roost_core::query::QueryLimits::set_process_default(config.query);
        let app = self.app.clone().unwrap_or_default();
        crate::services::register_declared(&app, &config.services, storage).await?;
        let chat = chat::install(&app, config, storage).await?;
        let auth = chat
            .as_ref()
            .map(ChatApp::auth)
            .or(self.authentication.as_ref());
        crate::services::attach_declared_hooks(&app, &config.services, auth)?;
        Ok((app, chat))
    }

    fn check(&self) -> Result<(), ServerError> {
        self.config.validate()?;
        if self.config.app.enabled && self.authentication.is_some() {
            return Err(ServerError::Setup(
                "the default app ([app] enabled) brings its own authentication: \
                 turn it off (.default_app(false)) to use yours"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Creates or extends the SQL tables of every service (`roost migrate`) and returns the
    /// changes made, without starting anything else.
    pub async fn migrate(self) -> Result<Vec<roost_sql::Change>, MigrateError> {
        let storage = match &self.storage {
            Some(storage) => Arc::clone(storage),
            None => Arc::new(Storage::new(&self.config)),
        };
        let fail = |error: ServerError, storage: &Storage| MigrateError {
            destructive: error.is_destructive() || storage.refused_destructive(),
            error,
        };
        if let Err(e) = self.check() {
            return Err(fail(e, &storage));
        }
        let result = self.services(&storage).await;
        storage.close().await;
        match result {
            Ok(_) => Ok(storage.changes()),
            Err(e) => Err(fail(e, &storage)),
        }
    }

    /// Wires everything: declared services, the default app, gateway mode (after Roost's
    /// own services, which win), cluster mode (before any connection, so the first one's
    /// channels are followed), the transports and the operator's routes. Call inside the
    /// Tokio runtime.
    pub async fn build(self) -> Result<Server, ServerError> {
        self.check()?;
        let storage = match &self.storage {
            Some(storage) => Arc::clone(storage),
            None => Arc::new(Storage::new(&self.config)),
        };
        let (app, chat) = self.services(&storage).await?;
        let config = self.config;
        let auth = chat
            .as_ref()
            .map(|c| c.auth().clone())
            .or(self.authentication);
        let gateway = roost_gateway::Gateway::install(&app, &config.gateway)
            .map_err(|e| ServerError::Setup(e.to_string()))?;
        if let Some(metrics) = gateway.as_ref().map(|g| Arc::clone(g.metrics())) {
            crate::metrics::add_section(move |out| metrics.render(out));
        }
        let broker = match &config.cluster {
            Some(cluster) => Some(join_cluster(&app, cluster)?),
            None => None,
        };
        let primus = primus(&app, &config).map_err(ServerError::Setup)?;
        let rest_hook = auth.as_ref().map(rest_params_hook);
        let handshake_auth = auth
            .as_ref()
            .map(socketio_handshake_auth)
            .or_else(|| gateway.as_ref().map(roost_gateway::Gateway::handshake_auth));
        let socketio = socketio(&app, &config, handshake_auth);
        let router = router(
            &app,
            &config,
            primus.as_ref(),
            socketio.as_ref(),
            rest_hook,
            auth.as_ref(),
        );
        let router = match &gateway {
            Some(gateway) => gateway.routes(router),
            None => router,
        };
        let ops = Ops::new(
            &app,
            &config,
            Arc::clone(&storage),
            primus.as_ref(),
            socketio.as_ref(),
            auth.as_ref(),
        )
        .map_err(ServerError::Setup)?;
        let router = ops.wrap(router);
        Ok(Server {
            config,
            app,
            storage,
            chat,
            auth,
            broker,
            primus,
            socketio,
            ops,
            router,
        })
    }
}

/// Why `roost migrate` failed, and whether because a change would lose data.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct MigrateError {
    /// The cause.
    pub error: ServerError,
    /// A destructive change was refused (`roost migrate` exits 2).
    pub destructive: bool,
}

/// A server ready to accept connections: the [`App`] with every transport in front of it.
/// Built by [`Server::builder`]; started by [`Server::listen`] or [`Server::serve_until`].
pub struct Server {
    config: Config,
    app: App,
    storage: Arc<Storage>,
    chat: Option<ChatApp>,
    auth: Option<Authentication>,
    broker: Option<Arc<dyn Broker>>,
    primus: Option<Primus>,
    socketio: Option<SocketIo>,
    ops: Ops,
    router: Router,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("services", &self.app.service_paths())
            .field("primus", &self.primus.is_some())
            .field("socketio", &self.socketio.is_some())
            .field("cluster", &self.broker.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the default settings ([`Config::default`]) except that the default
    /// chat app is off: the server serves exactly the [`App`] you give it.
    ///
    /// ```
    /// use roost::storage::Storage;
    /// use roost::Server;
    /// use roost_core::{App, MemoryService, ServiceOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = App::new();
    /// app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
    /// let server = Server::builder()
    ///     .app(app)
    ///     .storage(Storage::memory())
    ///     .configure(|config| config.socketio.enabled = false)
    ///     .build()
    ///     .await?;
    /// assert!(server.app().service("todos").is_ok());
    /// assert!(server.chat().is_none(), "no default chat app unless asked for");
    /// assert!(server.storage().is_memory());
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> ServerBuilder {
        let mut config = Config::default();
        config.app.enabled = false;
        ServerBuilder {
            config,
            app: None,
            storage: None,
            authentication: None,
        }
    }

    /// The app being served: call its services, send custom events, look at channels.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The default chat app, when it runs.
    pub fn chat(&self) -> Option<&ChatApp> {
        self.chat.as_ref()
    }

    /// The authentication in use (the default app's, or the one given to the builder).
    pub fn authentication(&self) -> Option<&Authentication> {
        self.auth.as_ref()
    }

    /// The storage of SQL-backed services.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Every route (health, REST, the socket transports, the operator's pages) as one axum
    /// router, for serving it yourself or driving it in tests with `tower::ServiceExt`.
    /// The socket transports' shutdown drain is [`Server::serve_until`]'s.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Binds `server.host`:`server.port`, prints `listening on http://…` on stdout, and
    /// serves until SIGINT or SIGTERM (`app.listen(port)`), then drains as
    /// [`Server::serve_until`] does.
    pub async fn listen(self) -> Result<(), ServerError> {
        let listener = bind(&self.config)
            .await
            .map_err(|source| ServerError::Bind {
                host: self.config.server.host,
                port: self.config.server.port,
                source,
            })?;
        if let Ok(addr) = listener.local_addr() {
            crate::ops::first_page::announce(addr);
        }
        self.serve_until(listener, shutdown_signal()).await
    }

    /// Serves on `listener` until `shutdown` resolves. Then `/readyz` answers 503, after
    /// `server.drain_delay_ms` the listener closes, calls in flight finish and are
    /// acknowledged, every socket is closed so that clients reconnect elsewhere, all within
    /// `server.shutdown_grace_secs`; last the cluster broker and the database pool close.
    pub async fn serve_until(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "roost listening");
        let served = serve_with_limits(
            listener,
            self.router,
            &self.config.server,
            self.ops.drain_on(shutdown),
            self.primus,
            self.socketio,
        )
        .await;
        if let Some(broker) = &self.broker {
            broker.close();
        }
        self.storage.close().await;
        tracing::info!("stopped");
        served.map_err(ServerError::from)
    }
}

/// For the REST transport: puts the `Authorization` header, parsed with the parse
/// strategies, into `params.authentication` (docs/feathers-semantics.md §E15). Never fails
/// a request.
fn rest_params_hook(auth: &Authentication) -> RequestParamsHook {
    let auth = auth.clone();
    Arc::new(move |params: &mut roost_core::Params| {
        if params.authentication.is_none() {
            params.authentication = auth.parse_headers(&params.headers);
        }
    })
}

/// For the Socket.IO transport: the authentication `create` a handshake with an
/// `Authorization` header runs before the connection is accepted (`login` before
/// `connection`): the header parsed as REST parses it, against the mounted service.
fn socketio_handshake_auth(auth: &Authentication) -> HandshakeAuth {
    let auth = auth.clone();
    Arc::new(
        move |headers: &roost_core::Map<String, roost_core::Value>| {
            let path = auth.path()?.to_owned();
            let data = auth.parse_headers(headers)?;
            Some((path, data))
        },
    )
}

/// Starts the Redis broker of `[cluster]` and makes `app` a node of it; logs the node id and
/// adds `roost_cluster_*` to `/metrics`. The broker connects in the background: until it
/// does, `/readyz` answers unready and local delivery works as on one node.
fn join_cluster(
    app: &App,
    cluster: &roost_redis::RedisConfig,
) -> Result<Arc<dyn Broker>, ServerError> {
    let broker = roost_redis::RedisBroker::start(cluster.clone())
        .map_err(|e| ServerError::Setup(format!("[cluster]: {e}")))?;
    let broker: Arc<dyn Broker> = Arc::new(broker);
    tracing::info!(
        node_id = broker.node_id().as_str(),
        redis = %roost_redis::redact_url(&cluster.url),
        mode = ?cluster.mode,
        "cluster node"
    );
    let options = roost_core::cluster::ClusterOptions {
        publish_every_event: cluster.mode == roost_redis::ClusterMode::FeathersSync,
        upstream_bus: cluster.mode == roost_redis::ClusterMode::FeathersSync,
        ..Default::default()
    };
    app.join_cluster(Arc::clone(&broker), options);
    let for_metrics = Arc::clone(&broker);
    crate::metrics::add_section(move |out| crate::metrics::render_cluster(out, &*for_metrics));
    Ok(broker)
}

/// The Primus transport for `app` when `[primus] enabled` (the default), with the client
/// library read from `primus.client_library`, or the embedded one ([`crate::primus_client`]).
/// Installs itself as the app's delivery sink. Call inside the runtime.
fn primus(app: &App, config: &Config) -> Result<Option<Primus>, String> {
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
/// handshake authentication when given. Routes the app's deliveries for Socket.IO
/// connections to itself. Call inside the runtime.
fn socketio(app: &App, config: &Config, handshake_auth: Option<HandshakeAuth>) -> Option<SocketIo> {
    config
        .socketio
        .enabled
        .then(|| SocketIo::new(app.clone(), config.socketio.clone(), handshake_auth))
}

/// Every transport on one router: health, `/metrics` (REST, both socket transports and,
/// when given, authentication), Socket.IO (when given) in front of Primus (when given) in
/// front of REST.
fn router(
    app: &App,
    config: &Config,
    primus: Option<&Primus>,
    socketio: Option<&SocketIo>,
    params_hook: Option<RequestParamsHook>,
    auth: Option<&Authentication>,
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
    match socketio {
        Some(socketio) => socketio.wrap(router, &config.cors),
        None => router,
    }
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

/// Serves `router` on `listener` with the connection limits of `server` (timeouts, per-IP
/// cap; see [`crate::listen`]) until `shutdown` resolves, then stops accepting and drains:
/// calls in flight finish and are acknowledged, new calls are refused, then every socket is
/// closed so that clients reconnect (Primus without `primus::server::close`), all within
/// `server.shutdown_grace_secs`; what the deadline cut is logged with counts.
async fn serve_with_limits(
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
