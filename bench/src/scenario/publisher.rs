//! The publisher: one connection creating stamped `messages` in a room at a set rate, with
//! a reader task counting the acks (and answering heartbeats) while sends go on.

use super::{open_ready, stamp_text, Env};
use crate::client::{BenchError, Frame, Transport};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Creates in flight at most (the servers answer beyond 64 pending calls with an error).
const MAX_IN_FLIGHT: u64 = 32;
/// How often the pacer looks at the clock.
const TICK: Duration = Duration::from_millis(2);

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

#[derive(Default)]
struct Acks {
    ok: AtomicU64,
    failed: AtomicU64,
    closed: AtomicBool,
}

/// What one step published.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StepSent {
    /// Creates sent.
    pub(crate) sent: u64,
    /// Creates acknowledged with a result: each should reach every subscriber.
    pub(crate) ok: u64,
    /// Creates answered with an error (or never answered).
    pub(crate) failed: u64,
    /// Ticks on which the pacer was held back by the in-flight cap (the server is behind).
    pub(crate) stalls: u64,
    /// The rate actually reached, in creates per second.
    pub(crate) rate: f64,
    /// When the last create went out (before waiting for the acks).
    pub(crate) finished: Option<Instant>,
}

/// A publishing connection.
pub(crate) struct Publisher {
    sink: Arc<Mutex<Sink>>,
    acks: Arc<Acks>,
    reader: tokio::task::JoinHandle<()>,
    transport: Transport,
    next_id: u64,
    room: String,
    pad: usize,
}

impl Publisher {
    /// Opens connection `n` (logged in when the scenario has a credential) to publish into
    /// `room` messages of about `pad` bytes of text. It does not join the room.
    pub(crate) async fn open(
        env: &Env,
        n: usize,
        room: &str,
        pad: usize,
    ) -> Result<Self, BenchError> {
        let conn = open_ready(env, n, None).await?;
        let transport = conn.transport;
        let (sink, mut stream) = conn.ws.split();
        let sink = Arc::new(Mutex::new(sink));
        let acks = Arc::new(Acks::default());
        let reader = {
            let (sink, acks) = (sink.clone(), acks.clone());
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    match transport.classify(&text) {
                        Frame::Ping(n) => {
                            let _ = sink.lock().await.send(transport.pong(n)).await;
                        }
                        Frame::Ack { ok: true, .. } => {
                            acks.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Frame::Ack { ok: false, .. } => {
                            acks.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                acks.closed.store(true, Ordering::Relaxed);
            })
        };
        Ok(Publisher {
            sink,
            acks,
            reader,
            transport,
            next_id: 1,
            room: room.to_owned(),
            pad,
        })
    }

    fn answered(&self) -> (u64, u64) {
        (
            self.acks.ok.load(Ordering::Relaxed),
            self.acks.failed.load(Ordering::Relaxed),
        )
    }

    /// Publishes `rate` messages per second for `length`, stamped with `step`, then waits
    /// (up to 10 s) for the outstanding acks.
    pub(crate) async fn run_step(&mut self, step: usize, rate: f64, length: Duration) -> StepSent {
        let (ok0, failed0) = self.answered();
        let mut out = StepSent::default();
        let started = Instant::now();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while started.elapsed() < length && !self.acks.closed.load(Ordering::Relaxed) {
            ticker.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            let (ok, failed) = self.answered();
            let in_flight = (self.next_id - 1).saturating_sub(ok + failed);
            let room = (MAX_IN_FLIGHT.saturating_sub(in_flight)).min(due.saturating_sub(out.sent));
            if room < due.saturating_sub(out.sent) {
                out.stalls += 1;
            }
            if room == 0 {
                continue;
            }
            let mut sink = self.sink.lock().await;
            for _ in 0..room {
                let id = self.next_id;
                self.next_id += 1;
                let data =
                    json!({"text": stamp_text(step, out.sent, self.pad), "roomId": self.room});
                let text =
                    self.transport
                        .encode_call("create", &[json!("messages"), data, json!({})], id);
                if sink
                    .feed(Message::Text(Utf8Bytes::from(text)))
                    .await
                    .is_err()
                {
                    break;
                }
                out.sent += 1;
            }
            let _ = sink.flush().await;
        }
        out.rate = out.sent as f64 / started.elapsed().as_secs_f64().max(1e-9);
        out.finished = Some(Instant::now());
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(10)
            && !self.acks.closed.load(Ordering::Relaxed)
        {
            let (ok, failed) = self.answered();
            if ok + failed >= self.next_id - 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (ok, failed) = self.answered();
        out.ok = ok - ok0;
        out.failed = out.sent.saturating_sub(out.ok).max(failed - failed0);
        out
    }

    /// Closes the connection.
    pub(crate) async fn close(self) {
        let _ = self.sink.lock().await.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.reader).await;
    }
}
