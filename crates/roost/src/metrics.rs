//! `/metrics`: the transports' counters in the Prometheus text format.

use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::socketio::SocketIoMetrics;
use roost_transport::{Primus, SocketIo};
use std::fmt::Write;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Renders every counter of `primus` (when the transport is on).
pub fn render(primus: Option<&Primus>) -> String {
    render_all(primus, None)
}

/// Renders the counters of every transport that is on: `roost_primus_…` and
/// `roost_socketio_…` (the same set for both).
pub fn render_all(primus: Option<&Primus>, socketio: Option<&SocketIo>) -> String {
    let mut out = String::new();
    if let Some(primus) = primus {
        render_transport(&mut out, "primus", "Primus", primus.metrics());
    }
    if let Some(socketio) = socketio {
        render_transport(&mut out, "socketio", "Socket.IO", socketio.metrics());
        render_socketio(&mut out, socketio.socketio_metrics());
    }
    out
}

fn render_transport(out: &mut String, key: &str, label: &str, m: &TransportMetrics) {
    let get = TransportMetrics::get;
    let counters: [(String, &str, String, u64); 10] = [
        (
            format!("roost_{key}_connections_open"),
            "gauge",
            format!("{label} connections open now."),
            get(&m.connections_open),
        ),
        (
            format!("roost_{key}_connections_total"),
            "counter",
            format!("{label} connections accepted since start."),
            get(&m.connections_total),
        ),
        (
            format!("roost_{key}_frames_in_total"),
            "counter",
            "Frames (Socket.IO: packets) received.".to_owned(),
            get(&m.frames_in),
        ),
        (
            format!("roost_{key}_frames_out_total"),
            "counter",
            "Frames (Socket.IO: packets) enqueued for writing.".to_owned(),
            get(&m.frames_out),
        ),
        (
            format!("roost_{key}_malformed_frames_total"),
            "counter",
            "Frames that could not be decoded (Socket.IO: or came out of order; each closed its session).".to_owned(),
            get(&m.malformed_frames),
        ),
        (
            format!("roost_{key}_ignored_frames_total"),
            "counter",
            "Frames ignored as the reference ignores them.".to_owned(),
            get(&m.ignored_frames),
        ),
        (
            format!("roost_{key}_calls_total"),
            "counter",
            format!("Service calls run over {label}."),
            get(&m.calls),
        ),
        (
            format!("roost_{key}_refused_connections_total"),
            "counter",
            "Connections (Socket.IO: Engine.IO handshakes) refused at max_connections.".to_owned(),
            get(&m.refused_connections),
        ),
        (
            format!("roost_{key}_pending_call_limit_total"),
            "counter",
            "Calls refused at max_pending_calls.".to_owned(),
            get(&m.pending_call_limit_hits),
        ),
        (
            format!("roost_{key}_limit_hits_total"),
            "counter",
            "Every limit hit: refused connections and calls, oversized frames, slow consumers."
                .to_owned(),
            m.limit_hits(),
        ),
    ];
    for (name, kind, help, value) in counters {
        metric(out, &name, kind, &help, value);
    }
    let name = format!("roost_{key}_closes_total");
    let _ = writeln!(
        out,
        "# HELP {name} {label} connections closed, by reason.\n# TYPE {name} counter"
    );
    for reason in CloseReason::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.as_str(),
            m.closes(reason)
        );
    }
}

/// The counters only Socket.IO has.
fn render_socketio(out: &mut String, m: &SocketIoMetrics) {
    let get = TransportMetrics::get;
    let counters = [
        (
            "roost_socketio_sessions_open",
            "gauge",
            "Engine.IO sessions open now, joined to the namespace or not.",
            get(&m.sessions_open),
        ),
        (
            "roost_socketio_connect_errors_total",
            "counter",
            "Namespace connects refused with CONNECT_ERROR (handshake authentication, invalid namespace).",
            get(&m.connect_errors),
        ),
        (
            "roost_socketio_connect_timeouts_total",
            "counter",
            "Engine.IO sessions closed for joining no namespace within connect_timeout_ms.",
            get(&m.connect_timeouts),
        ),
        (
            "roost_socketio_binary_packets_total",
            "counter",
            "Binary packets refused (no attachments are supported); each closed its session.",
            get(&m.binary_packets),
        ),
    ];
    for (name, kind, help, value) in counters {
        metric(out, name, kind, help, value);
    }
}
