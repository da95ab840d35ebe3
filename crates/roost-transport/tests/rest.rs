//! REST over a real socket: routes, verbs, status codes and Feathers error shapes
//! (docs/feathers-semantics.md §H1–H9).
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::{json, App, Params, Result, Service, ServiceOptions, Value};
use roost_testkit::{json_request, request};
use roost_transport::{CorsConfig, RestConfig};
use std::net::SocketAddr;

/// Answers every call with what it received.
struct Mirror;

fn seen(method: &str, id: Option<&Value>, data: Option<&Value>, params: &Params) -> Value {
    json!({
        "method": method, "id": id, "data": data, "query": params.query,
        "route": params.route, "provider": params.provider,
        "ua": params.headers.get("user-agent"),
    })
}

#[async_trait]
impl Service for Mirror {
    async fn find(&self, p: &Params) -> Result<Value> {
        Ok(seen("find", None, None, p))
    }
    async fn get(&self, id: &Value, p: &Params) -> Result<Value> {
        if id == "falsy" {
            return Ok(json!(0));
        }
        if id == "plain" {
            // `throw new Error('boom')` in a Feathers service.
            return Err(roost_core::Error::plain("boom").with_errors(json!({"a": 1})));
        }
        Ok(seen("get", Some(id), None, p))
    }
    async fn create(&self, data: Value, p: &Params) -> Result<Value> {
        if data.get("empty").is_some() {
            return Ok(Value::Null);
        }
        Ok(seen("create", None, Some(&data), p))
    }
    async fn update(&self, id: &Value, data: Value, p: &Params) -> Result<Value> {
        Ok(seen("update", Some(id), Some(&data), p))
    }
    async fn patch(&self, id: &Value, data: Value, p: &Params) -> Result<Value> {
        Ok(seen("patch", Some(id), Some(&data), p))
    }
    async fn remove(&self, id: &Value, p: &Params) -> Result<Value> {
        Ok(seen("remove", Some(id), None, p))
    }
    async fn call(&self, method: &str, data: Value, p: &Params) -> Result<Value> {
        Ok(seen(method, None, Some(&data), p))
    }
    fn implemented_methods(&self) -> Vec<String> {
        let mut m: Vec<String> = roost_core::service::STANDARD_METHODS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        m.extend(["shout".to_owned(), "hidden".to_owned()]);
        m
    }
}

async fn start(cors: CorsConfig, body_limit: usize) -> SocketAddr {
    let app = App::new();
    let mut methods: Vec<String> = roost_core::service::STANDARD_METHODS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    methods.push("shout".into());
    let all = ServiceOptions {
        methods: Some(methods),
        ..ServiceOptions::default()
    };
    app.use_service("mirror", Mirror, all.clone()).unwrap();
    app.use_service("users/:userId/notes", Mirror, all).unwrap();
    app.use_service(
        "readonly",
        Mirror,
        ServiceOptions {
            methods: Some(vec!["find".into(), "get".into()]),
            ..ServiceOptions::default()
        },
    )
    .unwrap();
    let hooked = app
        .use_service("hooked", Mirror, ServiceOptions::default())
        .unwrap();
    hooked
        .hooks(
            HookMap::new()
                .after(
                    "find",
                    sync_hook(|ctx| {
                        let http = ctx.http.get_or_insert_with(Default::default);
                        http.location = Some("/somewhere else".into());
                        http.headers.push(("x-a".into(), "1".into()));
                        http.headers.push(("x-a".into(), "2".into()));
                        Ok(())
                    }),
                )
                .after(
                    "get",
                    sync_hook(|ctx| {
                        ctx.set_status_code(202);
                        ctx.dispatch = Some(json!({"safe": true}));
                        Ok(())
                    }),
                ),
        )
        .unwrap();
    // A memory service with a custom method attached (issue #19): no forwarding wrapper.
    let todos = app
        .use_service(
            "todos",
            roost_core::MemoryService::default(),
            ServiceOptions::default(),
        )
        .unwrap();
    todos
        .method("clear", |call: roost_core::MethodCall| async move {
            let removed = call.data["ids"].as_array().map_or(0, Vec::len);
            Ok(json!({"cleared": removed, "provider": call.params.provider}))
        })
        .unwrap();
    let rest = RestConfig {
        body_limit,
        ..RestConfig::default()
    };
    let router = roost_transport::router(app, rest, &cors);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn no_cors() -> CorsConfig {
    CorsConfig {
        enabled: false,
        ..CorsConfig::default()
    }
}

#[tokio::test]
async fn verbs_map_to_methods_with_ids_queries_and_provider() {
    let addr = start(no_cors(), 1 << 20).await;
    let r = request(
        addr,
        "GET",
        "/mirror?name=a&age[$lt]=30&$sort[age]=-1",
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = r.json();
    assert_eq!(body["method"], "find");
    assert_eq!(
        body["query"],
        json!({"name": "a", "age": {"$lt": "30"}, "$sort": {"age": "-1"}})
    );
    assert_eq!(body["provider"], "rest");

    let r = request(addr, "GET", "/mirror/7/", &[("User-Agent", "t")], None)
        .await
        .unwrap();
    assert_eq!(
        (r.json()["method"].clone(), r.json()["id"].clone()),
        (json!("get"), json!("7"))
    );
    assert_eq!(r.json()["ua"], "t");

    let r = json_request(addr, "POST", "/mirror", &json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["method"].clone()),
        (201, json!("create"))
    );
    // POST /svc/:id is a create too; the id is dropped.
    let r = json_request(addr, "POST", "/mirror/5", &json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!((r.status, r.json()["id"].clone()), (201, Value::Null));

    for (verb, method, id) in [
        ("PUT", "update", json!("3")),
        ("PATCH", "patch", json!("3")),
        ("DELETE", "remove", json!("3")),
    ] {
        let r = json_request(addr, verb, "/mirror/3", &json!({"b": 2}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{verb}");
        assert_eq!(
            (r.json()["method"].clone(), r.json()["id"].clone()),
            (json!(method), id)
        );
    }
    // Without an id: update(null), patch(null), remove(null); GET/DELETE ignore the body.
    let r = json_request(addr, "PATCH", "/mirror", &json!({"b": 2}))
        .await
        .unwrap();
    assert_eq!(r.json()["id"], Value::Null);
    let r = json_request(addr, "DELETE", "/mirror", &json!({"b": 2}))
        .await
        .unwrap();
    assert_eq!(
        (r.json()["method"].clone(), r.json()["data"].clone()),
        (json!("remove"), Value::Null)
    );
}

#[tokio::test]
async fn route_placeholders_and_percent_encoded_ids() {
    let addr = start(no_cors(), 1 << 20).await;
    let r = request(addr, "GET", "/users/5/notes/a%20b", &[], None)
        .await
        .unwrap();
    assert_eq!(r.json()["route"], json!({"userId": "5"}));
    assert_eq!(r.json()["id"], "a b");
    let r = request(addr, "GET", "/users/5/notes/1/extra", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn status_codes_from_results_and_hooks() {
    let addr = start(no_cors(), 1 << 20).await;
    let r = json_request(addr, "POST", "/mirror", &json!({"empty": true}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body.len()),
        (204, 0),
        "falsy create → 204 (5.0.50)"
    );
    let r = request(addr, "GET", "/mirror/falsy", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    let r = request(addr, "GET", "/hooked", &[], None).await.unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/somewhere%20else"));
    let values: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "x-a")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values, vec!["1", "2"]);
    let r = request(addr, "GET", "/hooked/1", &[], None).await.unwrap();
    assert_eq!((r.status, r.json()), (202, json!({"safe": true})));
    let r = request(addr, "HEAD", "/mirror/1", &[], None).await.unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
}

fn assert_error(r: &roost_testkit::HttpResponse, status: u16, name: &str, message: &str) {
    assert_eq!(r.status, status, "{:?}", r.json());
    let body = r.json();
    assert_eq!(body["name"], name);
    assert_eq!(body["message"], message);
    assert_eq!(body["code"], status);
    assert!(body.get("stack").is_none());
}

#[tokio::test]
async fn errors_have_feathers_shapes_and_messages() {
    let addr = start(no_cors(), 64).await;
    let r = request(addr, "GET", "/nope/x?y=1", &[], None)
        .await
        .unwrap();
    assert_error(&r, 404, "NotFound", "Path /nope/x not found");
    assert_eq!(r.json()["className"], "not-found");
    let r = json_request(addr, "POST", "/readonly", &json!({}))
        .await
        .unwrap();
    assert_error(
        &r,
        405,
        "MethodNotAllowed",
        "Method `create` is not supported by this endpoint.",
    );
    assert!(r.header("allow").is_none());
    let r = request(addr, "OPTIONS", "/mirror", &[], None)
        .await
        .unwrap();
    assert_error(&r, 405, "MethodNotAllowed", "Method OPTIONS not allowed");
    let r = request(
        addr,
        "POST",
        "/mirror",
        &[("Content-Type", "application/json")],
        Some(b"{\"a\":"),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status, r.json()["name"].clone()),
        (400, json!("BadRequest"))
    );
    let r = request(
        addr,
        "POST",
        "/mirror",
        &[("Content-Type", "application/json")],
        Some(b"null"),
    )
    .await
    .unwrap();
    assert_error(
        &r,
        400,
        "BadRequest",
        "Invalid JSON: the body must be an object or an array",
    );
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = request(addr, "POST", "/mirror", &form, Some(b"a=1&b[c]=2"))
        .await
        .unwrap();
    assert_eq!(r.json()["data"], json!({"a": "1", "b": {"c": "2"}}));
    let big = vec![b' '; 65];
    let r = request(addr, "POST", "/mirror", &[], Some(&big))
        .await
        .unwrap();
    assert_error(
        &r,
        400,
        "BadRequest",
        "Request body is larger than the limit of 64 bytes",
    );
}

#[tokio::test]
async fn a_plain_error_is_answered_as_feathers_on_koa_does() {
    let addr = start(no_cors(), 64).await;
    let r = request(addr, "GET", "/mirror/plain", &[], None)
        .await
        .unwrap();
    // docs/feathers-semantics.md §G5a: 500 and only the message (`errors` dropped).
    assert_eq!((r.status, r.json()), (500, json!({"message": "boom"})));
}

#[tokio::test]
async fn a_method_attached_to_a_memory_service_is_served_over_rest() {
    let addr = start(no_cors(), 1 << 20).await;
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Service-Method", "clear"),
    ];
    let r = request(addr, "POST", "/todos", &headers, Some(b"{\"ids\":[1,2]}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"cleared": 2, "provider": "rest"}))
    );
    // The memory service's own methods are still there.
    let r = json_request(addr, "POST", "/todos", &json!({"t": 1}))
        .await
        .unwrap();
    assert_eq!((r.status, r.json()), (201, json!({"id": 0, "t": 1})));
}

#[tokio::test]
async fn custom_methods_through_x_service_method() {
    let addr = start(no_cors(), 1 << 20).await;
    let shout = |m: &'static str| {
        [
            ("Content-Type", "application/json"),
            ("X-Service-Method", m),
        ]
    };
    let r = request(addr, "POST", "/mirror", &shout("shout"), Some(b"{\"t\":1}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["method"].clone()),
        (200, json!("shout"))
    );
    for bad in ["hidden", "find", "nope"] {
        let r = request(addr, "POST", "/mirror", &shout(bad), Some(b"{}"))
            .await
            .unwrap();
        assert_error(
            &r,
            405,
            "MethodNotAllowed",
            &format!("Method `{bad}` is not supported by this endpoint."),
        );
    }
    // Only honoured on POST.
    let r = request(addr, "GET", "/mirror", &shout("shout"), None)
        .await
        .unwrap();
    assert_eq!(r.json()["method"], "find");
}

#[tokio::test]
async fn cors_preflight_and_mirrored_origin() {
    let addr = start(CorsConfig::default(), 1 << 20).await;
    let r = request(
        addr,
        "OPTIONS",
        "/mirror",
        &[
            ("Origin", "http://app.example"),
            ("Access-Control-Request-Method", "PATCH"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = request(
        addr,
        "GET",
        "/mirror",
        &[("Origin", "http://x.example")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://x.example")
    );
}

#[tokio::test]
async fn a_params_hook_completes_every_request() {
    let app = App::new();
    app.use_service("mirror", Mirror, ServiceOptions::default())
        .unwrap();
    let hook: roost_transport::RequestParamsHook = std::sync::Arc::new(|params: &mut Params| {
        let auth = params.headers.get("authorization").cloned();
        params
            .query
            .insert("seen".into(), auth.unwrap_or(Value::Null));
    });
    let router = roost_transport::router_with_params_hook(
        app,
        RestConfig::default(),
        &no_cors(),
        Some(hook),
        roost_transport::RestMetrics::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let res = request(
        addr,
        "GET",
        "/mirror",
        &[("Authorization", "Bearer t")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["query"]["seen"], "Bearer t");
    let res = request(addr, "GET", "/mirror", &[], None).await.unwrap();
    assert_eq!(res.json()["query"]["seen"], Value::Null);
}
