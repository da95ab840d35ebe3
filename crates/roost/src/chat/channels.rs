//! The channel rules of the default app (docs/architecture.md §2, CHAT-APP.md "Channels"):
//! - on connection: join `anonymous`;
//! - on login over a socket: leave `anonymous`; join `authenticated`, `user/<id>`,
//!   `role/<r>` for each role and `permission/<p>` for each permission (a login as another
//!   user on the same socket first leaves every channel of the previous one);
//! - on logout and at token expiry the connection leaves every channel: that is
//!   [`roost_auth::SocketSessions`]' job (and `App::emit_disconnect`'s), not this module's.

use roost_auth::Authentication;
use roost_core::js::{is_truthy, to_string};
use roost_core::{App, Value};

/// The channels a logged-in `user` joins.
pub(crate) fn login_channels(user: &Value) -> Vec<String> {
    let mut names = vec!["authenticated".to_owned()];
    if let Some(id) = user.get("id").filter(|id| is_truthy(id)) {
        names.push(format!("user/{}", to_string(id)));
    }
    for (field, prefix) in [("roles", "role/"), ("permissions", "permission/")] {
        if let Some(items) = user.get(field).and_then(Value::as_array) {
            names.extend(
                items
                    .iter()
                    .map(|item| format!("{prefix}{}", to_string(item))),
            );
        }
    }
    names
}

/// Registers the `connection` and `login` listeners.
pub fn install(app: &App, auth: &Authentication) {
    app.on_connection(|app, conn| {
        app.channel("anonymous").join([conn.id()]);
    });
    let entity = auth
        .config()
        .entity
        .clone()
        .unwrap_or_else(|| "user".to_owned());
    let channels = app.clone();
    auth.events().on_login(move |result, params| {
        let Some(conn) = params.connection else {
            return;
        };
        let Some(user) = result.get(&entity) else {
            return;
        };
        let names = login_channels(user);
        // A login as someone else on the same socket: nothing of the previous user's
        // membership may remain (a re-login as the same user keeps its rooms).
        let previous = channels.channels().channels_of(conn);
        let switched = previous
            .iter()
            .any(|c| c.starts_with("user/") && !names.contains(c));
        if switched {
            channels.channels().leave_all(conn);
        }
        channels.channel("anonymous").leave([conn]);
        for name in names {
            channels.channel(&name).join([conn]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    #[test]
    fn channels_of_a_user() {
        let user = json!({"id": 2, "roles": ["admin", "editor"], "permissions": ["x"]});
        assert_eq!(
            login_channels(&user),
            vec![
                "authenticated",
                "user/2",
                "role/admin",
                "role/editor",
                "permission/x"
            ]
        );
        assert_eq!(login_channels(&json!({})), vec!["authenticated"]);
    }
}
