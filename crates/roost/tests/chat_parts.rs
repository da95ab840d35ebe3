//! The default app's parts used one by one (roost::chat): users with pagination and default
//! roles, messages with hooks added after the part's own, and a part that refuses a path
//! already taken instead of replacing the service (and dropping its hooks).
#![allow(clippy::unwrap_used)]

use roost::chat::{self, MemoryStores, MessagesOptions, UsersOptions};
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::service::Paginate;
use roost_core::{json, App, MemoryService, Params, ServiceOptions};

fn auth_config() -> roost_auth::AuthConfig {
    let mut auth = roost_auth::AuthConfig {
        secret: "a secret of at least thirty-two bytes".into(),
        ..Default::default()
    };
    auth.local.hash_size = 4;
    auth
}

fn external() -> Params {
    Params {
        provider: Some("rest".into()),
        ..Params::default()
    }
}

#[tokio::test]
async fn users_take_pagination_and_default_roles() {
    let app = App::new();
    let chat = chat::authentication(&app, auth_config()).unwrap();
    let options = UsersOptions::default()
        .paginate(Some(Paginate {
            default: Some(2),
            max: Some(5),
        }))
        .default_roles(["member"]);
    let users = chat::users::install(&app, chat.auth(), &options, &MemoryStores)
        .await
        .unwrap();
    // A signup cannot choose its roles: it gets the default ones.
    let signup = json!({"email": "a@example.com", "password": "pw", "roles": ["admin"]});
    let a = users.create(signup, external()).await.unwrap();
    assert_eq!(a["roles"], json!(["member"]));
    assert!(a.get("password").is_none());
    // Server code may set roles; without any, the default ones.
    let b = json!({"email": "b@example.com", "password": "pw", "roles": ["admin"]});
    assert_eq!(
        users.create(b, Params::default()).await.unwrap()["roles"],
        json!(["admin"])
    );
    let c = json!({"email": "c@example.com", "password": "pw"});
    assert_eq!(
        users.create(c, Params::default()).await.unwrap()["roles"],
        json!(["member"])
    );
    let page = users.find(Params::default()).await.unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn hooks_added_to_a_part_run_after_its_own() {
    let app = App::new();
    let chat = chat::authentication(&app, auth_config()).unwrap();
    let options = MessagesOptions::default().max_text(5).paginate(None);
    let messages = chat::messages::install(&app, chat.auth(), &options, &MemoryStores)
        .await
        .unwrap();
    // The part keeps only text and roomId; a hook added afterwards sees its output.
    messages
        .hooks(HookMap::new().before(
            "create",
            sync_hook(|ctx| {
                let data = ctx.data.as_mut().and_then(|d| d.as_object_mut()).unwrap();
                assert!(data.contains_key("createdAt"));
                data.insert("tag".into(), json!("added"));
                Ok(())
            }),
        ))
        .unwrap();
    let created = messages
        .create(json!({"text": "hi", "extra": 1}), external())
        .await
        .unwrap();
    assert_eq!(created["tag"], "added");
    assert!(created.get("extra").is_none());
    // The part's own checks still run, with its options.
    let error = messages
        .create(json!({"text": "too long"}), external())
        .await
        .unwrap_err();
    assert_eq!(error.message, "text is too long");
    // Pagination off: a plain array.
    assert!(messages.find(Params::default()).await.unwrap().is_array());
    // join/leave are there, and need a connection.
    let error = messages
        .call("join", json!({"roomId": "r"}), Params::default())
        .await
        .unwrap_err();
    assert_eq!(error.message, "join needs a real-time connection");
}

#[tokio::test]
async fn a_part_refuses_a_path_already_registered() {
    let app = App::new();
    app.use_service(
        "messages",
        MemoryService::default(),
        ServiceOptions::default(),
    )
    .unwrap();
    let chat = chat::authentication(&app, auth_config()).unwrap();
    let error = chat::messages::install(
        &app,
        chat.auth(),
        &MessagesOptions::default(),
        &MemoryStores,
    )
    .await
    .unwrap_err();
    assert!(
        error.message.contains("'messages' is already registered"),
        "{}",
        error.message
    );
    // The whole default app on an app that has `messages` fails the same way.
    let app = App::new();
    app.use_service(
        "messages",
        MemoryService::default(),
        ServiceOptions::default(),
    )
    .unwrap();
    let mut config = roost::config::Config::default();
    config.auth.0 = auth_config();
    let built = roost::Server::builder()
        .config(config)
        .storage(roost::storage::Storage::memory())
        .app(app)
        .build()
        .await;
    let error = built.unwrap_err().to_string();
    assert!(
        error.contains("'messages' is already registered"),
        "{error}"
    );
}
