//! Roost authentication: Feathers' `@feathersjs/authentication` and
//! `@feathersjs/authentication-local`, wire-compatible (docs/feathers-semantics.md §E).
//!
//! # Map
//! - [`config`]: [`AuthConfig`], the `authentication` section (secret, strategies,
//!   `jwt_options`, `local`), checked at start-up.
//! - [`base`]: [`Authentication`], the shared core — strategies, `authenticate`, token
//!   signing and verification.
//! - [`strategy`]: the [`AuthStrategy`] trait with the [`LocalStrategy`] (bcrypt) and the
//!   [`JwtStrategy`].
//! - [`service`]: the `authentication` service (`create` = login, `remove` = logout).
//! - [`hooks`]: `authenticate`, `protect` and `hash_password`.
//! - [`events`]: the app-level `login`/`logout` events; [`connection`]: what a socket keeps
//!   after a login and when it expires; [`sessions`]: [`SocketSessions`], which stores it on
//!   the connection, logs it out, and expires it with one timer for every connection.
//! - [`header`]: the REST `Authorization` header; [`jwt`]: HS256/384/512 tokens with
//!   jsonwebtoken's checks and messages; [`password`]: bcrypt on the blocking pool.
//!
//! # The life of a login
//! A client calls `create` on `authentication` with `{strategy: 'local', email, password}`.
//! [`Authentication::authenticate`] checks the strategy is allowed and runs
//! [`LocalStrategy`]: `users.find` internally, bcrypt on the blocking pool, then the user
//! fetched again with the caller's provider so its dispatch (no password) is what goes out.
//! The service signs a token for `sub = user.id`, the mount hook fires the connection
//! listeners ([`SocketSessions`] stores [`ConnectionAuth`] and arms the expiry timer) and then the
//! `login` listeners (the app joins channels). Later calls carry `params.authentication`,
//! which the [`hooks::AuthenticateHook`] verifies with the [`JwtStrategy`].
//!
//! ```
//! use roost_auth::{protect, AuthConfig, Authentication};
//! use roost_core::hooks::{HookMap, ALL};
//! use roost_core::{App, MemoryService};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::new();
//! let users = app.use_service("users", MemoryService::new(Default::default()), Default::default())?;
//! let messages =
//!     app.use_service("messages", MemoryService::new(Default::default()), Default::default())?;
//!
//! let auth = Authentication::new(&app, AuthConfig::with_secret("change me"))?;
//! auth.mount("authentication")?;
//! // The listener is held by the app: it keeps a weak handle, not an `App` clone (a cycle).
//! let weak = app.downgrade();
//! auth.events().on_login(move |_result, params| {
//!     if let (Some(conn), Some(app)) = (params.connection, weak.upgrade()) {
//!         app.channel("anonymous").leave([conn]);
//!         app.channel("authenticated").join([conn]);
//!     }
//! });
//! users.hooks(
//!     HookMap::new()
//!         .before("create", auth.hash_password("password"))
//!         .after(ALL, protect(&["password"])),
//! )?;
//! messages.hooks(HookMap::new().around(ALL, auth.authenticate_hook(&["jwt"])?))?;
//! # Ok(())
//! # }
//! ```
pub mod base;
pub mod config;
pub mod connection;
pub mod events;
pub mod header;
pub mod hooks;
pub mod jwt;
pub mod metrics;
pub mod password;
pub mod service;
pub mod sessions;
pub mod strategy;

pub use base::{now_secs, Authentication, AuthenticationBuilder};
pub use config::{AuthConfig, AuthConfigError, ExpiresIn, JwtHeader, JwtOptions, LocalConfig};
pub use connection::{is_valid_logout, ConnectionAuth};
pub use events::{AuthEventKind, AuthEvents};
pub use header::{parse_authorization_header, parse_authorization_header_with};
pub use hooks::{
    guard_query, protect, AuthenticateHook, HashPasswordHook, ProtectHook, UserFieldHook,
    UserFieldTarget,
};
pub use jwt::{JwtError, TokenPayload};
pub use metrics::AuthMetrics;
pub use password::PasswordHasher;
pub use service::AuthenticationService;
pub use sessions::SocketSessions;
pub use strategy::{AuthStrategy, JwtStrategy, LocalStrategy};
