//! The `roost` command: `roost serve`, `roost config`, `roost migrate`.

use clap::{Parser, Subcommand};
use roost::config::{self, Config, LogFormat, Overrides};
use roost::storage::{Storage, StorageError};
use roost::{chat, ops, server, services};
use roost_core::App;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Roost: Feathers 5 services over Primus, Socket.IO and REST.
#[derive(Debug, Parser)]
#[command(name = "roost", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares.
#[derive(Debug, clap::Args)]
struct Common {
    /// TOML configuration file (see docs/config.md). Every key can also be set as
    /// ROOST_<SECTION>__<KEY>, e.g. ROOST_SERVER__PORT=4000.
    #[arg(short, long, env = "ROOST_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides server.host).
    #[arg(long)]
    host: Option<IpAddr>,
    /// Port to listen on (overrides server.port; 0 picks a free port).
    #[arg(short, long)]
    port: Option<u16>,
    /// Data directory (overrides server.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Common),
    /// Print the effective configuration (file + environment + flags) as TOML.
    Config(Common),
    /// Create the tables of the SQL services and add new columns, print each change (or
    /// `no changes`) and exit; destructive changes are refused (exit 2).
    Migrate(Common),
}

fn load(common: &Common) -> Result<Config, config::ConfigError> {
    let overrides = Overrides {
        host: common.host,
        port: common.port,
        data_dir: common.data_dir.clone(),
    };
    Config::load(common.config.as_deref(), &overrides)
}

fn init_logging(config: &config::LogConfig) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !config.wire_frames {
        for directive in config::WIRE_LOG_CAPS {
            if let Ok(directive) = directive.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Chat(#[from] chat::ChatError),
}

impl BuildError {
    fn is_destructive(&self) -> bool {
        matches!(self, BuildError::Storage(e) if e.is_destructive())
    }
}

/// The app with every service of `config` — declared services and the default app — its SQL
/// tables migrated in `storage` (so `roost migrate` sees every table `serve` uses).
async fn build_app(
    config: &Config,
    storage: &Storage,
) -> Result<(App, Option<chat::ChatApp>), BuildError> {
    roost_core::query::QueryLimits::set_process_default(config.query);
    let app = App::new();
    services::register_declared(&app, &config.services, storage).await?;
    let chat = chat::install(&app, config, storage).await?;
    services::attach_declared_hooks(&app, &config.services, chat.as_ref().map(|c| c.auth()))?;
    Ok((app, chat))
}

/// `roost migrate`: exit 0 after printing the changes, 2 on a refused destructive change.
async fn migrate(config: Config) -> ExitCode {
    let storage = Storage::new(&config);
    let result = build_app(&config, &storage).await;
    storage.close().await;
    match result {
        Ok(_) => {
            let changes = storage.changes();
            if changes.is_empty() {
                println!("no changes");
            }
            for change in changes {
                println!("{change}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roost: {e}");
            let destructive = e.is_destructive() || storage.refused_destructive();
            ExitCode::from(if destructive { 2 } else { 1 })
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    roost::listen::prepare_fd_limit(&config);
    let storage = std::sync::Arc::new(Storage::new(&config));
    let (app, chat) = build_app(&config, &storage)
        .await
        .map_err(|e| e.to_string())?;
    // Gateway mode (docs/gateway.md): after Roost's own services, which win.
    let gateway =
        roost_gateway::Gateway::install(&app, &config.gateway).map_err(|e| e.to_string())?;
    if let Some(metrics) = gateway.as_ref().map(|g| std::sync::Arc::clone(g.metrics())) {
        roost::metrics::add_section(move |out| metrics.render(out));
    }
    // Cluster mode (docs/cluster.md): before the listener, so the first connection's
    // channels are already followed by the broker.
    let broker = match &config.cluster {
        Some(cluster) => Some(join_cluster(&app, cluster)?),
        None => None,
    };
    let listener = server::bind(&config).await.map_err(|e| {
        format!(
            "cannot listen on {}:{}: {e}",
            config.server.host, config.server.port
        )
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "roost listening");
    ops::first_page::announce(addr);
    let primus = server::primus(&app, &config)?;
    let rest_hook = chat.as_ref().map(chat::ChatApp::rest_params_hook);
    let handshake_auth = chat
        .as_ref()
        .map(chat::ChatApp::socketio_handshake_auth)
        .or_else(|| gateway.as_ref().map(roost_gateway::Gateway::handshake_auth));
    let socketio = server::socketio(&app, &config, handshake_auth);
    let router = server::router_with_transports(
        &app,
        &config,
        primus.as_ref(),
        socketio.as_ref(),
        rest_hook,
        chat.as_ref().map(chat::ChatApp::auth),
    );
    let router = match &gateway {
        Some(gateway) => gateway.routes(router),
        None => router,
    };
    let ops = ops::Ops::new(
        &app,
        &config,
        storage.clone(),
        primus.as_ref(),
        socketio.as_ref(),
        chat.as_ref().map(chat::ChatApp::auth),
    )?;
    let router = ops.wrap(router);
    server::serve_with_limits(
        listener,
        router,
        &config.server,
        ops.drain_on(server::shutdown_signal()),
        primus,
        socketio,
    )
    .await
    .map_err(|e| e.to_string())?;
    if let Some(broker) = &broker {
        broker.close();
    }
    storage.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the Redis broker of `[cluster]` and makes `app` a node of it; logs the node id and
/// adds `roost_cluster_*` to `/metrics`. The broker connects in the background: until it
/// does, `/readyz` answers unready and local delivery works as on one node.
fn join_cluster(
    app: &roost_core::App,
    cluster: &roost_redis::RedisConfig,
) -> Result<std::sync::Arc<dyn roost_core::broker::Broker>, String> {
    use roost_core::broker::Broker;
    let broker =
        roost_redis::RedisBroker::start(cluster.clone()).map_err(|e| format!("[cluster]: {e}"))?;
    let broker: std::sync::Arc<dyn Broker> = std::sync::Arc::new(broker);
    tracing::info!(
        node_id = broker.node_id().as_str(),
        redis = %roost_redis::redact_url(&cluster.url),
        mode = ?cluster.mode,
        "cluster node"
    );
    let options = roost_core::cluster::ClusterOptions {
        publish_every_event: cluster.mode == roost_redis::ClusterMode::FeathersSync,
        ..Default::default()
    };
    app.join_cluster(std::sync::Arc::clone(&broker), options);
    let for_metrics = std::sync::Arc::clone(&broker);
    roost::metrics::add_section(move |out| roost::metrics::render_cluster(out, &*for_metrics));
    Ok(broker)
}

/// With the `mimalloc` feature, mimalloc serves every allocation of the binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(common) => match load(&common) {
            Ok(config) => {
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("roost: {e}");
                ExitCode::from(2)
            }
        },
        Command::Migrate(common) => {
            let config = match load(&common) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("roost: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log);
            match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(migrate(config)),
                Err(e) => {
                    eprintln!("roost: cannot start the runtime: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(common) => {
            let config = match load(&common) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("roost: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("roost: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("roost: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
