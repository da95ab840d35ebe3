//! Roost's wire codecs: pure functions that turn what arrives on a socket or in a URL into values,
//! shared by the transports, the Rust client and the bench.
//!
//! This crate knows no sockets, no runtime and no `roost-core` types; it depends only on serde,
//! serde_json and thiserror. Every codec is a function over bytes or strings that returns a value
//! or a typed error and never panics, whatever the input.
//!
//! # Modules
//! - [`engineio`]: Engine.IO 4 packets from a client: one packet's type and data, and the
//!   `\x1e`-separated packets of a long-polling body.
//! - [`json_cost`]: how many values a JSON text holds, counted without parsing it, so that
//!   transports can refuse a message whose parse would cost too much memory.
//! - [`primus`]: Primus frames (`json` parser) and primus-emitter packets: decode one text
//!   frame, encode events, acks, heartbeats and the server close.
//! - [`socketio`]: Socket.IO v5 packets (the text inside one Engine.IO message): parse one
//!   packet, encode connect, connect errors, events and acks.
//! - [`websocket`]: websocket frames from a client (RFC 6455, server role): a sans-io
//!   decoder that checks every framing rule and the size limits, unmasks, reassembles
//!   fragments and holds no memory between messages.
//! - [`qs`]: query strings parsed exactly as Feathers 5's Koa transport parses them (Node's `qs`
//!   through koa-qs), checked against vectors produced by the real `qs`.
//!
//! # The life of a REST find
//! `GET /messages?$limit=10&$sort[createdAt]=-1` reaches the REST transport, which hands the raw
//! query string to [`qs::parse`] with [`qs::QsOptions::default`]; the resulting JSON object
//! (`{"$limit": "10", "$sort": {"createdAt": "-1"}}`, every scalar a string) becomes
//! `params.query` for the service call, exactly as `ctx.request.query` does in Feathers.
#![forbid(unsafe_code)]

pub mod engineio;
pub mod json_cost;
pub mod primus;
pub mod qs;
pub mod socketio;
pub mod websocket;
