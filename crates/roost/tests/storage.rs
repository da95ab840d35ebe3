//! SQL storage as a user meets it: `roost migrate`, destructive changes refused, an
//! unreachable database at start, and a PostgreSQL outage under a running server.
#![allow(clippy::unwrap_used)]

mod common;

use common::{call, config_file, Roost, BIN, PEOPLE_SQL};
use roost_testkit::services::ScriptServer;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn roost(args: &[&str], config: &Path, data: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("RUST_LOG")
        .env("ROOST_LOG__LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn migrate_prints_changes_and_refuses_destructive_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config_file(dir.path(), PEOPLE_SQL);
    let out = roost(&["migrate"], &config, &data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The declared service's table, then the default app's.
    assert_eq!(
        text(&out.stdout),
        "created table people\ncreated table users\ncreated table messages\n"
    );

    let out = roost(&["migrate"], &config, &data, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "no changes\n");

    // A new field is a new column; the table name can be chosen.
    let config = config_file(
        dir.path(),
        &format!(
            "{}\n[services.\"api/notes\"]\nadapter = \"sql\"\nid_type = \"uuid\"\n",
            PEOPLE_SQL.replace("age = \"integer\"", "age = \"integer\", email = \"string\"")
        ),
    );
    let out = roost(&["migrate"], &config, &data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "created table api_notes\nadded column people.email (TEXT)\n"
    );

    // A changed type is refused by `migrate` (exit 2) and by `serve` (non-zero), naming it.
    let changed = config_file(
        dir.path(),
        &PEOPLE_SQL.replace("age = \"integer\"", "age = \"string\", email = \"string\""),
    );
    let out = roost(&["migrate"], &changed, &data, &[]);
    assert_eq!(out.status.code(), Some(2));
    let message = text(&out.stderr);
    assert!(
        message.contains("`age`") && message.contains("people"),
        "{message}"
    );
    let out = roost(&["serve", "--port", "0"], &changed, &data, &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("`age`"), "{}", text(&out.stderr));
}

#[test]
fn a_destructive_change_to_a_default_app_table_is_exit_2_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A declared service that owns the default app's `users` table with another type for
    // `email`: the default app's migration of that table must be refused like any other.
    let config = config_file(
        dir.path(),
        "[services.accounts]\nadapter = \"sql\"\ntable = \"users\"\nschema = { email = \"integer\" }\n",
    );
    let out = roost(&["migrate"], &config, &data, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let message = text(&out.stderr);
    assert!(message.contains("users"), "{message}");
}

#[test]
fn an_unreachable_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), PEOPLE_SQL);
    let env = [
        // Nothing listens on port 1.
        (
            "ROOST_STORAGE__URL",
            "postgres://roost:secret@127.0.0.1:1/roost",
        ),
        ("ROOST_STORAGE__ACQUIRE_TIMEOUT_MS", "500"),
    ];
    let out = roost(&["serve", "--port", "0"], &config, dir.path(), &env);
    assert_eq!(out.status.code(), Some(1));
    let message = text(&out.stderr);
    assert!(
        message.contains("cannot reach the database") && message.contains("127.0.0.1:1"),
        "{message}"
    );
    assert!(!message.contains("secret"), "the password is not printed");
    let out = roost(&["migrate"], &config, dir.path(), &env);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_postgres_outage_answers_503_then_recovers() {
    if std::env::var_os("ROOST_TEST_POSTGRES_URL").is_none() {
        eprintln!(
            "SKIP a_postgres_outage_answers_503_then_recovers: ROOST_TEST_POSTGRES_URL is not set \
             (run under scripts/services/with-databases.sh or scripts/test.sh)"
        );
        return;
    }
    // A server of our own, so stopping it cannot disturb other tests.
    let pg = ScriptServer::start("postgres");
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), PEOPLE_SQL);
    let env = [
        ("ROOST_STORAGE__URL", pg.url.as_str()),
        ("ROOST_STORAGE__ACQUIRE_TIMEOUT_MS", "1000"),
    ];
    let roost = Roost::start(&config, dir.path(), &env);
    let (status, created) = call(roost.addr, "POST", "/people", Some(&json!({"name": "a"})));
    assert_eq!(status, 201, "{created}");

    pg.run("halt");
    let (status, error) = call(roost.addr, "GET", "/people", None);
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["name"], "Unavailable");
    let (status, _) = call(roost.addr, "POST", "/people", Some(&json!({"name": "b"})));
    assert_eq!(status, 503);

    pg.run("resume");
    let (status, found) = call(roost.addr, "GET", "/people", None);
    assert_eq!(status, 200, "{found}");
    assert_eq!(found, json!([created]));
}
