//! Histograms at `/metrics` (Prometheus naming), kept in one `prometheus-client` registry per
//! server and appended after the transports' counters:
//!
//! - `roost_call_duration_seconds{service,method,provider,outcome}`: every service call, from
//!   the outermost app hook to its result (`provider`: `rest`, `primus`, `socketio` or
//!   `internal`; `outcome`: `ok` or the Feathers error class, e.g. `NotFound`).
//! - `roost_event_deliveries{transport}`: connections one event was queued to.
//! - `roost_event_fanout_duration_seconds{transport}`: Primus, from publication until the last
//!   recipient's writer handed its copy to the socket.
//! - `roost_writer_queue_frames{transport}`: frames waiting in each Primus connection's writer
//!   queue, sampled at every heartbeat tick.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use roost_core::hooks::{AroundHook, HookContext, Next};
use roost_core::App;
use roost_transport::TransportObserver;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Failed calls the dashboard lists.
const RECENT_ERRORS: usize = 20;
/// Latency buckets, seconds: 0.5 ms to 10 s.
const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Recipients per event.
const RECIPIENTS: [f64; 14] = [
    0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0, 100000.0,
];
/// Frames waiting in one writer queue.
const FRAMES: [f64; 11] = [
    0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    method: String,
    // Static for the usual values: a call allocates only the path and method labels.
    provider: Cow<'static, str>,
    outcome: Cow<'static, str>,
}

fn provider_label(provider: Option<&str>) -> Cow<'static, str> {
    match provider {
        None => Cow::Borrowed("internal"),
        Some("rest") => Cow::Borrowed("rest"),
        Some("primus") => Cow::Borrowed("primus"),
        Some("socketio") => Cow::Borrowed("socketio"),
        Some(other) => Cow::Owned(other.to_owned()),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(SECONDS)
}
fn recipients() -> Histogram {
    Histogram::new(RECIPIENTS)
}
fn frames() -> Histogram {
    Histogram::new(FRAMES)
}

/// The histograms of one server. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Observability {
    inner: Arc<Inner>,
}

struct Inner {
    /// Totals and a coarse latency distribution for the dashboard (the registry's
    /// histograms are write-only).
    calls_total: AtomicU64,
    events_total: AtomicU64,
    latency_buckets: [AtomicU64; SECONDS.len() + 1],
    recent_errors: Mutex<VecDeque<Value>>,
    registry: Registry,
    calls: Histograms<CallLabels>,
    deliveries: Histograms<TransportLabel>,
    fanout: Histograms<TransportLabel>,
    queue: Histograms<TransportLabel>,
}

impl std::fmt::Debug for Observability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observability")
    }
}

impl Default for Observability {
    fn default() -> Self {
        Self::new()
    }
}

impl Observability {
    /// Empty histograms, registered.
    pub(crate) fn new() -> Observability {
        let calls: Histograms<CallLabels> = Family::new_with_constructor(seconds);
        let deliveries: Histograms<TransportLabel> = Family::new_with_constructor(recipients);
        let fanout: Histograms<TransportLabel> = Family::new_with_constructor(seconds);
        let queue: Histograms<TransportLabel> = Family::new_with_constructor(frames);
        let mut registry = Registry::default();
        registry.register(
            "roost_call_duration_seconds",
            "Service call latency, from the outermost app hook to the result",
            calls.clone(),
        );
        registry.register(
            "roost_event_deliveries",
            "Connections one event was queued to",
            deliveries.clone(),
        );
        registry.register(
            "roost_event_fanout_duration_seconds",
            "From publication until the last recipient's copy was handed to its socket (Primus)",
            fanout.clone(),
        );
        registry.register(
            "roost_writer_queue_frames",
            "Frames waiting in a connection's writer queue, sampled at each heartbeat tick (Primus)",
            queue.clone(),
        );
        Observability {
            inner: Arc::new(Inner {
                calls_total: AtomicU64::new(0),
                events_total: AtomicU64::new(0),
                latency_buckets: Default::default(),
                recent_errors: Mutex::new(VecDeque::new()),
                registry,
                calls,
                deliveries,
                fanout,
                queue,
            }),
        }
    }

    /// Times every call of `app` (an app-level around hook).
    pub(crate) fn time_calls(&self, app: &App) {
        app.hooks(
            roost_core::HookMap::new()
                .around(roost_core::hooks::ALL, Arc::new(CallTimer(self.clone()))),
        );
    }

    /// Records one call.
    pub(crate) fn observe_call(
        &self,
        service: &str,
        method: &str,
        provider: Option<&str>,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let inner = &self.inner;
        inner.calls_total.fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = SECONDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(SECONDS.len());
        inner.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        if outcome != "ok" {
            let mut errors = inner
                .recent_errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if errors.len() == RECENT_ERRORS {
                errors.pop_front();
            }
            errors.push_back(serde_json::json!({
                "at": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                "service": service,
                "method": method,
                "provider": provider.unwrap_or("internal"),
                "error": outcome,
            }));
        }
        self.inner
            .calls
            .get_or_create(&CallLabels {
                service: service.to_owned(),
                method: method.to_owned(),
                provider: provider_label(provider),
                outcome: Cow::Borrowed(outcome),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Calls timed since start.
    pub(crate) fn calls_total(&self) -> u64 {
        self.inner.calls_total.load(Ordering::Relaxed)
    }

    /// Events delivered (to at least one connection of one transport) since start.
    pub(crate) fn events_total(&self) -> u64 {
        self.inner.events_total.load(Ordering::Relaxed)
    }

    /// The `q` quantile of call latency since start, in ms, as the upper bound of its bucket
    /// (`null` before the first call; past the last bucket: its bound).
    pub(crate) fn call_quantile_ms(&self, q: f64) -> Value {
        let counts: Vec<u64> = self
            .inner
            .latency_buckets
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Value::Null;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = SECONDS
                    .get(i)
                    .copied()
                    .unwrap_or(SECONDS[SECONDS.len() - 1]);
                return serde_json::json!(bound * 1000.0);
            }
        }
        Value::Null
    }

    /// The last failed calls (at most 20), oldest first.
    pub(crate) fn recent_errors(&self) -> Vec<Value> {
        self.inner
            .recent_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The histograms in the Prometheus text format (no `# EOF`: the counters come first).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::error!(error = %e, "cannot encode the histograms");
            return String::new();
        }
        match out.strip_suffix("# EOF\n") {
            Some(body) => body.to_owned(),
            None => out,
        }
    }
}

impl TransportObserver for Observability {
    fn event_delivered(&self, transport: &'static str, deliveries: usize) {
        if deliveries > 0 {
            self.inner.events_total.fetch_add(1, Ordering::Relaxed);
        }
        self.inner
            .deliveries
            .get_or_create(&TransportLabel { transport })
            .observe(deliveries as f64);
    }

    fn event_fanned_out(&self, transport: &'static str, elapsed: Duration) {
        self.inner
            .fanout
            .get_or_create(&TransportLabel { transport })
            .observe(elapsed.as_secs_f64());
    }

    fn writer_queue_depth(&self, transport: &'static str, frames: usize) {
        self.inner
            .queue
            .get_or_create(&TransportLabel { transport })
            .observe(frames as f64);
    }
}

/// Times each call and runs it in a `call` span (debug level) whose `call` id and `conn` id
/// join its log lines: `call=<n> conn=<connection> service method provider`. The span holds
/// no data, query, headers or params (no tokens, no passwords).
struct CallTimer(Observability);

/// Call ids for logs, unique in the process.
static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

#[async_trait::async_trait]
impl AroundHook for CallTimer {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> roost_core::Result<()> {
        let start = Instant::now();
        let span = tracing::debug_span!(
            "call",
            call = tracing::field::Empty,
            conn = tracing::field::Empty,
            service = %ctx.path,
            method = %ctx.method,
            provider = ctx.params.provider.as_deref().unwrap_or("internal"),
        );
        if !span.is_disabled() {
            span.record("call", NEXT_CALL.fetch_add(1, Ordering::Relaxed));
            if let Some(conn) = ctx.params.connection {
                span.record("conn", tracing::field::display(conn));
            }
        }
        let result = next.run(ctx).instrument(span.clone()).await;
        if let Err(e) = &result {
            span.in_scope(|| {
                tracing::debug!(error = e.kind.name(), code = e.kind.code(), "call failed");
            });
        }
        let outcome = match &result {
            Ok(()) => "ok",
            Err(e) => e.kind.name(),
        };
        self.0.observe_call(
            &ctx.path,
            &ctx.method,
            ctx.params.provider.as_deref(),
            outcome,
            start.elapsed(),
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_in_prometheus_text() {
        let o = Observability::new();
        o.observe_call(
            "messages",
            "create",
            Some("primus"),
            "ok",
            Duration::from_millis(2),
        );
        o.observe_call(
            "messages",
            "get",
            None,
            "NotFound",
            Duration::from_micros(100),
        );
        o.event_delivered("primus", 3);
        o.event_fanned_out("primus", Duration::from_millis(1));
        o.writer_queue_depth("primus", 5);
        let text = o.render();
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE roost_call_duration_seconds histogram"),
            "{text}"
        );
        assert!(text.contains(
            "roost_call_duration_seconds_count{service=\"messages\",method=\"create\",provider=\"primus\",outcome=\"ok\"} 1"
        ), "{text}");
        assert!(
            text.contains("provider=\"internal\",outcome=\"NotFound\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("roost_event_deliveries_sum{transport=\"primus\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("roost_writer_queue_frames_bucket{le=\"8.0\",transport=\"primus\"} 1")
                || text.contains(
                    "roost_writer_queue_frames_bucket{transport=\"primus\",le=\"8.0\"} 1"
                ),
            "{text}"
        );
    }
}
