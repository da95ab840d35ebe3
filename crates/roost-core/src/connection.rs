//! Connections as the core sees them (docs/feathers-semantics.md §A14, §D13–D14, §H16–H17): an opaque
//! [`ConnectionId`], the data Feathers keeps on a connection object ([`ConnectionInfo`]:
//! provider, handshake headers, `socketQuery`, and what authentication stores there), and the
//! app-level registry with the `connection` / `disconnect` listeners ([`Connections`]).
//!
//! Transports own the sockets. When one accepts a connection it calls [`App::connect`]; when
//! the socket closes, [`App::disconnect`]. Everything here is transport-neutral, so Primus and
//! Socket.IO share it.

use crate::app::App;
pub use crate::headers::HandshakeHeaders;
pub use crate::ids::ConnectionId;
use crate::intern::connection_values;
use crate::lock::{read, write};
use crate::params::Params;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// The connection field holding the authenticated entity.
pub const USER_FIELD: &str = "user";
/// The connection field holding `{strategy, accessToken}` after a socket login.
pub const AUTHENTICATION_FIELD: &str = "authentication";
/// The connection field holding the parsed query string of the handshake URL.
pub const SOCKET_QUERY_FIELD: &str = "socketQuery";

/// Where `connection.headers` comes from.
enum Headers {
    /// A map given by the transport ([`ConnectionInfo::new`]).
    Map(Map<String, Value>),
    /// Built when read ([`ConnectionInfo::from_handshake`]).
    Handshake(HandshakeHeaders),
}

/// The connection object Feathers keeps per real-time connection: `{provider, headers,
/// socketQuery, user?, authentication?, …}`. Every socket call runs with its fields spread
/// into `params` ([`ConnectionInfo::params`]).
///
/// Provider and headers are fixed at the handshake; the other fields change (a login sets
/// `user` and `authentication`, a logout removes them) behind a lock that is never held
/// while user code runs.
///
/// `user` and `authentication` are kept as shared immutable values, interned
/// ([`crate::intern::connection_values`]): connections logged in as one user with one token
/// hold one copy of each between them. Reading them ([`ConnectionInfo::user`],
/// [`ConnectionInfo::get`], [`ConnectionInfo::params`]) gives a plain [`Value`] as before;
/// setting them on one connection never changes another's.
pub struct ConnectionInfo {
    id: ConnectionId,
    provider: Cow<'static, str>,
    headers: Headers,
    fields: RwLock<Fields>,
}

/// A connection's changing fields. The three every socket connection has (or gains at
/// login) live in their own slots, so a connection without custom fields keeps no map (an
/// `IndexMap` with its hash table cost about 360 bytes per connection for these three keys).
/// `user` and `authentication` are interned (shared with every connection holding an equal
/// value).
#[derive(Default)]
struct Fields {
    socket_query: Option<Value>,
    user: Option<Arc<Value>>,
    authentication: Option<Arc<Value>>,
    /// Every other field, in the order they were first set.
    other: Map<String, Value>,
}

impl Fields {
    fn shared_slot(&mut self, key: &str) -> Option<&mut Option<Arc<Value>>> {
        match key {
            USER_FIELD => Some(&mut self.user),
            AUTHENTICATION_FIELD => Some(&mut self.authentication),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        match key {
            SOCKET_QUERY_FIELD => self.socket_query.as_ref(),
            USER_FIELD => self.user.as_deref(),
            AUTHENTICATION_FIELD => self.authentication.as_deref(),
            _ => self.other.get(key),
        }
    }

    /// Sets `key`; for `user` and `authentication`, to an already interned value.
    fn insert(&mut self, key: &str, value: Field) {
        if key == SOCKET_QUERY_FIELD {
            self.socket_query = Some(value.into_value());
        } else if let Some(slot) = self.shared_slot(key) {
            *slot = Some(value.into_shared());
        } else {
            self.other.insert(key.to_owned(), value.into_value());
        }
    }

    fn remove(&mut self, key: &str) -> Option<Value> {
        if key == SOCKET_QUERY_FIELD {
            self.socket_query.take()
        } else if let Some(slot) = self.shared_slot(key) {
            // The value itself when no other connection shares it, a copy otherwise.
            slot.take().map(Arc::unwrap_or_clone)
        } else {
            self.other.shift_remove(key)
        }
    }

    /// Every field: `socketQuery`, the custom ones in the order set, then `user` and
    /// `authentication` (the order in which a Feathers connection gains them).
    fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        fn slot<'a>(
            key: &'static str,
            value: Option<&'a Value>,
        ) -> impl Iterator<Item = (&'a str, &'a Value)> {
            value.map(|v| (key, v)).into_iter()
        }
        slot(SOCKET_QUERY_FIELD, self.socket_query.as_ref())
            .chain(self.other.iter().map(|(k, v)| (k.as_str(), v)))
            .chain(slot(USER_FIELD, self.user.as_deref()))
            .chain(slot(AUTHENTICATION_FIELD, self.authentication.as_deref()))
    }
}

/// A value on its way into [`Fields`]: interned before the lock is taken when its key is
/// `user` or `authentication`, so the fields' lock is never held while hashing.
enum Field {
    Plain(Value),
    Shared(Arc<Value>),
}

impl Field {
    fn new(key: &str, value: Value) -> Self {
        match key {
            USER_FIELD | AUTHENTICATION_FIELD => Field::Shared(connection_values().intern(value)),
            _ => Field::Plain(value),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Field::Plain(value) => value,
            Field::Shared(shared) => Arc::unwrap_or_clone(shared),
        }
    }

    fn into_shared(self) -> Arc<Value> {
        match self {
            Field::Plain(value) => connection_values().intern(value),
            Field::Shared(shared) => shared,
        }
    }
}

impl ConnectionInfo {
    /// A connection made through `provider` (`"primus"`, `"socketio"`) with its handshake
    /// `headers` (lower-case names).
    pub fn new(id: ConnectionId, provider: impl Into<String>, headers: Map<String, Value>) -> Self {
        ConnectionInfo {
            id,
            provider: Cow::Owned(provider.into()),
            headers: Headers::Map(headers),
            fields: RwLock::new(Fields::default()),
        }
    }

    /// [`ConnectionInfo::new`] with the headers kept compact: `connection.headers` and
    /// `params.headers` are built from them each time they are read, with the same content
    /// ([`HandshakeHeaders::to_map`]), and the provider name not copied. For transports that
    /// hold many idle connections.
    pub fn from_handshake(
        id: ConnectionId,
        provider: &'static str,
        headers: HandshakeHeaders,
    ) -> Self {
        ConnectionInfo {
            id,
            provider: Cow::Borrowed(provider),
            headers: Headers::Handshake(headers),
            fields: RwLock::new(Fields::default()),
        }
    }

    /// Sets a field before the connection is shared (builder style).
    pub fn with_field(self, key: &str, value: Value) -> Self {
        self.set(key, value);
        self
    }

    /// The id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// `connection.provider`.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// `connection.headers`: the handshake headers, lower-case names. Built on each call
    /// when the connection was made with [`ConnectionInfo::from_handshake`].
    pub fn headers(&self) -> Cow<'_, Map<String, Value>> {
        match &self.headers {
            Headers::Map(map) => Cow::Borrowed(map),
            Headers::Handshake(headers) => Cow::Owned(headers.to_map()),
        }
    }

    /// A field (`user`, `authentication`, `socketQuery`, or any custom one).
    pub fn get(&self, key: &str) -> Option<Value> {
        read(&self.fields).get(key).cloned()
    }

    /// Sets a field; later calls on this connection see it in their params. `user` and
    /// `authentication` are interned (see the type's docs).
    pub fn set(&self, key: &str, value: Value) {
        let field = Field::new(key, value);
        write(&self.fields).insert(key, field);
    }

    /// Whether the field `key` is set, without copying it.
    pub fn has(&self, key: &str) -> bool {
        read(&self.fields).get(key).is_some()
    }

    /// Removes a field.
    pub fn remove(&self, key: &str) -> Option<Value> {
        write(&self.fields).remove(key)
    }

    /// `connection.user`.
    pub fn user(&self) -> Option<Value> {
        self.get(USER_FIELD)
    }

    /// `connection.authentication`.
    pub fn authentication(&self) -> Option<Value> {
        self.get(AUTHENTICATION_FIELD)
    }

    /// `connection.user` as the shared copy this connection holds (no copy made; equal
    /// users of other connections are the same allocation).
    pub fn shared_user(&self) -> Option<Arc<Value>> {
        read(&self.fields).user.clone()
    }

    /// `connection.authentication` as the shared copy this connection holds.
    pub fn shared_authentication(&self) -> Option<Arc<Value>> {
        read(&self.fields).authentication.clone()
    }

    /// Stores a socket login: later calls carry `params.user` and `params.authentication`.
    /// Both values are interned: connections logged in as one user with one token share
    /// them.
    pub fn set_auth(&self, user: Value, authentication: Value) {
        let values = connection_values();
        let user = values.intern(user);
        let authentication = values.intern(authentication);
        let mut fields = write(&self.fields);
        fields.user = Some(user);
        fields.authentication = Some(authentication);
    }

    /// Forgets the login (logout, token expiry).
    pub fn clear_auth(&self) {
        let mut fields = write(&self.fields);
        fields.user = None;
        fields.authentication = None;
    }

    /// The params a socket call starts from (`{connection, ...connection}`, §A14, §H16):
    /// provider, headers, the connection id, `user` and `authentication` in their own fields
    /// and every other field (`socketQuery`, custom ones) in `extra`.
    pub fn params(&self) -> Params {
        let mut params = Params::external(self.provider.as_ref());
        params.headers = self.headers().into_owned();
        params.connection = Some(self.id);
        let fields = read(&self.fields);
        params.user = fields.user.as_deref().cloned();
        params.authentication = fields.authentication.as_deref().cloned();
        if let Some(query) = &fields.socket_query {
            params
                .extra
                .insert(SOCKET_QUERY_FIELD.to_owned(), query.clone());
        }
        for (key, value) in &fields.other {
            params.extra.insert(key.clone(), value.clone());
        }
        params
    }

    /// The connection object as JSON: `{provider, headers, ...fields}`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("provider".into(), Value::String(self.provider.to_string()));
        object.insert("headers".into(), Value::Object(self.headers().into_owned()));
        for (key, value) in read(&self.fields).iter() {
            object.insert(key.to_owned(), value.clone());
        }
        Value::Object(object)
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("id", &self.id)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// An app-level `connection` or `disconnect` listener.
pub type ConnectionListener = Arc<dyn Fn(&App, &Arc<ConnectionInfo>) + Send + Sync>;

/// The live connections of an app, across transports, and the `connection` / `disconnect`
/// listeners. A lookup by id is O(1); nothing here walks all connections except
/// [`Connections::ids`].
#[derive(Default)]
pub struct Connections {
    infos: RwLock<HashMap<ConnectionId, Arc<ConnectionInfo>>>,
    on_connection: RwLock<Vec<ConnectionListener>>,
    on_disconnect: RwLock<Vec<ConnectionListener>>,
}

impl Connections {
    /// The connection `id`, while it is open.
    pub fn get(&self, id: ConnectionId) -> Option<Arc<ConnectionInfo>> {
        read(&self.infos).get(&id).cloned()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        read(&self.infos).len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every open connection's id (a walk over all of them).
    pub fn ids(&self) -> Vec<ConnectionId> {
        read(&self.infos).keys().copied().collect()
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("open", &self.len())
            .finish_non_exhaustive()
    }
}

impl App {
    /// The live connections.
    pub fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    /// The open connection `id`.
    pub fn connection(&self, id: ConnectionId) -> Option<Arc<ConnectionInfo>> {
        self.inner.connections.get(id)
    }

    /// `app.on('connection', fn)`: runs once per new real-time connection, before its first
    /// call (§D14). Apps join channels here.
    pub fn on_connection(
        &self,
        listener: impl Fn(&App, &Arc<ConnectionInfo>) + Send + Sync + 'static,
    ) {
        write(&self.inner.connections.on_connection).push(Arc::new(listener));
    }

    /// `app.on('disconnect', fn)`: runs when a connection closes, after it left every
    /// channel, and when the app disconnects it without closing the socket (token expiry on
    /// Primus, [`App::emit_disconnect`]).
    pub fn on_disconnect(
        &self,
        listener: impl Fn(&App, &Arc<ConnectionInfo>) + Send + Sync + 'static,
    ) {
        write(&self.inner.connections.on_disconnect).push(Arc::new(listener));
    }

    /// For transports: registers a new connection, makes it joinable
    /// ([`Channels::connect`](crate::Channels::connect)) and runs the `connection` listeners.
    /// Call it before reading the connection's first frame.
    pub fn connect(&self, info: impl Into<Arc<ConnectionInfo>>) -> Arc<ConnectionInfo> {
        let info = self.register_connection(info);
        self.announce_connection(&info);
        info
    }

    /// For transports that authenticate a connection before accepting it (Socket.IO
    /// handshake auth, `login` before `connection`): the first half of [`App::connect`].
    /// The connection is known and joinable, but no `connection` listener ran yet; follow
    /// with [`App::announce_connection`], or [`App::forget_connection`] to refuse it.
    pub fn register_connection(&self, info: impl Into<Arc<ConnectionInfo>>) -> Arc<ConnectionInfo> {
        let info = info.into();
        write(&self.inner.connections.infos).insert(info.id, Arc::clone(&info));
        self.inner.channels.connect_as(info.id, info.provider());
        info
    }

    /// The second half of [`App::connect`]: runs the `connection` listeners.
    pub fn announce_connection(&self, info: &Arc<ConnectionInfo>) {
        let listeners = read(&self.inner.connections.on_connection).clone();
        for listener in listeners {
            listener(self, info);
        }
    }

    /// Undoes [`App::register_connection`] for a refused connection: it leaves every
    /// channel and is forgotten, and no `disconnect` listener runs (no `connection` did).
    pub fn forget_connection(&self, id: ConnectionId) -> Option<Arc<ConnectionInfo>> {
        let info = write(&self.inner.connections.infos).remove(&id)?;
        self.inner.channels.disconnect(id);
        Some(info)
    }

    /// For transports: the socket of `id` closed. The connection leaves every channel (§D13),
    /// is forgotten, and the `disconnect` listeners run. Returns `None` when `id` was not
    /// connected (so a second call does nothing).
    pub fn disconnect(&self, id: ConnectionId) -> Option<Arc<ConnectionInfo>> {
        let info = write(&self.inner.connections.infos).remove(&id)?;
        self.inner.channels.disconnect(id);
        self.fire_disconnect(&info);
        Some(info)
    }

    /// `app.emit('disconnect', connection)` without closing the socket (what Feathers does on
    /// Primus when a token expires, docs/protocol.md §11): the connection leaves every channel and
    /// the `disconnect` listeners run; it stays open and may log in again.
    pub fn emit_disconnect(&self, id: ConnectionId) {
        if let Some(info) = self.connection(id) {
            self.inner.channels.leave_all(id);
            self.fire_disconnect(&info);
        }
    }

    fn fire_disconnect(&self, info: &Arc<ConnectionInfo>) {
        let listeners = read(&self.inner.connections.on_disconnect).clone();
        for listener in listeners {
            listener(self, info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    #[test]
    fn params_spread_the_connection() {
        let mut headers = Map::new();
        headers.insert("host".into(), json!("x"));
        let info = ConnectionInfo::new(ConnectionId(7), "primus", headers.clone())
            .with_field(SOCKET_QUERY_FIELD, json!({"roomId": "r1"}));
        info.set_auth(json!({"id": 1}), json!({"strategy": "jwt"}));
        let params = info.params();
        assert_eq!(params.provider.as_deref(), Some("primus"));
        assert_eq!(params.headers, headers);
        assert_eq!(params.connection, Some(ConnectionId(7)));
        assert_eq!(params.user, Some(json!({"id": 1})));
        assert_eq!(params.authentication, Some(json!({"strategy": "jwt"})));
        assert_eq!(
            params.extra.get("socketQuery"),
            Some(&json!({"roomId": "r1"}))
        );
        info.clear_auth();
        assert_eq!(info.params().user, None);
        assert_eq!(
            info.to_json(),
            json!({"provider": "primus", "headers": {"host": "x"}, "socketQuery": {"roomId": "r1"}})
        );
    }

    #[test]
    fn fields_in_slots_and_custom_ones_behave_as_one_object() {
        let info = ConnectionInfo::new(ConnectionId(3), "primus", Map::new());
        assert_eq!(info.get(SOCKET_QUERY_FIELD), None);
        info.set("roomId", json!("r1"));
        info.set(SOCKET_QUERY_FIELD, json!({"a": "1"}));
        info.set_auth(json!({"id": 1}), json!({"strategy": "jwt"}));
        info.set("late", json!(true));
        assert_eq!(info.get(SOCKET_QUERY_FIELD), Some(json!({"a": "1"})));
        assert_eq!(info.get("roomId"), Some(json!("r1")));
        assert_eq!(info.user(), Some(json!({"id": 1})));
        let object = info.to_json();
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "provider",
                "headers",
                "socketQuery",
                "roomId",
                "late",
                "user",
                "authentication"
            ]
        );
        let params = info.params();
        assert_eq!(
            Value::Object(params.extra.clone()),
            json!({"socketQuery": {"a": "1"}, "roomId": "r1", "late": true})
        );
        assert_eq!(params.authentication, Some(json!({"strategy": "jwt"})));
        // Setting a slot through `set` is the same as through `set_auth`.
        info.set(USER_FIELD, json!({"id": 2}));
        assert_eq!(info.params().user, Some(json!({"id": 2})));
        assert_eq!(info.remove(USER_FIELD), Some(json!({"id": 2})));
        assert_eq!(info.remove(USER_FIELD), None);
        assert_eq!(info.remove("roomId"), Some(json!("r1")));
        assert_eq!(info.remove(SOCKET_QUERY_FIELD), Some(json!({"a": "1"})));
        assert_eq!(
            info.to_json(),
            json!({"provider": "primus", "headers": {}, "late": true, "authentication": {"strategy": "jwt"}})
        );
    }

    #[test]
    fn equal_logins_share_their_values_and_each_connection_changes_its_own() {
        // A user no other test interns, so the global table's other entries do not matter.
        let user = json!({"id": "shared-login-test", "email": "a@example.com"});
        let auth = json!({"strategy": "jwt", "accessToken": "shared-login-test-token"});
        let a = ConnectionInfo::new(ConnectionId(1), "primus", Map::new());
        let b = ConnectionInfo::new(ConnectionId(2), "primus", Map::new());
        a.set_auth(user.clone(), auth.clone());
        b.set(USER_FIELD, user.clone());
        b.set(AUTHENTICATION_FIELD, auth.clone());
        let shared = a.shared_user().unwrap();
        assert!(Arc::ptr_eq(&shared, &b.shared_user().unwrap()));
        assert!(Arc::ptr_eq(
            &a.shared_authentication().unwrap(),
            &b.shared_authentication().unwrap()
        ));
        assert_eq!(Arc::strong_count(&shared), 3);
        assert!(a.has(USER_FIELD) && !a.has("roomId"));

        // A new user on one connection: the other keeps the old one.
        a.set(
            USER_FIELD,
            json!({"id": "shared-login-test", "email": "new@example.com"}),
        );
        assert_eq!(a.user().unwrap()["email"], "new@example.com");
        assert_eq!(b.user(), Some(user.clone()));
        assert_eq!(b.params().user, Some(user.clone()));
        // Removing a shared value gives a copy; the last holder's removal gives the value.
        assert_eq!(b.remove(USER_FIELD), Some(user.clone()));
        assert_eq!(Arc::strong_count(&shared), 1);
        drop(shared);
        assert_eq!(
            a.remove(USER_FIELD),
            Some(json!({"id": "shared-login-test", "email": "new@example.com"}))
        );
        // A logout clears that connection only.
        a.set_auth(user.clone(), auth.clone());
        b.set_auth(user, auth.clone());
        a.clear_auth();
        assert!(!a.has(USER_FIELD) && !a.has(AUTHENTICATION_FIELD));
        assert_eq!(b.authentication(), Some(auth));
        assert_eq!(Arc::strong_count(&b.shared_user().unwrap()), 2);
    }

    #[test]
    fn handshake_headers_read_as_the_same_map() {
        let pairs = [
            ("Host", "example.com"),
            ("accept", "text/html"),
            ("x-many", "a"),
            ("cookie", "a=1"),
            ("x-many", "b"),
            ("x-empty", ""),
            ("X-Many", "c"),
        ];
        let headers = HandshakeHeaders::from_pairs(pairs);
        assert_eq!(headers.len(), 7);
        assert_eq!(
            headers.iter().collect::<Vec<_>>()[..2],
            [("host", "example.com"), ("accept", "text/html")]
        );
        let expected = json!({
            "host": "example.com",
            "accept": "text/html",
            "x-many": "a, b, c",
            "cookie": "a=1",
            "x-empty": "",
        });
        assert_eq!(Value::Object(headers.to_map()), expected);
        // Same order of keys, not only the same set (`preserve_order`).
        let keys: Vec<String> = headers.to_map().keys().cloned().collect();
        assert_eq!(keys, ["host", "accept", "x-many", "cookie", "x-empty"]);

        let compact = ConnectionInfo::from_handshake(ConnectionId(1), "primus", headers.clone())
            .with_field(SOCKET_QUERY_FIELD, json!({}));
        let map = ConnectionInfo::new(ConnectionId(1), "primus", headers.to_map())
            .with_field(SOCKET_QUERY_FIELD, json!({}));
        assert_eq!(compact.params().headers, map.params().headers);
        assert_eq!(Value::Object(compact.params().headers), expected);
        assert_eq!(*compact.headers(), *map.headers());
        assert_eq!(compact.to_json(), map.to_json());
        assert!(HandshakeHeaders::default().to_map().is_empty());
        assert!(HandshakeHeaders::from_pairs(Vec::<(&str, &str)>::new()).is_empty());
    }

    #[test]
    fn connect_and_disconnect_fire_listeners_once() {
        let app = App::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        app.on_connection(move |app, conn| {
            app.channel("anonymous").join([conn.id()]);
            s.lock().unwrap().push(format!("connect {}", conn.id()));
        });
        let s = Arc::clone(&seen);
        app.on_disconnect(move |app, conn| {
            // Channels were left before the listener runs.
            assert!(app.channels().channels_of(conn.id()).is_empty());
            s.lock().unwrap().push(format!("disconnect {}", conn.id()));
        });
        let id = ConnectionId::next();
        app.connect(ConnectionInfo::new(id, "primus", Map::new()));
        assert_eq!(app.channel("anonymous").connections(), vec![id]);
        assert!(app.connection(id).is_some());
        app.emit_disconnect(id);
        assert!(app.channel("anonymous").is_empty());
        assert!(
            app.connection(id).is_some(),
            "emit_disconnect keeps it open"
        );
        assert!(app.disconnect(id).is_some());
        assert!(app.disconnect(id).is_none());
        assert!(app.connections().is_empty());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                format!("connect {id}"),
                format!("disconnect {id}"),
                format!("disconnect {id}")
            ]
        );
    }
}
