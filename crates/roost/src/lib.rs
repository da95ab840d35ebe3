//! The `roost` application: the only part of Roost that reads files and environment
//! variables. The `roost` binary (`src/main.rs`) is a thin CLI over this library, which
//! integration tests and applications that embed Roost use directly (`docs/library.md`).
//!
//! # Public surface
//! - [`Server`] / [`ServerBuilder`] ([`server`]): your [`roost_core::App`] served by every
//!   transport on one port, with readiness, metrics, the dashboard, gateway and cluster mode.
//! - [`config`]: the whole configuration ([`config::Config`], one struct per TOML section),
//!   loaded from a file, `ROOST_…` variables and flags.
//! - [`storage`]: where records live ([`storage::Storage`], [`storage::service_for`]).
//! - [`chat`]: the default chat app, whole ([`chat::install`]) or as parts (users, messages,
//!   channel and publishing rules) for an app of your own; [`auth_config`] its `[auth]`
//!   section and JWT secret.
//! - [`declared_hooks`]: the built-in hooks a declared service (`[services.<path>]`) names.
//! - [`listen`]: [`listen::prepare_fd_limit`], the open-file limit the binary raises at start.
//!
//! Inside the crate only: registering declared services, `/metrics` rendering, the Primus
//! client library, readiness, the first page, the dashboard's service and the histograms.

pub mod auth_config;
pub mod chat;
pub mod config;
pub mod declared_hooks;
pub mod listen;
mod metrics;
mod ops;
mod primus_client;
pub mod server;
mod services;
pub mod storage;

pub use server::{Server, ServerBuilder};
