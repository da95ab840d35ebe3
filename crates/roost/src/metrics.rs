//! `/metrics`: the transports' counters in the Prometheus text format.

use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::Primus;
use std::fmt::Write;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Renders every counter of `primus` (when the transport is on).
pub fn render(primus: Option<&Primus>) -> String {
    let mut out = String::new();
    let Some(primus) = primus else {
        return out;
    };
    let m = primus.metrics();
    let get = TransportMetrics::get;
    let counters: [(&str, &str, &str, u64); 10] = [
        (
            "roost_primus_connections_open",
            "gauge",
            "Primus connections open now.",
            get(&m.connections_open),
        ),
        (
            "roost_primus_connections_total",
            "counter",
            "Primus connections accepted since start.",
            get(&m.connections_total),
        ),
        (
            "roost_primus_frames_in_total",
            "counter",
            "Text frames received.",
            get(&m.frames_in),
        ),
        (
            "roost_primus_frames_out_total",
            "counter",
            "Frames enqueued for writing.",
            get(&m.frames_out),
        ),
        (
            "roost_primus_malformed_frames_total",
            "counter",
            "Text frames that were not JSON.",
            get(&m.malformed_frames),
        ),
        (
            "roost_primus_ignored_frames_total",
            "counter",
            "Frames ignored as the reference ignores them.",
            get(&m.ignored_frames),
        ),
        (
            "roost_primus_calls_total",
            "counter",
            "Service calls run over Primus.",
            get(&m.calls),
        ),
        (
            "roost_primus_refused_connections_total",
            "counter",
            "Upgrades refused at max_connections.",
            get(&m.refused_connections),
        ),
        (
            "roost_primus_pending_call_limit_total",
            "counter",
            "Calls refused at max_pending_calls.",
            get(&m.pending_call_limit_hits),
        ),
        (
            "roost_primus_limit_hits_total",
            "counter",
            "Every limit hit: refused upgrades and calls, oversized frames, slow consumers.",
            m.limit_hits(),
        ),
    ];
    for (name, kind, help, value) in counters {
        metric(&mut out, name, kind, help, value);
    }
    let name = "roost_primus_closes_total";
    let _ = writeln!(
        out,
        "# HELP {name} Primus connections closed, by reason.\n# TYPE {name} counter"
    );
    for reason in CloseReason::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.as_str(),
            m.closes(reason)
        );
    }
    out
}
