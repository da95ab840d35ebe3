//! The seam between the core and the transports: the core turns an event into a
//! [`Delivery`] and hands it to the [`DeliverySink`]s the transports installed, one per
//! provider ([`App::add_delivery_sink`]): each sink receives only the recipients that
//! connected through it, found by the provider recorded when the connection was registered
//! (no per-recipient lock, no transport is the default). This is Feathers'
//! `app.emit('publish', …)` step made explicit.
//!
//! A delivery groups its recipients by payload ([`Batch`]), so a transport encodes each distinct
//! payload once per wire form and enqueues clones of the same bytes (docs/architecture.md §5).
//!
//! Two producers exist:
//! - `dispatch_event` (inside the crate) runs the publisher of a service event (docs/feathers-semantics.md §D9–D11) and computes what each
//!   connection receives (§C7);
//! - [`App::send_to_all`], [`App::send_to_connection`] and [`App::send_to_channel`] send a
//!   custom server event (Primus' `spark.send(event, data)`) without publishers, at once;
//!   [`App::server_event_delivery`] builds one without sending it.

use crate::app::App;
use crate::channels::state::State;
use crate::channels::{Channel, SinkEntry};
use crate::hooks::HookContext;
use crate::ids::ConnectionId;
use crate::publish::{resolve_publisher, PublishTarget, Publishers};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

#[cfg(test)]
mod tests;

/// The connections that receive one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// What these connections receive, shared: encode it once.
    pub payload: Arc<Value>,
    /// The recipients; each connection appears in exactly one batch of a delivery.
    pub connections: Vec<ConnectionId>,
}

/// One event on its way to the connections that should receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The service path (placeholders kept), or `None` for a custom server event.
    pub path: Option<String>,
    /// The event name (`created`, a custom service event, or a server event).
    pub event: String,
    /// Recipients grouped by payload. Never empty.
    pub batches: Vec<Batch>,
}

impl Delivery {
    /// The event name on the wire: `"<path> <event>"` for service events (Feathers trims it,
    /// so an empty path gives just the event), the bare event for server events (§C6).
    pub fn wire_name(&self) -> String {
        match self.path.as_deref() {
            Some(path) => format!("{path} {event}", event = self.event)
                .trim()
                .to_owned(),
            None => self.event.clone(),
        }
    }

    /// How many connections receive this delivery.
    pub fn recipient_count(&self) -> usize {
        self.batches.iter().map(|b| b.connections.len()).sum()
    }

    /// Every recipient with its payload.
    pub fn recipients(&self) -> impl Iterator<Item = (ConnectionId, &Arc<Value>)> + '_ {
        self.batches
            .iter()
            .flat_map(|b| b.connections.iter().map(move |c| (*c, &b.payload)))
    }

    /// The payload `conn` receives, if it is a recipient (a linear search, for tests and logs).
    pub fn payload_for(&self, conn: ConnectionId) -> Option<&Value> {
        self.batches
            .iter()
            .find(|b| b.connections.contains(&conn))
            .map(|b| &*b.payload)
    }
}

/// Implemented by a transport to receive deliveries.
pub trait DeliverySink: Send + Sync + 'static {
    /// Takes one delivery. Must not block or await: transports enqueue onto bounded
    /// per-connection queues and close connections whose queue is full. A recipient the
    /// sink does not know (gone, or another provider's when this is the only sink) is
    /// skipped.
    fn deliver(&self, delivery: Delivery);
}

/// How many deliveries a [`RecordingSink`] keeps; later ones are counted and dropped.
pub const RECORDING_SINK_LIMIT: usize = 10_000;

/// A sink that records deliveries, for tests.
#[derive(Debug, Default)]
pub struct RecordingSink {
    recorded: Mutex<(Vec<Delivery>, usize)>,
}

impl RecordingSink {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns what was recorded so far.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.lock().0)
    }

    /// How many deliveries were dropped because the recorder was full.
    pub fn dropped(&self) -> usize {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<Delivery>, usize)> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DeliverySink for RecordingSink {
    fn deliver(&self, delivery: Delivery) {
        let mut recorded = self.lock();
        if recorded.0.len() < RECORDING_SINK_LIMIT {
            recorded.0.push(delivery);
        } else {
            recorded.1 += 1;
        }
    }
}

/// The slot of a recipient no sink serves.
const NO_SINK: usize = usize::MAX;

/// The sink (index in `sinks`) of every recipient of `delivery`, in
/// [`Delivery::recipients`] order: the sink of its provider, else the one for every
/// provider, else [`NO_SINK`].
fn route(state: &State, sinks: &[SinkEntry], delivery: &Delivery) -> Vec<usize> {
    let catch_all = sinks.iter().position(|entry| entry.provider.is_none());
    // Provider key → slot, built once per delivery (a handful of providers).
    let by_provider: Vec<Option<usize>> = (0..state.provider_count())
        .map(|key| {
            sinks
                .iter()
                .position(|entry| entry.provider.is_some_and(|p| p.0 == key))
                .or(catch_all)
        })
        .collect();
    delivery
        .recipients()
        .map(|(conn, _)| {
            let slot = match state.provider_of(conn) {
                Some(Some(key)) => by_provider.get(key.0).copied().flatten(),
                Some(None) => catch_all,
                None => None,
            };
            slot.unwrap_or(NO_SINK)
        })
        .collect()
}

/// One delivery per sink (`None` where a sink has no recipient), each with the batches
/// restricted to that sink's recipients; payloads are shared, not copied.
fn split(delivery: &Delivery, slots: &[usize], sinks: usize) -> Vec<Option<Delivery>> {
    let mut parts: Vec<Vec<Batch>> = (0..sinks).map(|_| Vec::new()).collect();
    let mut slots = slots.iter();
    for batch in &delivery.batches {
        let mut lists: Vec<Vec<ConnectionId>> = (0..sinks).map(|_| Vec::new()).collect();
        for &conn in &batch.connections {
            if let Some(list) = slots.next().and_then(|slot| lists.get_mut(*slot)) {
                list.push(conn);
            }
        }
        for (slot, list) in lists.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            if let Some(part) = parts.get_mut(slot) {
                part.push(Batch {
                    payload: Arc::clone(&batch.payload),
                    connections: list,
                });
            }
        }
    }
    parts
        .into_iter()
        .map(|batches| {
            (!batches.is_empty()).then(|| Delivery {
                path: delivery.path.clone(),
                event: delivery.event.clone(),
                batches,
            })
        })
        .collect()
}

/// Runs the publisher of `event` and computes who receives what. `None` when no publisher
/// applies, it returns nothing, it fails (logged with `tracing::error!`, §D11) or its
/// channels hold no connection (§D10).
///
/// `data` is the emitted item (one element of an array result) and `ctx` the call's context
/// (for custom events, a context whose `result` is `data`). A connection receives its
/// channel's `send` data, else `ctx.dispatch`, else `ctx.result` (JavaScript truthiness, as
/// Feathers' `||`), narrowed by the array rule of §C7 (see `event_payload`).
pub(crate) async fn dispatch_event(
    app: &App,
    service_publishers: Option<&Publishers>,
    path: &str,
    event: &str,
    data: &Value,
    ctx: &HookContext,
) -> Option<Delivery> {
    let channel = publish_target(app, service_publishers, path, event, data, ctx)
        .await?
        .into_channel();
    deliveries_for(&channel, path, event, data, ctx)
}

/// The channels the publisher of `event` picks (or a hook chose in `ctx.channels`); `None`
/// when no publisher applies, it returns nothing or it fails (logged, §D11).
pub(crate) async fn publish_target(
    app: &App,
    service_publishers: Option<&Publishers>,
    path: &str,
    event: &str,
    data: &Value,
    ctx: &HookContext,
) -> Option<PublishTarget> {
    match &ctx.channels {
        // A hook chose the channels for this call: no publisher runs.
        Some(chosen) => Some(chosen.clone()),
        None => {
            let publisher = resolve_publisher(service_publishers, app.publishers(), event)?;
            match publisher.run(data, ctx).await {
                Ok(target) => target,
                Err(error) => {
                    tracing::error!(path, event, %error, "Error in '{path} {event}' publisher");
                    None
                }
            }
        }
    }
}

/// Who of `channel`'s local connections receives what for the emitted item `data`.
pub(crate) fn deliveries_for(
    channel: &Channel,
    path: &str,
    event: &str,
    data: &Value,
    ctx: &HookContext,
) -> Option<Delivery> {
    let default = Arc::new(event_payload(None, data, ctx));
    build(Some(path), event, channel, &default, |channel_data| {
        if result_rule_applies(channel_data, data, ctx) {
            Arc::new(event_payload(Some(channel_data), data, ctx))
        } else {
            Arc::clone(channel_data)
        }
    })
}

/// What members of a channel with `send` data `channel_data` receive for `data` (the array
/// rule of §C7 applied when it applies), as the origin computes it for other nodes.
pub(crate) fn channel_payload(channel_data: &Value, data: &Value, ctx: &HookContext) -> Value {
    if result_rule_applies(channel_data, data, ctx) {
        event_payload(Some(channel_data), data, ctx)
    } else {
        channel_data.clone()
    }
}

/// What a connection receives for the emitted item `data`: `channel_data || ctx.dispatch ||
/// ctx.result` (`null` when all are missing). Then Feathers' array rule: when `data` is not
/// an array, `ctx.result` is an array and the chosen value is an array, the payload is the
/// element of the chosen value that deep-equals `data`, or `null` when none does.
///
/// This replicates an observed quirk (§C7): with a multi result and a `dispatch` whose items
/// differ from the result items (say, a hook that hides a field), clients receive `null`, not
/// the matching dispatch item.
pub(crate) fn event_payload(
    channel_data: Option<&Value>,
    data: &Value,
    ctx: &HookContext,
) -> Value {
    let chosen = channel_data
        .filter(|v| crate::js::is_truthy(v))
        .or(ctx.dispatch.as_ref().filter(|v| crate::js::is_truthy(v)))
        .or(ctx.result.as_ref());
    match chosen {
        Some(Value::Array(items))
            if !data.is_array() && matches!(ctx.result, Some(Value::Array(_))) =>
        {
            items
                .iter()
                .find(|item| json_eq(item, data))
                .cloned()
                .unwrap_or(Value::Null)
        }
        Some(value) => value.clone(),
        None => Value::Null,
    }
}

fn result_rule_applies(channel_data: &Value, data: &Value, ctx: &HookContext) -> bool {
    channel_data.is_array() && !data.is_array() && matches!(ctx.result, Some(Value::Array(_)))
}

/// Deep equality as lodash's `isEqual` sees JSON: key order is ignored and numbers compare
/// by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Groups the connections of `channel` by payload: `default` for connections without
/// (truthy) channel data, `for_data(d)` once per distinct channel data `d`.
fn build(
    path: Option<&str>,
    event: &str,
    channel: &Channel,
    default: &Arc<Value>,
    mut for_data: impl FnMut(&Arc<Value>) -> Arc<Value>,
) -> Option<Delivery> {
    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    channel.recipients_into(None, &mut seen, &mut recipients);
    if recipients.is_empty() {
        tracing::debug!(path, event, "no connections to publish to");
        return None;
    }
    let mut batches: Vec<Batch> = Vec::new();
    // Channel data → batch index, keyed by the data's allocation: every connection of one
    // `send()` shares the same `Arc`.
    let mut index: HashMap<*const Value, usize> = HashMap::new();
    let mut default_batch = None;
    for (conn, data) in recipients {
        let slot = match data.filter(|d| crate::js::is_truthy(d)) {
            Some(d) => *index.entry(Arc::as_ptr(&d)).or_insert_with(|| {
                batches.push(Batch {
                    payload: for_data(&d),
                    connections: Vec::new(),
                });
                batches.len() - 1
            }),
            None => *default_batch.get_or_insert_with(|| {
                batches.push(Batch {
                    payload: Arc::clone(default),
                    connections: Vec::new(),
                });
                batches.len() - 1
            }),
        };
        if let Some(batch) = batches.get_mut(slot) {
            batch.connections.push(conn);
        }
    }
    Some(Delivery {
        path: path.map(str::to_owned),
        event: event.to_owned(),
        batches,
    })
}

impl App {
    /// Installs `sink` for the connections of every provider that has no sink of its own
    /// (those registered with [`Channels::connect`](crate::Channels::connect) alone, in
    /// tests), replacing an earlier one. The transports do not use it: each adds its own
    /// with [`App::add_delivery_sink`], so none is the default.
    pub fn set_delivery_sink(&self, sink: Arc<dyn DeliverySink>) {
        let registry = self.inner.channels.registry();
        let mut sinks = registry
            .sinks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        sinks.retain(|entry| entry.provider.is_some());
        sinks.push(SinkEntry {
            provider: None,
            sink,
        });
    }

    /// Installs `sink` for the connections whose provider is `provider` (`"primus"`,
    /// `"socketio"`), replacing an earlier sink of that provider. Each transport adds one;
    /// a delivery is split by the provider each recipient connected with, and each sink
    /// receives only its own recipients, so it encodes each payload once.
    pub fn add_delivery_sink(&self, provider: impl Into<String>, sink: Arc<dyn DeliverySink>) {
        let provider = provider.into();
        let registry = self.inner.channels.registry();
        let key = registry.write().provider_key(&provider);
        let mut sinks = registry
            .sinks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        sinks.retain(|entry| entry.provider != Some(key));
        sinks.push(SinkEntry {
            provider: Some(key),
            sink,
        });
    }

    /// Hands `delivery` to the sinks of its recipients; recipients no sink serves (no
    /// transport, or one that is gone) are dropped, as Feathers does when nothing listens to
    /// `publish`.
    ///
    /// Routing costs one look-up per recipient in the connection index, under its shared
    /// lock taken once per delivery: the provider was recorded when the connection was
    /// registered, so no per-connection object is read. With one sink installed, or when
    /// every recipient goes to the same sink, that sink gets the delivery as it is.
    pub fn deliver(&self, delivery: Delivery) {
        let registry = self.inner.channels.registry();
        let sinks = registry
            .sinks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let [only] = sinks.as_slice() {
            // One transport: its sink takes the delivery as it is. A recipient it does not
            // serve (registered without a transport, or gone) is not in its registry.
            only.sink.deliver(delivery);
            return;
        }
        if sinks.is_empty() {
            tracing::debug!(event = %delivery.event, "no delivery sink installed");
            return;
        }
        let slots = route(&registry.read(), &sinks, &delivery);
        let first = slots.first().copied().unwrap_or(NO_SINK);
        if slots.iter().all(|slot| *slot == first) {
            match sinks.get(first) {
                Some(entry) => entry.sink.deliver(delivery),
                None => {
                    tracing::debug!(event = %delivery.event, "no delivery sink for these connections")
                }
            }
            return;
        }
        for (slot, part) in split(&delivery, &slots, sinks.len())
            .into_iter()
            .enumerate()
        {
            if let (Some(part), Some(entry)) = (part, sinks.get(slot)) {
                entry.sink.deliver(part);
            }
        }
    }

    /// Sends the custom server event `event` (Primus' `spark.send(event, data)`, Socket.IO's
    /// `socket.emit(event, data)`) to every connection of this node, now. Returns how many
    /// connections it was handed to (0 when nobody is connected). Other nodes of a cluster:
    /// [`App::send_everywhere`].
    ///
    /// ```
    /// use roost_core::{json, App, ConnectionId, RecordingSink};
    /// use std::sync::Arc;
    ///
    /// let app = App::new();
    /// let sink = Arc::new(RecordingSink::new()); // a transport, in a test
    /// app.set_delivery_sink(sink.clone());
    /// let (a, b) = (ConnectionId::next(), ConnectionId::next());
    /// app.channels().connect(a);
    /// app.channels().connect(b);
    /// app.channel("room/1").join([a]);
    ///
    /// assert_eq!(app.send_to_all("news", json!({"hi": 1})), 2);
    /// assert_eq!(app.send_to_connection(b, "private", json!("x")), 1);
    /// assert_eq!(app.send_to_channel(app.channel("room/1"), "typing", json!({})), 1);
    /// assert_eq!(sink.take().len(), 3);
    /// ```
    pub fn send_to_all(&self, event: &str, data: Value) -> usize {
        let everyone = self.inner.channels.registry().read().all_connected();
        self.send_to_channel(Channel::from_connections(everyone), event, data)
    }

    /// Sends a custom server event to one connection of this node, now. Returns 1, or 0 when
    /// `conn` is not connected. A connection of another node:
    /// [`App::send_to_node_connection`].
    pub fn send_to_connection(&self, conn: ConnectionId, event: &str, data: Value) -> usize {
        if !self.inner.channels.is_connected(conn) {
            return 0;
        }
        self.send_to_channel(Channel::from_connections([conn]), event, data)
    }

    /// Sends a custom server event to this node's connections in `target`, each once, now; a
    /// connection whose channel carries `send` data receives that instead of `data`. Returns
    /// how many connections it was handed to. Other nodes: [`App::send_to_channel_everywhere`].
    pub fn send_to_channel(
        &self,
        target: impl Into<PublishTarget>,
        event: &str,
        data: Value,
    ) -> usize {
        match self.server_event_delivery(target, event, data) {
            Some(delivery) => {
                let n = delivery.recipient_count();
                self.deliver(delivery);
                n
            }
            None => 0,
        }
    }

    /// Builds, without sending, the delivery of a custom server event to this node's
    /// connections in `target` (what [`App::send_to_channel`] sends): for code that adjusts
    /// it before handing it to [`App::deliver`]. `None` when the channels hold no connection.
    pub fn server_event_delivery(
        &self,
        target: impl Into<PublishTarget>,
        event: &str,
        data: Value,
    ) -> Option<Delivery> {
        let channel = target.into().into_channel();
        build(None, event, &channel, &Arc::new(data), Arc::clone)
    }
}
