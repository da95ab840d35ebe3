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
//!
//! # Parts
//! [`install`] runs the whole app; an app of your own takes the parts it wants, each with
//! its options, and adds hooks to the services they return (a part refuses a path that is
//! already registered rather than replace a service and its hooks):
//!
//! ```
//! use roost::chat::{self, MemoryStores, MessagesOptions, UsersOptions};
//! use roost_core::hooks::{sync_hook, HookMap};
//! use roost_core::service::Paginate;
//! use roost_core::App;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::new();
//! let mut auth = roost_auth::AuthConfig::default();
//! auth.secret = "a secret of at least thirty-two bytes".into();
//! let chat = chat::authentication(&app, auth)?;
//! let paginated = Paginate { default: Some(20), max: Some(100) };
//! chat::users::install(
//!     &app,
//!     chat.auth(),
//!     &UsersOptions::default().paginate(Some(paginated)).default_roles(["member"]),
//!     &MemoryStores,
//! )
//! .await?;
//! let messages =
//!     chat::messages::install(&app, chat.auth(), &MessagesOptions::default(), &MemoryStores)
//!         .await?;
//! // Runs after the part's own hooks.
//! messages.hooks(HookMap::new().before("create", sync_hook(|_ctx| Ok(()))))?;
//! chat::channel_rules(&app, chat.auth());
//! chat::publish_rules(&app, &chat::PublishRules::default())?;
//! // Serve it with roost::Server::builder().app(app).authentication(chat.auth().clone()).
//! # Ok(())
//! # }
//! ```

pub mod channels;
pub mod config;
pub mod messages;
pub mod publish;
pub mod store;
pub mod users;

pub use config::{AppConfig, SeedUser};
pub use messages::MessagesOptions;
pub use publish::{PublishRule, PublishRules};
pub use store::{MemoryStores, SharedMemoryStores, StoreFactory, StoreSpec};
pub use users::UsersOptions;

use crate::auth_config::{resolve_secret, SecretError};
use roost_auth::{AuthConfig, AuthConfigError, Authentication, SocketSessions};
use roost_core::params::PaginateOverride;
use roost_core::{json, App, Map, Params, Value};

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

/// The authentication part: [`Authentication`] with `config` (secret set) and the default
/// strategies (`local`, `jwt`), its service mounted at `authentication`, and the socket
/// sessions (a socket login's expiry and logout). The users service it names
/// (`config.service`) comes next: [`users::install`].
pub fn authentication(app: &App, config: AuthConfig) -> Result<ChatApp, ChatError> {
    let auth = Authentication::new(app, config)?;
    ensure_free(app, "authentication")?;
    auth.mount("authentication")?;
    let sessions = SocketSessions::install(&auth);
    Ok(ChatApp { auth, sessions })
}

/// The channel rules part: every connection joins `anonymous`; a socket login moves it to
/// `authenticated`, `user/<id>`, `role/<r>` and `permission/<p>` ([`channels`]).
pub fn channel_rules(app: &App, auth: &Authentication) {
    channels::install(app, auth);
}

/// The publishing part: `rules` (a preset or a list, [`publish`]) as the app's publisher.
pub fn publish_rules(app: &App, rules: &PublishRules) -> Result<(), ChatError> {
    rules.compile().map_err(ChatError::Config)?.install(app);
    Ok(())
}

/// A part refuses a path that is already registered: registering it again would replace
/// the service and silently drop the hooks of the one before.
pub(crate) fn ensure_free(app: &App, path: &str) -> roost_core::Result<()> {
    if app.service(path).is_ok() {
        return Err(roost_core::Error::general(format!(
            "'{path}' is already registered: the chat part would replace it and drop its \
             hooks; add hooks to the part's service instead, or register yours elsewhere"
        )));
    }
    Ok(())
}

/// Installs the default app with an explicit auth configuration (secret set) and store
/// factory, part by part: [`authentication`], [`users::install`], [`messages::install`],
/// [`channel_rules`], [`publish_rules`], then creates the missing seed users. Call inside
/// the runtime.
pub async fn install_with(
    app: &App,
    config: &AppConfig,
    auth: AuthConfig,
    stores: &dyn StoreFactory,
) -> Result<ChatApp, ChatError> {
    config.validate().map_err(ChatError::Config)?;
    let chat = authentication(app, auth)?;
    let auth = chat.auth();
    let users_options = UsersOptions::default().admin_role(config.admin_role.clone());
    users::install(app, auth, &users_options, stores).await?;
    messages::install(app, auth, &MessagesOptions::default(), stores).await?;
    channel_rules(app, auth);
    publish_rules(app, &config.publish_rules)?;
    let local = &auth.config().local;
    seed(
        app,
        &auth.config().service,
        [local.entity_username_field(), local.entity_password_field()],
        &config.seed_users,
    )
    .await?;
    tracing::info!(
        users = %auth.config().service,
        publish_rules = ?config.publish_rules,
        strategies = ?auth.config().auth_strategies,
        "default chat app ready"
    );
    Ok(chat)
}

/// Creates each of `seeds` whose email no user has yet (`[[app.seed_users]]`).
pub async fn seed_users(
    app: &App,
    auth: &Authentication,
    seeds: &[SeedUser],
) -> Result<(), ChatError> {
    let local = &auth.config().local;
    seed(
        app,
        &auth.config().service,
        [local.entity_username_field(), local.entity_password_field()],
        seeds,
    )
    .await
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
