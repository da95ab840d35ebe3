//! Channels (docs/feathers-semantics.md §D1–D7, §D13): named groups of real-time connections that publishers
//! pick as the recipients of an event.
//!
//! [`Channels`] is the registry an [`App`] holds; [`Channel`] is a cheap handle or value that
//! publishers return. Connections are opaque [`ConnectionId`]s: transports own the sockets and
//! register each one with [`Channels::connect`] and [`Channels::disconnect`].
//!
//! Membership is indexed both ways (channel → connections, connection → channels) under one
//! `std` read-write lock that is never held across an `.await` nor while user code runs.
//! Publishing takes the shared lock once per named channel, just long enough to copy its
//! members; `leave_all` costs O(channels of the connection), never a walk over all
//! connections.

mod channel;
pub(crate) mod state;
#[cfg(test)]
mod tests;

pub use channel::Channel;

use crate::app::App;
use crate::delivery::DeliverySink;
use crate::error::{Error, Result};
use crate::ids::ConnectionId;
use state::{Emptied, State};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The message of `app.channel()` without names (§D1).
pub const NO_CHANNEL_NAME: &str = "app.channel needs at least one channel name";

/// The channel registry of one [`App`]: channels by name, the connection → channels index,
/// the set of connected ids and the transport's [`DeliverySink`].
#[derive(Clone, Default)]
pub struct Channels {
    registry: Arc<Registry>,
}

#[derive(Default)]
pub(crate) struct Registry {
    state: RwLock<State>,
    /// Where deliveries go: one list of sinks, each for the connections of one provider
    /// (`"primus"`, `"socketio"`: each transport adds its own), or for every connection
    /// whose provider has none (`None`, tests). A delivery's recipients are routed by the
    /// provider recorded when they connected ([`App::deliver`](crate::App::deliver)). Kept
    /// here, beside the connection registry the transports feed, so `App` needs no extra
    /// field.
    pub(crate) sinks: RwLock<Vec<SinkEntry>>,
}

/// One delivery sink and the connections it serves.
#[derive(Clone)]
pub(crate) struct SinkEntry {
    /// The provider whose connections this sink serves; `None`: every connection whose
    /// provider has no sink of its own.
    pub(crate) provider: Option<state::ProviderKey>,
    pub(crate) sink: Arc<dyn DeliverySink>,
}

impl Registry {
    /// The shared lock. Poisoning cannot leave the index half-updated in a way that matters
    /// more than a dead registry would (no user code runs under the lock), so it is recovered.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the `empty` listeners of removed channels. Called after the lock is released, since
/// listeners may use the registry again.
pub(crate) fn fire_emptied(emptied: Emptied) {
    for (name, listeners) in emptied {
        tracing::trace!(channel = &*name, "channel emptied and removed");
        for listener in listeners {
            listener(&name);
        }
    }
}

impl Channels {
    /// The channel `name`, created (empty, listed) when missing (§D1).
    pub fn channel(&self, name: &str) -> Channel {
        // Publishers call this on every event: look up under the shared lock first.
        let key = self.registry.read().key(name);
        let key = match key {
            Some(key) => key,
            None => self.registry.write().ensure(name),
        };
        Channel::named(self.registry.clone(), key)
    }

    /// One name gives that channel, several give a combined channel (§D1, §D6). No names is
    /// an error, as in Feathers.
    pub fn channel_many<S: AsRef<str>>(&self, names: &[S]) -> Result<Channel> {
        match names {
            [] => Err(Error::general(NO_CHANNEL_NAME)),
            [one] => Ok(self.channel(one.as_ref())),
            many => Ok(Channel::combine(
                many.iter().map(|n| self.channel(n.as_ref())),
            )),
        }
    }

    /// The names of the listed channels, in creation order (`app.channels`, §D5).
    pub fn names(&self) -> Vec<String> {
        self.registry.read().names()
    }

    /// Every connection in some channel, de-duplicated (`app.channel(app.channels)`, §D5);
    /// `None` when no channel exists.
    pub fn everyone(&self) -> Option<Channel> {
        self.channel_many(&self.names()).ok()
    }

    /// How many channels are listed.
    pub fn channel_count(&self) -> usize {
        self.registry.read().channel_count()
    }

    /// The channels `conn` is a member of, in no particular order.
    pub fn channels_of(&self, conn: ConnectionId) -> Vec<String> {
        self.registry.read().channels_of(conn)
    }

    /// Registers a new real-time connection. Only connected ids can join channels, so a join
    /// that finishes after the disconnect cannot leak membership. Returns false when `conn`
    /// was already connected.
    pub fn connect(&self, conn: ConnectionId) -> bool {
        self.registry.write().connect(conn, None)
    }

    /// [`Channels::connect`] for a connection made through `provider`: deliveries to it go
    /// to that provider's sink.
    pub(crate) fn connect_as(&self, conn: ConnectionId, provider: &str) -> bool {
        self.registry.write().connect(conn, Some(provider))
    }

    /// Forgets `conn` and makes it leave every channel (§D13); emptied channels are removed
    /// and their `empty` listeners run. Returns false when `conn` was not connected.
    pub fn disconnect(&self, conn: ConnectionId) -> bool {
        let mut emptied = Emptied::new();
        let was = self.registry.write().disconnect(conn, &mut emptied);
        fire_emptied(emptied);
        was
    }

    /// `conn` leaves every channel but stays connected (logout, §D13). Like Feathers, this
    /// also prunes listed channels that were created and never joined (§D4). Costs
    /// O(channels of `conn` + such empty channels).
    pub fn leave_all(&self, conn: ConnectionId) {
        let mut emptied = Emptied::new();
        self.registry.write().leave_all(conn, &mut emptied);
        fire_emptied(emptied);
    }

    /// Whether `conn` is connected.
    pub fn is_connected(&self, conn: ConnectionId) -> bool {
        self.registry.read().is_connected(conn)
    }

    /// How many connections are connected.
    pub fn connection_count(&self) -> usize {
        self.registry.read().connected_count()
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.registry.read();
        f.debug_struct("Channels")
            .field("channels", &state.channel_count())
            .field("connected", &state.connected_count())
            .finish()
    }
}

impl App {
    /// `app.channel(name)`: the channel `name`, created when missing (§D1).
    pub fn channel(&self, name: &str) -> Channel {
        self.inner.channels.channel(name)
    }

    /// `app.channel(a, b, …)` / `app.channel([a, b])`: one channel or a combined channel;
    /// errors with `app.channel needs at least one channel name` when `names` is empty.
    pub fn channel_many<S: AsRef<str>>(&self, names: &[S]) -> Result<Channel> {
        self.inner.channels.channel_many(names)
    }

    /// `app.channels`: the names of the listed channels.
    pub fn channel_names(&self) -> Vec<String> {
        self.inner.channels.names()
    }
}
