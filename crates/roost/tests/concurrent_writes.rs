//! Writes queue instead of failing: 50 clients signing up on the default app (bcrypt, cost
//! 10) while 50 others create messages, against the real binary on SQLite (the default
//! storage) and, when their URLs are set, PostgreSQL and MariaDB. Every call must succeed and
//! every acknowledged record must be stored. (The message-create latency under this load is
//! measured by the `signup_contention` bench scenario, not here.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{config_file, Roost};
use roost_sql::{Database, SqlConfig};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

const CLIENTS: usize = 50;

async fn post(addr: SocketAddr, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    match roost_testkit::request(addr, "POST", path, &headers, Some(&bytes)).await {
        Ok(res) => (res.status, res.json()),
        Err(e) => (0, json!(e.to_string())),
    }
}

/// The ids of the rows of `table` whose `column` ends with `tag`.
async fn stored_ids(db: &Database, table: &str, column: &str, tag: &str) -> BTreeSet<i64> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} LIKE {}",
        d.quote("id"),
        d.quote(table),
        d.quote(column),
        d.placeholder(1)
    );
    sqlx::query(&sql)
        .bind(format!("%{tag}"))
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect()
}

fn run(name: &str, url: Option<&str>, dir: &Path) {
    let config = config_file(dir, "");
    let data = dir.join("data");
    let env: Vec<(&str, &str)> = url.map(|u| ("ROOST_STORAGE__URL", u)).into_iter().collect();
    let roost = Roost::start(&config, &data, &env);
    let addr = roost.addr;
    // Unique per run: the server databases are shared by every run and test.
    let tag = format!(
        "-{}-{}@example.com",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let writer = json!({"email": format!("writer{tag}"), "password": "writer-pw"});
        let (status, body) = post(addr, "/users", &writer, None).await;
        assert_eq!(status, 201, "{name}: {body}");
        let login =
            json!({"strategy": "local", "email": format!("writer{tag}"), "password": "writer-pw"});
        let (status, body) = post(addr, "/authentication", &login, None).await;
        assert_eq!(status, 201, "{name}: {body}");
        let token = body["accessToken"].as_str().unwrap().to_owned();

        let mut signups = Vec::new();
        let mut messages = Vec::new();
        for i in 0..CLIENTS {
            let user = json!({"email": format!("u{i}{tag}"), "password": format!("pw-{i}")});
            signups.push(tokio::spawn(async move {
                post(addr, "/users", &user, None).await
            }));
            let token = token.clone();
            let message = json!({"text": format!("m{i}{tag}")});
            messages.push(tokio::spawn(async move {
                post(addr, "/messages", &message, Some(&token)).await
            }));
        }
        let mut failures = Vec::new();
        let mut users = BTreeSet::new();
        let mut sent = BTreeSet::new();
        for (kind, tasks, ids) in [
            ("signup", signups, &mut users),
            ("message", messages, &mut sent),
        ] {
            for task in tasks {
                let (status, body) = task.await.unwrap();
                if status == 201 {
                    ids.insert(body["id"].as_i64().unwrap());
                } else {
                    failures.push(format!("{kind}: {status} {body}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{name}: {} failed: {failures:#?}",
            failures.len()
        );
        assert_eq!((users.len(), sent.len()), (CLIENTS, CLIENTS), "{name}");

        let url = match url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}/roost.db", data.display()),
        };
        let db = Database::connect(&SqlConfig {
            url,
            max_connections: 1,
            ..SqlConfig::default()
        })
        .await
        .unwrap();
        let mut stored_users = stored_ids(&db, "users", "email", &tag).await;
        assert!(stored_users.pop_first().is_some(), "{name}: the writer");
        assert_eq!(stored_users, users, "{name}: every signup is stored");
        assert_eq!(
            stored_ids(&db, "messages", "text", &tag).await,
            sent,
            "{name}: every message is stored"
        );
        db.close().await;
    });
    drop(roost);
}

#[test]
fn fifty_signups_and_fifty_messages_at_once_all_succeed_and_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    run("sqlite", None, dir.path());
    for (var, name) in [
        ("ROOST_TEST_POSTGRES_URL", "postgres"),
        ("ROOST_TEST_MYSQL_URL", "mariadb"),
    ] {
        match std::env::var(var) {
            Ok(url) => {
                let dir = tempfile::tempdir().unwrap();
                run(name, Some(&url), dir.path());
            }
            Err(_) => eprintln!(
                "SKIP {name} part of fifty_signups_and_fifty_messages: {var} is not set \
                 (run under scripts/services/with-databases.sh or scripts/test.sh)"
            ),
        }
    }
}
