//! Publishers (docs/feathers-semantics.md §D8–D12): functions that pick the channels an event goes to.
//!
//! A [`Publisher`] is registered per event or as a catch-all, at app level (here, through
//! [`App::publish`] / [`App::publish_event`]) or at service level (the service registry holds
//! a [`Publishers`] per service). For each event exactly one publisher runs, found by
//! `resolve_publisher`: service event → service catch-all → app event → app catch-all.

use crate::app::App;
use crate::channels::Channel;
use crate::error::{Error, Result};
use crate::hooks::HookContext;
use crate::service::STANDARD_EVENTS;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

/// What a publisher returns: one channel or a list (nested lists are flattened). `None` entries
/// of a `Vec<Option<Channel>>` are dropped, like Feathers drops falsy entries.
#[derive(Debug, Clone)]
pub enum PublishTarget {
    /// One channel (possibly combined).
    Channel(Channel),
    /// Several targets.
    Many(Vec<PublishTarget>),
}

impl PublishTarget {
    /// The flattened channels, in order.
    pub fn into_channels(self) -> Vec<Channel> {
        let mut out = Vec::new();
        self.flatten_into(&mut out);
        out
    }

    fn flatten_into(self, out: &mut Vec<Channel>) {
        match self {
            PublishTarget::Channel(c) => out.push(c),
            PublishTarget::Many(many) => many.into_iter().for_each(|t| t.flatten_into(out)),
        }
    }

    /// One combined channel of every target (Feathers' `new CombinedChannel(results)`).
    pub fn into_channel(self) -> Channel {
        Channel::combine(self.into_channels())
    }
}

impl From<Channel> for PublishTarget {
    fn from(channel: Channel) -> Self {
        PublishTarget::Channel(channel)
    }
}

impl From<Vec<Channel>> for PublishTarget {
    fn from(channels: Vec<Channel>) -> Self {
        PublishTarget::Many(channels.into_iter().map(PublishTarget::Channel).collect())
    }
}

impl From<Vec<Option<Channel>>> for PublishTarget {
    fn from(channels: Vec<Option<Channel>>) -> Self {
        PublishTarget::Many(
            channels
                .into_iter()
                .flatten()
                .map(PublishTarget::Channel)
                .collect(),
        )
    }
}

impl From<Vec<PublishTarget>> for PublishTarget {
    fn from(targets: Vec<PublishTarget>) -> Self {
        PublishTarget::Many(targets)
    }
}

/// What a publisher produces.
pub type PublishResult = Result<Option<PublishTarget>>;

/// The future of an async publisher.
pub type PublishFuture = Pin<Box<dyn Future<Output = PublishResult> + Send + 'static>>;

type SyncFn = dyn Fn(&Value, &HookContext) -> PublishResult + Send + Sync;
type AsyncFn = dyn Fn(Value, HookContext) -> PublishFuture + Send + Sync;

enum Kind {
    Sync(Box<SyncFn>),
    /// Takes owned clones of the data and context so the returned future is `'static` and a
    /// plain `|data, ctx| Box::pin(async move { … })` closure type-checks; only async
    /// publishers pay for the clones.
    Async(Box<AsyncFn>),
    Nothing,
}

/// A publisher `(data, context) → channels`. Cheap to clone.
///
/// ```
/// use roost_core::{json, App, Publisher, PublishTarget};
///
/// let app = App::new();
/// // `app.publish((data, context) => …)`: a message goes to its room, the rest to
/// // authenticated users; a `users` record also goes to that user's own channel.
/// app.publish(Publisher::new(|data, ctx| {
///     let app = &ctx.app;
///     let target: PublishTarget = match data.get("roomId") {
///         Some(room) => app.channel(&format!("rooms/{room}")).into(),
///         None if ctx.path == "users" => vec![
///             app.channel("authenticated"),
///             app.channel(&format!("users/{}", data["id"])),
///         ]
///         .into(),
///         None => app.channel("authenticated").into(),
///     };
///     Ok(Some(target))
/// }));
/// // Channels: a connection joins when it logs in (the transports give the id).
/// let conn = roost_core::ConnectionId::next();
/// app.channels().connect(conn);
/// app.channel("authenticated").join([conn]);
/// assert_eq!(app.channel("authenticated").len(), 1);
/// // A channel can carry its own payload for its members.
/// let _redacted = app.channel("anonymous").send(json!({"hidden": true}));
/// ```
#[derive(Clone)]
pub struct Publisher(Arc<Kind>);

impl Publisher {
    /// A synchronous publisher (the common case: pick channels from data and context).
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(&Value, &HookContext) -> PublishResult + Send + Sync + 'static,
    {
        Publisher(Arc::new(Kind::Sync(Box::new(f))))
    }

    /// An async publisher, e.g. one that looks something up before choosing channels.
    pub fn new_async<F>(f: F) -> Self
    where
        F: Fn(Value, HookContext) -> PublishFuture + Send + Sync + 'static,
    {
        Publisher(Arc::new(Kind::Async(Box::new(f))))
    }

    /// A publisher that sends nothing. Registered on a service it blocks the app publishers
    /// (the authentication service does this, §D12).
    pub fn nothing() -> Self {
        Publisher(Arc::new(Kind::Nothing))
    }

    /// Runs the publisher. A panic becomes a `GeneralError`, so one bad publisher cannot take
    /// down the call that emitted the event.
    pub async fn run(&self, data: &Value, ctx: &HookContext) -> PublishResult {
        match &*self.0 {
            Kind::Nothing => Ok(None),
            Kind::Sync(f) => {
                catch_unwind(AssertUnwindSafe(|| f(data, ctx))).unwrap_or_else(|_| Err(panicked()))
            }
            Kind::Async(f) => {
                let future = catch_unwind(AssertUnwindSafe(|| f(data.clone(), ctx.clone())))
                    .map_err(|_| panicked())?;
                CatchUnwind(future).await
            }
        }
    }
}

fn panicked() -> Error {
    Error::general("publisher panicked")
}

/// Polls a boxed publisher future, turning a panic into an error.
struct CatchUnwind(PublishFuture);

impl Future for CatchUnwind {
    type Output = PublishResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PublishResult> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx)))
            .unwrap_or_else(|_| Poll::Ready(Err(panicked())))
    }
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &*self.0 {
            Kind::Sync(_) => "sync",
            Kind::Async(_) => "async",
            Kind::Nothing => "nothing",
        };
        f.debug_tuple("Publisher").field(&kind).finish()
    }
}

#[derive(Default)]
struct Table {
    all: Option<Publisher>,
    by_event: HashMap<String, Publisher>,
}

/// The publishers of one level (the app, or one service): a catch-all and one per event.
#[derive(Default)]
pub struct Publishers {
    table: RwLock<Table>,
}

impl Publishers {
    /// `publish(fn)`: sets the catch-all publisher, replacing any previous one.
    pub fn set_all(&self, publisher: Publisher) {
        self.write().all = Some(publisher);
    }

    /// `publish(event, fn)`: sets the publisher of `event`, replacing any previous one.
    /// `event` must be one of `service_events` (the service's `serviceEvents`, or
    /// [`STANDARD_EVENTS`] at app level), else `'x' is not a valid service event` (§D8).
    pub fn set<S: AsRef<str>>(
        &self,
        event: &str,
        service_events: &[S],
        publisher: Publisher,
    ) -> Result<()> {
        if !service_events.iter().any(|e| e.as_ref() == event) {
            return Err(Error::general(format!(
                "'{event}' is not a valid service event"
            )));
        }
        self.write().by_event.insert(event.to_owned(), publisher);
        Ok(())
    }

    /// The publisher registered for exactly `event`.
    pub fn for_event(&self, event: &str) -> Option<Publisher> {
        self.read().by_event.get(event).cloned()
    }

    /// The catch-all publisher.
    pub fn catch_all(&self) -> Option<Publisher> {
        self.read().all.clone()
    }

    /// This level's publisher for `event`: the event's own, else the catch-all.
    pub fn find(&self, event: &str) -> Option<Publisher> {
        let table = self.read();
        table.by_event.get(event).or(table.all.as_ref()).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Publishers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.read();
        let mut events: Vec<&String> = table.by_event.keys().collect();
        events.sort();
        f.debug_struct("Publishers")
            .field("all", &table.all.is_some())
            .field("events", &events)
            .finish()
    }
}

/// The one publisher that runs for `event` (§D9): service event → service catch-all → app
/// event → app catch-all. A service-level [`Publisher::nothing`] is found first and so
/// blocks the app publishers.
pub(crate) fn resolve_publisher(
    service: Option<&Publishers>,
    app: &Publishers,
    event: &str,
) -> Option<Publisher> {
    service
        .and_then(|s| s.find(event))
        .or_else(|| app.find(event))
}

impl App {
    /// `app.publish(fn)`: the app-level catch-all publisher (the way to publish custom
    /// events at app level).
    pub fn publish(&self, publisher: Publisher) {
        self.inner.publishers.set_all(publisher);
    }

    /// `app.publish(event, fn)`: `event` must be one of the four standard events.
    pub fn publish_event(&self, event: &str, publisher: Publisher) -> Result<()> {
        self.inner
            .publishers
            .set(event, &STANDARD_EVENTS, publisher)
    }
}

impl crate::app::ServiceHandle {
    /// `service.publish(fn)`: the catch-all publisher of this service.
    pub fn publish(&self, publisher: Publisher) {
        self.entry.publishers.set_all(publisher);
    }

    /// `service.publish(event, fn)`; the event must be one of the service's events.
    pub fn publish_event(&self, event: &str, publisher: Publisher) -> Result<()> {
        self.entry
            .publishers
            .set(event, &self.entry.options().service_events, publisher)
    }
}
