//! The `roost` binary as a user runs it: `--version`, `config`, `serve` with `/healthz`,
//! `/metrics` and a Socket.IO limit set from the environment, and a graceful exit 0 on
//! SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roost");

/// `roost config ARGS` with `env`, which must succeed: the printed TOML, parsed, and as text.
fn printed_config(args: &[&str], env: &[(&str, &str)]) -> (toml::Value, String) {
    let text = roost_testkit::services::run_ok(
        Command::new(BIN)
            .arg("config")
            .args(args)
            .envs(env.iter().copied()),
    );
    (toml::from_str(&text).unwrap(), text)
}

#[test]
fn version_and_help() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("roost "));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("serve") && help.contains("config") && help.contains("migrate"),
        "{help}"
    );
}

#[test]
fn config_prints_file_env_and_flags_merged() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "[server]\nport = 4000\n[services.people]\nid = \"customid\""
    )
    .unwrap();
    let (printed, _) = printed_config(
        &[
            "--config",
            file.path().to_str().unwrap(),
            "--host",
            "127.0.0.9",
        ],
        &[
            ("ROOST_REST__BODY_LIMIT", "2048"),
            ("ROOST_BIN", "ignored: not a config section"),
        ],
    );
    assert_eq!(printed["server"]["port"].as_integer(), Some(4000));
    assert_eq!(printed["server"]["host"].as_str(), Some("127.0.0.9"));
    assert_eq!(printed["rest"]["body_limit"].as_integer(), Some(2048));
    assert_eq!(
        printed["services"]["people"]["id"].as_str(),
        Some("customid")
    );
}

#[test]
fn a_bad_config_fails_fast_with_exit_2() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "[server]\nprot = 1").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prot"));
}

#[test]
fn serve_answers_health_and_exits_0_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data.path())
        .env("ROOST_LOG__FORMAT", "json")
        .env("ROOST_SOCKETIO__MAX_CONNECTIONS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The listening address is logged as a JSON line.
    let (addr, _log) = common::read_log(&mut child, Duration::from_secs(20));
    let addr = addr.expect("roost logs its address");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let health = rt
        .block_on(roost_testkit::request(addr, "GET", "/healthz", &[], None))
        .unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let metrics = rt
        .block_on(roost_testkit::request(addr, "GET", "/metrics", &[], None))
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("\nroost_primus_connections_open 0\n"),
        "{text}"
    );
    assert!(
        text.contains("roost_primus_closes_total{reason=\"slow_consumer\"} 0"),
        "{text}"
    );
    // The default app runs: signup is public, and a JWT secret was generated.
    let signup = rt
        .block_on(roost_testkit::json_request(
            addr,
            "POST",
            "/users",
            &serde_json::json!({"email": "x@example.com", "password": "pw"}),
        ))
        .unwrap();
    assert_eq!(signup.status, 201, "{:?}", signup.json());
    assert!(signup.json().get("password").is_none());
    assert!(data.path().join("secret").is_file());
    // Logins are counted at /metrics, the failed one too.
    for (password, status) in [("wrong", 401), ("pw", 201)] {
        let login = rt
            .block_on(roost_testkit::json_request(
                addr,
                "POST",
                "/authentication",
                &serde_json::json!({"strategy": "local", "email": "x@example.com", "password": password}),
            ))
            .unwrap();
        assert_eq!(login.status, status, "{:?}", login.json());
    }
    // Socket.IO with `socketio.max_connections = 1` from the environment: a second
    // Engine.IO handshake is refused with 503 and counted; the open session is closed by
    // the shutdown below.
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let first = rt
        .block_on(roost_testkit::request(addr, "GET", handshake, &[], None))
        .unwrap();
    assert_eq!(first.status, 200);
    assert!(first.body.starts_with(b"0{\"sid\""));
    let second = rt
        .block_on(roost_testkit::request(addr, "GET", handshake, &[], None))
        .unwrap();
    assert_eq!(second.status, 503);
    assert_eq!(second.json()["message"], "Too many connections");
    let metrics = rt
        .block_on(roost_testkit::request(addr, "GET", "/metrics", &[], None))
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    for line in [
        "\nroost_auth_logins_total 1\n",
        "\nroost_auth_login_failures_total 1\n",
        "\nroost_auth_password_queue_full_total 0\n",
        "\nroost_rest_requests_total 3\n",
        "\nroost_socketio_refused_connections_total 1\n",
        "\nroost_socketio_sessions_open 1\n",
        "\nroost_socketio_connect_errors_total 0\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "roost did not exit after SIGTERM"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

#[test]
fn chat_config_with_env_overrides_and_secrets_redacted() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../interop/config/chat.toml"
    );
    let (printed, text) = printed_config(
        &["--config", config],
        &[
            ("ROOST_AUTH__JWT_OPTIONS__EXPIRES_IN", "2s"),
            ("ROOST_APP__PUBLISH_RULES", "reference"),
        ],
    );
    assert_eq!(
        printed["auth"]["jwt_options"]["expires_in"].as_str(),
        Some("2s")
    );
    assert_eq!(
        printed["auth"]["jwt_options"]["audience"].as_str(),
        Some("https://yourdomain.com")
    );
    assert!(printed["auth"]["jwt_options"].get("issuer").is_none());
    assert_eq!(printed["app"]["publish_rules"].as_str(), Some("reference"));
    assert_eq!(printed["auth"]["secret"].as_str(), Some("<redacted>"));
    assert_eq!(
        printed["app"]["seed_users"][0]["password"].as_str(),
        Some("<redacted>")
    );
    assert!(!text.contains("alice-pw") && !text.contains("not-for-production"));
    // A custom rule list and a bad preset.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "[[app.publish_rules]]\nservice = \"messages\"\nwhen = \"roomId\"\nchannel = \"room/{{roomId}}\"\n[[app.publish_rules]]\nchannel = \"everyone\""
    )
    .unwrap();
    let (printed, _) = printed_config(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(
        printed["app"]["publish_rules"][1]["channel"].as_str(),
        Some("everyone")
    );
    let out = Command::new(BIN)
        .args(["config"])
        .env("ROOST_APP__PUBLISH_RULES", "bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown preset `bogus`"));
}

#[test]
fn gateway_config_from_env_redacted_and_checked() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../interop/config/gateway.toml"
    );
    let (printed, text) = printed_config(
        &["--config", config],
        &[
            ("ROOST_GATEWAY__UPSTREAM", "http://127.0.0.1:3031"),
            ("ROOST_GATEWAY__MODE", "plugin"),
            ("ROOST_GATEWAY__SECRET", "gateway-secret-not-printed"),
        ],
    );
    assert_eq!(printed["gateway"]["mode"].as_str(), Some("plugin"));
    assert_eq!(printed["gateway"]["secret"].as_str(), Some("<redacted>"));
    assert_eq!(
        printed["gateway"]["methods"]["messages"][1].as_str(),
        Some("leave")
    );
    assert!(!text.contains("gateway-secret-not-printed"));
    // TLS upstreams and short plugin secrets stop the server at start.
    for (key, value, why) in [
        ("ROOST_GATEWAY__UPSTREAM", "https://app.internal", "http://"),
        ("ROOST_GATEWAY__SECRET", "short", "16 characters"),
    ] {
        let out = Command::new(BIN)
            .args(["serve", "--config", config])
            .env("ROOST_GATEWAY__UPSTREAM", "http://127.0.0.1:3031")
            .env("ROOST_GATEWAY__MODE", "plugin")
            .env("ROOST_GATEWAY__SECRET", "long-enough-secret-value")
            .env(key, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}={value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why));
    }
}
