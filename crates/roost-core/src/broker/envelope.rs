//! [`Envelope`]: one event as it travels between nodes — explicit, versioned, size-bounded.
//!
//! An envelope carries what other nodes need to run their own delivery for the event and
//! nothing more: the origin node and its sequence numbers, the event (`path`, `event`, `data`,
//! `dispatch`), who it is for ([`Audience`]: channel names computed on the origin, everyone,
//! or one connection of one node) and the few context fields publishers read
//! ([`EventContext`]). Never a whole hook context, never anything circular.

use crate::hooks::HookContext;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The envelope format this build writes, and the only one it reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The longest node id, in bytes.
pub const MAX_NODE_ID_BYTES: usize = 64;

/// Why an envelope could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The encoded envelope is larger than [`EnvelopeLimits::max_bytes`].
    #[error("envelope of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The encoded (or received) size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More channel names than [`EnvelopeLimits::max_channels`].
    #[error("envelope names {count} channels, more than the limit of {max}")]
    TooManyChannels {
        /// How many channels it names.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A channel name is empty or longer than [`EnvelopeLimits::max_name_bytes`].
    #[error("channel name of {len} bytes is empty or longer than {max} bytes")]
    BadChannelName {
        /// The name's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The envelope was written by a format version this build does not read.
    #[error("envelope version {0} is not supported (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    /// The bytes are not an envelope.
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

/// Size limits on envelopes, enforced when encoding (the origin refuses to publish) and when
/// decoding (a receiver drops and counts the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvelopeLimits {
    /// Largest encoded envelope, in bytes. Default 1 MiB.
    pub max_bytes: usize,
    /// Most channel names in one envelope. Default 1024.
    pub max_channels: usize,
    /// Longest channel name, in bytes. Default 512.
    pub max_name_bytes: usize,
}

impl Default for EnvelopeLimits {
    fn default() -> Self {
        EnvelopeLimits {
            max_bytes: 1024 * 1024,
            max_channels: 1024,
            max_name_bytes: 512,
        }
    }
}

/// A node's id in the cluster: 1 to 64 bytes of `A-Z a-z 0-9 . _ -` (it becomes part of
/// Redis channel names). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(Arc<str>);

/// A node id that breaks the rules of [`NodeId`].
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("invalid node id {0:?}: use 1 to 64 characters of A-Z a-z 0-9 . _ -")]
pub struct InvalidNodeId(pub String);

impl NodeId {
    /// Checks and wraps `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidNodeId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_NODE_ID_BYTES
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(NodeId(id.into()))
        } else {
            Err(InvalidNodeId(id))
        }
    }

    /// A fresh random id (16 hex digits), different in every process and call.
    pub fn random() -> Self {
        NodeId(format!("{:016x}", random_u64()).into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidNodeId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        NodeId::new(id)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64 random bits from std's per-process random hash keys, the clock, the process id and a
/// counter (no extra dependency; not for cryptography, only for ids and epochs).
pub(crate) fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// One channel an event goes to, with the origin's sequence number for that channel and the
/// channel's `send` data when the publisher attached some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelTarget {
    /// The channel name (as `app.channel(name)` names it).
    pub name: String,
    /// The origin's sequence number on this channel (stamped when published; 0 before).
    #[serde(default)]
    pub seq: u64,
    /// What members of this channel receive instead of the default payload (`channel.send`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Who an envelope is for. Each variant is one or more [`Route`]s a broker publishes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Audience {
    /// Members of these channels (names computed on the origin by its publishers); each
    /// receiving node resolves membership itself. A connection in several of them receives
    /// the event once, with the first channel's data.
    Channels {
        /// The channels, in the publisher's order.
        channels: Vec<ChannelTarget>,
    },
    /// Every connection on every node (a server event to all).
    All {
        /// The origin's sequence number on the `all` route.
        #[serde(default)]
        seq: u64,
    },
    /// One connection of one node (a server event to a connection by id).
    Connection {
        /// The node that holds the connection.
        node: NodeId,
        /// The connection id on that node.
        connection: u64,
        /// The origin's sequence number on that node's route.
        #[serde(default)]
        seq: u64,
    },
    /// No channel names: the receiving node runs its own publishers for the event. This is
    /// what a feathers-sync message from a Node pod gives (Node computes channels on each
    /// node), never what a Roost node publishes.
    Publish,
}

impl Audience {
    /// Members of `names`, without `send` data.
    pub fn channels<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Audience::Channels {
            channels: names
                .into_iter()
                .map(|name| ChannelTarget {
                    name: name.into(),
                    seq: 0,
                    data: None,
                })
                .collect(),
        }
    }

    /// Every connection of the cluster.
    pub fn all() -> Self {
        Audience::All { seq: 0 }
    }

    /// Connection `connection` of `node`.
    pub fn connection(node: NodeId, connection: u64) -> Self {
        Audience::Connection {
            node,
            connection,
            seq: 0,
        }
    }
}

/// What a broker publishes on and subscribes to: one channel, everyone, or one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// A Roost channel by name.
    Channel(String),
    /// Every node.
    All,
    /// One node (connection-addressed server events).
    Node(NodeId),
}

impl Route {
    /// The route's key, which brokers put after their prefix: `ch:<name>`, `all` or
    /// `node:<id>`.
    pub fn key(&self) -> String {
        match self {
            Route::Channel(name) => format!("ch:{name}"),
            Route::All => "all".to_owned(),
            Route::Node(id) => format!("node:{id}"),
        }
    }

    /// The route of a key made by [`Route::key`].
    pub fn from_key(key: &str) -> Option<Route> {
        if let Some(name) = key.strip_prefix("ch:") {
            return Some(Route::Channel(name.to_owned()));
        }
        if key == "all" {
            return Some(Route::All);
        }
        key.strip_prefix("node:")
            .and_then(|id| NodeId::new(id).ok())
            .map(Route::Node)
    }
}

/// The context fields publishers read (`context.method`, `context.id`, `context.params.user`,
/// `context.params.provider`). The user is stored without its protected fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    /// The service method that emitted the event (`create`, …); `None` for custom events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The id argument of the call (`get`/`update`/`patch`/`remove`). A `null` id (multi
    /// patch/remove) is not kept: it arrives as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// `params.user` without its protected fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    /// `params.provider` (`rest`, `socketio`, `primus`); `None` for internal calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl EventContext {
    /// The fields of `ctx`, with the dotted `protected` paths (e.g. `password`) removed from
    /// the user.
    pub(crate) fn from_hook(ctx: &HookContext, protected: &[&str]) -> Self {
        EventContext {
            method: Some(ctx.method.clone()),
            id: ctx.id.clone().filter(|id| !id.is_null()),
            user: ctx
                .params
                .user
                .as_ref()
                .map(|user| without_paths(user, protected)),
            provider: ctx.params.provider.clone(),
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.id.is_none() && self.user.is_none() && self.provider.is_none()
    }
}

/// A copy of `value` without the dotted `paths` (objects only; other values are kept).
pub(crate) fn without_paths(value: &Value, paths: &[&str]) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut map = map.clone();
    for path in paths {
        remove_path(&mut map, path);
    }
    Value::Object(map)
}

fn remove_path(map: &mut Map<String, Value>, path: &str) {
    if map.remove(path).is_some() {
        return;
    }
    if let Some((head, rest)) = path.split_once('.') {
        if let Some(Value::Object(inner)) = map.get_mut(head) {
            remove_path(inner, rest);
        }
    }
}

/// One event between nodes.
///
/// Build one with [`Envelope::service_event`] or [`Envelope::server_event`] and hand it to
/// [`Broker::publish`](super::Broker::publish), which stamps `origin`, `epoch`, `seq`, `id`
/// and the per-route sequence numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The format version ([`ENVELOPE_VERSION`]).
    #[serde(rename = "v")]
    pub version: u32,
    /// The node that published it.
    pub origin: NodeId,
    /// The origin's sequence epoch: random at start, bumped when it resets its per-route
    /// counters. Sequence numbers compare only within one epoch.
    pub epoch: u64,
    /// The origin's envelope number in this epoch, from 1, one per published envelope.
    /// Receivers use `(origin, epoch, seq)` to deliver an envelope once.
    pub seq: u64,
    /// The event id, unique in the cluster: `<origin>:<epoch>:<seq>` unless the publisher set
    /// one.
    pub id: String,
    /// The service path, or `None` for a custom server event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The event name (`created`, a custom service event, a server event).
    pub event: String,
    /// The emitted item (one element of an array result): what listeners and filters see.
    pub data: Value,
    /// The default payload when it differs from `data` (`context.dispatch`, or the result
    /// picked by Feathers' array rule); `None` when connections receive `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Value>,
    /// Who it is for.
    pub to: Audience,
    /// The context fields publishers read.
    #[serde(default, skip_serializing_if = "EventContext::is_empty")]
    pub context: EventContext,
}

impl Envelope {
    /// A service event (`path`, `event`) for members of `channels`; not yet stamped.
    pub fn service_event(
        path: impl Into<String>,
        event: impl Into<String>,
        data: Value,
        dispatch: Option<Value>,
        channels: Vec<ChannelTarget>,
        context: EventContext,
    ) -> Self {
        Envelope {
            path: Some(path.into()),
            dispatch,
            to: Audience::Channels { channels },
            context,
            ..Envelope::server_event(event, data, Audience::all())
        }
    }

    /// A custom server event (Primus' `spark.send(event, data)`) for `to`; not yet stamped.
    pub fn server_event(event: impl Into<String>, data: Value, to: Audience) -> Self {
        Envelope {
            version: ENVELOPE_VERSION,
            origin: NodeId(Arc::from("unstamped")),
            epoch: 0,
            seq: 0,
            id: String::new(),
            path: None,
            event: event.into(),
            data,
            dispatch: None,
            to,
            context: EventContext::default(),
        }
    }

    /// What connections receive by default: `dispatch` when set, else `data`.
    pub fn payload(&self) -> &Value {
        self.dispatch.as_ref().unwrap_or(&self.data)
    }

    /// The routes this envelope is published on, each with the origin's sequence number for
    /// that route, in order.
    pub fn routes(&self) -> Vec<(Route, u64)> {
        match &self.to {
            Audience::Channels { channels } => channels
                .iter()
                .map(|c| (Route::Channel(c.name.clone()), c.seq))
                .collect(),
            Audience::All { seq } => vec![(Route::All, *seq)],
            Audience::Connection { node, seq, .. } => vec![(Route::Node(node.clone()), *seq)],
            Audience::Publish => Vec::new(),
        }
    }

    /// The origin's sequence number of this envelope on `route`, if it is published there.
    pub(crate) fn route_seq(&self, route: &Route) -> Option<u64> {
        match (&self.to, route) {
            (Audience::Channels { channels }, Route::Channel(name)) => {
                channels.iter().find(|c| &c.name == name).map(|c| c.seq)
            }
            (Audience::All { seq }, Route::All) => Some(*seq),
            (Audience::Connection { node, seq, .. }, Route::Node(id)) if node == id => Some(*seq),
            _ => None,
        }
    }

    /// Checks the channel limits (the byte limit is checked by [`Envelope::encode`]).
    pub fn check(&self, limits: &EnvelopeLimits) -> Result<(), EnvelopeError> {
        if let Audience::Channels { channels } = &self.to {
            if channels.len() > limits.max_channels {
                return Err(EnvelopeError::TooManyChannels {
                    count: channels.len(),
                    max: limits.max_channels,
                });
            }
            for c in channels {
                if c.name.is_empty() || c.name.len() > limits.max_name_bytes {
                    return Err(EnvelopeError::BadChannelName {
                        len: c.name.len(),
                        max: limits.max_name_bytes,
                    });
                }
            }
        }
        Ok(())
    }

    /// The envelope as JSON bytes, refused when it breaks `limits`.
    pub fn encode(&self, limits: &EnvelopeLimits) -> Result<Vec<u8>, EnvelopeError> {
        self.check(limits)?;
        let bytes =
            serde_json::to_vec(self).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if bytes.len() > limits.max_bytes {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        Ok(bytes)
    }

    /// Reads an envelope, refusing oversized input before parsing it, other versions and
    /// envelopes that break `limits`.
    pub fn decode(bytes: &[u8], limits: &EnvelopeLimits) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > limits.max_bytes {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(envelope) => envelope,
            Err(error) => {
                // A later version may have changed the shape: say so rather than "malformed".
                #[derive(Deserialize)]
                struct Version {
                    v: u32,
                }
                return Err(match serde_json::from_slice::<Version>(bytes) {
                    Ok(Version { v }) if v != ENVELOPE_VERSION => {
                        EnvelopeError::UnsupportedVersion(v)
                    }
                    _ => EnvelopeError::Malformed(error.to_string()),
                });
            }
        };
        if envelope.version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(envelope.version));
        }
        envelope.check(limits)?;
        Ok(envelope)
    }
}
