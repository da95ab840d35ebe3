//! `rpc`: C connections each calling one method back to back (the next call goes out when
//! the previous ack is in); calls per second and latency percentiles. With `--signups S`,
//! S more connections sign up new users back to back meanwhile (`create users`, a bcrypt
//! hash each on the chat app): the calls' latency under write contention.

use super::{open_ready, Env};
use crate::client::{BenchError, Conn, Frame};
use crate::stats::{merge, round3, Latencies};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The method every call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Method {
    /// `get(id)` of a record created up front.
    Get,
    /// `find({$limit: 10})`.
    Find,
    /// `create(data)` (the store grows by one record per call).
    Create,
}

/// Parameters of `rpc`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RpcArgs {
    /// Connections calling in parallel.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// The method to call.
    #[arg(long, value_enum, default_value_t = Method::Get)]
    method: Method,
    /// The service path (its `create` must accept `{text, roomId}`).
    #[arg(long, default_value = "messages")]
    path: String,
    /// Seconds of calling.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Connections signing up new users back to back during the run (unauthenticated).
    #[arg(long, default_value_t = 0)]
    signups: usize,
}

impl RpcArgs {
    pub(crate) fn params(&self) -> Value {
        json!({
            "connections": self.connections,
            "method": format!("{:?}", self.method).to_lowercase(),
            "path": self.path,
            "secs": self.secs,
            "signups": self.signups,
        })
    }

    fn call_args(&self, id: &Value) -> (&'static str, Vec<Value>) {
        let path = json!(self.path);
        match self.method {
            Method::Get => ("get", vec![path, id.clone(), json!({})]),
            Method::Find => ("find", vec![path, json!({"$limit": 10})]),
            Method::Create => ("create", vec![path, record(), json!({})]),
        }
    }
}

/// What `create` sends: a message in a room nobody joined, so no one gets an event.
fn record() -> Value {
    json!({"text": "rpc benchmark", "roomId": "rpc-nobody"})
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
}

async fn call_loop(
    mut conn: Conn,
    n: usize,
    method: &str,
    args: &[Value],
    until: Instant,
    latencies: &Latencies,
) -> Tally {
    let mut tally = Tally::default();
    'calls: while Instant::now() < until {
        let id = conn.next_id();
        let frame = conn.transport.encode_call(method, args, id);
        let began = Instant::now();
        if let Err(e) = conn.send(frame).await {
            tally.first_error.get_or_insert(e.to_string());
            break;
        }
        loop {
            let text = match tokio::time::timeout(Duration::from_secs(10), conn.ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => {
                    tally
                        .first_error
                        .get_or_insert("connection closed".to_owned());
                    break 'calls;
                }
                Err(_) => {
                    tally
                        .first_error
                        .get_or_insert("no answer within 10 s".to_owned());
                    break 'calls;
                }
                Ok(Some(Ok(_))) => continue,
            };
            match conn.classify(&text) {
                Frame::Ping(number) => {
                    let _ = conn.pong(number).await;
                }
                Frame::Ack { id: got, ok } if got == id => {
                    latencies.record(n, began.elapsed());
                    if ok {
                        tally.ok += 1;
                    } else {
                        tally.failed += 1;
                        tally.first_error.get_or_insert_with(|| text.to_string());
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    conn.close(false).await;
    tally
}

/// Signs up new users on `conn` until `until`, one after the other.
async fn signup_loop(mut conn: Conn, n: usize, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let run = format!("{}-{}", std::process::id(), crate::stats::unix_secs());
    let mut seq = 0u64;
    while Instant::now() < until {
        seq += 1;
        let user = json!({
            "email": format!("bench-signup-{run}-{n}-{seq}@example.com"),
            "password": "bench-signup-password",
        });
        match conn.call("create", "users", &[user, json!({})]).await {
            Ok(_) => tally.ok += 1,
            Err(BenchError::Call(e)) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                tally.first_error.get_or_insert(e.to_string());
                break;
            }
        }
    }
    conn.close(false).await;
    tally
}

/// Runs the scenario; the results as one JSON object.
pub(crate) async fn run(env: Arc<Env>, args: &RpcArgs) -> Result<Value, BenchError> {
    let mut first = open_ready(&env, 0, None).await?;
    let created = first
        .call("create", &args.path, &[record(), json!({})])
        .await?;
    first.close(false).await;
    let id = created.get("id").cloned().unwrap_or(Value::Null);
    let (method, call_args) = args.call_args(&id);

    let mut conns = Vec::with_capacity(args.connections);
    for n in 1..=args.connections {
        conns.push(open_ready(&env, n, None).await?);
    }
    let mut signers = Vec::with_capacity(args.signups);
    for n in 0..args.signups {
        signers.push(Conn::open(&env.target, args.connections + 1 + n).await?);
    }
    let latencies = Arc::new(Latencies::default());
    let before = env.server.sample();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(n, conn)| {
            let (latencies, call_args) = (latencies.clone(), call_args.clone());
            tokio::spawn(
                async move { call_loop(conn, n, method, &call_args, until, &latencies).await },
            )
        })
        .collect();
    let signups: Vec<_> = signers
        .into_iter()
        .enumerate()
        .map(|(n, conn)| tokio::spawn(signup_loop(conn, n, until)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.unwrap_or_default();
        total.ok += tally.ok;
        total.failed += tally.failed;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let mut signed = Tally::default();
    for task in signups {
        let tally = task.await.unwrap_or_default();
        signed.ok += tally.ok;
        signed.failed += tally.failed;
        if signed.first_error.is_none() {
            signed.first_error = tally.first_error;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let after = env.server.sample();
    let cores = match (before, after) {
        (Some(b), Some(a)) => round3(a.cores_since(&b)),
        _ => f64::NAN,
    };
    Ok(merge([
        json!({
            "calls": total.ok,
            "failed": total.failed,
            "first_error": total.first_error,
            "calls_per_sec": round3(total.ok as f64 / secs),
            "server_cores": cores,
            "signups": signed.ok,
            "signups_failed": signed.failed,
            "signup_first_error": signed.first_error,
        }),
        latencies.summary().to_json("lat"),
    ]))
}
