//! The default chat app that `roost serve` runs (interop/CHAT-APP.md, docs/architecture.md §1–§2): the
//! same app as the Node reference `bench/reference/chat.js`, so interop tests and
//! benchmarks compare like with like.
//!
//! # Map
//! - [`config`]: `[app]` ([`AppConfig`]: on/off, publishing rules, admin role, seed users).
//! - [`store`]: [`StoreFactory`], where records live (memory for now).
//! - [`users`]: signup, hashed and protected passwords, unique emails, only-yourself.
//! - [`messages`]: checked text, `userId`/`createdAt` from the server, `join`/`leave`.
//! - [`channels`]: `anonymous` on connection, `authenticated`/`user/…`/`role/…`/
//!   `permission/…` on a socket login.
//! - [`publish`]: publishing rules as data, with the `default` and `reference` presets.
//!
//! Authentication is roost-auth's: the `authentication` service (local + JWT), and
//! [`SocketSessions`] for what a socket keeps after a login, its logout and its expiry.
//! REST requests get `params.authentication` from their `Authorization` header through
//! the server ([`crate::ServerBuilder::authentication`]).

pub mod channels;
pub mod config;
pub mod messages;
pub mod publish;
pub mod store;
pub mod users;

pub use config::{AppConfig, SeedUser};
pub use publish::{PublishRule, PublishRules};
pub use store::{MemoryStores, StoreFactory, StoreSpec};

use crate::auth_config::{resolve_secret, SecretError};
use messages::Messages;
use roost_auth::{AuthConfig, AuthConfigError, Authentication, SocketSessions};
use roost_core::params::PaginateOverride;
use roost_core::{json, App, Map, Params, ServiceOptions, Value};
use users::Users;

/// Why the default app could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The JWT secret could not be read or made.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// `[auth]` is invalid.
    #[error("auth: {0}")]
    Auth(#[from] AuthConfigError),
    /// `[app]` is invalid.
    #[error("{0}")]
    Config(String),
    /// Registering a service or hook failed.
    #[error("default app: {0}")]
    Setup(#[from] roost_core::Error),
    /// A seed user could not be created.
    #[error("default app: seed user {email}: {error}")]
    Seed {
        /// The seed user's email.
        email: String,
        /// The cause.
        error: roost_core::Error,
    },
}

/// The running default app: its authentication and socket sessions.
#[derive(Debug, Clone)]
pub struct ChatApp {
    auth: Authentication,
    sessions: SocketSessions,
}

impl ChatApp {
    /// The authentication core.
    pub fn auth(&self) -> &Authentication {
        &self.auth
    }

    /// The socket logins and their expiry.
    pub fn sessions(&self) -> &SocketSessions {
        &self.sessions
    }
}

/// Installs the default app on `app` when `[app] enabled`, on memory stores, with the
/// secret from `[auth]` or the data directory. Call inside the runtime.
pub async fn install(
    app: &App,
    config: &crate::config::Config,
    storage: &crate::storage::Storage,
) -> Result<Option<ChatApp>, ChatError> {
    if !config.app.enabled {
        return Ok(None);
    }
    let (auth, _source) = resolve_secret(config.auth.0.clone(), &config.server.data_dir)?;
    install_with(app, &config.app, auth, &store::StorageStores(storage))
        .await
        .map(Some)
}

/// Installs the default app with an explicit auth configuration (secret set) and store
/// factory: registers `users` (at `auth.service`), `authentication` and `messages`, the
/// channel listeners and publishing rules, starts the socket sessions, then creates the
/// missing seed users. Call inside the runtime.
pub async fn install_with(
    app: &App,
    config: &AppConfig,
    auth: AuthConfig,
    stores: &dyn StoreFactory,
) -> Result<ChatApp, ChatError> {
    config.validate().map_err(ChatError::Config)?;
    let rules = config.publish_rules.compile().map_err(ChatError::Config)?;
    let auth = Authentication::new(app, auth)?;
    let users_path = auth.config().service.clone();
    let local = &auth.config().local;
    let email_field = local.entity_username_field().to_owned();
    let spec = users::spec(&users_path, &email_field, local.entity_password_field());
    let store = stores.store(&spec).await?;
    let users = app.use_service(
        &users_path,
        Users::new(store, &spec.adapter.id, &email_field),
        ServiceOptions::default(),
    )?;
    users.hooks(users::hooks(&auth, &config.admin_role)?)?;
    auth.mount("authentication")?;

    let store = stores.store(&messages::spec()).await?;
    let messages = app.use_service(
        "messages",
        Messages::new(store, app.channels().clone()),
        ServiceOptions {
            methods: Some(messages::methods()),
            ..ServiceOptions::default()
        },
    )?;
    messages.hooks(messages::hooks(&auth)?)?;

    channels::install(app, &auth);
    rules.install(app);
    let sessions = SocketSessions::install(&auth);
    let password_field = local.entity_password_field().to_owned();
    seed(
        app,
        &users_path,
        [&email_field, &password_field],
        &config.seed_users,
    )
    .await?;
    tracing::info!(
        users = %users_path,
        publish_rules = ?config.publish_rules,
        strategies = ?auth.config().auth_strategies,
        "default chat app ready"
    );
    Ok(ChatApp { auth, sessions })
}

/// Creates each seed user whose email no user has yet.
async fn seed(
    app: &App,
    path: &str,
    [email_field, password_field]: [&str; 2],
    seeds: &[SeedUser],
) -> Result<(), ChatError> {
    let users = app.service(path)?;
    for seed in seeds {
        let failed = |error| ChatError::Seed {
            email: seed.email.clone(),
            error,
        };
        let mut query = Map::new();
        query.insert(email_field.to_owned(), json!(seed.email));
        query.insert("$limit".into(), json!(1));
        let params = Params {
            query,
            paginate: Some(PaginateOverride::Disabled),
            ..Params::default()
        };
        let found = users.find(params).await.map_err(failed)?;
        if found.as_array().is_some_and(|a| !a.is_empty()) {
            tracing::debug!(email = %seed.email, "seed user exists");
            continue;
        }
        let mut data = Map::new();
        data.insert(email_field.to_owned(), json!(seed.email));
        data.insert(password_field.to_owned(), json!(seed.password));
        data.insert("roles".into(), json!(seed.roles));
        data.insert("permissions".into(), json!(seed.permissions));
        let created = users
            .create(Value::Object(data), Params::default())
            .await
            .map_err(failed)?;
        let id = created.get("id").cloned().unwrap_or(Value::Null);
        tracing::info!(email = %seed.email, %id, "seed user created");
    }
    Ok(())
}
