//! What the socket-login tests share: an app with `users` (hashed passwords, `protect`ed)
//! and the `authentication` service, connections without a transport, and calls on
//! `authentication` made as a socket client makes them.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use roost_auth::{protect, AuthConfig, Authentication};
use roost_core::external::call_external;
use roost_core::hooks::{HookMap, ALL};
use roost_core::{json, App, ConnectionId, ConnectionInfo, Error, Map, MemoryService, Value};
use std::sync::Arc;

/// An app with a memory `users` service (passwords hashed on create, never returned) and
/// `authentication` mounted with `config` (cheap hashes: these tests are not about bcrypt).
pub async fn auth_app(mut config: AuthConfig, user: Value) -> (App, Authentication) {
    let app = App::new();
    let users = app
        .use_service("users", MemoryService::default(), Default::default())
        .unwrap();
    config.local.hash_size = 4;
    let auth = Authentication::new(&app, config).unwrap();
    auth.mount("authentication").unwrap();
    users
        .hooks(
            HookMap::new()
                .before("create", auth.hash_password("password"))
                .after(ALL, protect(&["password"])),
        )
        .unwrap();
    users.create(user, Default::default()).await.unwrap();
    (app, auth)
}

/// A new socket connection (provider `primus`) registered with `app`.
pub fn connect(app: &App) -> Arc<ConnectionInfo> {
    app.connect(ConnectionInfo::new(
        ConnectionId::next(),
        "primus",
        Map::new(),
    ))
}

/// `method` on `authentication` from `conn`, as a socket client calls it; the result, or
/// `null` for none.
pub async fn call(
    app: &App,
    conn: &ConnectionInfo,
    method: &str,
    args: Vec<Value>,
) -> Result<Value, Error> {
    call_external(app, method, &json!("authentication"), args, conn.params())
        .await
        .map(|ctx| ctx.result.unwrap_or(Value::Null))
}
