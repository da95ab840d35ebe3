//! The small app of issue #19, on the library: the default chat app's parts with options
//! (users paginated with a default role; messages with `join`/`leave` and a `typing`
//! method publishing a custom event), a `todos` service with a custom method, and a
//! `fixtures` service that resets the others. See README.md for what it no longer needs.
//!
//! ```text
//! cargo run -p roost --example small_app -- --port 3030 --data-dir /tmp/small-app
//! ```

use clap::Parser;
use roost::chat::{self, MessagesOptions, SharedMemoryStores, UsersOptions};
use roost::Server;
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::service::Paginate;
use roost_core::{json, App, Error, MemoryService, MethodCall, Service, ServiceOptions};
use std::path::PathBuf;

/// The small app.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3030)]
    port: u16,
    /// Where the JWT secret is kept.
    #[arg(long, default_value = "roost-data")]
    data_dir: PathBuf,
}

/// `fixtures`: custom methods only.
struct Fixtures;

#[async_trait::async_trait]
impl Service for Fixtures {}

async fn app(args: &Args) -> Result<(App, roost_auth::Authentication), Box<dyn std::error::Error>> {
    let app = App::new();
    let stores = SharedMemoryStores::default();
    let (config, _) =
        roost::auth_config::resolve_secret(roost_auth::AuthConfig::default(), &args.data_dir)?;
    let auth = chat::authentication(&app, config)?.auth().clone();

    let page = Paginate {
        default: Some(10),
        max: Some(50),
    };
    let users = UsersOptions::default()
        .paginate(Some(page))
        .default_roles(["member"]);
    chat::users::install(&app, &auth, &users, &stores).await?;

    let options = MessagesOptions::default().events(["typing"]);
    let messages = chat::messages::install(&app, &auth, &options, &stores).await?;
    messages.method("typing", |call: MethodCall| async move {
        let user = call.params.user.as_ref().and_then(|u| u.get("id")).cloned();
        let event = json!({ "roomId": call.data.get("roomId"), "userId": user });
        call.service()?.emit("typing", event.clone()).await;
        Ok(event)
    })?;
    chat::channel_rules(&app, &auth);
    chat::publish_rules(&app, &chat::PublishRules::default())?;

    let todos = app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
    todos.method("complete", |call: MethodCall| async move {
        let id = call
            .data
            .get("id")
            .cloned()
            .ok_or_else(|| Error::bad_request("id is required"))?;
        call.service()?
            .patch(id, json!({ "done": true }), call.params)
            .await
    })?;

    let no_methods = ServiceOptions {
        methods: Some(Vec::new()),
        ..ServiceOptions::default()
    };
    let fixtures = app.use_service("fixtures", Fixtures, no_methods)?;
    fixtures.method("reset", move |call: MethodCall| {
        let stores = stores.clone();
        async move {
            let todos = call.app.service("todos")?.downcast::<MemoryService>();
            for store in [todos, stores.get("messages")].into_iter().flatten() {
                store.reset();
            }
            Ok(json!({ "reset": ["todos", "messages"] }))
        }
    })?;
    let only_admins = sync_hook(|ctx| match &ctx.params.user {
        Some(user) if chat::users::has_role(user, "admin") => Ok(()),
        _ => Err(Error::forbidden("fixtures are for admins")),
    });
    let jwt = auth.authenticate_hook(&["jwt"])?;
    fixtures.hooks(
        HookMap::new()
            .around("reset", jwt)
            .before("reset", only_admins),
    )?;

    chat::seed_users(
        &app,
        &auth,
        &[chat::SeedUser {
            email: "admin@example.com".into(),
            password: "admin-pw".into(),
            roles: vec!["admin".into()],
            permissions: Vec::new(),
        }],
    )
    .await?;
    Ok((app, auth))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (app, auth) = app(&args).await?;
    let port = args.port;
    Server::builder()
        .app(app)
        .authentication(auth)
        .configure(|config| config.server.port = port)
        .build()
        .await?
        .listen()
        .await?;
    Ok(())
}
