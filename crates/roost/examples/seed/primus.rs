//! `src/util/primus.ts`: Primus over websockets with the emitter plugin, a 10 s heartbeat,
//! any origin, and a log line per connection, disconnection and socket login.
//!
//! The seed wraps `app.setup` to create the Primus server on the HTTP server and hands it
//! to Feathers' socket transport. Roost's server builder does all of that: Primus (with
//! primus-emitter's framing) is one of its transports, on the same port as REST, and the
//! `/primus/primus.js` client library is served. What is left is the settings and the
//! listeners.

use roost::ServerBuilder;
use roost_auth::Authentication;
use roost_core::App;

/// The seed's `primus({ transformer: 'websockets', pingInterval: 10000, cors: { origin: '*' } })`
/// plus its `connection`/`disconnection` listeners.
pub(crate) fn configure(builder: ServerBuilder, app: &App) -> ServerBuilder {
    app.on_connection(|_app, connection| {
        tracing::info!(connection = %connection.id(), "New connection established");
    });
    app.on_disconnect(|_app, connection| {
        tracing::info!(connection = %connection.id(), "Connection closed");
    });
    builder.configure(|config| {
        config.primus.enabled = true;
        config.primus.ping_interval_ms = 10_000;
        config.cors.enabled = true;
        config.cors.origins = vec!["*".to_owned()];
    })
}

/// The seed's `spark.on('authenticate', …)` log: a login over a socket.
pub(crate) fn log_logins(auth: &Authentication) {
    auth.events().on_login(|result, params| {
        if let Some(connection) = params.connection {
            let user = result.get("user").and_then(|u| u.get("id"));
            tracing::info!(%connection, ?user, "Client authenticated");
        }
    });
}
