//! One app as a node of a cluster: the seam between the delivery path and a
//! [`Broker`] (docs/cluster.md).
//!
//! [`App::join_cluster`] sets the broker. From then on:
//! - every service event is delivered to this node's connections first, then published as an
//!   [`Envelope`] naming the *named* channels its publisher chose (filtered channels and
//!   channels of fixed connection ids reach local connections only);
//! - the broker subscribes to a channel when it gets its first local member and unsubscribes
//!   when it empties (the channel registry calls it under its lock, so subscriptions follow
//!   membership in order);
//! - envelopes from other nodes are delivered to this node's members through the same
//!   [`App::deliver`] path ([`App::receive_envelope`]).
//!
//! Custom server events reach other nodes only through the methods here
//! ([`App::send_everywhere`], [`App::send_to_channel_everywhere`],
//! [`App::send_to_node_connection`]); [`App::send_to_all`] and friends send to this node's
//! connections only (the gateway relies on that). Both send at once and return this node's
//! recipient count.

use crate::app::{App, AppInner};
use crate::broker::{
    Audience, Broker, BrokerError, ChannelTarget, Envelope, EnvelopeSink, EventContext, NodeId,
};
use crate::delivery::{Batch, Delivery};
use crate::hooks::HookContext;
use crate::ids::ConnectionId;
use crate::lock::{read, write};
use crate::publish::PublishTarget;
use crate::Channel;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Weak};

/// How an app takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Publish every service event, even one whose publisher named no channel (feathers-sync
    /// mode: Node pods run their own publishers). In native mode an event without channel
    /// names stays local.
    pub publish_every_event: bool,
    /// Dotted fields removed from `params.user` before it leaves the node (`password`).
    pub protected: Vec<String>,
    /// The bus is shared with the upstream Node app's pods (feathers-sync mode): an event whose
    /// channels the upstream chose ([`App::deliver_upstream_event`]) already reached every
    /// node's upstream through that bus, so it is delivered here only, never published again.
    pub upstream_bus: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            publish_every_event: false,
            protected: vec!["password".to_owned()],
            upstream_bus: false,
        }
    }
}

/// The broker of an app and its options.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) options: Arc<ClusterOptions>,
}

/// Hands envelopes from other nodes to the app; holds it weakly (the app holds the broker).
struct AppSink(Weak<AppInner>);

impl EnvelopeSink for AppSink {
    fn receive(&self, envelope: Envelope) {
        match self.0.upgrade() {
            Some(inner) => App { inner }.receive_envelope(envelope),
            None => tracing::debug!("envelope for an app that is gone"),
        }
    }
}

impl App {
    /// Makes this app a node of the cluster `broker` serves: sets the broker's sink, makes
    /// it follow channel membership (subscribing to the channels that have members now) and
    /// publishes events through it from now on.
    pub fn join_cluster(&self, broker: Arc<dyn Broker>, options: ClusterOptions) {
        *write(&self.inner.cluster) = Some(Link {
            broker: Arc::clone(&broker),
            options: Arc::new(options),
        });
        broker.set_sink(Arc::new(AppSink(Arc::downgrade(&self.inner))));
        self.inner
            .channels
            .registry()
            .write()
            .set_interest(Some(broker));
    }

    /// The cluster broker, when this app is a node of a cluster.
    pub fn broker(&self) -> Option<Arc<dyn Broker>> {
        read(&self.inner.cluster)
            .as_ref()
            .map(|link| Arc::clone(&link.broker))
    }

    pub(crate) fn cluster_link(&self) -> Option<Link> {
        read(&self.inner.cluster).clone()
    }

    /// A custom server event to every connection of every node: delivered here at once, then
    /// published. Returns this node's delivery count.
    pub fn send_everywhere(&self, event: &str, data: Value) -> usize {
        let n = self.send_to_all(event, data.clone());
        self.publish_server_event(Envelope::server_event(event, data, Audience::all()));
        n
    }

    /// A custom server event to the members of `target` on every node (each connection once;
    /// a channel's `send` data goes with it). Only named channels reach other nodes.
    pub fn send_to_channel_everywhere(
        &self,
        target: impl Into<PublishTarget>,
        event: &str,
        data: Value,
    ) -> usize {
        let channel = target.into().into_channel();
        let n = self.send_to_channel(channel.clone(), event, data.clone());
        let channels = named_targets(&channel, |d| d.clone());
        if !channels.is_empty() {
            let to = Audience::Channels { channels };
            self.publish_server_event(Envelope::server_event(event, data, to));
        }
        n
    }

    /// A custom server event to connection `conn` of node `node` (this node's when `node` is
    /// this node's id or there is no cluster). Connection ids are unique per process; the
    /// pair (node, connection) is unique in the cluster.
    pub fn send_to_node_connection(
        &self,
        node: &NodeId,
        conn: ConnectionId,
        event: &str,
        data: Value,
    ) -> usize {
        match self.broker() {
            Some(broker) if broker.node_id() != node => {
                let to = Audience::connection(node.clone(), conn.0);
                self.publish_server_event(Envelope::server_event(event, data, to));
                0
            }
            _ => self.send_to_connection(conn, event, data),
        }
    }

    /// A service event whose channels were chosen outside this node's publishers (gateway
    /// mode: the upstream app's own `app.publish` rules, or its zero-SDK `publish_channel`):
    /// delivered to this node's members of `channel` at once (each connection once, a
    /// channel's `send` data for its members), then published with the *named* channels of
    /// `channel`, as a local event's are, so each member on every node receives it exactly
    /// once. Channels of fixed connection ids stay here (they are this process's ids). Not
    /// published when [`ClusterOptions::upstream_bus`] is set. Returns this node's count.
    pub fn deliver_upstream_event(
        &self,
        path: &str,
        event: &str,
        data: Value,
        channel: Channel,
    ) -> usize {
        let remote = self
            .cluster_link()
            .filter(|link| !link.options.upstream_bus)
            .map(|link| (link, named_targets(&channel, |d| d.clone())));
        let n = match self.server_event_delivery(channel, event, data.clone()) {
            Some(mut delivery) => {
                delivery.path = Some(path.to_owned());
                let n = delivery.recipient_count();
                self.deliver(delivery);
                n
            }
            None => 0,
        };
        let Some((link, channels)) = remote else {
            return n;
        };
        if channels.is_empty() {
            return n;
        }
        let envelope =
            Envelope::service_event(path, event, data, None, channels, EventContext::default());
        if let Err(error) = link.broker.publish(envelope) {
            log_publish_error(&error, path, event);
        }
        n
    }

    /// Whether this app is a node of a cluster whose bus it shares with the upstream Node
    /// app's pods ([`ClusterOptions::upstream_bus`]).
    pub fn on_upstream_bus(&self) -> bool {
        self.cluster_link()
            .is_some_and(|link| link.options.upstream_bus)
    }

    fn publish_server_event(&self, envelope: Envelope) {
        if let Some(link) = self.cluster_link() {
            if let Err(error) = link.broker.publish(envelope) {
                log_publish_error(&error, "", "server event");
            }
        }
    }

    /// Publishes the service event just delivered locally, when this app is in a cluster.
    /// `channel` is what the publisher chose (`None`: no publisher, or it chose nothing).
    pub(crate) fn publish_service_event(
        &self,
        path: &str,
        event: &str,
        data: &Value,
        ctx: &HookContext,
        channel: Option<&Channel>,
    ) {
        let Some(link) = self.cluster_link() else {
            return;
        };
        let channels = match channel {
            Some(channel) => named_targets(channel, |channel_data| {
                crate::delivery::channel_payload(channel_data, data, ctx)
            }),
            None => Vec::new(),
        };
        if channels.is_empty() && !link.options.publish_every_event {
            return;
        }
        let default = crate::delivery::event_payload(None, data, ctx);
        let dispatch = (default != *data).then_some(default);
        let protected: Vec<&str> = link.options.protected.iter().map(String::as_str).collect();
        let envelope = Envelope::service_event(
            path,
            event,
            data.clone(),
            dispatch,
            channels,
            EventContext::from_hook(ctx, &protected),
        );
        if let Err(error) = link.broker.publish(envelope) {
            log_publish_error(&error, path, event);
        }
    }

    /// Delivers an envelope from another node to this node's connections, through the same
    /// sinks as local events. Never publishes anything again.
    ///
    /// - channels: the local members of those channels, each connection once, with the first
    ///   channel's `send` data (else the envelope's payload);
    /// - all: every local connection;
    /// - connection: that connection, when the envelope names this node;
    /// - publish (a Node pod's feathers-sync message): this node's own publishers run for
    ///   it, with the path, event, data and context fields the message carried.
    pub fn receive_envelope(&self, envelope: Envelope) {
        let registry = self.inner.channels.registry();
        let default = Arc::new(envelope.payload().clone());
        let batches = match &envelope.to {
            Audience::Channels { channels } => {
                let mut seen = HashSet::new();
                let mut batches: Vec<Batch> = Vec::new();
                let mut default_slot: Option<usize> = None;
                for target in channels {
                    let mut members = Vec::new();
                    registry
                        .read()
                        .members_into(&target.name, false, &mut members);
                    members.retain(|c| seen.insert(*c));
                    if members.is_empty() {
                        continue;
                    }
                    match target.data.as_ref().filter(|d| crate::js::is_truthy(d)) {
                        Some(d) => batches.push(Batch {
                            payload: Arc::new(d.clone()),
                            connections: members,
                        }),
                        None => match default_slot.and_then(|i| batches.get_mut(i)) {
                            Some(batch) => batch.connections.extend(members),
                            None => {
                                default_slot = Some(batches.len());
                                batches.push(Batch {
                                    payload: Arc::clone(&default),
                                    connections: members,
                                });
                            }
                        },
                    }
                }
                batches
            }
            Audience::All { .. } => vec![Batch {
                payload: default,
                connections: registry.read().all_connected(),
            }],
            Audience::Connection {
                node, connection, ..
            } => {
                let conn = ConnectionId(*connection);
                let here = self.broker().is_some_and(|broker| broker.node_id() == node);
                if !here || !registry.read().is_connected(conn) {
                    return;
                }
                vec![Batch {
                    payload: default,
                    connections: vec![conn],
                }]
            }
            Audience::Publish => {
                self.run_remote_publishers(envelope);
                return;
            }
        };
        let batches: Vec<Batch> = batches
            .into_iter()
            .filter(|b| !b.connections.is_empty())
            .collect();
        if batches.is_empty() {
            return;
        }
        self.deliver(Delivery {
            path: envelope.path,
            event: envelope.event,
            batches,
        });
    }

    /// Runs this node's publishers for an event another node published without channel
    /// names (feathers-sync), on a task: publishers may be async, the sink must not wait.
    fn run_remote_publishers(&self, envelope: Envelope) {
        let Some(path) = envelope.path.clone() else {
            tracing::debug!(event = %envelope.event, "publish envelope without a path dropped");
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%path, "no runtime to run publishers for a cluster event");
            return;
        };
        let app = self.clone();
        handle.spawn(async move {
            // A path the node serves through a placeholder (the gateway's wildcard
            // forwarding service) is found by lookup.
            let service = match app.service(&path) {
                Ok(service) => service,
                Err(_) => match app.lookup(&path) {
                    Some((service, _)) => service,
                    None => {
                        tracing::debug!(%path, "cluster event for a service this node does not have");
                        return;
                    }
                },
            };
            let method = envelope
                .context
                .method
                .clone()
                .unwrap_or_else(|| "emit".to_owned());
            let mut ctx = HookContext::new(app.clone(), path.clone(), method);
            ctx.event = Some(envelope.event.clone());
            ctx.id = envelope.context.id.clone();
            ctx.params.user = envelope.context.user.clone();
            ctx.params.provider = envelope.context.provider.clone();
            ctx.result = Some(envelope.data.clone());
            ctx.dispatch = envelope.dispatch.clone();
            let delivery = crate::delivery::dispatch_event(
                &app,
                Some(service.entry().publishers()),
                &path,
                &envelope.event,
                &envelope.data,
                &ctx,
            )
            .await;
            if let Some(delivery) = delivery {
                app.deliver(delivery);
            }
        });
    }
}

/// An envelope the broker refused is counted by the broker; a too-large one is the
/// publisher's doing and worth a warning each time, while the failures of an outage (one per
/// event) are logged at debug level: the broker logs its state changes once.
fn log_publish_error(error: &BrokerError, path: &str, event: &str) {
    match error {
        BrokerError::Envelope(_) => {
            tracing::warn!(path, event, %error, "event not published to the cluster");
        }
        _ => tracing::debug!(path, event, %error, "event not published to the cluster"),
    }
}

/// The named channels of `channel`, each once (first occurrence), with `payload(data)` for
/// those that carry truthy `send` data.
fn named_targets(channel: &Channel, payload: impl Fn(&Value) -> Value) -> Vec<ChannelTarget> {
    let mut named = Vec::new();
    channel.named_targets_into(None, &mut named);
    let mut seen = HashSet::new();
    named
        .into_iter()
        .filter(|(name, _)| seen.insert(name.clone()))
        .map(|(name, data)| ChannelTarget {
            name: name.to_string(),
            seq: 0,
            data: data
                .filter(|d| crate::js::is_truthy(d))
                .map(|d| payload(&d)),
        })
        .collect()
}
