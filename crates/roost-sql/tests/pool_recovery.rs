//! A connection whose transaction could not be ended cleanly never goes back to the pool:
//! after a failed COMMIT or ROLLBACK, later writes on the same pool (one connection, so the
//! very same slot) succeed on every table. On every backend available.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends_with, drop_table, fresh_table, integer_service, rows, Backend};
use roost_core::{json, App, Params, ServiceOptions};
use roost_sql::Dialect;

async fn exec(b: &Backend, sql: &str) {
    sqlx::query(sql)
        .execute(b.db.pool())
        .await
        .unwrap_or_else(|e| panic!("{}: {sql}: {e}", b.name));
}

/// Several writes on `other` and one on `s`, all through the app: they must all succeed.
async fn writes_work(b: &Backend, app: &App, s: &str, other: &str) {
    for i in 0..5 {
        let r = app
            .service(other)
            .unwrap()
            .create(json!({"n": i}), Params::default())
            .await;
        assert!(r.is_ok(), "{}: write {i} on {other} after: {r:?}", b.name);
    }
    let r = app
        .service(s)
        .unwrap()
        .create(json!({"n": 7}), Params::default())
        .await;
    assert!(r.is_ok(), "{}: write on {s} after: {r:?}", b.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_id_sequence_fails_one_write_and_not_the_next() {
    for b in backends_with(|c| c.max_connections = 1).await {
        let seq = integer_service(&b, "seq", &["n"]).await;
        let other = integer_service(&b, "other", &["n"]).await;
        let app = App::new();
        app.use_arc_service("seq", seq.clone(), ServiceOptions::default())
            .unwrap();
        app.use_arc_service("other", other.clone(), ServiceOptions::default())
            .unwrap();
        // The largest id there is: the table can generate no further id.
        seq.import(&[json!({"id": i64::MAX, "n": 0})])
            .await
            .unwrap();
        for _ in 0..3 {
            let r = app
                .service("seq")
                .unwrap()
                .create(json!({"n": 1}), Params::default())
                .await;
            assert!(r.is_err(), "{}: no id left, yet {r:?}", b.name);
        }
        for i in 0..5 {
            let r = app
                .service("other")
                .unwrap()
                .create(json!({"n": i}), Params::default())
                .await;
            assert!(r.is_ok(), "{}: write {i} after: {r:?}", b.name);
        }
        let r = app
            .service("seq")
            .unwrap()
            .patch(json!(i64::MAX), json!({"n": 2}), Params::default())
            .await;
        assert!(r.is_ok(), "{}: patch after: {r:?}", b.name);
        assert_eq!(rows(&other).await.len(), 5, "{}", b.name);
        assert_eq!(rows(&seq).await, vec![json!({"id": i64::MAX, "n": 2})]);
        drop_table(&b.db, seq.options().table.as_str()).await;
        drop_table(&b.db, other.options().table.as_str()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_closes_its_connection_and_later_writes_succeed() {
    for b in backends_with(|c| c.max_connections = 1).await {
        let child = integer_service(&b, "child", &["n", "p"]).await;
        let other = integer_service(&b, "other", &["n"]).await;
        let parent = fresh_table(&b.db, "parent").await;
        let d = b.db.dialect();
        let (c, p) = (d.quote(&child.options().table), d.quote(&parent));
        // A foreign key checked only at COMMIT: a child whose `p` names no parent is
        // refused by the COMMIT itself.
        match d {
            Dialect::Sqlite => {
                // SQLite cannot add a constraint to a table: a trigger copies `p` into a
                // table that has it.
                let guard = d.quote(&format!("{parent}_guard"));
                exec(&b, &format!("CREATE TABLE {p} (id INTEGER PRIMARY KEY)")).await;
                exec(
                    &b,
                    &format!(
                        "CREATE TABLE {guard} (p INTEGER REFERENCES {p}(id) \
                         DEFERRABLE INITIALLY DEFERRED)"
                    ),
                )
                .await;
                exec(
                    &b,
                    &format!(
                        "CREATE TRIGGER {} AFTER INSERT ON {c} WHEN NEW.\"p\" IS NOT NULL \
                         BEGIN INSERT INTO {guard} VALUES (NEW.\"p\"); END",
                        d.quote(&format!("{parent}_trigger"))
                    ),
                )
                .await;
            }
            Dialect::Postgres => {
                exec(&b, &format!("CREATE TABLE {p} (id BIGINT PRIMARY KEY)")).await;
                exec(
                    &b,
                    &format!(
                        "ALTER TABLE {c} ADD FOREIGN KEY (\"p\") REFERENCES {p}(id) \
                         DEFERRABLE INITIALLY DEFERRED"
                    ),
                )
                .await;
            }
            _ => {
                eprintln!(
                    "\n!!!!!! {}: SKIPPED — it checks constraints per statement; no COMMIT \
                     can be made to fail from SQL. !!!!!!\n",
                    b.name
                );
                continue;
            }
        }
        let app = App::new();
        app.use_arc_service("child", child.clone(), ServiceOptions::default())
            .unwrap();
        app.use_arc_service("other", other.clone(), ServiceOptions::default())
            .unwrap();
        for _ in 0..3 {
            let r = app
                .service("child")
                .unwrap()
                .create(json!({"n": 1, "p": 42}), Params::default())
                .await;
            assert_eq!(
                r.as_ref().map_err(|e| e.code()),
                Err(409),
                "{}: the COMMIT refuses it",
                b.name
            );
        }
        writes_work(&b, &app, "child", "other").await;
        assert_eq!(rows(&other).await.len(), 5, "{}", b.name);
        assert_eq!(
            rows(&child).await.len(),
            1,
            "{}: only the write without a dangling reference",
            b.name
        );
        drop_table(&b.db, child.options().table.as_str()).await;
        drop_table(&b.db, other.options().table.as_str()).await;
        drop_table(&b.db, &parent).await;
        drop_table(&b.db, &format!("{parent}_guard")).await;
    }
}
