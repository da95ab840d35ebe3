//! `fanout`: N subscribers joined to one room, one publisher creating stamped messages in it
//! at a rate, step by step (a ramp, or one step for a fixed rate). For each step: deliveries
//! expected vs received, deliveries per second, end-to-end latency and server CPU. A step
//! *keeps up* when every delivery arrived within a second of the last send with nobody closed;
//! it is *sustained* when it also kept p99 under the bound. The ramp stops at the first step
//! that does not keep up.

use super::publisher::Publisher;
use super::{open_many, Deliveries, Env};
use crate::stats::{merge, round3};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parameters of `fanout`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FanoutArgs {
    /// Subscribers joined to the room.
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Connections in setup (connect + login + join) at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Messages per second of each step, in order (one value: a fixed rate).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,48,64,96,128"
    )]
    rates: Vec<f64>,
    /// Seconds each step publishes.
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    /// Seconds a step may take after its last publish for the deliveries to arrive.
    #[arg(long, default_value_t = 5)]
    drain_secs: u64,
    /// A step is sustained only when its p99 latency is below this (ms).
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,
    /// Length of each message's text in bytes (the stamp, padded).
    #[arg(long, default_value_t = 64)]
    pad: usize,
    /// The room (`room/<roomId>` channel).
    #[arg(long, default_value = "bench")]
    room: String,
    /// Run every step even after one fails.
    #[arg(long)]
    keep_going: bool,
}

impl FanoutArgs {
    pub(crate) fn params(&self) -> Value {
        json!({
            "subscribers": self.subscribers,
            "rates": self.rates,
            "step_secs": self.step_secs,
            "drain_secs": self.drain_secs,
            "max_p99_ms": self.max_p99_ms,
            "pad": self.pad,
        })
    }
}

/// Runs the scenario; the results as one JSON object (a table of steps goes to stdout).
/// Subscribers connect to `env`'s server, the publisher to `publish`'s (the same one, or
/// another node of a cluster; then its CPU per step is reported as `publisher_server_cores`).
pub(crate) async fn run(
    env: Arc<Env>,
    publish: Arc<Env>,
    args: &FanoutArgs,
) -> Result<Value, String> {
    let two_nodes = !Arc::ptr_eq(&env, &publish);
    let deliveries = Deliveries::new(args.rates.len());
    let mut fleet = open_many(
        &env,
        1,
        args.subscribers,
        args.concurrency,
        Some(&args.room),
        Some(deliveries.clone()),
    )
    .await;
    let setup_secs = fleet.elapsed.as_secs_f64().max(1e-9);
    let mut publisher = Publisher::open(&publish, args.subscribers + 1, &args.room, args.pad)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!(
        "{:>7} {:>6} {:>10} {:>10} {:>7} {:>11} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7} {:>5} {:>5}",
        "msg/s",
        "sent",
        "expected",
        "received",
        "closed",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "cores",
        "drain s",
        "keeps",
        "p99ok"
    );
    let mut steps = Vec::new();
    let mut best: Option<Value> = None;
    let mut best_keepup: Option<Value> = None;
    let mut published_ok = 0u64;
    for (step, &rate) in args.rates.iter().enumerate() {
        let closed_before = deliveries.closed.load(Ordering::Relaxed);
        let before = env.server.sample();
        let publisher_before = publish.server.sample();
        let started = Instant::now();
        let sent = publisher
            .run_step(step, rate, Duration::from_secs(args.step_secs))
            .await;
        published_ok += sent.ok;
        // Drain time counts from the last send: a server that answers acks only after its
        // backlog of deliveries must not look as if it kept up.
        let acked_at = sent.finished.unwrap_or_else(Instant::now);
        let drain_deadline = Instant::now() + Duration::from_secs(args.drain_secs);
        let expected = |closed: usize| sent.ok * fleet.opened.saturating_sub(closed) as u64;
        while Instant::now() < drain_deadline
            && deliveries.count(step) < expected(deliveries.closed.load(Ordering::Relaxed))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after = env.server.sample();
        let closed_now = deliveries.closed.load(Ordering::Relaxed);
        let summary = deliveries.steps[step].summary();
        let expected_all = sent.ok * fleet.opened as u64;
        let per_sec = summary.count as f64 / elapsed;
        let cores = match (before, after) {
            (Some(b), Some(a)) => a.cores_since(&b),
            _ => f64::NAN,
        };
        let publisher_cores = match (publisher_before, publish.server.sample()) {
            (Some(b), Some(a)) if two_nodes => Some(round3(a.cores_since(&b))),
            _ => None,
        };
        let drain = acked_at.elapsed().as_secs_f64();
        // Everything arrived, nobody was closed, the publisher kept its rate…
        let complete = summary.count >= expected_all
            && sent.failed == 0
            && closed_now == closed_before
            && sent.rate >= 0.95 * rate;
        // …and within a second of the last send: no backlog builds up at this rate.
        let keeps_up = complete && drain < 1.0;
        let sustained = keeps_up && summary.p99_ms < args.max_p99_ms;
        println!(
            "{:>7} {:>6} {:>10} {:>10} {:>7} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6.2} {:>7.2} {:>5} {:>5}",
            rate,
            sent.sent,
            expected_all,
            summary.count,
            closed_now - closed_before,
            per_sec,
            summary.p50_ms,
            summary.p99_ms,
            summary.p999_ms,
            summary.max_ms,
            cores,
            drain,
            if keeps_up { "yes" } else { "no" },
            if sustained { "yes" } else { "no" }
        );
        let row = merge([
            json!({
                "rate": rate,
                "sent": sent.sent,
                "acked": sent.ok,
                "failed_calls": sent.failed,
                "publisher_stalls": sent.stalls,
                "expected": expected_all,
                "received": summary.count,
                "closed": closed_now - closed_before,
                "deliveries_per_sec": round3(per_sec),
                "server_cores": round3(cores),
                "publisher_server_cores": publisher_cores,
                "drain_secs": round3(drain),
                "keeps_up": keeps_up,
                "sustained": sustained,
            }),
            summary.to_json("lat"),
        ]);
        if sustained {
            best = Some(row.clone());
        }
        if keeps_up {
            best_keepup = Some(row.clone());
        }
        steps.push(row);
        if !keeps_up && !args.keep_going {
            break;
        }
    }
    publisher.close().await;
    // Late deliveries still count: wait while they keep arriving.
    let opened = fleet.opened;
    deliveries
        .settle(
            |closed| published_ok * opened.saturating_sub(closed) as u64,
            Duration::from_secs(args.drain_secs.max(5)),
        )
        .await;
    let ends = fleet.stop().await;
    let closed: Vec<_> = ends.iter().filter(|e| e.closed_by_server).collect();
    let open_received: u64 = ends
        .iter()
        .filter(|e| !e.closed_by_server)
        .map(|e| e.received)
        .sum();
    let open_count = (ends.len() - closed.len()) as u64;
    let silent_loss = (published_ok * open_count).saturating_sub(open_received);
    let closed_loss: u64 = closed
        .iter()
        .map(|e| published_ok.saturating_sub(e.received))
        .sum();

    let best = best.unwrap_or_else(|| json!({}));
    let keepup = best_keepup.unwrap_or_else(|| json!({}));
    Ok(json!({
        "subscribers": fleet.opened,
        "setup_failed": fleet.failed,
        "setup_first_error": fleet.first_error,
        "setup_per_sec": round3(fleet.opened as f64 / setup_secs),
        "max_sustained_deliveries_per_sec": best.get("deliveries_per_sec").cloned().unwrap_or(json!(0)),
        "max_sustained_rate": best.get("rate").cloned().unwrap_or(json!(0)),
        "sustained_lat_p50_ms": best.get("lat_p50_ms").cloned().unwrap_or(Value::Null),
        "sustained_lat_p99_ms": best.get("lat_p99_ms").cloned().unwrap_or(Value::Null),
        "sustained_lat_p999_ms": best.get("lat_p999_ms").cloned().unwrap_or(Value::Null),
        "sustained_lat_max_ms": best.get("lat_max_ms").cloned().unwrap_or(Value::Null),
        "sustained_server_cores": best.get("server_cores").cloned().unwrap_or(Value::Null),
        "max_keepup_deliveries_per_sec": keepup.get("deliveries_per_sec").cloned().unwrap_or(json!(0)),
        "max_keepup_rate": keepup.get("rate").cloned().unwrap_or(json!(0)),
        "keepup_lat_p99_ms": keepup.get("lat_p99_ms").cloned().unwrap_or(Value::Null),
        "keepup_server_cores": keepup.get("server_cores").cloned().unwrap_or(Value::Null),
        "published": published_ok,
        "silent_loss": silent_loss,
        "closed_by_server": closed.len(),
        "lost_with_closed": closed_loss,
        "steps": steps,
    }))
}
