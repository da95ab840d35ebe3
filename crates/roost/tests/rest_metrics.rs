//! `/metrics` counts REST requests and every REST limit hit: bodies over `rest.body_limit`,
//! queries over a `rest.query` limit, and bodies that are not JSON.
#![allow(clippy::unwrap_used)]

use roost::config::Config;
use roost::server;
use roost_core::{App, MemoryService, ServiceOptions};

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
}

#[tokio::test]
async fn rest_limit_hits_are_counted() {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.host = "127.0.0.1".parse().unwrap();
    config.rest.body_limit = 64;
    config.rest.query.depth = 2;
    config.rest.query.strict_depth = true;
    let app = App::new();
    app.use_service("notes", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    let listener = server::bind(&config).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = roost::Server::builder()
        .config(config)
        .default_app(false)
        .app(app)
        .build()
        .await
        .unwrap();
    tokio::spawn(server.serve_until(listener, std::future::pending()));

    let big = serde_json::json!({"text": "x".repeat(100)});
    let res = roost_testkit::json_request(addr, "POST", "/notes", &big)
        .await
        .unwrap();
    assert_eq!(res.status, 400);
    let res = roost_testkit::request(addr, "GET", "/notes?a[b][c][d]=1", &[], None)
        .await
        .unwrap();
    assert_eq!(res.status, 400);
    let res = roost_testkit::request(
        addr,
        "POST",
        "/notes",
        &[("Content-Type", "application/json")],
        Some(b"{not json".as_slice()),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 400);
    let res = roost_testkit::json_request(addr, "POST", "/notes", &serde_json::json!({"t": 1}))
        .await
        .unwrap();
    assert_eq!(res.status, 201);

    let metrics = roost_testkit::request(addr, "GET", "/metrics", &[], None)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(counter(&text, "roost_rest_requests_total"), 4);
    assert_eq!(counter(&text, "roost_rest_body_limit_total"), 1);
    assert_eq!(counter(&text, "roost_rest_query_limit_total"), 1);
    assert_eq!(counter(&text, "roost_rest_bad_bodies_total"), 1);
    assert_eq!(counter(&text, "roost_rest_limit_hits_total"), 2);
}
