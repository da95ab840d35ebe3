//! Roost as a library (issue #19): custom methods on any service, services that reach the
//! app without a reference cycle, memory services that reset.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use roost_core::external::call_external;
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::service::AdapterOptions;
use roost_core::{
    json, App, ConnectionId, MemoryOptions, MemoryService, MethodCall, Params, RecordingSink,
    Result, Service, ServiceOptions, Value, WeakApp,
};
use std::sync::{Arc, Mutex, OnceLock};

fn ids() -> AdapterOptions {
    AdapterOptions::default()
}

#[tokio::test]
async fn a_custom_method_on_a_memory_service_is_callable_hookable_and_external() {
    let app = App::new();
    let todos = app
        .use_service(
            "todos",
            MemoryService::new(ids()),
            ServiceOptions::default(),
        )
        .unwrap();
    todos
        .method("complete", |call: MethodCall| async move {
            let id = call.data["id"].clone();
            let by = call.params.query.get("by").cloned().unwrap_or(Value::Null);
            call.service()?
                .patch(id, json!({"done": true, "by": by}), Params::default())
                .await
        })
        .unwrap();
    // Hooks name the method after it was added, and see its data.
    todos
        .hooks(HookMap::new().before(
            "complete",
            sync_hook(|ctx| {
                ctx.params.query.insert("by".into(), json!("hook"));
                Ok(())
            }),
        ))
        .unwrap();
    todos
        .create(json!({"text": "a"}), Params::default())
        .await
        .unwrap();
    assert!(todos.entry().allows_external("complete"));
    assert!(app.is_external_method("complete"));
    // From a socket client, as `todos.complete({id: 0})`.
    let ctx = call_external(
        &app,
        "complete",
        &json!("todos"),
        vec![json!({"id": 0})],
        Params::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        ctx.result,
        Some(json!({"id": 0, "text": "a", "done": true, "by": "hook"}))
    );
    // The standard methods are untouched: no forwarding wrapper.
    let all = todos.find(Params::default()).await.unwrap();
    assert_eq!(
        all,
        json!([{"id": 0, "text": "a", "done": true, "by": "hook"}])
    );
}

#[tokio::test]
async fn custom_method_names_are_checked_once() {
    let app = App::new();
    let svc = app
        .use_service("x", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    let ok = |_c: MethodCall| async { Ok(Value::Null) };
    for bad in ["find", "emit", "setup", ""] {
        let e = svc.method(bad, ok).unwrap_err();
        assert!(
            e.message.contains("not allowed as a custom method name"),
            "{bad}: {e}"
        );
    }
    svc.method("ping", ok).unwrap();
    let e = svc.method("ping", ok).unwrap_err();
    assert_eq!(e.message, "Service 'x' already has a method 'ping'");
    // A method that is not attached is still refused from outside.
    let e = call_external(&app, "pong", &json!("x"), vec![], Params::default())
        .await
        .unwrap_err();
    assert_eq!(e.message, "Method 'pong' not allowed on service 'x'");
}

/// Calls `users` and emits a custom event from its own method: it reaches the app through
/// the weak handle it got at registration.
#[derive(Default)]
struct Greeter {
    app: OnceLock<WeakApp>,
}

#[async_trait]
impl Service for Greeter {
    fn setup(&self, app: WeakApp, path: &str) {
        assert_eq!(path, "greetings");
        let _ = self.app.set(app);
    }

    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        let app = self.app.get().cloned().unwrap_or_default().app()?;
        let user = app
            .service("users")?
            .get(data["userId"].clone(), Params::default())
            .await?;
        let greeting = json!({"text": format!("hello {}", user["name"].as_str().unwrap_or(""))});
        let _ = params;
        app.service("greetings")?
            .emit("greeted", json!({"to": user["name"]}))
            .await;
        Ok(greeting)
    }

    fn implemented_methods(&self) -> Vec<String> {
        vec!["create".into()]
    }
}

#[tokio::test]
async fn a_service_calls_another_service_and_emits_a_custom_event_without_a_cycle() {
    let app = App::new();
    let sink = Arc::new(RecordingSink::new());
    app.set_delivery_sink(sink.clone());
    let conn = ConnectionId::next();
    app.channels().connect(conn);
    app.channel("everyone").join([conn]);
    app.publish(roost_core::Publisher::new(
        |_data: &Value, ctx: &roost_core::HookContext| Ok(Some(ctx.app.channel("everyone").into())),
    ));
    let users = app
        .use_service("users", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    users
        .create(json!({"name": "ada"}), Params::default())
        .await
        .unwrap();
    let options = ServiceOptions {
        events: vec!["greeted".into()],
        ..ServiceOptions::default()
    };
    let greetings = app
        .use_service("greetings", Greeter::default(), options)
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    greetings.on("greeted", move |data, _ctx| {
        h.lock().unwrap().push(data.clone())
    });
    let out = greetings
        .create(json!({"userId": 0}), Params::default())
        .await
        .unwrap();
    assert_eq!(out, json!({"text": "hello ada"}));
    assert_eq!(*heard.lock().unwrap(), vec![json!({"to": "ada"})]);
    let names: Vec<String> = sink.take().iter().map(|d| d.wire_name()).collect();
    assert_eq!(
        names,
        vec!["users created", "greetings greeted", "greetings created"]
    );

    // No cycle: once the last `App` is gone, the service's handle no longer upgrades.
    let weak = app.downgrade();
    drop((app, users, greetings));
    assert!(weak.upgrade().is_none());
    assert_eq!(
        weak.app().unwrap_err().message,
        "The application is no longer running"
    );
}

#[tokio::test]
async fn hooks_reach_the_app_through_the_context() {
    let app = App::new();
    app.use_service("log", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    let todos = app
        .use_service("todos", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    todos
        .hooks(HookMap::new().after(
            "create",
            roost_core::hooks::hook_fn(|ctx| {
                Box::pin(async move {
                    let entry = json!({"created": ctx.result.clone()});
                    ctx.app
                        .service("log")?
                        .create(entry, Params::default())
                        .await?;
                    Ok(())
                })
            }),
        ))
        .unwrap();
    todos
        .create(json!({"t": 1}), Params::default())
        .await
        .unwrap();
    let log = app
        .service("log")
        .unwrap()
        .find(Params::default())
        .await
        .unwrap();
    assert_eq!(log, json!([{"id": 0, "created": {"id": 0, "t": 1}}]));
}

#[tokio::test]
async fn a_memory_service_clears_and_resets_from_a_fixtures_method() {
    let app = App::new();
    let options = MemoryOptions {
        start_id: 10,
        ..MemoryOptions::default()
    };
    let shared = Arc::new(MemoryService::with_options(options));
    let todos = app
        .use_shared_service("todos", shared.clone(), ServiceOptions::default())
        .unwrap();
    let fixtures = app
        .use_service(
            "fixtures",
            MemoryService::default(),
            ServiceOptions::default(),
        )
        .unwrap();
    fixtures
        .method("reset", |call: MethodCall| async move {
            let todos = call.app.service("todos")?;
            let memory = todos
                .downcast::<MemoryService>()
                .ok_or_else(|| roost_core::Error::general("todos is not a memory service"))?;
            memory.reset();
            Ok(json!({"reset": ["todos"]}))
        })
        .unwrap();
    for _ in 0..2 {
        todos.create(json!({}), Params::default()).await.unwrap();
    }
    assert_eq!(shared.len(), 2);
    shared.clear();
    assert!(shared.is_empty());
    // clear keeps the counter …
    let next = todos.create(json!({}), Params::default()).await.unwrap();
    assert_eq!(next["id"], 12);
    // … reset restarts it.
    fixtures
        .call("reset", Value::Null, Params::default())
        .await
        .unwrap();
    assert!(shared.is_empty());
    let first = todos.create(json!({}), Params::default()).await.unwrap();
    assert_eq!(first["id"], 10);
    // A service registered as a trait object is not downcast.
    let other: Arc<dyn Service> = Arc::new(MemoryService::default());
    let h = app
        .use_arc_service("other", other, ServiceOptions::default())
        .unwrap();
    assert!(h.downcast::<MemoryService>().is_none());
    assert!(fixtures.downcast::<Greeter>().is_none());
}
