//! The seed's `MessageService` and its `customizeEventDistribution` hook: a message gets
//! the caller's id, its room and a creation time from the server; after a call the event
//! carries `customData` and the result names the room's channel.
//!
//! The seed writes the service by hand against a database; here the memory adapter stores
//! the records and the hooks do the rest. `join` is the one thing the seed lacks: a way for
//! a client to enter a room (`room/<roomId>`), so the publisher's room branch can be seen.

use roost_auth::Authentication;
use roost_core::hooks::{hook_fn, sync_hook, HookMap};
use roost_core::js::to_string;
use roost_core::{json, App, Error, MemoryService, MethodCall, Result, ServiceOptions, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Registers `messages` with its hooks and `join`.
pub(crate) fn configure(app: &App, auth: &Authentication) -> Result<()> {
    let messages = app.use_service(
        "messages",
        MemoryService::default(),
        ServiceOptions::default(),
    )?;
    messages.method("join", |call: MethodCall| async move {
        let room = call.data.get("roomId").map(to_string).unwrap_or_default();
        let connection = call.params.connection;
        if room.is_empty() || connection.is_none() {
            return Err(Error::bad_request(
                "join needs a roomId and a real-time connection",
            ));
        }
        call.app.channel(&format!("room/{room}")).join(connection);
        Ok(json!({ "joined": room }))
    })?;

    // A token makes the caller known; without one the message is anonymous.
    let jwt = auth.authenticate_hook(&["jwt"])?;
    let identify = hook_fn(move |context| {
        let jwt = jwt.clone();
        Box::pin(async move {
            if context.params.authentication.is_some() && !context.params.authenticated {
                roost_core::hooks::Hook::call(&*jwt, context).await?;
            }
            Ok(())
        })
    });
    let stamp = sync_hook(|context| {
        let user_id = context
            .params
            .user
            .as_ref()
            .and_then(|u| u.get("id"))
            .cloned();
        let Some(Value::Object(data)) = context.data.as_mut() else {
            return Err(Error::bad_request("a message is an object"));
        };
        let text = match data.get("text") {
            Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
            _ => return Err(Error::bad_request("text is required")),
        };
        let room_id = data.get("roomId").cloned();
        data.clear();
        data.insert("text".into(), json!(text));
        if let Some(user_id) = user_id {
            data.insert("userId".into(), user_id);
        }
        if let Some(room_id) = room_id {
            data.insert("roomId".into(), room_id);
        }
        data.insert("createdAt".into(), json!(now_ms()));
        Ok(())
    });
    messages.hooks(
        HookMap::new()
            .before("create", identify)
            .before("create", stamp)
            .after("create", customize_event_distribution()),
    )?;
    Ok(())
}

/// After a call: the event (and the caller) get `dispatch`, the result plus `customData`;
/// the result names the channel of its room.
fn customize_event_distribution() -> std::sync::Arc<dyn roost_core::hooks::Hook> {
    sync_hook(|context| {
        let room = context
            .data
            .as_ref()
            .and_then(|d| d.get("roomId"))
            .map(to_string);
        if let (Some(Value::Object(result)), Some(room)) = (context.result.as_mut(), room) {
            result.insert("channels".into(), json!([format!("room/{room}")]));
        }
        let mut dispatch = context.result.clone().unwrap_or(Value::Null);
        if let Value::Object(map) = &mut dispatch {
            map.insert(
                "customData".into(),
                json!("This will be included in the event"),
            );
        }
        context.dispatch = Some(dispatch);
        Ok(())
    })
}

/// Milliseconds since the epoch (`Date.now()`).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
