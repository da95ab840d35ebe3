//! The `roost` command: `roost serve`, `roost config`, `roost migrate`.

use clap::{Parser, Subcommand};
use roost::config::{self, Config, LogFormat, Overrides};
use roost::server::ServerError;
use roost::Server;
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

/// `roost migrate`: exit 0 after printing the changes, 2 on a refused destructive change.
async fn migrate(config: Config) -> ExitCode {
    match Server::builder().config(config).migrate().await {
        Ok(changes) => {
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
            ExitCode::from(if e.destructive { 2 } else { 1 })
        }
    }
}

/// `roost serve`: the server of `config` until SIGINT/SIGTERM.
async fn serve(config: Config) -> Result<(), ServerError> {
    roost::listen::prepare_fd_limit(&config);
    Server::builder()
        .config(config)
        .build()
        .await?
        .listen()
        .await
}

/// With the `mimalloc` feature, mimalloc serves every allocation of the binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With the `jemalloc` feature (the default; `mimalloc` wins if both are on), jemalloc
/// serves every allocation of the binary.
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Turns on jemalloc's background thread, which gives freed pages back to the system after
/// their decay time (`dirty_decay_ms`, 10 s by default) even when no thread allocates any
/// more: without it, the memory of a spike is returned only as later allocations happen.
/// Further tuning: jemalloc's own `_RJEM_MALLOC_CONF` environment variable.
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
fn start_allocator() {
    use tikv_jemalloc_ctl::{background_thread, Access, AsName};
    // -1 when jemalloc does not answer (a figure for the log only).
    let option = |key: &'static [u8]| -> isize { key.name().read().unwrap_or(-1) };
    match background_thread::write(true) {
        Ok(()) => tracing::debug!(
            dirty_decay_ms = option(b"opt.dirty_decay_ms\0"),
            muzzy_decay_ms = option(b"opt.muzzy_decay_ms\0"),
            "jemalloc: background purging on"
        ),
        Err(e) => tracing::warn!("jemalloc: cannot start the background thread: {e}"),
    }
}

/// Nothing to start for glibc's allocator or mimalloc.
#[cfg(not(all(feature = "jemalloc", not(feature = "mimalloc"))))]
fn start_allocator() {}

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
            start_allocator();
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
