//! Zero-SDK forwarding over real TCP: the requests Roost sends upstream are the ones
//! `@feathersjs/rest-client` sends, the upstream's errors come back unchanged, and a dead
//! upstream gives `Unavailable` after the bounded wait. The upstream here is a recording HTTP
//! server (the seam); the reference chat app as a real upstream is tested by
//! `interop/test/gateway.test.js`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use roost_core::{json, App, ErrorKind, MemoryService, Params, ServiceOptions, Value};
use roost_gateway::{Gateway, GatewayConfig};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    service_method: Option<String>,
    authorization: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    log.lock().unwrap().push(Seen {
        method,
        uri: uri.to_string(),
        service_method: header("x-service-method"),
        authorization: header("authorization"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match uri.path().split('/').nth(1).unwrap_or_default() {
        "missing" => (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"name":"NotFound","message":"No record found for id 'x'","code":404,"className":"not-found","data":{"id":"x"}}"#.to_owned(),
        ),
        // Not Feathers: a bare `{message}` (another framework, a proxy).
        "plain" => (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"message":"no such route"}"#.to_owned(),
        ),
        "broken" => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html>proxy error</html>".to_owned(),
        ),
        _ => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"ok":true}"#.to_owned(),
        ),
    }
}

/// A recording upstream on 127.0.0.1:0.
async fn upstream() -> (String, Log) {
    let log: Log = Arc::default();
    let router = Router::new().fallback(record).with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), log)
}

fn config(upstream: &str) -> GatewayConfig {
    let mut config = GatewayConfig {
        upstream: upstream.to_owned(),
        ..GatewayConfig::default()
    };
    config
        .methods
        .insert("messages".into(), vec!["join".into(), "leave".into()]);
    config
}

/// Runs `method` on whatever service `path` routes to, as a socket call with `params`.
async fn call(
    app: &App,
    path: &str,
    method: &str,
    id: Option<Value>,
    data: Option<Value>,
    mut params: Params,
) -> roost_core::Result<Value> {
    let (service, route) = app.lookup(path).expect("a service for the path");
    params.route = route;
    let id = id.unwrap_or(Value::Null);
    match method {
        "find" => service.find(params).await,
        "get" => service.get(id, params).await,
        "create" => service.create(data.unwrap_or(Value::Null), params).await,
        "update" => {
            service
                .update(id, data.unwrap_or(Value::Null), params)
                .await
        }
        "patch" => service.patch(id, data.unwrap_or(Value::Null), params).await,
        "remove" => service.remove(id, params).await,
        custom => {
            service
                .call(custom, data.unwrap_or(Value::Null), params)
                .await
        }
    }
}

fn socket_params() -> Params {
    Params::external("primus")
}

#[tokio::test]
async fn calls_become_the_requests_rest_client_sends() {
    let (url, log) = upstream().await;
    let app = App::new();
    Gateway::install(&app, &config(&url)).unwrap().unwrap();

    let mut params = socket_params();
    params.query = json!({"$limit": 2, "text": {"$in": ["a b", "c"]}})
        .as_object()
        .cloned()
        .unwrap();
    params.authentication = Some(json!({"strategy": "jwt", "accessToken": "tok"}));
    let result = call(&app, "messages", "find", None, None, params)
        .await
        .unwrap();
    assert_eq!(result, json!({"ok": true}));
    let calls = [
        ("messages", "get", Some(json!("a b/c")), None),
        ("notes", "create", None, Some(json!({"text": "hi"}))),
        ("messages", "update", Some(json!(7)), Some(json!({"t": 1}))),
        (
            "messages",
            "patch",
            Some(Value::Null),
            Some(json!({"t": 2})),
        ),
        ("messages", "remove", Some(json!(7)), None),
        ("messages", "join", None, Some(json!({"roomId": "r1"}))),
    ];
    for (path, method, id, data) in calls {
        call(&app, path, method, id, data, socket_params())
            .await
            .unwrap();
    }

    let seen = log.lock().unwrap().clone();
    let expected = [
        (
            "GET",
            "/messages?%24limit=2&text%5B%24in%5D%5B0%5D=a%20b&text%5B%24in%5D%5B1%5D=c",
            None,
            Some("Bearer tok"),
            "",
        ),
        ("GET", "/messages/a%20b%2Fc", None, None, ""),
        ("POST", "/notes", None, None, r#"{"text":"hi"}"#),
        ("PUT", "/messages/7", None, None, r#"{"t":1}"#),
        ("PATCH", "/messages", None, None, r#"{"t":2}"#),
        ("DELETE", "/messages/7", None, None, ""),
        (
            "POST",
            "/messages",
            Some("join"),
            None,
            r#"{"roomId":"r1"}"#,
        ),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    for (got, want) in seen.iter().zip(expected) {
        assert_eq!(got.method.as_str(), want.0, "{got:?}");
        assert_eq!(got.uri, want.1, "{got:?}");
        assert_eq!(got.service_method.as_deref(), want.2, "{got:?}");
        assert_eq!(got.authorization.as_deref(), want.3, "{got:?}");
        assert_eq!(got.body, want.4, "{got:?}");
    }
}

#[tokio::test]
async fn upstream_errors_come_back_unchanged() {
    let (url, _log) = upstream().await;
    let app = App::new();
    let gateway = Gateway::install(&app, &config(&url)).unwrap().unwrap();

    let e = call(
        &app,
        "missing",
        "get",
        Some(json!("x")),
        None,
        socket_params(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.message, "No record found for id 'x'");
    assert_eq!(e.data, Some(json!({"id": "x"})));

    let e = call(&app, "broken", "find", None, None, socket_params())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadGateway);
    assert_eq!(e.message, "The upstream answered 502");

    // A body without a Feathers `name` is a plain error, as `convert()` makes it in
    // `@feathersjs/rest-client`: REST then answers 500 `{message}`, as Koa does.
    let e = call(&app, "plain", "find", None, None, socket_params())
        .await
        .unwrap_err();
    assert!(e.is_plain(), "{e:?}");
    assert_eq!(e.code(), 500);
    assert_eq!(e.to_json(), json!({"message": "no such route"}));
    assert_eq!(e.to_rest_json(), json!({"message": "no such route"}));
    assert_eq!(gateway.metrics().upstream_errors.load(Ordering::Relaxed), 3);

    // A custom method the config does not list is not callable: the wildcard has none.
    let (service, _) = app.lookup("notes").unwrap();
    assert!(!service
        .entry()
        .options()
        .methods
        .iter()
        .any(|m| m == "join"));
}

#[tokio::test]
async fn roosts_own_services_win() {
    let (url, log) = upstream().await;
    let app = App::new();
    app.use_service(
        "messages",
        MemoryService::new(Default::default()),
        ServiceOptions::default(),
    )
    .unwrap();
    let mut config = config(&url);
    config.services = vec!["*".into(), "messages".into()];
    Gateway::install(&app, &config).unwrap().unwrap();
    let found = call(&app, "messages", "find", None, None, socket_params())
        .await
        .unwrap();
    assert_eq!(found, json!([]));
    assert!(log.lock().unwrap().is_empty(), "nothing went upstream");
    call(&app, "others", "find", None, None, socket_params())
        .await
        .unwrap();
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_upstream_is_unavailable_after_the_bounded_wait_then_at_once() {
    // A port that was free a moment ago: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = App::new();
    let mut config = config(&url);
    config.unavailable_wait_ms = 300;
    config.retry_interval_ms = 50;
    let gateway = Gateway::install(&app, &config).unwrap().unwrap();
    let metrics = gateway.metrics();

    let e = call(&app, "messages", "find", None, None, socket_params())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(e.code(), 503);
    assert_eq!(
        e.data,
        Some(json!({"reason": "the upstream refuses connections"}))
    );
    let retries = metrics.retries.load(Ordering::Relaxed);
    assert!(retries >= 1, "the first call retried");
    // Known down: the next call tries once and fails without retrying.
    let e = call(&app, "messages", "find", None, None, socket_params())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(metrics.retries.load(Ordering::Relaxed), retries);
    assert_eq!(metrics.unavailable.load(Ordering::Relaxed), 2);
}

#[test]
fn queries_survive_the_round_trip_through_roosts_qs_parser() {
    // What the upstream's Koa transport parses back (roost-wire's qs parser is checked
    // against the real `qs`): the same shape, scalars as strings.
    let cases = [
        json!({"$limit": 5, "$skip": 10, "$sort": {"createdAt": -1}}),
        json!({"roomId": {"$in": ["a&b", "c d", "é"]}, "$or": [{"x": 1}, {"y": {"$ne": true}}]}),
        json!({"$select": ["text", "userId"], "text": "100% = [ok]"}),
    ];
    let stringify = |v: &Value| match v {
        Value::Object(map) => roost_gateway::qs::stringify(map),
        _ => unreachable!(),
    };
    fn as_strings(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), as_strings(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(as_strings).collect()),
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        }
    }
    for case in cases {
        let text = stringify(&case);
        let parsed = roost_wire::qs::parse(&text, &roost_wire::qs::QsOptions::default()).unwrap();
        assert_eq!(parsed, as_strings(&case), "{text}");
    }
}
