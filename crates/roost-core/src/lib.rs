//! Roost core: the Feathers model in Rust — services, hooks, events, channels and publishers,
//! errors, the query language and the memory adapter. No sockets, no SQL, no HTTP.
//!
//! # Map
//! - [`app`]: the [`App`] registry of services, app hooks, channels and publishers.
//! - [`service`]: the [`Service`] trait and its options; [`params`]: what a method receives.
//! - [`hooks`]: around/before/after/error hooks and the one chain that orders them.
//! - [`call`]: one call through the chain; [`events`]: the events it emits afterwards.
//! - [`external`]: the checked entry point for socket transports.
//! - [`channels`], [`publish`], [`delivery`]: who receives an event, and the seam through
//!   which transports receive it.
//! - [`query`]: the query language, parsed once into an AST; [`memory`]: the memory adapter.
//! - [`schema`]: field types and REST query coercion.
//! - [`error`]: Feathers errors; [`routing`]: paths and route placeholders.
//! - At the bottom, depending on nothing else here: [`ids`] ([`ConnectionId`]), [`headers`]
//!   ([`HandshakeHeaders`]) and the lock helpers; then [`transaction`], [`params`] and
//!   [`service`], each using only what is below it.
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
pub use call::CallArgs;
pub use channels::{Channel, Channels};
pub use connection::{ConnectionId, ConnectionInfo, Connections, HandshakeHeaders};
pub use delivery::{dispatch_event, Batch, Delivery, DeliverySink, RecordingSink};
pub use error::{Error, ErrorKind, Result};
pub use hooks::{HookContext, HookMap, HookType};
pub use memory::{MemoryOptions, MemoryService};
pub use method::{CustomMethod, MethodCall};
pub use params::Params;
pub use publish::{PublishTarget, Publisher, Publishers};
pub use serde_json::{json, Map, Value};
pub use service::{Service, ServiceOptions};
