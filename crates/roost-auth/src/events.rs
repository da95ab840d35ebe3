//! App-level `login` and `logout` events (docs/feathers-semantics.md §E19–E21, §D13–D14).
//!
//! roost-core has no app-level event emitter, so the authentication service keeps its own
//! listener lists here. After a successful `create` (login) or `remove` (logout):
//! 1. connection listeners run first, when the call came over a real-time connection
//!    (`params.connection`) — the transport stores or clears the connection's
//!    authentication there, so it is in place before anything reacts to the login;
//! 2. then `login`/`logout` listeners run, for external calls (`params.provider` set,
//!    REST included) with a truthy result — the app joins and leaves channels there.
//!
//! Listeners are synchronous and must not block: they run inside the call, before the
//! caller gets its answer (as Feathers' `app.emit` does).

use roost_core::js::is_truthy;
use roost_core::{Params, Value};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// Which event fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEventKind {
    /// A successful `authentication.create`.
    Login,
    /// A successful `authentication.remove`.
    Logout,
}

impl AuthEventKind {
    /// The Feathers event name (`"login"`, `"logout"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthEventKind::Login => "login",
            AuthEventKind::Logout => "logout",
        }
    }
}

/// A `login`/`logout` listener: `(authResult, params)`.
pub type AuthListener = Arc<dyn Fn(&Value, &Params) + Send + Sync>;

/// A connection listener: `(event, authResult, params)`, `params.connection` set.
pub type ConnectionListener = Arc<dyn Fn(AuthEventKind, &Value, &Params) + Send + Sync>;

/// The listeners of one [`crate::Authentication`].
#[derive(Default)]
pub struct AuthEvents {
    login: RwLock<Vec<AuthListener>>,
    logout: RwLock<Vec<AuthListener>>,
    connection: RwLock<Vec<ConnectionListener>>,
}

impl AuthEvents {
    /// `app.on('login', (authResult, params) => …)`.
    pub fn on_login(&self, listener: impl Fn(&Value, &Params) + Send + Sync + 'static) {
        push(&self.login, Arc::new(listener));
    }

    /// `app.on('logout', (authResult, params) => …)`.
    pub fn on_logout(&self, listener: impl Fn(&Value, &Params) + Send + Sync + 'static) {
        push(&self.logout, Arc::new(listener));
    }

    /// Called for every login or logout made over a connection, before the `login`/
    /// `logout` listeners: where the transport updates the connection's state (see
    /// [`crate::ConnectionAuth`] and [`crate::is_valid_logout`]).
    pub fn on_connection(
        &self,
        listener: impl Fn(AuthEventKind, &Value, &Params) + Send + Sync + 'static,
    ) {
        push(&self.connection, Arc::new(listener));
    }

    /// Fires `kind` for a successful call with `result` and `params`.
    pub fn emit(&self, kind: AuthEventKind, result: &Value, params: &Params) {
        if params.connection.is_some() {
            for listener in snapshot(&self.connection) {
                listener(kind, result, params);
            }
        }
        if params.is_external() && is_truthy(result) {
            tracing::debug!(event = kind.as_str(), "authentication event");
            let list = match kind {
                AuthEventKind::Login => &self.login,
                AuthEventKind::Logout => &self.logout,
            };
            for listener in snapshot(list) {
                listener(result, params);
            }
        }
    }
}

fn push<T>(lock: &RwLock<Vec<T>>, item: T) {
    lock.write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(item);
}

/// A copy of the list, so listeners may register listeners without deadlocking.
fn snapshot<T: Clone>(lock: &RwLock<Vec<T>>) -> Vec<T> {
    lock.read().unwrap_or_else(PoisonError::into_inner).clone()
}

impl fmt::Debug for AuthEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEvents")
            .field("login", &snapshot(&self.login).len())
            .field("logout", &snapshot(&self.logout).len())
            .field("connection", &snapshot(&self.connection).len())
            .finish()
    }
}
