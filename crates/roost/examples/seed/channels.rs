//! `src/channels.ts` (with the permission channels of the seed's "authentication
//! integration"): who is in which channel, and the publisher that picks a channel for
//! every service event.

use roost_auth::Authentication;
use roost_core::js::{is_truthy, to_string};
use roost_core::publish::Publisher;
use roost_core::{App, Value};

/// Channel membership and the app publisher.
pub(crate) fn configure(app: &App, auth: &Authentication) {
    // Every new real-time connection starts out anonymous.
    app.on_connection(|app, connection| {
        app.channel("anonymous").join([connection.id()]);
    });

    // A login over a socket: out of `anonymous`, into `authenticated`, the user's own
    // channel, one per role and one per permission.
    let channels = app.downgrade();
    auth.events().on_login(move |result, params| {
        let (Some(connection), Some(app)) = (params.connection, channels.upgrade()) else {
            return;
        };
        let Some(user) = result.get("user") else {
            return;
        };
        app.channel("anonymous").leave([connection]);
        app.channel("authenticated").join([connection]);
        if let Some(id) = user.get("id") {
            app.channel(&format!("user/{}", to_string(id)))
                .join([connection]);
        }
        for (field, prefix) in [("roles", "role"), ("permissions", "permission")] {
            for item in user
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                app.channel(&format!("{prefix}/{}", to_string(item)))
                    .join([connection]);
            }
        }
    });

    // The publisher, in the seed's order: the author's channel first, then the project's,
    // then a chat room's, else every logged-in connection.
    app.publish(Publisher::new(|data, context| {
        let app = &context.app;
        let field = |name: &str| data.get(name).filter(|v| is_truthy(v)).map(to_string);
        let channel = if let Some(user) = field("userId") {
            app.channel(&format!("user/{user}"))
        } else if let Some(project) = field("projectId") {
            app.channel(&format!("project/{project}"))
        } else if let (true, Some(room)) = (context.path == "messages", field("roomId")) {
            app.channel(&format!("room/{room}"))
        } else {
            app.channel("authenticated")
        };
        Ok(Some(channel.into()))
    }));
}
