//! The `roost` application: the only part of Roost that reads files and environment
//! variables. It merges the configuration ([`config`]), registers declared services
//! ([`services`], with the built-in hooks they name in [`declared_hooks`]) and the default chat app ([`chat`], with its `[auth]` section and secret
//! in [`auth_config`]), and starts every transport on one port ([`server`], accepting connections with the limits of
//! [`listen`]), with readiness, the first page and the operator's views in [`ops`]. The `roost` binary
//! (`src/main.rs`) is a thin CLI over these modules, which integration tests use directly.

pub mod auth_config;
pub mod chat;
pub mod config;
pub mod declared_hooks;
pub mod listen;
pub mod metrics;
pub mod ops;
pub mod primus_client;
pub mod server;
pub mod services;
pub mod storage;

pub use server::{Server, ServerBuilder};
