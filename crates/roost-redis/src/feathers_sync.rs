//! The feathers-sync 3.x message, read and written.
//!
//! A Node pod running `feathers-sync` publishes every service event on one Redis channel (the
//! key, `feathers-sync` by default) as `serialize({event, path, data, context})`, where
//! `context` is the whole hook context as JSON (`ctx.toJSON()` without `app`, `service` and
//! `self`). The serializer is `JSON.stringify` by default; deployments with circular contexts
//! use `flatted`. A receiving pod runs `service._emit(event, data, {app, service, ...context})`,
//! so its own publishers pick the channels from `data` and that context.
//!
//! [`encode`] writes what Node publishers read: `event`, `path`, `data` and a context with
//! `path`, `method`, `event`, `id`, `result` (the emitted item), `dispatch` (when the event
//! carries one; a falsy one travels as `result`, the only way Node's `dispatch || result`
//! sends it) and `params` with `provider`, `user` (already without protected fields),
//! `query: {}` and `route: {}`. Roost adds a `roost` field that Node ignores: the origin, its
//! sequence numbers and the channel names, so Roost nodes get back the full [`Envelope`].
//!
//! [`decode`] accepts both serializers whatever the configured one (a flatted text is a JSON
//! array, a JSON message an object) and treats `context` as untrusted and optional.
//!
//! What the format loses, Roost to Node: `context.arguments`, `params.connection`,
//! `params.authentication`, `params.headers`, the call's `data` and `query`, `type`,
//! `statusCode`/`http`, and every other hook-set value; a multi result arrives per item (the
//! `result` is the item, not the whole array). Node to Roost: everything but `event`, `path`,
//! `data`, `method`, `id`, `params.user`, `params.provider` and the payload (`dispatch`/`result`)
//! is ignored; no origin, sequence or channel names, so no dedupe, gap count or interest routing.

use crate::flatted::{self, FlattedLimits};
use roost_core::broker::{
    Audience, ChannelTarget, Envelope, EnvelopeError, EnvelopeLimits, EventContext, NodeId,
    ENVELOPE_VERSION,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The serializer of a feathers-sync deployment (`serialize`/`deserialize` options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Serializer {
    /// `JSON.stringify` / `JSON.parse`, feathers-sync's default.
    #[default]
    Json,
    /// `flatted`'s `stringify` / `parse`.
    Flatted,
}

/// The origin recorded for messages from Node pods (which carry none).
pub const NODE_ORIGIN: &str = "feathers-sync";

/// The `roost` field of a message a Roost node wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoostExtension {
    v: u32,
    origin: NodeId,
    epoch: u64,
    seq: u64,
    /// The origin's counter of messages on the feathers-sync key (for gap counting).
    sync_seq: u64,
    id: String,
    channels: Vec<ChannelTarget>,
}

/// A decoded feathers-sync message.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncMessage {
    /// Written by a Roost node: the envelope as it was published, with the origin's number on
    /// the feathers-sync key.
    Roost {
        /// The envelope.
        envelope: Envelope,
        /// The origin's counter of messages on the key.
        sync_seq: u64,
    },
    /// Written by a Node pod: an envelope from [`NODE_ORIGIN`] with [`Audience::Publish`]
    /// (the receiving node runs its own publishers), `seq` 0.
    Node(Envelope),
}

/// Writes `envelope` (a stamped service event) as a feathers-sync message. `sync_seq` is the
/// origin's counter on the key. Refuses messages larger than `limits.max_bytes`.
pub fn encode(
    envelope: &Envelope,
    sync_seq: u64,
    serializer: Serializer,
    limits: &EnvelopeLimits,
) -> Result<Vec<u8>, EnvelopeError> {
    envelope.check(limits)?;
    let ctx = &envelope.context;
    let mut params = Map::new();
    params.insert("query".into(), json!({}));
    params.insert("route".into(), json!({}));
    if let Some(provider) = &ctx.provider {
        params.insert("provider".into(), json!(provider));
    }
    if let Some(user) = &ctx.user {
        params.insert("user".into(), user.clone());
    }
    let path = envelope.path.clone().unwrap_or_default();
    let mut context = Map::new();
    context.insert("params".into(), Value::Object(params));
    context.insert("path".into(), json!(path));
    if let Some(method) = &ctx.method {
        context.insert("method".into(), json!(method));
    }
    context.insert("event".into(), json!(envelope.event));
    if let Some(id) = &ctx.id {
        context.insert("id".into(), id.clone());
    }
    // Node's dispatcher sends `dispatch || result`: a falsy payload can only travel as the
    // result.
    match &envelope.dispatch {
        Some(dispatch) if roost_core::js::is_truthy(dispatch) => {
            context.insert("result".into(), envelope.data.clone());
            context.insert("dispatch".into(), dispatch.clone());
        }
        Some(falsy) => {
            context.insert("result".into(), falsy.clone());
        }
        None => {
            context.insert("result".into(), envelope.data.clone());
        }
    }
    let channels = match &envelope.to {
        Audience::Channels { channels } => channels.clone(),
        _ => Vec::new(),
    };
    let extension = RoostExtension {
        v: ENVELOPE_VERSION,
        origin: envelope.origin.clone(),
        epoch: envelope.epoch,
        seq: envelope.seq,
        sync_seq,
        id: envelope.id.clone(),
        channels,
    };
    let message = json!({
        "event": envelope.event,
        "path": path,
        "data": envelope.data,
        "context": context,
        "roost": extension,
    });
    let bytes = match serializer {
        Serializer::Json => {
            serde_json::to_vec(&message).map_err(|e| EnvelopeError::Malformed(e.to_string()))?
        }
        Serializer::Flatted => flatted::stringify(&message).into_bytes(),
    };
    if bytes.len() > limits.max_bytes {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    Ok(bytes)
}

/// Reads a feathers-sync message in either serializer.
///
/// A message from a Node pod becomes an envelope from [`NODE_ORIGIN`]:
/// ```
/// use roost_core::broker::EnvelopeLimits;
/// use roost_redis::feathers_sync::{decode, SyncMessage, NODE_ORIGIN};
///
/// let from_node = br#"{"event":"created","path":"messages","data":{"id":1,"text":"hi"},
///     "context":{"method":"create","params":{"provider":"rest"}}}"#;
/// let SyncMessage::Node(envelope) = decode(from_node, &EnvelopeLimits::default())? else {
///     panic!("a Node pod's message");
/// };
/// assert_eq!(envelope.origin.as_str(), NODE_ORIGIN);
/// assert_eq!(envelope.path.as_deref(), Some("messages"));
/// assert_eq!(envelope.event, "created");
/// assert_eq!(envelope.data["text"], "hi");
/// // The same message written by flatted's stringify reads the same.
/// let flatted = roost_redis::flatted::stringify(&serde_json::from_slice(from_node)?);
/// assert!(matches!(decode(flatted.as_bytes(), &EnvelopeLimits::default())?, SyncMessage::Node(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode(bytes: &[u8], limits: &EnvelopeLimits) -> Result<SyncMessage, EnvelopeError> {
    if bytes.len() > limits.max_bytes {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let message: Value = match first {
        Some(b'[') => flatted::parse(bytes, &FlattedLimits::default())
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?,
        _ => serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?,
    };
    let Value::Object(mut message) = message else {
        return Err(EnvelopeError::Malformed(
            "a feathers-sync message is an object".into(),
        ));
    };
    let text = |v: Option<&Value>, what: &str| -> Result<String, EnvelopeError> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(EnvelopeError::Malformed(format!(
                "a feathers-sync message needs a string `{what}`"
            ))),
        }
    };
    let event = text(message.get("event"), "event")?;
    let path = text(message.get("path"), "path")?;
    let data = message.remove("data").unwrap_or(Value::Null);
    let context = match message.remove("context") {
        Some(Value::Object(context)) => context,
        _ => Map::new(),
    };
    if let Some(extension) = message.remove("roost") {
        if let Ok(ext) = serde_json::from_value::<RoostExtension>(extension) {
            if ext.v != ENVELOPE_VERSION {
                return Err(EnvelopeError::UnsupportedVersion(ext.v));
            }
            let mut envelope = node_envelope(path, event, data, &context);
            envelope.origin = ext.origin;
            envelope.epoch = ext.epoch;
            envelope.seq = ext.seq;
            envelope.id = ext.id;
            envelope.to = Audience::Channels {
                channels: ext.channels,
            };
            envelope.check(limits)?;
            return Ok(SyncMessage::Roost {
                envelope,
                sync_seq: ext.sync_seq,
            });
        }
    }
    Ok(SyncMessage::Node(node_envelope(
        path, event, data, &context,
    )))
}

fn node_envelope(
    path: String,
    event: String,
    data: Value,
    context: &Map<String, Value>,
) -> Envelope {
    let params = context.get("params").and_then(Value::as_object);
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let ctx = EventContext {
        method: string(context.get("method")),
        id: context.get("id").filter(|id| !id.is_null()).cloned(),
        user: params
            .and_then(|p| p.get("user"))
            .filter(|u| !u.is_null())
            .cloned(),
        provider: string(params.and_then(|p| p.get("provider"))),
    };
    let payload = payload(&data, context.get("dispatch"), context.get("result"));
    let dispatch = payload.filter(|p| *p != data);
    let mut envelope = Envelope::service_event(path, event, data, dispatch, Vec::new(), ctx);
    envelope.origin = NodeId::new(NODE_ORIGIN).unwrap_or_else(|_| NodeId::random());
    envelope.to = Audience::Publish;
    envelope
}

/// What Node's dispatcher sends for the emitted item `data`: `dispatch || result`, and when
/// `data` is one item of an array result, the element of that array equal to `data` (`null`
/// when none is). `None` when the context has neither (Node would send `data` unchanged only
/// through a channel's own data; Roost sends `data`).
fn payload(data: &Value, dispatch: Option<&Value>, result: Option<&Value>) -> Option<Value> {
    let chosen = dispatch
        .filter(|v| roost_core::js::is_truthy(v))
        .or(result)?;
    match chosen {
        Value::Array(items) if !data.is_array() && matches!(result, Some(Value::Array(_))) => Some(
            items
                .iter()
                .find(|item| loose_eq(item, data))
                .cloned()
                .unwrap_or(Value::Null),
        ),
        value => Some(value.clone()),
    }
}

/// Deep equality as lodash's `isEqual` sees JSON (key order ignored, `1 == 1.0`).
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| loose_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => a == b,
    }
}
