//! The operator's side of the real binary: the `listening on` line on stdout, `/readyz`,
//! the first page.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_roost");

/// `roost serve --port 0` with `env`; the address comes from the stdout line, as a script
/// would read it.
fn start(data: &std::path::Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(data)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    // Plain text on a pipe: no colour codes.
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, addr.parse().unwrap())
}

fn get(addr: SocketAddr, path: &str) -> roost_testkit::HttpResponse {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(roost_testkit::request(addr, "GET", path, &[], None))
        .unwrap()
}

#[test]
fn listening_line_readyz_and_first_page() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(data.path(), &[]);
    let ready = get(addr, "/readyz");
    assert_eq!(ready.status, 200, "{:?}", ready.json());
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.json()["checks"]["storage"], "ok");

    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(env!("CARGO_PKG_VERSION")), "{html}");
    for service in ["/users", "/messages", "/authentication"] {
        assert!(html.contains(&format!("<code>{service}</code>")), "{html}");
    }
    assert!(html.contains("/docs/config.md"));
    assert!(
        !html.contains("/dashboard"),
        "the dashboard is off by default"
    );
    let docs = get(addr, "/docs/config.md");
    assert_eq!(docs.status, 200);
    assert!(String::from_utf8_lossy(&docs.body).contains("readiness_timeout_ms"));
    // Paths the page does not claim still reach REST.
    assert_eq!(get(addr, "/nothing-here").status, 404);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_app_that_serves_root_keeps_it() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("roost.toml");
    std::fs::write(&config, "[app]\nenabled = false\n[services.\"/\"]\n").unwrap();
    let (mut child, addr) = start(data.path(), &[("ROOST_CONFIG", config.to_str().unwrap())]);
    let root = get(addr, "/");
    assert_eq!(root.status, 200);
    assert_eq!(
        root.json(),
        serde_json::json!([]),
        "the service's find answers"
    );
    let _ = child.kill();
    let _ = child.wait();
}
