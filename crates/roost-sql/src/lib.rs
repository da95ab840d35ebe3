//! Roost's SQL adapter: Feathers services stored in SQLite (embedded, the default),
//! PostgreSQL or MySQL/MariaDB, answering exactly as the memory adapter does.
//!
//! # Map
//! - [`config`]: [`SqlConfig`] (the `[storage]` settings) and [`Database`], a pool that knows
//!   its [`Dialect`].
//! - [`table`]: a table's columns ([`TableDef`], [`IdType`]) and records ↔ rows. Schema
//!   fields get typed columns; other fields and explicit nulls live in a JSON column.
//! - `compile` (internal): the core's query AST → SQL with bound parameters, exact on typed columns,
//!   a prefilter plus the core's matcher elsewhere.
//! - [`service`]: [`SqlService`], the Feathers methods.
//! - [`transaction`]: write transactions ([`WriteTx`]) and the call's ([`SqlTransaction`]).
//! - [`migrate`](mod@migrate): create tables, add columns, refuse destructive changes.
//! - [`error`]: [`SqlError`] and [`to_feathers_error`], the one mapping of database failures
//!   to Feathers errors.
//!
//! # The life of a call
//! The first write of an `App` call opens its transaction in `params.transaction`; the method parses
//! `params.query` into the core's AST, `compile` turns it into a WHERE clause whose values
//! are all bound parameters and whose identifiers all come from the declared schema, the rows
//! come back through `TableDef::decode_row`, and `$select` shapes them. The core commits
//! after the last hook and only then emits the event.

/// Internal: public only so that `roost-fuzz` can drive the compiler; not a stable API.
#[doc(hidden)]
pub mod compile;
pub mod config;
pub mod dialect;
pub mod error;
pub mod migrate;
pub mod service;
pub mod table;
pub mod transaction;

pub use config::{create_private_dir, Database, SqlConfig};
pub use dialect::Dialect;
pub use error::{to_feathers_error, SqlError};
pub use migrate::{migrate, Change};
pub use service::{SqlOptions, SqlService};
pub use table::{IdType, TableDef};
pub use transaction::{SqlTransaction, WriteTx};
