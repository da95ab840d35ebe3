//! Socket logins without a transport (docs/feathers-semantics.md §E20–E22): [`SocketSessions`] stores the
//! login on the connection, logs it out for the matching token only, and expires it on one
//! shared timer without closing anything. Runs on paused tokio time.
#![allow(clippy::unwrap_used)]

mod common;

use roost_auth::{AuthConfig, Authentication, ExpiresIn, SocketSessions};
use roost_core::{json, App, ConnectionInfo, Error, Value};
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    app: App,
    auth: Authentication,
    sessions: SocketSessions,
}

async fn setup(expires_in: &str) -> Setup {
    let mut config = AuthConfig::with_secret("sessions-test-secret");
    config.jwt_options.expires_in = Some(ExpiresIn::Span(expires_in.to_owned()));
    let user = json!({"email": "a@example.com", "password": "pw"});
    let (app, auth) = common::auth_app(config, user).await;
    app.on_connection(|app, conn| {
        app.channel("anonymous").join([conn.id()]);
    });
    let sessions = SocketSessions::install(&auth);
    Setup {
        app,
        auth,
        sessions,
    }
}

impl Setup {
    fn connect(&self) -> Arc<ConnectionInfo> {
        common::connect(&self.app)
    }

    async fn call(
        &self,
        conn: &ConnectionInfo,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, Error> {
        common::call(&self.app, conn, method, args).await
    }

    async fn login(&self, conn: &ConnectionInfo) -> Value {
        let data = json!({"strategy": "local", "email": "a@example.com", "password": "pw"});
        self.call(conn, "create", vec![data, json!({})])
            .await
            .unwrap()
    }
}

/// Yields until `cond` holds, on paused time (bounded).
async fn eventually(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[tokio::test(start_paused = true)]
async fn login_stores_the_auth_and_expiry_clears_it_without_closing() {
    let s = setup("2s").await;
    let conn = s.connect();
    let other = s.connect();
    let login = s.login(&conn).await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(
        conn.authentication(),
        Some(json!({"strategy": "jwt", "accessToken": token}))
    );
    assert_eq!(conn.user().unwrap()["email"], "a@example.com");
    assert!(conn.user().unwrap().get("password").is_none());
    assert!(s.sessions.deadline(conn.id()).is_some());
    assert!(s.sessions.deadline(other.id()).is_none());
    s.app.channel("room").join([conn.id()]);

    tokio::time::sleep(Duration::from_secs(3)).await;
    eventually(|| conn.authentication().is_none()).await;
    assert!(conn.user().is_none());
    assert!(s.app.channels().channels_of(conn.id()).is_empty());
    assert!(s.app.connection(conn.id()).is_some(), "still connected");
    // The other connection was not touched.
    assert_eq!(
        s.app.channels().channels_of(other.id()),
        vec!["anonymous".to_owned()]
    );
    assert_eq!(s.sessions.armed(), 0);
    assert_eq!(s.auth.metrics().expiries(), 1);

    // Logging in again restores and re-arms.
    s.login(&conn).await;
    assert!(conn.user().is_some());
    assert_eq!(s.sessions.armed(), 1);
    s.app.disconnect(conn.id());
    assert_eq!(s.sessions.armed(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_relogin_rearms_and_logout_needs_the_matching_token() {
    let s = setup("1h").await;
    let conn = s.connect();
    let first = s.login(&conn).await;
    let armed = s.sessions.deadline(conn.id()).unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    let second = s.login(&conn).await;
    assert!(s.sessions.deadline(conn.id()).unwrap() > armed);
    assert_eq!(s.sessions.armed(), 1);

    // Removing another token is refused by the service itself.
    let err = s
        .call(
            &conn,
            "remove",
            vec![first["accessToken"].clone(), json!({})],
        )
        .await
        .unwrap_err();
    assert_eq!(err.message, "Invalid access token");
    assert!(conn.user().is_some());

    s.app.channel("room").join([conn.id()]);
    let out = s
        .call(&conn, "remove", vec![Value::Null, json!({})])
        .await
        .unwrap();
    assert_eq!(out["accessToken"], second["accessToken"]);
    assert!(conn.user().is_none() && conn.authentication().is_none());
    assert!(s.app.channels().channels_of(conn.id()).is_empty());
    assert_eq!(s.sessions.armed(), 0);
    assert!(s.app.connection(conn.id()).is_some());
}
