//! Many connections logged in as one user with one token (what `roost-bench connect` does)
//! hold that user's `connection.user` and `connection.authentication` once, not once per
//! connection. Measured on the live heap, counted exactly by a wrapping global allocator in
//! this test binary of its own.
#![allow(clippy::unwrap_used)]

mod common;

use common::connect;
use roost_auth::{AuthConfig, SocketSessions};
use roost_core::{json, App, ConnectionInfo, Value};
use std::sync::Arc;

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const CONNECTIONS: usize = 500;

async fn call(app: &App, conn: &ConnectionInfo, method: &str, args: Vec<Value>) -> Value {
    common::call(app, conn, method, args).await.unwrap()
}

#[tokio::test]
async fn connections_of_one_user_hold_its_login_once() {
    // About the size of the chat app's user.
    let user = json!({
        "email": "someone@example.com",
        "password": "pw",
        "name": "Someone With A Name",
        "avatar": "https://s.gravatar.com/avatar/0123456789abcdef0123456789abcdef?s=60",
        "roles": ["member"],
        "createdAt": "2026-12-06T06:00:00.000Z"
    });
    let config = AuthConfig::with_secret("shared-login-test-secret");
    let (app, auth) = common::auth_app(config, user).await;
    let _sessions = SocketSessions::install(&auth);

    let first = connect(&app);
    let login = call(
        &app,
        &first,
        "create",
        vec![
            json!({"strategy": "local", "email": "someone@example.com", "password": "pw"}),
            json!({}),
        ],
    )
    .await;
    let jwt = json!({"strategy": "jwt", "accessToken": login["accessToken"]});

    let mut conns = vec![first];
    let mut per_connection = (0.0, 0.0);
    // A warm-up round (registries, tables grown), then the measured one.
    for n in [20, CONNECTIONS] {
        let before = HEAP.allocated();
        let fresh: Vec<_> = (0..n).map(|_| connect(&app)).collect();
        let connected = HEAP.allocated();
        for conn in &fresh {
            call(&app, conn, "create", vec![jwt.clone(), json!({})]).await;
        }
        let logged_in = HEAP.allocated();
        per_connection = (
            (connected - before) as f64 / n as f64,
            (logged_in - connected) as f64 / n as f64,
        );
        conns.extend(fresh);
    }
    let (connect_bytes, login_bytes) = per_connection;
    println!(
        "one user, one token, per connection: {connect_bytes:.0} bytes to connect, \
         {login_bytes:.0} bytes more to log in"
    );

    // The same logins with a different user and token each (set as the sessions do), for
    // what interning costs when nothing is shared.
    let before = HEAP.allocated();
    let distinct: Vec<_> = (0..CONNECTIONS).map(|_| connect(&app)).collect();
    let connected = HEAP.allocated();
    for (i, conn) in distinct.iter().enumerate() {
        let mut user = conns[0].user().unwrap();
        user["email"] = json!(format!("someone{i:05}@example.com"));
        let mut authentication = conns[0].authentication().unwrap();
        authentication["accessToken"] = json!(format!(
            "{}{i:05}",
            &jwt["accessToken"].as_str().unwrap()[5..]
        ));
        conn.set("user", user);
        conn.set("authentication", authentication);
    }
    let distinct_bytes = (HEAP.allocated() - connected) as f64 / CONNECTIONS as f64;
    println!(
        "a user and token each, per connection: {:.0} bytes to connect, {distinct_bytes:.0} \
         bytes more for user and authentication",
        (connected - before) as f64 / CONNECTIONS as f64
    );
    for conn in distinct {
        app.disconnect(conn.id());
    }

    // Held once: every connection holds the same two allocations, and the interner only
    // these two (the distinct ones were freed with their connections).
    let user = conns[0].shared_user().unwrap();
    let authentication = conns[0].shared_authentication().unwrap();
    assert_eq!(user["email"], "someone@example.com");
    assert!(user.get("password").is_none());
    assert_eq!(authentication["accessToken"], jwt["accessToken"]);
    for conn in &conns {
        assert!(Arc::ptr_eq(&conn.shared_user().unwrap(), &user));
        assert!(Arc::ptr_eq(
            &conn.shared_authentication().unwrap(),
            &authentication
        ));
        // Read as plain values, as hooks and publishers see them.
        assert_eq!(conn.params().user.as_ref(), Some(&*user));
        assert_eq!(conn.user().as_ref(), Some(&*user));
    }
    let holders = conns.len() + 1; // the connections and `user` here
    assert_eq!(Arc::strong_count(&user), holders);
    assert_eq!(Arc::strong_count(&authentication), holders);
    let values = roost_core::intern::connection_values();
    assert_eq!(values.live(), 2);
    // The old per-connection copies were about 860 bytes (user and authentication JSON);
    // what is left per login is the session's expiry entry and two pointers.
    assert!(
        login_bytes < 600.0,
        "{login_bytes:.0} bytes per login of the same user"
    );

    // A logout clears its own connection only.
    let out = call(&app, &conns[1], "remove", vec![Value::Null, json!({})]).await;
    assert_eq!(out["accessToken"], jwt["accessToken"]);
    assert!(conns[1].user().is_none() && conns[1].authentication().is_none());
    assert_eq!(Arc::strong_count(&user), holders - 1);
    assert!(Arc::ptr_eq(&conns[2].shared_user().unwrap(), &user));
    // A user set on one connection is seen there only.
    conns[3].set("user", json!({"email": "changed@example.com"}));
    assert_eq!(conns[3].user().unwrap()["email"], "changed@example.com");
    assert_eq!(conns[4].user().unwrap()["email"], "someone@example.com");
    assert_eq!(Arc::strong_count(&user), holders - 2);

    // The last connection gone, the values are freed, and a sweep empties the table.
    let weak = Arc::downgrade(&user);
    drop((user, authentication));
    for conn in conns.drain(..) {
        app.disconnect(conn.id());
    }
    assert!(weak.upgrade().is_none());
    assert_eq!(values.live(), 0);
    values.sweep();
    assert!(values.is_empty());
}
