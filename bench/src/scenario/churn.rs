//! `churn`: stable subscribers in a room while a publisher broadcasts to it and other
//! connections keep opening, joining and closing (one in four dropped without a close
//! frame). Deliveries to the stable connections must all arrive, and the server's memory
//! should come back once the churn stops.

use super::publisher::Publisher;
use super::{open_many, open_ready, Deliveries, Env};
use crate::client::Frame;
use crate::stats::{merge, round3};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Parameters of `churn`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChurnArgs {
    /// Connections that stay for the whole run.
    #[arg(long, default_value_t = 1000)]
    stable: usize,
    /// Connections opening and closing at any moment.
    #[arg(long, default_value_t = 64)]
    churners: usize,
    /// Longest time (ms) a churning connection stays open after joining (random below it).
    #[arg(long, default_value_t = 200)]
    hold_ms: u64,
    /// Messages per second published to the room meanwhile.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of churn.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds after the churn before the last memory reading.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// The room.
    #[arg(long, default_value = "churn")]
    room: String,
}

impl ChurnArgs {
    pub(crate) fn params(&self) -> Value {
        json!({
            "stable": self.stable,
            "churners": self.churners,
            "hold_ms": self.hold_ms,
            "rate": self.rate,
            "secs": self.secs,
            "settle_secs": self.settle_secs,
        })
    }
}

#[derive(Default)]
struct Cycles {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A cheap per-connection pseudo-random number (splitmix64), for hold times.
fn spread(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn churn_loop(
    env: Arc<Env>,
    args: ChurnArgs,
    next: Arc<AtomicUsize>,
    cycles: Arc<Cycles>,
    until: Instant,
) {
    while Instant::now() < until {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let mut conn = match open_ready(&env, n, Some(&args.room)).await {
            Ok(conn) => conn,
            Err(e) => {
                cycles.failed.fetch_add(1, Ordering::Relaxed);
                cycles
                    .first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(e.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let hold = Duration::from_millis(spread(n as u64) % args.hold_ms.max(1));
        let _ = tokio::time::timeout(hold, async {
            while let Some(Ok(Message::Text(text))) = conn.ws.next().await {
                if let Frame::Ping(number) = conn.classify(&text) {
                    let _ = conn.pong(number).await;
                }
            }
        })
        .await;
        conn.close(n.is_multiple_of(4)).await;
        cycles.ok.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the scenario; the results as one JSON object.
pub(crate) async fn run(env: Arc<Env>, args: &ChurnArgs) -> Result<Value, String> {
    let deliveries = Deliveries::new(1);
    let mut fleet = open_many(
        &env,
        1,
        args.stable,
        256,
        Some(&args.room),
        Some(deliveries.clone()),
    )
    .await;
    let mut publisher = Publisher::open(&env, args.stable + 1, &args.room, 64)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = env.server.sample();

    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let next = Arc::new(AtomicUsize::new(args.stable + 2));
    let cycles = Arc::new(Cycles::default());
    let churners: Vec<_> = (0..args.churners)
        .map(|_| {
            tokio::spawn(churn_loop(
                env.clone(),
                args.clone(),
                next.clone(),
                cycles.clone(),
                until,
            ))
        })
        .collect();
    let sent = publisher
        .run_step(0, args.rate, Duration::from_secs(args.secs))
        .await;
    for churner in churners {
        let _ = churner.await;
    }
    let churn_secs = started.elapsed().as_secs_f64();
    let during = env.server.sample();
    publisher.close().await;
    let opened = fleet.opened;
    deliveries
        .settle(
            |closed| sent.ok * opened.saturating_sub(closed) as u64,
            Duration::from_secs(10),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let settled = env.server.sample();

    let ends = fleet.stop().await;
    let closed = ends.iter().filter(|e| e.closed_by_server).count();
    let open_received: u64 = ends
        .iter()
        .filter(|e| !e.closed_by_server)
        .map(|e| e.received)
        .sum();
    let expected = sent.ok * (ends.len() - closed) as u64;
    let ok = cycles.ok.load(Ordering::Relaxed);
    let first_error = cycles
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut results = vec![json!({
        "stable": fleet.opened,
        "setup_failed": fleet.failed,
        "churn_cycles": ok,
        "churn_failed": cycles.failed.load(Ordering::Relaxed),
        "churn_first_error": first_error,
        "churn_per_sec": round3(ok as f64 / churn_secs),
        "published": sent.ok,
        "expected": expected,
        "received": open_received,
        "silent_loss": expected.saturating_sub(open_received),
        "closed_by_server": closed,
    })];
    if let (Some(before), Some(during), Some(settled)) = (before, during, settled) {
        results.push(json!({
            "rss_before_kib": before.rss_kib,
            "rss_end_of_churn_kib": during.rss_kib,
            "rss_settled_kib": settled.rss_kib,
            "rss_growth_kib": settled.rss_kib as i64 - before.rss_kib as i64,
            "server_cores": round3(during.cores_since(&before)),
        }));
    }
    Ok(merge(results))
}
