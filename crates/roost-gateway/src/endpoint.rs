//! Roost's side of the plugin: `POST /_roost/events` (events the app published, with the
//! channels its `app.publish` rules chose, and membership changes made outside a call) and
//! `GET /_roost/connections` (the connections with their login and channels, which a
//! restarted app reads to rebuild its proxies). Both need the shared secret in
//! `x-roost-secret`; anything else is refused and counted.

use crate::forward::{Shared, SECRET_HEADER};
use crate::metrics::GatewayMetrics;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, Limited};
use roost_core::{Channel, ConnectionId, Error, Value};
use std::sync::Arc;

/// The routes, merged into Roost's router by [`crate::Gateway::routes`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    // The handler reads the body within `max_event_bytes` itself, so every refusal is counted.
    Router::new()
        .route("/_roost/events", post(events))
        .route("/_roost/connections", get(connections))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn refuse(shared: &Shared, error: &Error) -> Response {
    GatewayMetrics::inc(&shared.metrics.refused);
    let status = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(error.to_json())).into_response()
}

/// Compares the secret without stopping at the first differing byte.
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = shared.config.secret.as_bytes();
    let Some(given) = headers.get(SECRET_HEADER).map(|v| v.as_bytes()) else {
        return false;
    };
    if expected.is_empty() || given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

async fn events(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    if !authorized(&shared, &headers) {
        return refuse(
            &shared,
            &Error::not_authenticated("Wrong or missing Roost secret"),
        );
    }
    let body = match Limited::new(body, shared.config.max_event_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return refuse(
                &shared,
                &Error::too_many_requests("The body is larger than gateway.max_event_bytes"),
            )
        }
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&shared, &Error::bad_request("The body is not JSON"));
    };
    // Connection ids from another Roost process (the app posting what it learned before
    // Roost restarted) would name other connections here: only channel names count then.
    let current = message
        .get("instance")
        .and_then(Value::as_str)
        .is_none_or(|i| i == shared.instance);
    let mut delivered = 0usize;
    for event in message
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if deliver(&shared, event, current) {
            delivered += 1;
        }
    }
    // After the events: they were published before these changes were recorded (a leave at
    // token expiry must not lose an event published before it).
    if current {
        shared.apply_changes(message.get("changes"), message.get("logins"));
    }
    Json(serde_json::json!({ "delivered": delivered })).into_response()
}

/// Delivers one `{path, event, data, channels: [{name | connections, data?}], connections?}`: every
/// member of the named channels (a channel's `send` data wins for its members) and the listed
/// connections, each once; with `[cluster]` the named channels' members on the other nodes
/// too. Whether anyone here received it.
fn deliver(shared: &Shared, event: &Value, ids_valid: bool) -> bool {
    let (Some(path), Some(name)) = (
        event.get("path").and_then(Value::as_str),
        event.get("event").and_then(Value::as_str),
    ) else {
        return false;
    };
    let app = &shared.app;
    let mut targets: Vec<Channel> = Vec::new();
    for channel in event
        .get("channels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let base = match channel.get("name").and_then(Value::as_str) {
            Some(channel_name) => app.channels().channel(channel_name),
            None if ids_valid => Channel::from_connections(connection_ids(channel)),
            None => continue,
        };
        targets.push(match channel.get("data") {
            Some(data) if !data.is_null() => base.send(data.clone()),
            _ => base,
        });
    }
    let ids = connection_ids(event);
    if ids_valid && !ids.is_empty() {
        targets.push(Channel::from_connections(ids));
    }
    let data = event.get("data").cloned().unwrap_or(Value::Null);
    // Here at once; in a cluster also to the named channels' members on every other node
    // (not on a feathers-sync bus, where the upstream's own pods carry it: docs/gateway.md).
    if app.deliver_upstream_event(path, name, data, Channel::combine(targets)) == 0 {
        return false;
    }
    GatewayMetrics::inc(&shared.metrics.events);
    true
}

/// The `connections` list (`[id, …]`) of a channel entry or an event.
fn connection_ids(value: &Value) -> Vec<ConnectionId> {
    value
        .get("connections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(ConnectionId)
        .collect()
}

async fn connections(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return refuse(
            &shared,
            &Error::not_authenticated("Wrong or missing Roost secret"),
        );
    }
    let app = &shared.app;
    let list: Vec<Value> = app
        .connections()
        .ids()
        .into_iter()
        .filter_map(|id| app.connection(id))
        .map(|info| {
            shared.mark_seen(info.id());
            serde_json::json!({
                "instance": shared.instance,
                "id": info.id().0,
                "provider": info.provider(),
                "user": info.user(),
                "authentication": info.authentication(),
                "channels": app.channels().channels_of(info.id()),
            })
        })
        .collect();
    Json(Value::Array(list)).into_response()
}
