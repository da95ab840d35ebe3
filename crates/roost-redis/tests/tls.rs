//! `rediss://` with a password and a private CA (`tls_ca_file`), against a redis-server this
//! test starts with TLS and `requirepass` (certificates made with `openssl`). Built only with
//! the `tls` feature: `cargo test -p roost-redis --features tls --test tls`. Needs
//! `ROOST_TEST_REDIS_URL` as a sign that redis-server is installed; otherwise prints SKIP.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use roost_core::broker::{Audience, Broker, Envelope};
use roost_redis::{RedisBroker, RedisConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

fn run(dir: &Path, args: &[&str]) {
    roost_testkit::services::run_ok(Command::new(args[0]).args(&args[1..]).current_dir(dir));
}

/// A TLS-only redis-server with a password, in a temp directory; killed and removed on drop.
struct TlsRedis {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("roost-redis-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["openssl", "req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=roost test CA",
        ]);
        run(&dir, &ca);
        let mut csr = vec!["openssl", "req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&dir, &csr);
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        run(
            &dir,
            &[
                "openssl",
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.pem",
                "--tls-auth-clients",
                "no",
                "--requirepass",
                "s3cret",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        TlsRedis { child, dir, port }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_password_and_a_private_ca() {
    if std::env::var_os("ROOST_TEST_REDIS_URL").is_none() {
        eprintln!("SKIP rediss_with_a_password_and_a_private_ca: ROOST_TEST_REDIS_URL is not set");
        return;
    }
    let redis = TlsRedis::start();
    let config = RedisConfig {
        url: format!("rediss://:s3cret@127.0.0.1:{}", redis.port),
        tls_ca_file: Some(redis.dir.join("ca.pem")),
        key_prefix: format!("tls-{}", std::process::id()),
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        ..RedisConfig::default()
    };
    let start = |id: &str| {
        RedisBroker::start(RedisConfig {
            node_id: Some(id.into()),
            ..config.clone()
        })
        .unwrap()
    };
    let (a, b) = (start("tls-a"), start("tls-b"));
    assert!(a.wait_connected(PATIENCE).await, "a connects over TLS");
    assert!(b.wait_connected(PATIENCE).await, "b connects over TLS");
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    b.set_sink(Arc::new(move |e: Envelope| sink.lock().unwrap().push(e)));
    a.publish(Envelope::server_event(
        "news",
        json!("over tls"),
        Audience::all(),
    ))
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "b never got it");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got.lock().unwrap()[0].data, json!("over tls"));

    // The wrong password never connects (and the error names no password).
    let wrong = RedisBroker::start(RedisConfig {
        url: format!("rediss://:wrong@127.0.0.1:{}", redis.port),
        ..config.clone()
    })
    .unwrap();
    assert!(!wrong.wait_connected(Duration::from_millis(500)).await);
}
