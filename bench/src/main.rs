//! `roost-bench`: a load generator speaking Feathers calls over websockets — Primus +
//! primus-emitter, or Socket.IO v5 over Engine.IO 4 (`--transport`) — for Roost and the Node
//! reference alike. It only ever connects to 127.0.0.x.
//!
//! - `client`: one connection (transport, source address, upgrade, calls, heartbeat answers);
//! - `auth`: sign-up / login once, then JWT (or local) login per connection;
//! - `scenario`: `connect`, `fanout`, `floor`, `rpc`, `churn` and what they share (opening fleets of
//!   connections, the subscriber loop, the publisher, message stamps);
//! - `stats`: HDR latency histograms; `procstat`: the server's RSS and CPU from /proc;
//! - `report`: the human table of a run and the side-by-side `report` of two servers.
//!
//! Each scenario prints a table, then one JSON line (also appended to `--json-out`).
//! Every loop is bounded in time and count, so every run stops by itself.

mod auth;
mod client;
mod procstat;
mod report;
mod scenario;
mod stats;

use clap::{Parser, Subcommand};
use client::{Target, Transport};
use scenario::{churn, connect, fanout, floor, rpc, Env};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Load generator for Roost and the Node reference (Feathers calls over Primus or Socket.IO websockets).
#[derive(Debug, Parser)]
#[command(name = "roost-bench", version, about)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Command,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// The server, on 127.0.0.x.
    #[arg(long, global = true, default_value = "127.0.0.1:3030")]
    server: SocketAddr,
    /// The server's process id: its RSS and CPU time are read from /proc.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Name of the server in the JSON line (e.g. `roost`, `reference`).
    #[arg(long, global = true, default_value = "server")]
    label: String,
    /// A free-form variant name kept in the JSON line (e.g. `get`, `auth`).
    #[arg(long, global = true, default_value = "")]
    variant: String,
    /// Append the JSON line to this file too.
    #[arg(long, global = true)]
    json_out: Option<PathBuf>,
    /// The protocol every connection speaks: Primus (`/primus`, primus-emitter) or Socket.IO
    /// v5 over an Engine.IO 4 websocket (`/socket.io/`). `floor` always uses Primus.
    #[arg(long, global = true, value_enum, default_value_t = Transport::Primus)]
    transport: Transport,
    /// Source addresses 127.0.0.1..=127.0.0.K used in turn (more ephemeral ports).
    #[arg(long, global = true, default_value_t = 1)]
    sources: u8,
    /// Runtime worker threads (default: the number of CPUs).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// `fanout` only: the publisher connects here instead of --server (another node of a
    /// cluster: subscribers on --server, publisher on this one, events crossing Redis).
    #[arg(long, global = true)]
    publish_server: Option<SocketAddr>,
    /// The publishing node's process id (with --publish-server): its CPU is reported too.
    #[arg(long, global = true)]
    publish_server_pid: Option<u32>,
    #[command(flatten)]
    auth: auth::AuthArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open N idle connections (logged in with --login/--signup); rate, RSS and CPU per connection.
    Connect(connect::ConnectArgs),
    /// N subscribers in a room, one publisher stepping up its rate; deliveries/s, loss, latency.
    Fanout(fanout::FanoutArgs),
    /// The machine's limit for a burst: fanout's subscribers fed by a one-thread sender in
    /// this process (pre-encoded frames, non-blocking writes); --server is ignored.
    Floor(floor::FloorArgs),
    /// The floor's sender process (started by `floor`).
    #[command(hide = true)]
    FloorSender {
        #[arg(long)]
        subscribers: usize,
        #[arg(long)]
        pad: usize,
    },
    /// C connections calling back to back; calls/s and latency.
    Rpc(rpc::RpcArgs),
    /// Connections opening and closing while a room is broadcast to; loss and RSS after.
    Churn(churn::ChurnArgs),
    /// Two files of JSON lines side by side, with ratios (a markdown table).
    Report {
        /// Results of the first server.
        a: PathBuf,
        /// Results of the second server.
        b: PathBuf,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Connect(_) => "connect",
            Command::Fanout(_) => "fanout",
            Command::Floor(_) => "floor",
            Command::FloorSender { .. } => "floor-sender",
            Command::Rpc(_) => "rpc",
            Command::Churn(_) => "churn",
            Command::Report { .. } => "report",
        }
    }

    fn params(&self) -> Value {
        match self {
            Command::Connect(a) => a.params(),
            Command::Fanout(a) => a.params(),
            Command::Floor(a) => a.params(),
            Command::FloorSender { .. } => Value::Null,
            Command::Rpc(a) => a.params(),
            Command::Churn(a) => a.params(),
            Command::Report { .. } => Value::Null,
        }
    }
}

async fn run(common: &Common, command: &Command) -> Result<Value, String> {
    let target =
        Target::new(common.server, common.sources, common.transport).map_err(|e| e.to_string())?;
    let credential = common
        .auth
        .prepare(&target)
        .await
        .map_err(|e| format!("login: {e}"))?;
    let env = Arc::new(Env {
        target,
        server: procstat::Server::new(common.server_pid),
        credential,
    });
    // The publisher's node: another one when --publish-server names it (it gets its own
    // login: the nodes may keep users in separate stores).
    let publish_env = match common.publish_server {
        Some(addr) if addr != common.server => {
            let target =
                Target::new(addr, common.sources, common.transport).map_err(|e| e.to_string())?;
            let credential = common
                .auth
                .prepare(&target)
                .await
                .map_err(|e| format!("login on the publishing node: {e}"))?;
            Arc::new(Env {
                target,
                server: procstat::Server::new(common.publish_server_pid),
                credential,
            })
        }
        _ => env.clone(),
    };
    // The generator's own CPU, to tell when it rather than the server is the limit.
    let me = procstat::Server::new(Some(std::process::id()));
    let before = me.sample();
    let results = match command {
        Command::Connect(args) => connect::run(env, args).await,
        Command::Fanout(args) => fanout::run(env, publish_env, args).await?,
        Command::Floor(args) => floor::run(env, args).await?,
        Command::FloorSender { .. } => Value::Null,
        Command::Rpc(args) => rpc::run(env, args).await.map_err(|e| e.to_string())?,
        Command::Churn(args) => churn::run(env, args).await?,
        Command::Report { .. } => Value::Null,
    };
    let own = match (before, me.sample()) {
        (Some(b), Some(a)) => json!({
            "bench_cpu_secs": stats::round3(a.cpu_secs - b.cpu_secs),
            "bench_wall_secs": stats::round3(a.at.duration_since(b.at).as_secs_f64()),
        }),
        _ => json!({}),
    };
    Ok(stats::merge([results, own]))
}

fn report(a: &PathBuf, b: &PathBuf) -> Result<(), String> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let (a, b) = (
        report::parse_lines(&read(a)?),
        report::parse_lines(&read(b)?),
    );
    print!("{}", report::side_by_side(&a, &b));
    Ok(())
}

fn emit(common: &Common, command: &Command, results: &Value) -> Result<(), String> {
    print!("{}", report::results_table(results));
    let line = json!({
        "bench": "roost-bench",
        "scenario": command.name(),
        "variant": common.variant,
        "label": common.label,
        "transport": common.transport.name(),
        "unix_time": stats::unix_secs(),
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "authenticated": common.auth.is_set(),
        "params": command.params(),
        "results": results,
    })
    .to_string();
    println!("{line}");
    if let Some(path) = &common.json_out {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        writeln!(file, "{line}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::FloorSender { subscribers, pad } = &cli.scenario {
        procstat::raise_nofile_limit();
        return match scenario::floor::sender_main(*subscribers, *pad) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roost-bench floor-sender: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Report { a, b } = &cli.scenario {
        return match report(a, b) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roost-bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let nofile = procstat::raise_nofile_limit();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.common.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roost-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "roost-bench {} against {} ({}), open-file limit {nofile}",
        cli.scenario.name(),
        cli.common.server,
        cli.common.label
    );
    let outcome = runtime
        .block_on(run(&cli.common, &cli.scenario))
        .and_then(|results| emit(&cli.common, &cli.scenario, &results));
    // Tasks still closing sockets must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roost-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
