//! Service events (docs/feathers-semantics.md §C): `created`/`updated`/`patched`/`removed` after every hook
//! and only on success, one per array item; custom events a service emits itself; server-side
//! listeners receiving `(data, context)`; then the publish step.

use crate::app::ServiceHandle;
use crate::hooks::HookContext;
use crate::lock::{read, write};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A server-side event listener: `service.on(event, (data, context) => …)`.
pub type Listener = Arc<dyn Fn(&Value, &HookContext) + Send + Sync>;

/// The listeners of one service, by event name.
#[derive(Default)]
pub(crate) struct Listeners {
    by_event: RwLock<HashMap<String, Vec<Listener>>>,
}

impl Listeners {
    fn get(&self, event: &str) -> Vec<Listener> {
        read(&self.by_event).get(event).cloned().unwrap_or_default()
    }
}

impl ServiceHandle {
    /// Adds a server-side listener for `event` on this service.
    pub fn on(&self, event: &str, listener: impl Fn(&Value, &HookContext) + Send + Sync + 'static) {
        write(&self.entry.listeners.by_event)
            .entry(event.to_owned())
            .or_default()
            .push(Arc::new(listener));
    }

    /// Emits a custom event with `data` (`service.emit('typing', data)`): listeners run, and
    /// when the event is one of the service's `serviceEvents` it is published to clients.
    /// The publishers see a context whose `result` is `data`.
    pub async fn emit(&self, event: &str, data: Value) {
        let mut ctx = HookContext::new(self.app.clone(), self.entry.path.clone(), "emit");
        ctx.event = Some(event.to_owned());
        ctx.result = Some(data.clone());
        self.emit_one(event, &data, &ctx).await;
    }

    /// Emits `ctx.event` for the result of a successful call: once per element of an array
    /// result. Events the service lists in `events` are its own to emit, so they are skipped.
    pub(crate) async fn emit_result_events(&self, ctx: &HookContext) {
        let Some(event) = ctx.event.as_deref() else {
            return;
        };
        if self.entry.options().events.iter().any(|e| e == event) {
            return;
        }
        match ctx.result.as_ref() {
            Some(Value::Array(items)) => {
                for item in items {
                    self.emit_one(event, item, ctx).await;
                }
            }
            Some(item) => self.emit_one(event, item, ctx).await,
            None => self.emit_one(event, &Value::Null, ctx).await,
        }
    }

    async fn emit_one(&self, event: &str, data: &Value, ctx: &HookContext) {
        for listener in self.entry.listeners.get(event) {
            listener(data, ctx);
        }
        if self
            .entry
            .options()
            .service_events
            .iter()
            .any(|e| e == event)
        {
            self.run_publisher(event, data, ctx).await;
        }
    }

    /// The publish step: the one publisher for this event picks the connections; this
    /// node's connections get the delivery at once, then, in a cluster, the event goes to
    /// the other nodes ([`App::publish_service_event`](crate::App)).
    async fn run_publisher(&self, event: &str, data: &Value, ctx: &HookContext) {
        let path = &self.entry.path;
        let channel = crate::delivery::publish_target(
            &self.app,
            Some(&self.entry.publishers),
            path,
            event,
            data,
            ctx,
        )
        .await
        .map(|target| target.into_channel());
        if let Some(channel) = &channel {
            if let Some(delivery) = crate::delivery::deliveries_for(channel, path, event, data, ctx)
            {
                self.app.deliver(delivery);
            }
        }
        self.app
            .publish_service_event(path, event, data, ctx, channel.as_ref());
    }
}
