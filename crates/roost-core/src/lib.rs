//! Roost core: the Feathers model in Rust — services, hooks, events, channels and publishers,
//! errors, the query language and the memory adapter. No sockets, no SQL, no HTTP.
//!
//! # Map
//! - [`app`]: the [`App`] registry of services, app hooks, channels and publishers;
//!   [`WeakApp`], how code the app holds reaches it without a cycle.
//! - [`service`]: the [`Service`] trait and its options; [`params`]: what a method receives;
//!   [`method`]: custom methods attached to any registered service.
//! - [`hooks`]: around/before/after/error hooks and the one chain that orders them.
//! - [`call`]: one call through the chain; [`events`]: the events it emits afterwards.
//! - [`external`]: the checked entry point for socket transports.
//! - [`channels`], [`publish`], [`delivery`]: who receives an event, and the seam through
//!   which transports receive it.
//! - [`query`]: the query language, parsed once into an AST; [`memory`]: the memory adapter.
//! - [`schema`]: field types and REST query coercion.
//! - [`error`]: Feathers errors; [`routing`]: paths and route placeholders.
//! - At the bottom, depending on nothing else here: [`ids`] ([`ConnectionId`]), [`headers`]
//!   ([`HandshakeHeaders`]), [`intern`] (shared immutable JSON values, which connections
//!   use for `user` and `authentication`) and the lock helpers; then [`transaction`], [`params`] and
//!   [`service`], each using only what is below it.
//!
//! # Example: a small app
//!
//! A memory service with a hook and a custom method, a channel rule and a publisher — what a
//! Feathers `app.ts` holds. The transports (crate `roost-transport`) install delivery sinks;
//! here a [`RecordingSink`] stands in for them.
//!
//! ```
//! use roost_core::hooks::{sync_hook, HookMap};
//! use roost_core::{
//!     json, App, ConnectionId, Error, MemoryService, MethodCall, Params, Publisher,
//!     RecordingSink, ServiceOptions, Value,
//! };
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = App::new();
//! let messages = app.use_service(
//!     "messages",
//!     MemoryService::default(),
//!     ServiceOptions { events: vec!["typing".into()], ..ServiceOptions::default() },
//! )?;
//! // A hook: reject empty messages.
//! messages.hooks(HookMap::new().before("create", sync_hook(|ctx| {
//!     match ctx.data.as_ref().and_then(|d| d["text"].as_str()) {
//!         Some(text) if !text.is_empty() => Ok(()),
//!         _ => Err(Error::bad_request("text is required")),
//!     }
//! })))?;
//! // A custom method that emits a custom event.
//! messages.method("typing", |call: MethodCall| async move {
//!     call.service()?.emit("typing", call.data.clone()).await;
//!     Ok(Value::Null)
//! })?;
//! // Channels and the publisher: every event goes to `everybody`.
//! app.publish(Publisher::new(|_data, ctx| Ok(Some(ctx.app.channel("everybody").into()))));
//!
//! let sink = Arc::new(RecordingSink::new());
//! app.set_delivery_sink(sink.clone());
//! let conn = ConnectionId::next(); // what a transport does when a client connects
//! app.channels().connect(conn);
//! app.channel("everybody").join([conn]);
//!
//! messages.create(json!({"text": "hello"}), Params::default()).await?;
//! messages.call("typing", json!({"user": "ada"}), Params::default()).await?;
//! let err = messages.create(json!({"text": ""}), Params::default()).await.unwrap_err();
//! assert_eq!(err.code(), 400);
//! let events: Vec<String> = sink.take().iter().map(|d| d.wire_name()).collect();
//! assert_eq!(events, ["messages created", "messages typing"]);
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! # The life of a call
//! A transport decodes a frame into `(method, path, args)` and calls
//! [`external::call_external`], which finds the service with [`App::lookup`] and runs
//! [`app::ServiceHandle::run`]: the app's and the service's hook layers wrap the method; on
//! success the method's event (`created`, …) is emitted once per result item, listeners run,
//! and the publish step picks the connections that receive it.

pub mod app;
pub mod broker;
pub mod call;
pub mod channels;
pub mod cluster;
pub mod connection;
pub mod delivery;
pub mod error;
pub mod events;
pub mod external;
pub mod headers;
pub mod hooks;
pub mod ids;
pub mod intern;
pub mod js;
mod lock;
pub mod memory;
pub mod method;
pub mod params;
pub mod publish;
pub mod query;
pub mod routing;
pub mod schema;
pub mod service;
pub mod transaction;

pub use app::{App, ServiceHandle, WeakApp};
/// Re-exported so services can implement [`Service`] without depending on `async-trait`.
pub use async_trait::async_trait;
pub use call::CallArgs;
pub use channels::{Channel, Channels};
pub use connection::{ConnectionId, ConnectionInfo, Connections, HandshakeHeaders};
pub use delivery::{Batch, Delivery, DeliverySink, RecordingSink};
pub use error::{Error, ErrorKind, Result};
pub use hooks::{HookContext, HookMap, HookType};
pub use memory::{MemoryOptions, MemoryService};
pub use method::{CustomMethod, MethodCall};
pub use params::Params;
pub use publish::{PublishTarget, Publisher, Publishers};
pub use serde_json::{json, Map, Value};
pub use service::{Service, ServiceOptions};
