//! `messages` (CHAT-APP.md): public, paginated `{10, 50}`, `text` checked, `userId` from the
//! caller, `createdAt` in ms; custom methods `join`/`leave` move the calling connection in
//! and out of `room/<roomId>`.

use super::store::StoreSpec;
use super::users::caller;
use roost_auth::{AuthenticateHook, Authentication};
use roost_core::hooks::{hook_fn, Hook, HookMap};
use roost_core::js::to_string;
use roost_core::schema::FieldType;
use roost_core::service::{AdapterOptions, Multi, Paginate, STANDARD_METHODS};
use roost_core::{json, Channels, Error, Params, Result, Service, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest `text`, in UTF-16 code units (JavaScript's `length`).
pub const MAX_TEXT: usize = 10_000;

/// The custom methods.
pub const CUSTOM_METHODS: [&str; 2] = ["join", "leave"];

/// The store spec of `messages`.
pub fn spec() -> StoreSpec {
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
        path: "messages".to_owned(),
        adapter: AdapterOptions {
            id: "id".to_owned(),
            multi: Multi::All(false),
            paginate: Some(Paginate {
                default: Some(10),
                max: Some(50),
            }),
        },
        start_id: 1,
        schema,
        unique: Vec::new(),
    }
}

/// Every externally callable method: the standard ones and `join`/`leave`.
pub fn methods() -> Vec<String> {
    STANDARD_METHODS
        .iter()
        .chain(CUSTOM_METHODS.iter())
        .map(|m| (*m).to_owned())
        .collect()
}

/// The store plus `join` and `leave`.
pub struct Messages {
    store: Arc<dyn Service>,
    channels: Channels,
}

impl Messages {
    /// `messages` on `store`, joining rooms in `channels`.
    pub fn new(store: Arc<dyn Service>, channels: Channels) -> Self {
        Messages { store, channels }
    }
}

/// `room/<roomId>` as JavaScript's template literal writes it.
pub fn room_channel(room_id: &Value) -> String {
    format!("room/{}", to_string(room_id))
}

#[async_trait::async_trait]
impl Service for Messages {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.store.find(params).await
    }
    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        self.store.get(id, params).await
    }
    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        self.store.create(data, params).await
    }
    async fn update(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.store.update(id, data, params).await
    }
    async fn patch(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.store.patch(id, data, params).await
    }
    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        self.store.remove(id, params).await
    }
    async fn call(&self, method: &str, data: Value, params: &Params) -> Result<Value> {
        let joining = match method {
            "join" => true,
            "leave" => false,
            other => {
                return Err(Error::method_not_allowed(format!(
                    "Method `{other}` is not supported by this endpoint."
                )))
            }
        };
        let Some(connection) = params.connection else {
            return Err(Error::bad_request(format!(
                "{method} needs a real-time connection"
            )));
        };
        let room_id = match data.get("roomId") {
            Some(id @ (Value::String(_) | Value::Number(_))) if !to_string(id).is_empty() => {
                id.clone()
            }
            _ => return Err(Error::bad_request("roomId is required")),
        };
        let channel = self.channels.channel(&room_channel(&room_id));
        if joining {
            channel.join([connection]);
            Ok(json!({"roomId": room_id, "joined": true}))
        } else {
            channel.leave([connection]);
            Ok(json!({"roomId": room_id, "left": true}))
        }
    }
    fn implemented_methods(&self) -> Vec<String> {
        methods()
    }
}

/// The hooks of `messages`.
pub fn hooks(auth: &Authentication) -> Result<HookMap> {
    let entity = auth
        .config()
        .entity
        .clone()
        .unwrap_or_else(|| "user".to_owned());
    let jwt = auth.authenticate_hook(&["jwt"])?;
    Ok(HookMap::new().before("create", prepare_create(jwt, entity)))
}

/// Milliseconds since the epoch (`Date.now()`).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Checks `text` and `roomId` of one new message.
fn check(data: &Value) -> Result<()> {
    let Value::Object(map) = data else {
        return Err(Error::bad_request("text is required"));
    };
    match map.get("text") {
        None | Some(Value::Null) => return Err(Error::bad_request("text is required")),
        Some(Value::String(text)) if text.is_empty() => {
            return Err(Error::bad_request("text is required"))
        }
        Some(Value::String(text)) if text.encode_utf16().count() > MAX_TEXT => {
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
fn prepare_create(jwt: Arc<AuthenticateHook>, entity: String) -> Arc<dyn Hook> {
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
                check(item)?;
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
