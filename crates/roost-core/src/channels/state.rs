//! The membership index behind [`Channels`](super::Channels): channel → connections and
//! connection → channels, kept consistent under one lock.
//!
//! Every way to walk a collection goes through a method here that counts what it visits, so the
//! tests can prove that joining, leaving and publishing never walk all connections (docs/architecture.md §5).

use crate::broker::Broker;
use crate::ids::ConnectionId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A provider name (`"primus"`, `"socketio"`) as a small number, so routing a delivery
/// compares numbers, not strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProviderKey(pub(crate) usize);

/// Called once when a channel is emptied by a leave and removed from the registry.
pub(crate) type EmptyListener = Box<dyn FnOnce(&str) + Send + Sync>;

/// A registered channel.
struct Entry {
    /// Creation order, so `channel_names` lists names in Feathers' (insertion) order.
    created: u64,
    /// Member → join order, so `connections()` lists members in Feathers' (join) order.
    members: HashMap<ConnectionId, u64>,
    on_empty: Vec<EmptyListener>,
}

/// Channels emptied by one operation, with their listeners, to be fired after the lock is released.
pub(crate) type Emptied = Vec<(Arc<str>, Vec<EmptyListener>)>;

/// Work counters (atomics, so readers under the shared lock can count), read by tests and cheap
/// enough to keep in release builds: one relaxed add per channel walked.
#[derive(Debug, Default)]
pub(crate) struct Visits {
    /// Channel members read.
    pub(crate) members: AtomicU64,
    /// Walks over the whole set of connected ids.
    pub(crate) connected_scans: AtomicU64,
    /// Walks over the whole set of channels.
    pub(crate) channel_scans: AtomicU64,
}

impl Visits {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct State {
    channels: HashMap<Arc<str>, Entry>,
    /// Connection → the channels it is a member of. A key exists only while the set is non-empty.
    by_connection: HashMap<ConnectionId, HashSet<Arc<str>>>,
    /// Connections registered by a transport (`connect`) and not yet disconnected, with
    /// their provider ([`ProviderKey`]): the key deliveries are routed by.
    connected: HashMap<ConnectionId, Option<ProviderKey>>,
    /// Provider names seen, in order: a [`ProviderKey`] is an index here.
    providers: Vec<Arc<str>>,
    /// Listed channels without members (created and never joined), pruned by the next leave-all.
    empty: HashSet<Arc<str>>,
    seq: u64,
    pub(crate) visits: Visits,
    /// The cluster broker, told when a channel gets its first member and when it empties
    /// (under this lock, so subscriptions follow membership in order).
    interest: Option<Arc<dyn Broker>>,
}

impl State {
    /// Sets the broker that follows membership, and subscribes it to every channel that has
    /// members now.
    pub(crate) fn set_interest(&mut self, broker: Option<Arc<dyn Broker>>) {
        if let Some(broker) = &broker {
            for (name, entry) in &self.channels {
                if !entry.members.is_empty() {
                    broker.subscribe(name);
                }
            }
        }
        self.interest = broker;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Creates `name` when missing.
    pub(crate) fn ensure(&mut self, name: &str) -> Arc<str> {
        if let Some((key, _)) = self.channels.get_key_value(name) {
            return key.clone();
        }
        let key: Arc<str> = Arc::from(name);
        let created = self.next_seq();
        self.channels.insert(
            key.clone(),
            Entry {
                created,
                members: HashMap::new(),
                on_empty: Vec::new(),
            },
        );
        self.empty.insert(key.clone());
        key
    }

    pub(crate) fn names(&self) -> Vec<String> {
        Visits::add(&self.visits.channel_scans, 1);
        let mut names: Vec<(u64, &Arc<str>)> =
            self.channels.iter().map(|(k, e)| (e.created, k)).collect();
        names.sort_unstable_by_key(|(created, _)| *created);
        names.into_iter().map(|(_, k)| k.to_string()).collect()
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub(crate) fn on_empty(&mut self, name: &str, listener: EmptyListener) {
        self.ensure(name);
        if let Some(entry) = self.channels.get_mut(name) {
            entry.on_empty.push(listener);
        }
    }

    /// Adds `conn` to `name` (creating the channel). Unknown (never connected or already
    /// disconnected) ids are ignored, so a join that races a disconnect cannot leak membership.
    pub(crate) fn join(&mut self, name: &str, conn: ConnectionId) -> bool {
        if !self.connected.contains_key(&conn) {
            tracing::debug!(%conn, channel = name, "join ignored: connection is not connected");
            return false;
        }
        let key = self.ensure(name);
        let seq = self.next_seq();
        let Some(entry) = self.channels.get_mut(&key) else {
            return false;
        };
        if entry.members.contains_key(&conn) {
            return false;
        }
        let first = entry.members.is_empty();
        entry.members.insert(conn, seq);
        self.empty.remove(&key);
        if first {
            if let Some(broker) = &self.interest {
                broker.subscribe(&key);
            }
        }
        self.by_connection.entry(conn).or_default().insert(key);
        true
    }

    /// Removes `conns` from `name`. Like Feathers, any leave that finds the channel empty
    /// afterwards removes it and reports its listeners in `emptied`.
    pub(crate) fn leave(&mut self, name: &str, conns: &[ConnectionId], emptied: &mut Emptied) {
        let Some(key) = self.channels.get_key_value(name).map(|(k, _)| k.clone()) else {
            return;
        };
        let Some(entry) = self.channels.get_mut(&key) else {
            return;
        };
        for conn in conns {
            if entry.members.remove(conn).is_some() {
                if let Some(set) = self.by_connection.get_mut(conn) {
                    set.remove(&key);
                    if set.is_empty() {
                        self.by_connection.remove(conn);
                    }
                }
            }
        }
        if entry.members.is_empty() {
            self.remove_channel(&key, emptied);
        }
    }

    fn remove_channel(&mut self, key: &Arc<str>, emptied: &mut Emptied) {
        if let Some(entry) = self.channels.remove(key) {
            // A channel in `empty` never had a member since it was listed: never subscribed.
            let never_joined = self.empty.remove(key);
            if !never_joined {
                if let Some(broker) = &self.interest {
                    broker.unsubscribe(key);
                }
            }
            emptied.push((key.clone(), entry.on_empty));
        }
    }

    /// `conn` leaves every channel it is in; then every listed empty channel is pruned, as
    /// Feathers' `app.channel(app.channels).leave(conn)` does. Costs O(channels of `conn` +
    /// empty channels).
    pub(crate) fn leave_all(&mut self, conn: ConnectionId, emptied: &mut Emptied) {
        if let Some(names) = self.by_connection.remove(&conn) {
            for key in names {
                let now_empty = match self.channels.get_mut(&key) {
                    Some(entry) => {
                        entry.members.remove(&conn);
                        entry.members.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    self.remove_channel(&key, emptied);
                }
            }
        }
        let empty: Vec<Arc<str>> = self.empty.drain().collect();
        for key in empty {
            self.remove_channel(&key, emptied);
        }
    }

    /// Appends the members of `name` to `out`, in join order when `ordered`.
    pub(crate) fn members_into(&self, name: &str, ordered: bool, out: &mut Vec<ConnectionId>) {
        let Some(entry) = self.channels.get(name) else {
            return;
        };
        Visits::add(&self.visits.members, entry.members.len());
        if ordered {
            let mut members: Vec<(u64, ConnectionId)> =
                entry.members.iter().map(|(c, s)| (*s, *c)).collect();
            members.sort_unstable_by_key(|(seq, _)| *seq);
            out.extend(members.into_iter().map(|(_, c)| c));
        } else {
            out.extend(entry.members.keys().copied());
        }
    }

    pub(crate) fn member_count(&self, name: &str) -> usize {
        self.channels.get(name).map_or(0, |e| e.members.len())
    }

    pub(crate) fn is_member(&self, name: &str, conn: ConnectionId) -> bool {
        self.channels
            .get(name)
            .is_some_and(|e| e.members.contains_key(&conn))
    }

    /// The channels `conn` is a member of (no particular order).
    pub(crate) fn channels_of(&self, conn: ConnectionId) -> Vec<String> {
        self.by_connection
            .get(&conn)
            .map(|set| set.iter().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Registers `conn`, made through `provider` when known. False when it was already
    /// connected (its provider is then unchanged).
    pub(crate) fn connect(&mut self, conn: ConnectionId, provider: Option<&str>) -> bool {
        let key = provider.map(|name| self.provider_key(name));
        match self.connected.entry(conn) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(key);
                true
            }
        }
    }

    /// The key of provider `name`, assigned on first sight. Few providers exist (one per
    /// transport), so a walk is the cheapest map.
    pub(crate) fn provider_key(&mut self, name: &str) -> ProviderKey {
        match self.providers.iter().position(|p| **p == *name) {
            Some(i) => ProviderKey(i),
            None => {
                self.providers.push(Arc::from(name));
                ProviderKey(self.providers.len() - 1)
            }
        }
    }

    /// How many provider keys exist (keys are `0..provider_count()`).
    pub(crate) fn provider_count(&self) -> usize {
        self.providers.len()
    }

    /// The provider of connected `conn`: `None` when it is not connected, `Some(None)` when
    /// it was registered without one.
    pub(crate) fn provider_of(&self, conn: ConnectionId) -> Option<Option<ProviderKey>> {
        self.connected.get(&conn).copied()
    }

    pub(crate) fn disconnect(&mut self, conn: ConnectionId, emptied: &mut Emptied) -> bool {
        let was = self.connected.remove(&conn).is_some();
        self.leave_all(conn, emptied);
        was
    }

    pub(crate) fn is_connected(&self, conn: ConnectionId) -> bool {
        self.connected.contains_key(&conn)
    }

    pub(crate) fn connected_count(&self) -> usize {
        self.connected.len()
    }

    /// Every connected id: the one full walk over connections, used only by `send_to_all`.
    pub(crate) fn all_connected(&self) -> Vec<ConnectionId> {
        Visits::add(&self.visits.connected_scans, 1);
        self.connected.keys().copied().collect()
    }
}

impl State {
    /// The stored key for `name`, if listed (lets callers avoid allocating a new `Arc<str>`).
    pub(crate) fn key(&self, name: &str) -> Option<Arc<str>> {
        self.channels.get_key_value(name).map(|(k, _)| k.clone())
    }
}

#[cfg(test)]
impl State {
    /// (members read, walks over all connections, walks over all channels).
    pub(crate) fn visits_snapshot(&self) -> (u64, u64, u64) {
        (
            self.visits.members.load(Ordering::Relaxed),
            self.visits.connected_scans.load(Ordering::Relaxed),
            self.visits.channel_scans.load(Ordering::Relaxed),
        )
    }
}
