//! The hook chain and events, one test per rule of docs/feathers-semantics.md §B and §C.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use roost_core::external::call_external;
use roost_core::hooks::{around_fn, hook_fn, sync_hook, HookMap, HookType, ALL};
use roost_core::{json, App, Error, HookContext, Params, Result, Service, ServiceOptions, Value};
use std::sync::{Arc, Mutex};

/// Records the order in which things happen.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A service that echoes its arguments and can be told to fail.
struct Echo {
    log: Log,
}

#[async_trait]
impl Service for Echo {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.log.push("METHOD");
        if params.query.contains_key("fail") {
            return Err(Error::bad_request("method failed"));
        }
        Ok(json!([{"id": 1}, {"id": 2}]))
    }
    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        self.log.push("METHOD");
        Ok(json!({"id": id, "query": params.query}))
    }
    async fn create(&self, data: Value, _params: &Params) -> Result<Value> {
        self.log.push("METHOD");
        if data.get("fail").is_some() {
            return Err(Error::bad_request("method failed"));
        }
        Ok(data)
    }
    async fn remove(&self, id: &Value, _params: &Params) -> Result<Value> {
        self.log.push("METHOD");
        Ok(json!({"id": id}))
    }
    async fn call(&self, method: &str, data: Value, _params: &Params) -> Result<Value> {
        self.log.push(format!("METHOD {method}"));
        Ok(data)
    }
    fn implemented_methods(&self) -> Vec<String> {
        ["find", "get", "create", "remove", "typing"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }
}

fn setup() -> (App, Log) {
    let app = App::new();
    let log = Log::default();
    let options = ServiceOptions {
        methods: Some(vec![
            "find".into(),
            "get".into(),
            "create".into(),
            "remove".into(),
            "typing".into(),
        ]),
        events: vec!["typing".into()],
        ..ServiceOptions::default()
    };
    app.use_service("echo", Echo { log: log.clone() }, options)
        .unwrap();
    (app, log)
}

fn rec(log: &Log, name: &str) -> Arc<dyn roost_core::hooks::Hook> {
    let (log, name) = (log.clone(), name.to_owned());
    sync_hook(move |_ctx| {
        log.push(name.clone());
        Ok(())
    })
}

fn around(log: &Log, name: &str) -> Arc<dyn roost_core::hooks::AroundHook> {
    let (log, name) = (log.clone(), name.to_owned());
    around_fn(move |ctx, next| {
        let (log, name) = (log.clone(), name.clone());
        Box::pin(async move {
            log.push(format!("{name} in"));
            next.run(ctx).await?;
            log.push(format!("{name} out"));
            Ok(())
        })
    })
}

fn failing(log: &Log, name: &str) -> Arc<dyn roost_core::hooks::Hook> {
    let (log, name) = (log.clone(), name.to_owned());
    sync_hook(move |_ctx| {
        log.push(name.clone());
        Err(Error::forbidden(format!("{name} failed")))
    })
}

#[tokio::test]
async fn b3_b4_full_order_with_after_all_before_after_method() {
    let (app, log) = setup();
    app.hooks(
        HookMap::new()
            .around(ALL, around(&log, "app around.all"))
            .around("create", around(&log, "app around.create"))
            .before(ALL, rec(&log, "app before.all"))
            .before("create", rec(&log, "app before.create"))
            .after(ALL, rec(&log, "app after.all"))
            .after("create", rec(&log, "app after.create")),
    );
    let echo = app.service("echo").unwrap();
    echo.hooks(
        HookMap::new()
            .middleware(ALL, around(&log, "service hooks([..])"))
            .middleware("create", around(&log, "service hooks({create})"))
            .around(ALL, around(&log, "service around.all"))
            .around("create", around(&log, "service around.create"))
            .before(ALL, rec(&log, "service before.all"))
            .before("create", rec(&log, "service before.create"))
            .after(ALL, rec(&log, "service after.all"))
            .after("create", rec(&log, "service after.create")),
    )
    .unwrap();
    echo.create(json!({"a": 1}), Params::default())
        .await
        .unwrap();
    assert_eq!(
        log.take(),
        vec![
            "app around.all in",
            "app around.create in",
            "app before.all",
            "app before.create",
            "service hooks([..]) in",
            "service hooks({create}) in",
            "service around.all in",
            "service around.create in",
            "service before.all",
            "service before.create",
            "METHOD",
            "service after.all",
            "service after.create",
            "service around.create out",
            "service around.all out",
            "service hooks({create}) out",
            "service hooks([..]) out",
            "app after.all",
            "app after.create",
            "app around.create out",
            "app around.all out",
        ]
    );
}

#[tokio::test]
async fn repeated_registrations_append_in_order() {
    let (app, log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(HookMap::new().before("get", rec(&log, "first")))
        .unwrap();
    echo.hooks(HookMap::new().before("get", rec(&log, "second")))
        .unwrap();
    echo.get(json!(1), Params::default()).await.unwrap();
    assert_eq!(log.take(), vec!["first", "second", "METHOD"]);
}

fn error_hooks(app: &App, log: &Log) {
    app.hooks(
        HookMap::new()
            .error(ALL, rec(log, "app error.all"))
            .error("create", rec(log, "app error.create")),
    );
    app.service("echo")
        .unwrap()
        .hooks(
            HookMap::new()
                .error(ALL, rec(log, "service error.all"))
                .error("create", rec(log, "service error.create"))
                .after("create", rec(log, "after (must not run)")),
        )
        .unwrap();
}

#[tokio::test]
async fn b5_error_order_and_after_hooks_skipped() {
    let (app, log) = setup();
    error_hooks(&app, &log);
    let err = app
        .service("echo")
        .unwrap()
        .create(json!({"fail": true}), Params::default())
        .await
        .unwrap_err();
    assert_eq!(err.message, "method failed");
    assert_eq!(
        log.take(),
        vec![
            "METHOD",
            "service error.create",
            "service error.all",
            "app error.create",
            "app error.all"
        ]
    );
}

#[tokio::test]
async fn b5_error_hooks_catch_errors_of_after_hooks() {
    let (app, log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(
        HookMap::new()
            .after("get", failing(&log, "after.get"))
            .error("get", rec(&log, "error.get")),
    )
    .unwrap();
    let err = echo.get(json!(1), Params::default()).await.unwrap_err();
    assert_eq!(err.message, "after.get failed");
    assert_eq!(log.take(), vec!["METHOD", "after.get", "error.get"]);
}

#[tokio::test]
async fn b6_error_context_has_error_type_original_and_no_result() {
    let (app, log) = setup();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = Arc::clone(&seen);
    let echo = app.service("echo").unwrap();
    echo.hooks(
        HookMap::new()
            .before("get", failing(&log, "before.get"))
            .error(
                "get",
                sync_hook(move |ctx| {
                    *seen2.lock().unwrap() = Some((
                        ctx.error.clone().map(|e| e.message),
                        ctx.hook_type,
                        ctx.original_type,
                        ctx.result.clone(),
                    ));
                    Ok(())
                }),
            ),
    )
    .unwrap();
    echo.get(json!(1), Params::default()).await.unwrap_err();
    assert_eq!(
        seen.lock().unwrap().clone().unwrap(),
        (
            Some("before.get failed".to_owned()),
            HookType::Error,
            Some(HookType::Before),
            None
        )
    );
    assert_eq!(log.take(), vec!["before.get"], "the method never ran");
}

#[tokio::test]
async fn b7_error_hook_may_replace_or_swallow_the_error() {
    let (app, _log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(HookMap::new().error(
        "create",
        sync_hook(|ctx| {
            ctx.error = Some(Error::conflict("replaced"));
            Ok(())
        }),
    ))
    .unwrap();
    let err = echo
        .create(json!({"fail": 1}), Params::default())
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.message.as_str()), (409, "replaced"));

    // Throwing from the error hook propagates the thrown error.
    echo.hooks(HookMap::new().error("find", sync_hook(|_| Err(Error::gone("thrown")))))
        .unwrap();
    let err = echo
        .find(Params::default().with_query(json!({"fail": 1}).as_object().unwrap().clone()))
        .await
        .unwrap_err();
    assert_eq!(err.message, "thrown");

    // Setting a result (even null) swallows the error.
    let (app, _log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(HookMap::new().error(
        "create",
        sync_hook(|ctx| {
            ctx.result = Some(Value::Null);
            Ok(())
        }),
    ))
    .unwrap();
    let got = echo.create(json!({"fail": 1}), Params::default()).await;
    assert_eq!(got, Ok(Value::Null));
}

#[tokio::test]
async fn b8_result_in_before_hook_skips_method_but_not_other_hooks() {
    let (app, log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(
        HookMap::new()
            .before(
                "get",
                sync_hook(|ctx| {
                    ctx.result = Some(json!({"cached": true}));
                    Ok(())
                }),
            )
            .before("get", rec(&log, "later before"))
            .after("get", rec(&log, "after")),
    )
    .unwrap();
    let got = echo.get(json!(1), Params::default()).await.unwrap();
    assert_eq!(got, json!({"cached": true}));
    assert_eq!(log.take(), vec!["later before", "after"]);
}

#[tokio::test]
async fn b9_hooks_change_id_data_and_params_the_method_receives() {
    let (app, _log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(HookMap::new().before(
        "get",
        hook_fn(|ctx| {
            Box::pin(async move {
                ctx.id = Some(json!(42));
                ctx.params.query.insert("added".into(), json!("by hook"));
                Ok(())
            })
        }),
    ))
    .unwrap();
    let got = echo.get(json!(1), Params::default()).await.unwrap();
    assert_eq!(got, json!({"id": 42, "query": {"added": "by hook"}}));
}

#[tokio::test]
async fn b11_b13_dispatch_and_status_code() {
    let (app, _log) = setup();
    let echo = app.service("echo").unwrap();
    echo.hooks(HookMap::new().after(
        "create",
        sync_hook(|ctx| {
            ctx.dispatch = Some(json!({"safe": true}));
            ctx.set_status_code(202);
            Ok(())
        }),
    ))
    .unwrap();
    let ctx = echo
        .run(
            "create",
            roost_core::CallArgs {
                data: Some(json!({"secret": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ctx.result, Some(json!({"secret": 1})));
    assert_eq!(ctx.dispatch_or_result(), Some(&json!({"safe": true})));
    assert_eq!(ctx.status_code(), Some(202));
}

#[tokio::test]
async fn around_hook_can_stop_the_call() {
    let (app, log) = setup();
    app.hooks(HookMap::new().around(
        ALL,
        around_fn(|_ctx, _next| {
            Box::pin(async { Err(Error::not_authenticated("Not authenticated")) })
        }),
    ));
    let err = app
        .service("echo")
        .unwrap()
        .get(json!(1), Params::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 401);
    assert!(log.take().is_empty());
}

#[tokio::test]
async fn hooks_for_unknown_method_are_refused() {
    let (app, log) = setup();
    let err = app
        .service("echo")
        .unwrap()
        .hooks(HookMap::new().before("patch", rec(&log, "x")))
        .unwrap_err();
    assert_eq!(
        err.message,
        "Method patch is not a Feathers hooks enabled service method"
    );
}

type Seen = Arc<Mutex<Vec<(Value, Option<String>)>>>;

fn listen(app: &App, event: &str) -> Seen {
    let got = Arc::new(Mutex::new(Vec::new()));
    let got2 = Arc::clone(&got);
    app.service("echo").unwrap().on(event, move |data, ctx| {
        got2.lock().unwrap().push((data.clone(), ctx.event.clone()));
    });
    got
}

#[tokio::test]
async fn c1_c2_events_after_all_hooks_and_only_on_success() {
    let (app, log) = setup();
    let got = listen(&app, "created");
    let log2 = log.clone();
    app.service("echo")
        .unwrap()
        .on("created", move |_, _| log2.push("EVENT"));
    app.hooks(HookMap::new().after(ALL, rec(&log, "app after.all")));
    let echo = app.service("echo").unwrap();
    echo.create(json!({"n": 1}), Params::default())
        .await
        .unwrap();
    assert_eq!(log.take(), vec!["METHOD", "app after.all", "EVENT"]);
    echo.create(json!({"fail": 1}), Params::default())
        .await
        .unwrap_err();
    assert_eq!(got.lock().unwrap().len(), 1, "a failed call emits nothing");
    // find, get and custom methods emit nothing by themselves.
    echo.get(json!(1), Params::default()).await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn c3_one_event_per_array_item_and_swallowed_errors_still_emit() {
    let (app, _log) = setup();
    let got = listen(&app, "created");
    let echo = app.service("echo").unwrap();
    echo.create(json!([{"n": 1}, {"n": 2}]), Params::default())
        .await
        .unwrap();
    let items: Vec<Value> = got.lock().unwrap().iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(items, vec![json!({"n": 1}), json!({"n": 2})]);

    echo.hooks(HookMap::new().error(
        "create",
        sync_hook(|ctx| {
            ctx.result = Some(json!({"recovered": true}));
            Ok(())
        }),
    ))
    .unwrap();
    echo.create(json!({"fail": 1}), Params::default())
        .await
        .unwrap();
    assert_eq!(
        got.lock().unwrap().last().unwrap().0,
        json!({"recovered": true})
    );
}

#[tokio::test]
async fn b12_context_event_renames_or_suppresses() {
    let (app, _log) = setup();
    let created = listen(&app, "created");
    let found = listen(&app, "found");
    let echo = app.service("echo").unwrap();
    echo.hooks(
        HookMap::new()
            .before(
                "create",
                sync_hook(|ctx| {
                    ctx.event = None;
                    Ok(())
                }),
            )
            .after(
                "find",
                sync_hook(|ctx| {
                    ctx.event = Some("found".into());
                    Ok(())
                }),
            ),
    )
    .unwrap();
    echo.create(json!({"n": 1}), Params::default())
        .await
        .unwrap();
    assert!(created.lock().unwrap().is_empty());
    echo.find(Params::default()).await.unwrap();
    assert_eq!(found.lock().unwrap().len(), 2, "one per array item");
    assert_eq!(found.lock().unwrap()[0].1.as_deref(), Some("found"));
}

#[tokio::test]
async fn c4_c5_custom_events_are_emitted_by_the_service_itself() {
    let (app, log) = setup();
    let typing = listen(&app, "typing");
    let echo = app.service("echo").unwrap();
    // A hook naming an event from the `events` option does not auto-emit it.
    echo.hooks(HookMap::new().after(
        "typing",
        sync_hook(|ctx| {
            ctx.event = Some("typing".into());
            Ok(())
        }),
    ))
    .unwrap();
    echo.call("typing", json!({"who": "a"}), Params::default())
        .await
        .unwrap();
    assert_eq!(log.take(), vec!["METHOD typing"]);
    assert!(typing.lock().unwrap().is_empty());
    echo.emit("typing", json!({"who": "b"})).await;
    assert_eq!(typing.lock().unwrap()[0].0, json!({"who": "b"}));
}

#[tokio::test]
async fn h13_socket_call_checks_and_messages() {
    let (app, _log) = setup();
    let p = || Params::external("primus");
    let e = call_external(&app, "find", &json!(5), vec![], p())
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message.as_str()),
        (404, "Invalid service path")
    );
    let e = call_external(&app, "find", &json!("nope"), vec![], p())
        .await
        .unwrap_err();
    assert_eq!(e.message, "Service 'nope' not found");
    let e = call_external(&app, "patch", &json!("echo"), vec![], p())
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message.as_str()),
        (405, "Method 'patch' not allowed on service 'echo'")
    );
    let e = call_external(
        &app,
        "get",
        &json!("echo"),
        vec![json!(1), json!({}), json!(3)],
        p(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code(), e.message.as_str()),
        (400, "Too many arguments for 'get' method")
    );
    // Missing trailing arguments are fine; slashes are stripped; ids keep their JSON type.
    let ctx = call_external(&app, "get", &json!("/echo/"), vec![json!(7)], p())
        .await
        .unwrap();
    assert_eq!(ctx.result, Some(json!({"id": 7, "query": {}})));
    let ctx = call_external(&app, "typing", &json!("echo"), vec![], p())
        .await
        .unwrap();
    assert_eq!(ctx.result, Some(Value::Null));
    assert_eq!(ctx.params.provider.as_deref(), Some("primus"));
}

#[tokio::test]
async fn registration_errors() {
    let app = App::new();
    let e = app
        .use_service(
            "x",
            Echo {
                log: Log::default(),
            },
            ServiceOptions {
                methods: Some(vec!["off".into()]),
                ..ServiceOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "'off' on service 'x' is not allowed as a custom method name"
    );
    assert_eq!(
        app.service("nope").unwrap_err().message,
        "Can not find service 'nope'"
    );
    let _ = HookContext::new(app, "x", "find");
}
