//! The gateway's counters, rendered in the Prometheus text format by [`GatewayMetrics::render`]
//! for the binary's `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one gateway. Shared (`Arc`) by the forwarding services and the endpoints.
#[derive(Debug, Default)]
pub struct GatewayMetrics {
    /// Calls sent to the upstream.
    pub forwarded: AtomicU64,
    /// Calls the upstream answered with a Feathers error (passed on unchanged).
    pub upstream_errors: AtomicU64,
    /// Calls answered `Unavailable` because the upstream stayed unreachable.
    pub unavailable: AtomicU64,
    /// Connection attempts repeated while the upstream refused connections.
    pub retries: AtomicU64,
    /// Calls whose upstream answer did not come within `request_timeout_ms`.
    pub timeouts: AtomicU64,
    /// Upstream answers that were not usable (too large, not JSON): `BadGateway`.
    pub bad_answers: AtomicU64,
    /// Events the plugin posted and Roost delivered to at least one connection.
    pub events: AtomicU64,
    /// Requests to `/_roost/…` refused (wrong secret, malformed or oversized body).
    pub refused: AtomicU64,
    /// Channel joins and leaves applied on behalf of the upstream app.
    pub membership_changes: AtomicU64,
    /// Socket logins and logouts kept on connections.
    pub logins: AtomicU64,
    /// Rest mode: socket logins ended by their token's expiry.
    pub expiries: AtomicU64,
    /// Events of upstream paths heard on a feathers-sync bus and delivered to
    /// `publish_channel` (rest mode).
    pub bus_events: AtomicU64,
    /// Events of upstream paths heard on a feathers-sync bus and not delivered from there
    /// (plugin mode: the plugin posts each with the app's own channels).
    pub bus_events_left_to_plugin: AtomicU64,
}

impl GatewayMetrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends every counter as `roost_gateway_…`.
    pub fn render(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
            (
                "forwarded_calls_total",
                "Calls forwarded to the upstream Feathers app.",
                get(&self.forwarded),
            ),
            (
                "upstream_errors_total",
                "Forwarded calls the upstream answered with a Feathers error.",
                get(&self.upstream_errors),
            ),
            (
                "unavailable_total",
                "Calls answered Unavailable (503): the upstream stayed unreachable for gateway.unavailable_wait_ms.",
                get(&self.unavailable),
            ),
            (
                "retries_total",
                "Connection attempts repeated while the upstream was down.",
                get(&self.retries),
            ),
            (
                "timeouts_total",
                "Calls whose upstream answer took longer than gateway.request_timeout_ms.",
                get(&self.timeouts),
            ),
            (
                "bad_answers_total",
                "Upstream answers refused as BadGateway (over gateway.max_response_bytes, not JSON).",
                get(&self.bad_answers),
            ),
            (
                "events_total",
                "Events posted by the plugin and delivered.",
                get(&self.events),
            ),
            (
                "refused_requests_total",
                "Requests to /_roost/ refused: wrong secret, malformed or over gateway.max_event_bytes.",
                get(&self.refused),
            ),
            (
                "membership_changes_total",
                "Channel joins and leaves applied for the upstream app.",
                get(&self.membership_changes),
            ),
            (
                "logins_total",
                "Socket logins and logouts through the upstream kept on connections.",
                get(&self.logins),
            ),
            (
                "expiries_total",
                "Rest mode: socket logins ended because their access token expired.",
                get(&self.expiries),
            ),
            (
                "bus_events_total",
                "Rest mode: events of upstream paths heard on the feathers-sync bus, delivered to gateway.publish_channel.",
                get(&self.bus_events),
            ),
            (
                "bus_events_left_to_plugin_total",
                "Plugin mode: events of upstream paths heard on the feathers-sync bus and not delivered from there (the plugin posts them with the app's channels).",
                get(&self.bus_events_left_to_plugin),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP roost_gateway_{name} {help}\n# TYPE roost_gateway_{name} counter\nroost_gateway_{name} {value}"
            );
        }
    }
}
