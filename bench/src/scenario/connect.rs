//! `connect`: open N connections (logged in when asked) as fast as the server takes them,
//! hold them idle, and read what each costs the server in memory and CPU.

use super::{open_many, Env};
use crate::stats::{merge, round3};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Parameters of `connect`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Connections opened (and held) before the baseline reading, so the server's one-time
    /// growth is not charged to the measured ones.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Connections in setup (connect + upgrade + login) at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds to hold them idle (answering heartbeats) before the final reading.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
}

impl ConnectArgs {
    pub(crate) fn params(&self) -> Value {
        json!({
            "connections": self.connections,
            "warmup": self.warmup,
            "concurrency": self.concurrency,
            "hold_secs": self.hold_secs,
        })
    }
}

/// Runs the scenario; the results as one JSON object.
pub(crate) async fn run(env: Arc<Env>, args: &ConnectArgs) -> Value {
    let mut warm = open_many(&env, 1, args.warmup, args.concurrency, None, None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = env.server.sample();
    let mut fleet = open_many(
        &env,
        1 + args.warmup,
        args.connections,
        args.concurrency,
        None,
        None,
    )
    .await;
    let connected = env.server.sample();
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let held = env.server.sample();

    let secs = fleet.elapsed.as_secs_f64().max(1e-9);
    let setup = fleet.setup.summary();
    let mut results = vec![json!({
        "connections": fleet.opened,
        "failed": fleet.failed + warm.failed,
        "first_error": fleet.first_error.clone().or(warm.first_error.clone()),
        "connect_secs": round3(secs),
        "connects_per_sec": round3(fleet.opened as f64 / secs),
    })];
    results.push(setup.to_json("setup"));
    if let (Some(before), Some(connected), Some(held)) = (before, connected, held) {
        let per_conn = (held.rss_kib as f64 - before.rss_kib as f64) / fleet.opened.max(1) as f64;
        let connect_cpu = connected.cpu_secs - before.cpu_secs;
        results.push(json!({
            "rss_before_kib": before.rss_kib,
            "rss_after_kib": held.rss_kib,
            "rss_per_conn_kib": round3(per_conn),
            "server_cpu_connect_secs": round3(connect_cpu),
            "server_cpu_per_1k_conns_ms": round3(connect_cpu * 1e6 / fleet.opened.max(1) as f64),
            "server_cores_connect": round3(connected.cores_since(&before)),
            "server_cores_idle": round3(held.cores_since(&connected)),
        }));
    }
    let ends = fleet.stop().await;
    warm.stop().await;
    let closed = ends.iter().filter(|e| e.closed_by_server).count();
    results.push(json!({ "closed_by_server": closed }));
    merge(results)
}
