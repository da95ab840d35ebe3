//! Logins on real-time connections (docs/feathers-semantics.md §E20–E22, docs/protocol.md §11): what Feathers'
//! JWT strategy does in `handleConnection`, transport-neutral.
//!
//! - A socket login (`authentication.create` with `params.connection`) stores
//!   `connection.authentication = {strategy: 'jwt', accessToken}` and `connection.user`, and
//!   arms the connection's expiry at the token's `exp` (a re-login re-arms it).
//! - A socket logout for the very token the connection carries ([`is_valid_logout`]) removes
//!   both, disarms the expiry, and the connection leaves every channel (§D13).
//! - At expiry the app emits `disconnect` for the connection WITHOUT closing the socket
//!   ([`App::emit_disconnect`], the Primus behaviour): it leaves every channel, and the
//!   `disconnect` listener here removes its user and authentication. The socket stays open;
//!   its next protected call fails with `Not authenticated` and it may log in again.
//! - A closed connection (`disconnect`) is forgotten.
//!
//! # One timer for every connection
//! Deadlines live in one ordered set (`(deadline, connection)`) with an index by connection,
//! watched by a single task that sleeps until the earliest deadline or until a new earliest
//! one is armed. Memory is one entry per logged-in connection, and nothing is spawned per
//! connection. Deadlines are tokio [`Instant`]s, so tests may run on paused time; sleeps are
//! cut into pieces of at most a day, so a token valid for years never overflows the timer.

use crate::base::Authentication;
use crate::connection::{is_valid_logout, ConnectionAuth};
use crate::events::AuthEventKind;
use roost_core::connection::AUTHENTICATION_FIELD;
use roost_core::{App, ConnectionId, ConnectionInfo, Params, Value, WeakApp};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest single sleep of the expiry task.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// The socket-login bookkeeping of one [`Authentication`]; see the module docs. Cheap to
/// clone. Created by [`SocketSessions::install`].
#[derive(Clone)]
pub struct SocketSessions {
    inner: Arc<Inner>,
}

struct Inner {
    app: WeakApp,
    auth: Authentication,
    deadlines: Mutex<Deadlines>,
    /// Wakes the expiry task when a new earliest deadline is armed.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct Deadlines {
    queue: BTreeSet<(Instant, ConnectionId)>,
    by_connection: HashMap<ConnectionId, Instant>,
}

impl Deadlines {
    /// Sets `id`'s deadline; true when it is now the earliest.
    fn arm(&mut self, id: ConnectionId, at: Instant) -> bool {
        self.disarm(id);
        self.queue.insert((at, id));
        self.by_connection.insert(id, at);
        self.queue.first() == Some(&(at, id))
    }

    fn disarm(&mut self, id: ConnectionId) {
        if let Some(at) = self.by_connection.remove(&id) {
            self.queue.remove(&(at, id));
        }
    }

    /// Removes and returns every connection whose deadline is at or before `now`.
    fn take_due(&mut self, now: Instant) -> Vec<ConnectionId> {
        let mut due = Vec::new();
        while let Some(&(at, id)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            self.by_connection.remove(&id);
            due.push(id);
        }
        due
    }
}

impl SocketSessions {
    /// Registers the connection listeners on `auth` and the `disconnect` listener on its app,
    /// and starts the expiry task. Call once per [`Authentication`], inside a tokio runtime.
    /// The task ends with the runtime, or when the app and its authentication are dropped.
    pub fn install(auth: &Authentication) -> SocketSessions {
        let wake = Arc::new(Notify::new());
        let app = auth.app().ok();
        let inner = Arc::new(Inner {
            app: app.as_ref().map(App::downgrade).unwrap_or_default(),
            auth: auth.clone(),
            deadlines: Mutex::new(Deadlines::default()),
            wake: Arc::clone(&wake),
        });
        // The listeners keep the sessions alive as long as the app; the sessions hold the app
        // weakly, and the task holds the sessions weakly.
        let listener = Arc::clone(&inner);
        auth.events().on_connection(move |kind, result, params| {
            listener.on_auth_event(kind, result, params);
        });
        let listener = Arc::clone(&inner);
        if let Some(app) = app {
            app.on_disconnect(move |_app, info| listener.forget(info));
        }
        tokio::spawn(run_expiry(Arc::downgrade(&inner), wake));
        SocketSessions { inner }
    }

    /// How many connections have an expiry armed.
    pub fn armed(&self) -> usize {
        self.inner.lock().by_connection.len()
    }

    /// When connection `id`'s token expires, if armed.
    pub fn deadline(&self, id: ConnectionId) -> Option<Instant> {
        self.inner.lock().by_connection.get(&id).copied()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Deadlines> {
        self.deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn on_auth_event(&self, kind: AuthEventKind, result: &Value, params: &Params) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let Some(info) = params.connection.and_then(|id| app.connection(id)) else {
            return;
        };
        match kind {
            AuthEventKind::Login => self.login(&info, result),
            AuthEventKind::Logout => {
                // The connection's shared copy, not a new one.
                let current = info.shared_authentication();
                let token = current
                    .as_deref()
                    .and_then(|a| a.get("accessToken"))
                    .and_then(Value::as_str);
                if is_valid_logout(token, result) {
                    self.forget(&info);
                    app.channels().leave_all(info.id());
                    tracing::debug!(connection = %info.id(), "socket logout");
                }
            }
        }
    }

    fn login(&self, info: &ConnectionInfo, result: &Value) {
        let state = match self.auth.connection_auth(result) {
            Ok(Some(state)) => state,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(connection = %info.id(), reason = %e.message, "socket login without a usable token");
                return;
            }
        };
        store(info, &state);
        let id = info.id();
        match state.expires_in(SystemTime::now()) {
            Some(left) => {
                let earliest = self.lock().arm(id, Instant::now() + left);
                if earliest {
                    self.wake.notify_one();
                }
                tracing::debug!(connection = %id, expires_in_ms = left.as_millis() as u64, "socket login");
            }
            None => {
                self.lock().disarm(id);
                tracing::debug!(connection = %id, "socket login with a token that never expires");
            }
        }
    }

    /// Removes the connection's login and its deadline.
    fn forget(&self, info: &ConnectionInfo) {
        self.lock().disarm(info.id());
        if let Some(entity) = self.auth.config().entity.as_deref() {
            info.remove(entity);
        }
        info.remove(AUTHENTICATION_FIELD);
    }

    fn expire(&self, id: ConnectionId) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        if app.connection(id).is_some() {
            tracing::debug!(connection = %id, "access token expired: connection logged out, socket kept open");
            self.auth.metrics().count_expiry();
            // Leaves every channel and runs the `disconnect` listeners, ours included.
            app.emit_disconnect(id);
        }
    }
}

/// `connection.authentication` and `connection[entity]` from a login.
fn store(info: &ConnectionInfo, state: &ConnectionAuth) {
    if let Some((key, value)) = &state.entity {
        info.set(key, value.clone());
    }
    info.set(AUTHENTICATION_FIELD, state.authentication());
}

/// The expiry task: sleeps until the earliest deadline (or a new earlier one), then
/// expires every connection that is due.
async fn run_expiry(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => inner.lock().queue.first().map(|(at, _)| *at),
            None => return,
        };
        let cap = Instant::now() + MAX_SLEEP;
        let until = next.map_or(cap, |at| at.min(cap));
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = wake.notified() => {}
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let due = inner.lock().take_due(Instant::now());
        for id in due {
            inner.expire(id);
        }
    }
}

impl fmt::Debug for SocketSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketSessions")
            .field("armed", &self.armed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_order_rearm_and_take() {
        let mut d = Deadlines::default();
        let now = Instant::now();
        let (a, b) = (ConnectionId(1), ConnectionId(2));
        assert!(d.arm(a, now + Duration::from_secs(10)));
        assert!(!d.arm(b, now + Duration::from_secs(20)));
        // Re-arming moves the deadline; the old entry is gone.
        assert!(!d.arm(a, now + Duration::from_secs(30)));
        assert_eq!(d.queue.len(), 2);
        assert_eq!(d.take_due(now + Duration::from_secs(25)), vec![b]);
        d.disarm(a);
        assert!(d.take_due(now + Duration::from_secs(100)).is_empty());
        assert!(d.by_connection.is_empty());
    }
}
