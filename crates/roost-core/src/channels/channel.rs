//! [`Channel`]: a named channel of the registry, a combination of channels, or a fixed set of
//! connections, optionally carrying per-channel `send` data (docs/feathers-semantics.md §D2, §D3, §D6, §D7).

use super::state::Emptied;
use super::{fire_emptied, Registry};
use crate::ids::ConnectionId;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// A channel as publishers and app code see it. Cheap to clone.
///
/// - A **named** channel (from [`App::channel`](crate::App::channel)) is a live view of the
///   registry: `len`, `connections`, `join` and `leave` act on the registered channel.
/// - A **combined** channel ([`Channel::combine`], `app.channel_many`) forwards `join` and
///   `leave` to every child and reads the children's connections de-duplicated in
///   first-appearance order.
/// - A **filtered** channel ([`Channel::filter`]) is an unregistered snapshot; `join` and
///   `leave` leave it unchanged.
///
/// [`Channel::send`] keeps the same connections and attaches the data those connections
/// receive instead of the event's default payload.
#[derive(Clone)]
pub struct Channel {
    kind: Kind,
    data: Option<Arc<Value>>,
}

#[derive(Clone)]
enum Kind {
    Named {
        registry: Arc<Registry>,
        name: Arc<str>,
    },
    Combined(Arc<[Channel]>),
    Fixed(Arc<[ConnectionId]>),
}

impl Channel {
    pub(crate) fn named(registry: Arc<Registry>, name: Arc<str>) -> Self {
        Channel {
            kind: Kind::Named { registry, name },
            data: None,
        }
    }

    /// A channel combining `channels` (Feathers' `CombinedChannel`). Children without `send`
    /// data that are themselves combined are flattened.
    pub fn combine(channels: impl IntoIterator<Item = Channel>) -> Self {
        let mut children = Vec::new();
        for channel in channels {
            match (&channel.kind, &channel.data) {
                (Kind::Combined(inner), None) => children.extend(inner.iter().cloned()),
                _ => children.push(channel),
            }
        }
        Channel {
            kind: Kind::Combined(children.into()),
            data: None,
        }
    }

    /// A channel of exactly `connections` (duplicates removed), registered nowhere.
    pub fn from_connections(connections: impl IntoIterator<Item = ConnectionId>) -> Self {
        let mut seen = HashSet::new();
        let fixed: Vec<ConnectionId> = connections
            .into_iter()
            .filter(|c| seen.insert(*c))
            .collect();
        Channel {
            kind: Kind::Fixed(fixed.into()),
            data: None,
        }
    }

    /// The registered name, for a named channel.
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Named { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The `send` data of this channel.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_deref()
    }

    /// Adds connections (idempotent; `None`s are skipped when passing an `Option`). On a
    /// combined channel every child joins. Ids that are not connected are ignored.
    pub fn join(&self, connections: impl IntoIterator<Item = ConnectionId>) -> &Self {
        let conns: Vec<ConnectionId> = connections.into_iter().collect();
        self.for_each_registry(|state, names| {
            for name in names {
                for conn in &conns {
                    state.join(name, *conn);
                }
            }
        });
        self
    }

    /// Removes connections. On a combined channel every child leaves. Any named channel left
    /// empty afterwards (even one that was already empty) fires its `empty` listeners and is
    /// removed from the registry (§D4).
    pub fn leave(&self, connections: impl IntoIterator<Item = ConnectionId>) -> &Self {
        let conns: Vec<ConnectionId> = connections.into_iter().collect();
        let mut emptied = Emptied::new();
        self.for_each_registry(|state, names| {
            for name in names {
                state.leave(name, &conns, &mut emptied);
            }
        });
        fire_emptied(emptied);
        self
    }

    /// `leave(conn => bool)`: removes the connections for which `predicate` is true. The
    /// predicate runs without any lock held.
    pub fn leave_where(&self, predicate: impl Fn(ConnectionId) -> bool) -> &Self {
        let leaving: Vec<ConnectionId> = self
            .connections()
            .into_iter()
            .filter(|c| predicate(*c))
            .collect();
        self.leave(leaving)
    }

    /// The connections, de-duplicated, in join / first-appearance order.
    pub fn connections(&self) -> Vec<ConnectionId> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.connections_into(true, &mut seen, &mut out);
        out
    }

    /// The number of distinct connections (`channel.length`).
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Named { registry, name } => registry.read().member_count(name),
            Kind::Fixed(conns) => conns.len(),
            Kind::Combined(_) => {
                let mut out = Vec::new();
                self.connections_into(false, &mut HashSet::new(), &mut out);
                out.len()
            }
        }
    }

    /// Whether the channel has no connections.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `conn` is in this channel.
    pub fn contains(&self, conn: ConnectionId) -> bool {
        match &self.kind {
            Kind::Named { registry, name } => registry.read().is_member(name, conn),
            Kind::Fixed(conns) => conns.contains(&conn),
            Kind::Combined(children) => children.iter().any(|c| c.contains(conn)),
        }
    }

    /// A new unregistered channel with the connections for which `predicate` is true, keeping
    /// this channel's data (§D3). The predicate runs without any lock held.
    pub fn filter(&self, predicate: impl Fn(ConnectionId) -> bool) -> Channel {
        let fixed: Vec<ConnectionId> = self
            .connections()
            .into_iter()
            .filter(|c| predicate(*c))
            .collect();
        Channel {
            kind: Kind::Fixed(fixed.into()),
            data: self.data.clone(),
        }
    }

    /// The same connections, carrying `data`: those connections receive `data` instead of
    /// the event's default payload (§D3). A named channel stays live.
    pub fn send(&self, data: Value) -> Channel {
        Channel {
            kind: self.kind.clone(),
            data: Some(Arc::new(data)),
        }
    }

    /// Runs `listener` once, when a leave empties this named channel and removes it (§D4).
    /// Creates the channel when missing. Returns false (and drops the listener) for channels
    /// that are not named, which never emit `empty`.
    pub fn on_empty(&self, listener: impl FnOnce(&str) + Send + Sync + 'static) -> bool {
        match &self.kind {
            Kind::Named { registry, name } => {
                registry.write().on_empty(name, Box::new(listener));
                true
            }
            _ => false,
        }
    }

    /// Appends each connection not in `seen` with the data it receives: the data of the
    /// outermost channel that has some, else that of the first listed child containing it
    /// (§D6). Takes the shared lock once per named channel, briefly.
    pub(crate) fn recipients_into(
        &self,
        inherited: Option<&Arc<Value>>,
        seen: &mut HashSet<ConnectionId>,
        out: &mut Vec<(ConnectionId, Option<Arc<Value>>)>,
    ) {
        let data = inherited.or(self.data.as_ref());
        let mut push = |conns: &mut dyn Iterator<Item = ConnectionId>| {
            for conn in conns {
                if seen.insert(conn) {
                    out.push((conn, data.cloned()));
                }
            }
        };
        match &self.kind {
            Kind::Named { registry, name } => {
                let mut members = Vec::new();
                registry.read().members_into(name, false, &mut members);
                push(&mut members.into_iter());
            }
            Kind::Fixed(conns) => push(&mut conns.iter().copied()),
            Kind::Combined(children) => {
                for child in children.iter() {
                    child.recipients_into(data, seen, out);
                }
            }
        }
    }

    /// Appends the named channels of this channel with the `send` data their members receive
    /// (the outermost data wins, as in [`Channel::recipients_into`]). Fixed and filtered
    /// channels name no channel: they are snapshots of local connections.
    pub(crate) fn named_targets_into(
        &self,
        inherited: Option<&Arc<Value>>,
        out: &mut Vec<(Arc<str>, Option<Arc<Value>>)>,
    ) {
        let data = inherited.or(self.data.as_ref());
        match &self.kind {
            Kind::Named { name, .. } => out.push((name.clone(), data.cloned())),
            Kind::Fixed(_) => {}
            Kind::Combined(children) => {
                for child in children.iter() {
                    child.named_targets_into(data, out);
                }
            }
        }
    }

    fn connections_into(
        &self,
        ordered: bool,
        seen: &mut HashSet<ConnectionId>,
        out: &mut Vec<ConnectionId>,
    ) {
        match &self.kind {
            Kind::Named { registry, name } => {
                let mut members = Vec::new();
                registry.read().members_into(name, ordered, &mut members);
                out.extend(members.into_iter().filter(|c| seen.insert(*c)));
            }
            Kind::Fixed(conns) => out.extend(conns.iter().copied().filter(|c| seen.insert(*c))),
            Kind::Combined(children) => {
                for child in children.iter() {
                    child.connections_into(ordered, seen, out);
                }
            }
        }
    }

    fn named_into<'a>(&'a self, out: &mut Vec<(&'a Arc<Registry>, &'a str)>) {
        match &self.kind {
            Kind::Named { registry, name } => out.push((registry, name)),
            Kind::Fixed(_) => {}
            Kind::Combined(children) => children.iter().for_each(|c| c.named_into(out)),
        }
    }

    /// Calls `f` once per registry under its write lock, with the named channels of this
    /// channel that live there (in order). Almost always a single registry.
    fn for_each_registry(&self, mut f: impl FnMut(&mut super::state::State, &[&str])) {
        let mut named = Vec::new();
        self.named_into(&mut named);
        let mut done = vec![false; named.len()];
        for i in 0..named.len() {
            if done[i] {
                continue;
            }
            let registry = named[i].0;
            let mut names = Vec::new();
            for (j, (other, name)) in named.iter().enumerate().skip(i) {
                if Arc::ptr_eq(registry, other) {
                    done[j] = true;
                    names.push(*name);
                }
            }
            f(&mut registry.write(), &names);
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Channel");
        match &self.kind {
            Kind::Named { name, .. } => d.field("name", name),
            Kind::Combined(children) => d.field("children", children),
            Kind::Fixed(conns) => d.field("connections", conns),
        };
        d.field("data", &self.data).finish()
    }
}
