//! `messages` (CHAT-APP.md): public, paginated `{10, 50}`, `text` checked, `userId` from the
//! caller, `createdAt` in ms; custom methods `join`/`leave` move the calling connection in
//! and out of `room/<roomId>`.

use super::store::{StoreFactory, StoreSpec};
use super::users::caller;
use roost_auth::{AuthenticateHook, Authentication};
use roost_core::hooks::{hook_fn, Hook, HookMap};
use roost_core::js::to_string;
use roost_core::schema::FieldType;
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::{json, App, Error, MethodCall, Result, ServiceHandle, ServiceOptions, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest `text` by default, in UTF-16 code units (JavaScript's `length`).
pub const MAX_TEXT: usize = 10_000;

/// How the `messages` part is set up; [`MessagesOptions::default`] is the default app's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessagesOptions {
    /// The service path (default `messages`).
    pub path: String,
    /// Pagination of `find` (default `{default: 10, max: 50}`; `None` turns it off).
    pub paginate: Option<Paginate>,
    /// The longest `text`, in UTF-16 code units (default [`MAX_TEXT`]).
    pub max_text: usize,
    /// The custom methods `join` and `leave`, moving the calling connection in and out of
    /// `room/<roomId>` (default on).
    pub rooms: bool,
    /// Custom events the service publishes (Feathers' `events`), e.g. `typing` emitted by a
    /// custom method of yours (default none).
    pub events: Vec<String>,
}

impl Default for MessagesOptions {
    fn default() -> Self {
        MessagesOptions {
            path: "messages".to_owned(),
            paginate: Some(Paginate {
                default: Some(10),
                max: Some(50),
            }),
            max_text: MAX_TEXT,
            rooms: true,
            events: Vec::new(),
        }
    }
}

impl MessagesOptions {
    /// Sets the pagination (`None`: off).
    pub fn paginate(mut self, paginate: Option<Paginate>) -> Self {
        self.paginate = paginate;
        self
    }

    /// Sets the longest `text`.
    pub fn max_text(mut self, max_text: usize) -> Self {
        self.max_text = max_text;
        self
    }

    /// Sets the custom events.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// Turns `join`/`leave` on or off.
    pub fn rooms(mut self, rooms: bool) -> Self {
        self.rooms = rooms;
        self
    }

    /// The store spec of `messages`.
    pub(crate) fn spec(&self) -> StoreSpec {
        let schema = [
            ("text", FieldType::String),
            ("roomId", FieldType::String),
            ("userId", FieldType::Integer),
            ("createdAt", FieldType::Integer),
        ]
        .into_iter()
        .map(|(name, ty)| (name.to_owned(), ty))
        .collect();
        StoreSpec {
            path: self.path.clone(),
            adapter: AdapterOptions {
                id: "id".to_owned(),
                multi: Multi::All(false),
                paginate: self.paginate,
            },
            start_id: 1,
            schema,
            unique: Vec::new(),
        }
    }
}

/// Registers `messages` on `app` (a store from `stores`), its hooks (`text` checked,
/// `userId`/`createdAt` set by the server) and, with `options.rooms`, `join` and `leave`.
/// Add your own hooks to the returned handle: they run after these.
pub async fn install(
    app: &App,
    auth: &Authentication,
    options: &MessagesOptions,
    stores: &dyn StoreFactory,
) -> Result<ServiceHandle> {
    super::ensure_free(app, &options.path)?;
    let store = stores.store(&options.spec()).await?;
    let service_options = ServiceOptions {
        events: options.events.clone(),
        ..ServiceOptions::default()
    };
    let messages = app.use_arc_service(&options.path, store, service_options)?;
    if options.rooms {
        messages.method("join", |call: MethodCall| room_call(call, true))?;
        messages.method("leave", |call: MethodCall| room_call(call, false))?;
    }
    messages.hooks(hooks(auth, options.max_text)?)?;
    Ok(messages)
}

/// `room/<roomId>` as JavaScript's template literal writes it.
pub fn room_channel(room_id: &Value) -> String {
    format!("room/{}", to_string(room_id))
}

/// `join` (`joining`) or `leave`: the calling connection in or out of `room/<roomId>`.
async fn room_call(call: MethodCall, joining: bool) -> Result<Value> {
    let Some(connection) = call.params.connection else {
        return Err(Error::bad_request(format!(
            "{} needs a real-time connection",
            call.method
        )));
    };
    let room_id = match call.data.get("roomId") {
        Some(id @ (Value::String(_) | Value::Number(_))) if !to_string(id).is_empty() => id.clone(),
        _ => return Err(Error::bad_request("roomId is required")),
    };
    let channel = call.app.channel(&room_channel(&room_id));
    if joining {
        channel.join([connection]);
        Ok(json!({"roomId": room_id, "joined": true}))
    } else {
        channel.leave([connection]);
        Ok(json!({"roomId": room_id, "left": true}))
    }
}

/// The hooks of `messages`: `text` of at most `max_text` UTF-16 units.
pub(crate) fn hooks(auth: &Authentication, max_text: usize) -> Result<HookMap> {
    let entity = auth
        .config()
        .entity
        .clone()
        .unwrap_or_else(|| "user".to_owned());
    let jwt = auth.authenticate_hook(&["jwt"])?;
    Ok(HookMap::new().before("create", prepare_create(jwt, entity, max_text)))
}

/// Milliseconds since the epoch (`Date.now()`).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Checks `text` and `roomId` of one new message.
fn check(data: &Value, max_text: usize) -> Result<()> {
    let Value::Object(map) = data else {
        return Err(Error::bad_request("text is required"));
    };
    match map.get("text") {
        None | Some(Value::Null) => return Err(Error::bad_request("text is required")),
        Some(Value::String(text)) if text.is_empty() => {
            return Err(Error::bad_request("text is required"))
        }
        Some(Value::String(text)) if text.encode_utf16().count() > max_text => {
            return Err(Error::bad_request("text is too long"))
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(Error::bad_request("text must be a string")),
    }
    match map.get("roomId") {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(_) => Err(Error::bad_request("roomId must be a string")),
    }
}

/// Before `create`: the caller's identity (a token that does not verify makes the call
/// anonymous: the service is public), the checks, then the stored message is `text`,
/// `roomId`, and `userId` and `createdAt` set by the server; nothing else the client sends
/// (an `id`, extra fields) is kept.
fn prepare_create(jwt: Arc<AuthenticateHook>, entity: String, max_text: usize) -> Arc<dyn Hook> {
    hook_fn(move |ctx| {
        let jwt = Arc::clone(&jwt);
        let entity = entity.clone();
        Box::pin(async move {
            if ctx.params.authentication.is_some() && !ctx.params.authenticated {
                if let Err(e) = Hook::call(&*jwt, ctx).await {
                    tracing::debug!(reason = %e.message, "message from a caller whose token does not verify: anonymous");
                    ctx.params.authentication = None;
                    ctx.params.user = None;
                    ctx.params.extra.shift_remove(&entity);
                }
            }
            let user_id = caller(&ctx.params, &entity)
                .and_then(|user| user.get("id"))
                .cloned();
            let created_at = now_ms();
            let stamp = |item: &mut Value| -> Result<()> {
                check(item, max_text)?;
                if let Value::Object(map) = item {
                    // Only `text` and `roomId` come from the client (as in the reference):
                    // an extra field would make the text limit meaningless, and a client
                    // `id` could exhaust or skew the ids the server numbers itself.
                    map.retain(|field, _| field == "text" || field == "roomId");
                    match &user_id {
                        Some(id) => {
                            map.insert("userId".into(), id.clone());
                        }
                        None => {
                            map.shift_remove("userId");
                        }
                    }
                    map.insert("createdAt".into(), json!(created_at));
                }
                Ok(())
            };
            match ctx.data.as_mut() {
                Some(Value::Array(items)) => items.iter_mut().try_for_each(stamp)?,
                Some(item) => stamp(item)?,
                None => return Err(Error::bad_request("text is required")),
            }
            Ok(())
        })
    })
}
