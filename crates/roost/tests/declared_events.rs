//! `events` of a declared service (`[services.<path>] events = [...]`): a listed custom
//! event emitted by code reaches a Primus client through the app's publisher; an unlisted
//! one does not; bad lists stop the start.
#![allow(clippy::unwrap_used)]

use roost::config::Config;
use roost::Server;
use roost_core::publish::Publisher;
use roost_core::{json, App, Value};
use roost_testkit::ws::connect;

fn config(toml: &str) -> Config {
    toml::from_str(toml).unwrap()
}

#[tokio::test]
async fn a_listed_custom_event_is_published_and_an_unlisted_one_is_not() {
    let app = App::new();
    app.on_connection(|app, conn| {
        app.channel("everyone").join([conn.id()]);
    });
    app.publish(Publisher::new(|_data, ctx| {
        Ok(Some(ctx.app.channel("everyone").into()))
    }));
    let server = Server::builder()
        .config(config(
            r#"
            [app]
            enabled = false
            [services.rooms]
            events = ["typing", "stopped-typing"]
            [services.notes]
            "#,
        ))
        .app(app)
        .build()
        .await
        .unwrap();
    let app = server.app().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve_until(listener, std::future::pending()));

    let mut ws = connect(addr, "/primus").await.unwrap();
    // A first call: the connection is registered (and in `everyone`) once it is answered.
    ws.call(1, "find", "rooms", &[json!({})]).await;
    let (data, _) = ws.ack(1).await;
    assert_eq!(data, json!([null, []]));

    let rooms = app.service("rooms").unwrap();
    rooms.emit("typing", json!({"who": "alice"})).await;
    // Not a service event of `notes`: nothing is published.
    app.service("notes")
        .unwrap()
        .emit("typing", json!({"who": "nobody"}))
        .await;
    rooms.emit("stopped-typing", json!({"who": "alice"})).await;
    // Standard events still work alongside.
    rooms
        .create(json!({"name": "lobby"}), Default::default())
        .await
        .unwrap();

    ws.call(2, "find", "rooms", &[json!({})]).await;
    let (_, frames) = ws.ack(2).await;
    let events: Vec<(String, Value)> = frames
        .iter()
        .filter(|f| f["type"] == 0)
        .map(|f| {
            (
                f["data"][0].as_str().unwrap().to_owned(),
                f["data"][1].clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("rooms typing".to_owned(), json!({"who": "alice"})),
            ("rooms stopped-typing".to_owned(), json!({"who": "alice"})),
            (
                "rooms created".to_owned(),
                json!({"id": 0, "name": "lobby"})
            ),
        ]
    );
}

#[tokio::test]
async fn bad_event_lists_are_refused() {
    for (events, why) in [
        (r#"[""]"#, "an entry of `events` is empty"),
        (
            r#"["created"]"#,
            "`created`, which the standard methods already emit",
        ),
        (r#"["typing", "typing"]"#, "`typing` twice"),
    ] {
        let config = config(&format!("[services.rooms]\nevents = {events}\n"));
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("services.rooms") && error.contains(why),
            "{error}"
        );
        let built = Server::builder().config(config).build().await;
        assert!(built.is_err());
    }
}
