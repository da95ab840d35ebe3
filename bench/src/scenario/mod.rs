//! The scenarios and what they share: opening many connections at a bounded pace, the
//! subscriber loop that answers heartbeats and timestamps deliveries, and the stamp a
//! publisher writes into each message's text.

pub(crate) mod churn;
pub(crate) mod connect;
pub(crate) mod fanout;
pub(crate) mod floor;
pub(crate) mod publisher;
pub(crate) mod rpc;

use crate::auth::Credential;
use crate::client::{BenchError, Conn, Frame, Target};
use crate::procstat::Server;
use crate::stats::{now_ns, Latencies};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// What every scenario gets.
pub(crate) struct Env {
    pub(crate) target: Target,
    pub(crate) server: Server,
    pub(crate) credential: Option<Credential>,
}

/// Opens connection `n`, logs it in when there is a credential, and joins `room`.
pub(crate) async fn open_ready(
    env: &Env,
    n: usize,
    room: Option<&str>,
) -> Result<Conn, BenchError> {
    let mut conn = Conn::open(&env.target, n).await?;
    if let Some(credential) = &env.credential {
        credential.authenticate(&mut conn).await?;
    }
    if let Some(room) = room {
        conn.call("join", "messages", &[json!({ "roomId": room }), json!({})])
            .await?;
    }
    Ok(conn)
}

/// Marks the text of a benchmark message: `~rb <step> <seq> <sent ns>`.
const STAMP: &str = "~rb ";

/// The text a publisher sends for message `seq` of `step`, padded to about `pad` bytes.
pub(crate) fn stamp_text(step: usize, seq: u64, pad: usize) -> String {
    let mut text = format!("{STAMP}{step} {seq} {} ", now_ns());
    while text.len() < pad {
        text.push('x');
    }
    text
}

/// The step and send time (ns) stamped into a delivered frame, found without a JSON parse.
pub(crate) fn read_stamp(frame: &str) -> Option<(usize, u64)> {
    let at = frame.find(STAMP)? + STAMP.len();
    let mut fields = frame[at..].splitn(4, ' ');
    let step = fields.next()?.parse().ok()?;
    let _seq: u64 = fields.next()?.parse().ok()?;
    let sent = fields.next()?.trim_end_matches('"').parse().ok()?;
    Some((step, sent))
}

/// Deliveries seen by subscribers: one latency histogram per publishing step.
pub(crate) struct Deliveries {
    pub(crate) steps: Vec<Latencies>,
    /// Subscribers the server closed so far.
    pub(crate) closed: AtomicUsize,
}

impl Deliveries {
    pub(crate) fn new(steps: usize) -> Arc<Self> {
        Arc::new(Deliveries {
            steps: (0..steps.max(1)).map(|_| Latencies::default()).collect(),
            closed: AtomicUsize::new(0),
        })
    }

    /// Deliveries of `step` so far.
    pub(crate) fn count(&self, step: usize) -> u64 {
        self.steps.get(step).map_or(0, |l| l.merged().len())
    }

    /// Deliveries of every step so far.
    pub(crate) fn total(&self) -> u64 {
        (0..self.steps.len()).map(|s| self.count(s)).sum()
    }

    /// Waits until `total()` reaches `expected(closed)`, or it stops growing for a second, or
    /// `limit` passes.
    pub(crate) async fn settle(&self, expected: impl Fn(usize) -> u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        let (mut last, mut last_change) = (self.total(), Instant::now());
        while Instant::now() < deadline {
            let now = self.total();
            if now >= expected(self.closed.load(Ordering::Relaxed)) {
                return;
            }
            if now != last {
                (last, last_change) = (now, Instant::now());
            } else if last_change.elapsed() > Duration::from_secs(1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// How a subscriber (or idle) connection ended.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SubEnd {
    /// Benchmark messages it received.
    pub(crate) received: u64,
    /// The server closed it (slow consumer, heartbeat, …) before the stop signal.
    pub(crate) closed_by_server: bool,
}

/// Holds `conn` open until `stop` turns true: answers pings and, with `deliveries`, records
/// each stamped message's latency. Closes politely at the end.
pub(crate) async fn subscribe(
    mut conn: Conn,
    n: usize,
    deliveries: Option<Arc<Deliveries>>,
    mut stop: watch::Receiver<bool>,
) -> SubEnd {
    let mut end = SubEnd::default();
    let closed = |end: &mut SubEnd| {
        if !end.closed_by_server {
            end.closed_by_server = true;
            if let Some(d) = &deliveries {
                d.closed.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            next = conn.ws.next() => next,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                closed(&mut end);
                return end;
            }
            Some(Ok(_)) => continue,
        };
        match conn.classify(&text) {
            Frame::Ping(number) if conn.pong(number).await.is_err() => {
                closed(&mut end);
                return end;
            }
            Frame::ServerClose => closed(&mut end),
            Frame::Event => {
                if let (Some(deliveries), Some((step, sent))) = (&deliveries, read_stamp(&text)) {
                    end.received += 1;
                    let latency = Duration::from_nanos(now_ns().saturating_sub(sent));
                    if let Some(hist) = deliveries.steps.get(step) {
                        hist.record(n, latency);
                    }
                }
            }
            _ => {}
        }
    }
    conn.close(false).await;
    end
}

/// Connections opened by [`open_many`], each held by a task until the stop signal.
pub(crate) struct Fleet {
    pub(crate) opened: usize,
    pub(crate) failed: usize,
    pub(crate) first_error: Option<String>,
    /// Time from the first connect to the last connection ready.
    pub(crate) elapsed: Duration,
    /// Connect (+ login + join) latency of each connection.
    pub(crate) setup: Arc<Latencies>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<SubEnd>>,
}

impl Fleet {
    /// Stops every connection and collects how each ended.
    pub(crate) async fn stop(&mut self) -> Vec<SubEnd> {
        let _ = self.stop.send(true);
        let mut ends = Vec::with_capacity(self.tasks.len());
        for task in std::mem::take(&mut self.tasks) {
            ends.push(task.await.unwrap_or_default());
        }
        ends
    }
}

/// Opens `count` connections numbered from `first`, at most `concurrency` in setup at once,
/// each logged in and joined to `room` as asked, then held by [`subscribe`].
pub(crate) async fn open_many(
    env: &Arc<Env>,
    first: usize,
    count: usize,
    concurrency: usize,
    room: Option<&str>,
    deliveries: Option<Arc<Deliveries>>,
) -> Fleet {
    let (stop, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::channel(count.max(1));
    let setup = Arc::new(Latencies::default());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in first..first + count {
        let (env, gate, ready, setup) =
            (env.clone(), gate.clone(), ready_tx.clone(), setup.clone());
        let (room, deliveries, stop_rx) =
            (room.map(str::to_owned), deliveries.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let opened = {
                let _permit = gate.acquire().await;
                let began = Instant::now();
                let opened = open_ready(&env, n, room.as_deref()).await;
                setup.record(n, began.elapsed());
                opened
            };
            match opened {
                Ok(conn) => {
                    let _ = ready.send(Ok(())).await;
                    subscribe(conn, n, deliveries, stop_rx).await
                }
                Err(e) => {
                    let _ = ready.send(Err(e.to_string())).await;
                    SubEnd::default()
                }
            }
        }));
    }
    drop(ready_tx);
    let (mut opened, mut failed, mut first_error) = (0, 0, None);
    while let Some(result) = ready_rx.recv().await {
        match result {
            Ok(()) => opened += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if opened + failed == count {
            break;
        }
    }
    let elapsed = started.elapsed();
    Fleet {
        opened,
        failed,
        first_error,
        elapsed,
        setup,
        stop,
        tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_a_frame() {
        let text = stamp_text(3, 42, 64);
        assert!(text.len() >= 64);
        let frame = format!(
            r#"{{"type":0,"data":["messages created",{{"text":"{text}","roomId":"r","id":9}}]}}"#
        );
        let (step, sent) = read_stamp(&frame).unwrap();
        assert_eq!(step, 3);
        assert!(sent <= now_ns());
        let unpadded = format!(r#"{{"text":"{}"}}"#, stamp_text(1, 2, 0));
        assert_eq!(read_stamp(&unpadded).map(|s| s.0), Some(1));
        assert_eq!(read_stamp(r#"{"text":"hello"}"#), None);
        assert_eq!(read_stamp(r#"{"text":"~rb x 1 2"}"#), None);
    }
}
