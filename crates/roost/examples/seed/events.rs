//! The seed's custom events, sent outside any service event: to every connection
//! (`broadcastEvent`), to one connection (`sendEventToClient`) and to a channel. The seed
//! calls these from server code; here a `notifications` service makes them callable from
//! clients, one custom method each, so a test can trigger them:
//!
//! - `everyone({event, data})`: every open connection, logged in or not;
//! - `me({event, data})`: only the calling connection (the seed looks a spark up by id);
//! - `channel({channel, event, data})`: the connections of one channel (`role/admin`, …),
//!   for logged-in callers only.
//!
//! Each arrives as a plain Primus emitter event, `primus.on(event, data => …)`, exactly
//! what `spark.send(event, data)` produces.

use roost_auth::Authentication;
use roost_core::hooks::HookMap;
use roost_core::{json, App, Error, MethodCall, Result, Service, ServiceOptions, Value};

/// A service with custom methods only.
struct Notifications;

#[async_trait::async_trait]
impl Service for Notifications {}

/// Registers `notifications` with `everyone`, `me` and `channel`.
pub(crate) fn configure(app: &App, auth: &Authentication) -> Result<()> {
    let notifications = app.use_service(
        "notifications",
        Notifications,
        ServiceOptions {
            methods: Some(Vec::new()),
            ..ServiceOptions::default()
        },
    )?;
    notifications.method("everyone", |call: MethodCall| async move {
        let (event, data) = event_of(&call.data)?;
        let sent = call.app.send_to_all(&event, data);
        Ok(json!({ "sent": sent > 0 }))
    })?;
    notifications.method("me", |call: MethodCall| async move {
        let (event, data) = event_of(&call.data)?;
        let connection = call
            .params
            .connection
            .ok_or_else(|| Error::bad_request("me needs a real-time connection"))?;
        let sent = call.app.send_to_connection(connection, &event, data);
        Ok(json!({ "sent": sent > 0 }))
    })?;
    notifications.method("channel", |call: MethodCall| async move {
        let (event, data) = event_of(&call.data)?;
        let name = match call.data.get("channel") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(Error::bad_request("channel is required")),
        };
        let channel = call.app.channel(&name);
        let sent = call.app.send_to_channel(channel, &event, data);
        Ok(json!({ "sent": sent > 0 }))
    })?;
    // Only a logged-in connection may write to a channel (a hook on a custom method).
    notifications.hooks(HookMap::new().around("channel", auth.authenticate_hook(&["jwt"])?))?;
    Ok(())
}

/// `{event, data}` of a call.
fn event_of(data: &Value) -> Result<(String, Value)> {
    match data.get("event") {
        Some(Value::String(event)) if !event.is_empty() => Ok((
            event.clone(),
            data.get("data").cloned().unwrap_or(Value::Null),
        )),
        _ => Err(Error::bad_request("event is required")),
    }
}
