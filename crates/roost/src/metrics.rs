//! `/metrics`: the transports' counters in the Prometheus text format.

use roost_transport::primus::{CloseReason, TransportMetrics};
use roost_transport::socketio::SocketIoMetrics;
use roost_transport::{Primus, RestMetrics, SocketIo};
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A renderer of more counters (the gateway's), appended by [`render_all`].
type Section = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Sections registered by [`add_section`], for the process's one `/metrics`.
static SECTIONS: Mutex<Vec<Section>> = Mutex::new(Vec::new());

/// Appends `render`'s counters to every later [`render_all`] of this process (for parts the
/// router does not know, such as the gateway).
pub(crate) fn add_section(render: impl Fn(&mut String) + Send + Sync + 'static) {
    SECTIONS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::new(render));
}

/// One metric in the Prometheus text format: `# HELP`, `# TYPE` and its value.
pub(crate) fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Renders the counters of every transport that is on: `roost_rest_…`, then
/// `roost_primus_…` and `roost_socketio_…` (the same set for both socket transports).
pub(crate) fn render_all(
    rest: Option<&RestMetrics>,
    primus: Option<&Primus>,
    socketio: Option<&SocketIo>,
) -> String {
    let mut out = String::new();
    if let Some(rest) = rest {
        render_rest(&mut out, rest);
    }
    if let Some(primus) = primus {
        render_transport(&mut out, "primus", "Primus", primus.metrics());
    }
    if let Some(socketio) = socketio {
        render_transport(&mut out, "socketio", "Socket.IO", socketio.metrics());
        render_socketio(&mut out, socketio.socketio_metrics());
    }
    let sections = SECTIONS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for section in sections {
        section(&mut out);
    }
    out
}

/// Appends the cluster broker's state and counters: `roost_cluster_state` (one gauge per
/// state, 1 for the current one) and `roost_cluster_<counter>_total` for every counter of
/// [`BrokerStats::pairs`](roost_core::broker::BrokerStats::pairs).
pub(crate) fn render_cluster(out: &mut String, broker: &dyn roost_core::broker::Broker) {
    use roost_core::broker::BrokerState;
    let state = broker.state();
    let _ = writeln!(
        out,
        "# HELP roost_cluster_state Cluster broker state (1 for the current one).\n# TYPE roost_cluster_state gauge"
    );
    for s in [
        BrokerState::Connecting,
        BrokerState::Connected,
        BrokerState::Disconnected,
        BrokerState::Closed,
    ] {
        let _ = writeln!(
            out,
            "roost_cluster_state{{state=\"{}\"}} {}",
            s.as_str(),
            u8::from(s == state)
        );
    }
    for (name, value) in broker.stats().pairs() {
        metric(
            out,
            &format!("roost_cluster_{name}_total"),
            "counter",
            &format!("Cluster broker: {}.", name.replace('_', " ")),
            value,
        );
    }
}

/// Appends the authentication counters: logins, failed logins, logouts, socket expiries and
/// password checks refused at `auth.password_queue`.
pub(crate) fn render_auth(out: &mut String, auth: &roost_auth::Authentication) {
    let m = auth.metrics();
    let counters = [
        (
            "roost_auth_logins_total",
            "Successful authentication.create calls.",
            m.logins(),
        ),
        (
            "roost_auth_login_failures_total",
            "Failed authentication.create calls.",
            m.login_failures(),
        ),
        (
            "roost_auth_logouts_total",
            "Successful authentication.remove calls.",
            m.logouts(),
        ),
        (
            "roost_auth_expiries_total",
            "Socket connections logged out because their access token expired.",
            m.expiries(),
        ),
        (
            "roost_auth_password_queue_full_total",
            "Password hashes and checks refused at auth.password_queue (429).",
            auth.hasher().refused(),
        ),
    ];
    for (name, help, value) in counters {
        metric(out, name, "counter", help, value);
    }
}

fn render_rest(out: &mut String, m: &RestMetrics) {
    let counters = [
        (
            "roost_rest_requests_total",
            "REST requests answered.",
            m.requests(),
        ),
        (
            "roost_rest_body_limit_total",
            "Request bodies refused at rest.body_limit.",
            m.body_limit_hits(),
        ),
        (
            "roost_rest_query_limit_total",
            "Query strings and form bodies refused at a rest.query limit.",
            m.query_limit_hits(),
        ),
        (
            "roost_rest_bad_bodies_total",
            "Request bodies that were not a JSON object/array or form data.",
            m.bad_bodies(),
        ),
        (
            "roost_rest_limit_hits_total",
            "Every REST limit hit: oversized bodies and queries over a qs limit.",
            m.limit_hits(),
        ),
    ];
    for (name, help, value) in counters {
        metric(out, name, "counter", help, value);
    }
}

fn render_transport(out: &mut String, key: &str, label: &str, m: &TransportMetrics) {
    let get = TransportMetrics::get;
    let counters: [(String, &str, String, u64); 13] = [
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
            format!("roost_{key}_too_deep_calls_total"),
            "counter",
            "Calls answered BadRequest: JSON nested deeper than 127 levels.".to_owned(),
            get(&m.too_deep_calls),
        ),
        (
            format!("roost_{key}_anonymous_frame_limit_total"),
            "counter",
            "Frames refused unparsed: over the size limit for connections not logged in."
                .to_owned(),
            get(&m.anonymous_frame_limit_hits),
        ),
        (
            format!("roost_{key}_value_limit_total"),
            "counter",
            "Frames refused unparsed: more JSON values than the transport parses.".to_owned(),
            get(&m.value_limit_hits),
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
