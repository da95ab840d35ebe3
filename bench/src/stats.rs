//! Latency histograms (HDR, microseconds) that many tasks record into at once, and the
//! percentile summary every scenario prints.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Highest latency recorded exactly (60 s, in µs); larger ones are clamped to it.
const MAX_MICROS: u64 = 60_000_000;
/// Shards of a [`Latencies`]: enough that a few worker threads rarely meet on one lock.
const SHARDS: usize = 16;

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits up to 60 s: constant bounds that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// A histogram of latencies split over a few locks, so tasks on different threads record
/// without meeting; [`Latencies::summary`] merges them.
pub(crate) struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }
}

impl Latencies {
    /// Records one latency; `hint` (a connection number) picks the shard.
    pub(crate) fn record(&self, hint: usize, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let mut shard = self.shards[hint % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.saturating_record(micros);
    }

    /// All shards merged.
    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            // Same bounds on both sides: adding cannot fail.
            let _ = all.add(&*shard);
        }
        all
    }

    /// Percentiles of everything recorded so far.
    pub(crate) fn summary(&self) -> Summary {
        Summary::of(&self.merged())
    }
}

/// Count and percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

impl Summary {
    /// The summary of `h` (all zeros when it is empty).
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Summary::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    /// The percentiles as JSON fields with `prefix` (`"lat"` → `lat_p50_ms`, …).
    pub(crate) fn to_json(self, prefix: &str) -> Value {
        json!({
            format!("{prefix}_p50_ms"): round3(self.p50_ms),
            format!("{prefix}_p99_ms"): round3(self.p99_ms),
            format!("{prefix}_p999_ms"): round3(self.p999_ms),
            format!("{prefix}_max_ms"): round3(self.max_ms),
        })
    }
}

/// Rounds to 3 decimals, for output that stays readable.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nanoseconds of the system's monotonic clock: the clock publishers stamp into messages and
/// subscribers read back, the same in every process (`floor`'s sender is another process).
pub(crate) fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// Seconds since the Unix epoch, for the JSON line.
pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Merges the fields of several JSON objects into one (later keys win).
pub(crate) fn merge(parts: impl IntoIterator<Item = Value>) -> Value {
    let mut out = serde_json::Map::new();
    for part in parts {
        if let Value::Object(map) = part {
            out.extend(map);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_values() {
        let lat = Latencies::default();
        for i in 1..=1000u64 {
            lat.record(i as usize, Duration::from_micros(i * 100));
        }
        let s = lat.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn empty_and_out_of_range() {
        assert_eq!(Latencies::default().summary(), Summary::default());
        let lat = Latencies::default();
        lat.record(0, Duration::from_secs(3600));
        lat.record(1, Duration::ZERO);
        assert_eq!(lat.summary().count, 2);
    }

    #[test]
    fn json_fields_are_prefixed_and_merged() {
        let s = Summary {
            count: 1,
            p50_ms: 1.23456,
            ..Summary::default()
        };
        let v = merge([s.to_json("lat"), json!({"x": 1})]);
        assert_eq!(v["lat_p50_ms"], json!(1.235));
        assert_eq!(v["x"], json!(1));
    }
}
