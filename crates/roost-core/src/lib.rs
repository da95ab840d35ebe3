//! Roost core: the Feathers model in Rust — services, hooks, events, channels and publishers,
//! errors, the query language and the memory adapter. No sockets, no SQL, no HTTP.

pub mod app;
pub mod channels;
pub mod connection;
pub mod error;
pub mod hooks;
pub mod memory;
pub mod params;
pub mod publish;
pub mod query;
pub mod service;

pub use app::App;
pub use connection::ConnectionId;
pub use error::{Error, ErrorKind, Result};
pub use hooks::{HookContext, HookType};
pub use memory::{MemoryOptions, MemoryService};
pub use params::Params;
pub use serde_json::{json, Map, Value};
pub use service::{Service, ServiceOptions};
