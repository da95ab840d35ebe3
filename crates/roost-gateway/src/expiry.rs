//! Rest mode: token expiry of socket logins made through the upstream, as on a direct
//! connection (`docs/feathers-semantics.md` §E22): at the token's `exp` the connection loses
//! its login and the app emits `disconnect` for it without closing it — it leaves every
//! channel, a Socket.IO socket is sent `41`, a Primus socket stays open. (In plugin mode the
//! app's own JWT strategy arms the timer and the plugin reports the disconnect.)
//!
//! One ordered set of deadlines for every connection, watched by one task, as the default
//! app's socket sessions do: nothing is spawned per connection.

use crate::forward::Shared;
use crate::metrics::GatewayMetrics;
use roost_core::ConnectionId;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest single sleep of the task (a token valid for years never overflows a timer).
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Default)]
struct Deadlines {
    ordered: BTreeSet<(Instant, u64)>,
    by_connection: HashMap<u64, Instant>,
}

/// The armed expiries; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Expiries {
    inner: Arc<(Mutex<Deadlines>, Notify)>,
}

impl Expiries {
    fn lock(&self) -> std::sync::MutexGuard<'_, Deadlines> {
        self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms (or re-arms) `conn` to expire after `after`.
    pub(crate) fn arm(&self, conn: ConnectionId, after: Duration) {
        let at = Instant::now() + after;
        {
            let mut d = self.lock();
            if let Some(old) = d.by_connection.insert(conn.0, at) {
                d.ordered.remove(&(old, conn.0));
            }
            d.ordered.insert((at, conn.0));
        }
        self.inner.1.notify_one();
    }

    /// Forgets `conn` (logout, closed).
    pub(crate) fn disarm(&self, conn: ConnectionId) {
        let mut d = self.lock();
        if let Some(at) = d.by_connection.remove(&conn.0) {
            d.ordered.remove(&(at, conn.0));
        }
    }

    /// The connections whose deadline passed, removed.
    fn due(&self, now: Instant) -> (Vec<u64>, Option<Instant>) {
        let mut d = self.lock();
        let mut due = Vec::new();
        while let Some(&(at, id)) = d.ordered.first() {
            if at > now {
                return (due, Some(at));
            }
            d.ordered.pop_first();
            d.by_connection.remove(&id);
            due.push(id);
        }
        (due, None)
    }

    /// Starts the one task (when a runtime is running); it ends once the gateway is gone.
    pub(crate) fn start(&self, shared: Weak<Shared>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            loop {
                let next = {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let (due, next) = this.due(Instant::now());
                    for id in due {
                        expire(&shared, ConnectionId(id));
                    }
                    next
                };
                let sleep = next.map_or(MAX_SLEEP, |at| {
                    at.saturating_duration_since(Instant::now()).min(MAX_SLEEP)
                });
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = this.inner.1.notified() => {}
                }
            }
        });
    }
}

/// What expiry does to a connection in rest mode.
fn expire(shared: &Shared, conn: ConnectionId) {
    if let Some(info) = shared.app.connection(conn) {
        info.clear_auth();
        GatewayMetrics::inc(&shared.metrics.expiries);
        shared.app.emit_disconnect(conn);
    }
}
