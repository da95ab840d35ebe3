//! The seed application (`createApp.ts` and friends, see README.md beside this file)
//! written with Roost: Primus set up as the seed sets it up, its channels and publisher, a
//! `messages` service with hooks, and custom events to everyone, to one connection and to
//! a channel. interop/test/examples.test.js drives it with the official Primus client.
//!
//! ```text
//! cargo run -p roost --example seed -- --port 3030 --data-dir /tmp/seed
//! ```
//! Users `alice@example.com`/`alice-pw` (role `admin`, permission `reports`) and
//! `bob@example.com`/`bob-pw` (role `user`) exist from the start.

mod channels;
mod events;
mod messages;
mod primus;

use clap::Parser;
use roost::chat::{self, MemoryStores, SeedUser, UsersOptions};
use roost::Server;
use roost_core::{App, MemoryService, ServiceOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// The seed application on Roost.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3030)]
    port: u16,
    /// Where the JWT secret is kept (generated at first start).
    #[arg(long, default_value = "roost-data")]
    data_dir: PathBuf,
}

fn user(email: &str, password: &str, roles: &[&str], permissions: &[&str]) -> SeedUser {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    SeedUser {
        email: email.to_owned(),
        password: password.to_owned(),
        roles: strings(roles),
        permissions: strings(permissions),
    }
}

/// `createFeathersKoaApp`: the app, Primus, authentication, services, then channels.
async fn create_app(args: &Args) -> Result<Server, Box<dyn std::error::Error>> {
    let app = App::new();
    let mut builder = Server::builder();
    builder = primus::configure(builder, &app);

    // Authentication and users, from Roost's chat parts (the seed has them elsewhere).
    let (auth, _) =
        roost::auth_config::resolve_secret(roost_auth::AuthConfig::default(), &args.data_dir)?;
    let login = chat::authentication(&app, auth)?;
    let auth = login.auth().clone();
    chat::users::install(&app, &auth, &UsersOptions::default(), &MemoryStores).await?;
    primus::log_logins(&auth);

    messages::configure(&app, &auth)?;
    // A service without hooks, whose events show the publisher's other branches.
    app.use_service("tasks", MemoryService::default(), ServiceOptions::default())?;
    events::configure(&app, &auth)?;
    channels::configure(&app, &auth);

    let seeds = [
        user("alice@example.com", "alice-pw", &["admin"], &["reports"]),
        user("bob@example.com", "bob-pw", &["user"], &[]),
    ];
    chat::seed_users(&app, &auth, &seeds).await?;

    let port = args.port;
    let server = builder
        .app(app)
        .authentication(auth)
        .configure(|config| {
            config.server.host = [127, 0, 0, 1].into();
            config.server.port = port;
            config.server.shutdown_grace_secs = 2;
        })
        .build()
        .await?;
    Ok(server)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("seed: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = async {
        let server = create_app(&args).await?;
        server.listen().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            ExitCode::FAILURE
        }
    }
}
