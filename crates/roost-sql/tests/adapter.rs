//! The SQL adapter beyond the vectors, on every backend available: injection attempts,
//! transactions through an `App`, durability of the SQLite file, migrations and failures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod common;

use common::{backends, drop_table, fresh_table, rows, Backend, TempDir};
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::schema::{FieldType, Schema};
use roost_core::service::{AdapterOptions, Multi};
use roost_core::transaction::TransactionHandle;
use roost_core::{json, App, Error, Params, Service, ServiceOptions, Value};
use roost_sql::{
    migrate, Change, Database, IdType, SqlConfig, SqlError, SqlOptions, SqlService, TableDef,
};
use std::sync::{Arc, Mutex};

fn schema(fields: &[(&str, FieldType)]) -> Schema {
    fields.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn people_schema() -> Schema {
    schema(&[
        ("name", FieldType::String),
        ("age", FieldType::Integer),
        ("tags", FieldType::Json),
    ])
}

async fn service(b: &Backend, tag: &str, schema: Schema, multi: bool) -> SqlService {
    let table = fresh_table(&b.db, tag).await;
    let service = SqlService::new(
        b.db.clone(),
        SqlOptions {
            adapter: AdapterOptions {
                multi: Multi::All(multi),
                ..AdapterOptions::default()
            },
            schema,
            ..SqlOptions::new(table)
        },
    )
    .unwrap();
    service.migrate().await.unwrap();
    service
}

fn query(v: Value) -> Params {
    Params::default().with_query(v.as_object().cloned().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_attempts_are_rejected_or_harmless() {
    for b in backends().await {
        let s = service(&b, "inj", people_schema(), true).await;
        let evil = "x'); DROP TABLE people; --\" ` \\";
        s.create(
            json!({"name": evil, "age": 1, "tags": [evil]}),
            &Params::default(),
        )
        .await
        .unwrap();
        s.create(json!({"name": "ok", "age": 2}), &Params::default())
            .await
            .unwrap();
        // Values: bound, stored and matched literally.
        let found = s.find(&query(json!({"name": evil}))).await.unwrap();
        assert_eq!(found[0]["name"], json!(evil), "{}", b.name);
        let none = s
            .find(&query(json!({"name": "' OR '1'='1"})))
            .await
            .unwrap();
        assert_eq!(none, json!([]), "{}", b.name);
        let gt = s
            .find(&query(
                json!({"name": {"$gt": "' OR 1=1 --"}, "age": {"$in": ["1 OR 1=1", 2]}}),
            ))
            .await
            .unwrap();
        assert_eq!(gt.as_array().unwrap().len(), 1, "{}", b.name);
        // Keys: unknown fields never reach SQL text (they are matched like memory does).
        let keyed = s
            .find(&query(
                json!({"name\" OR 1=1 --": null, "age`; DROP TABLE x": {"$ne": 5}}),
            ))
            .await
            .unwrap();
        assert_eq!(keyed.as_array().unwrap().len(), 2, "{}", b.name);
        // Operators outside Feathers' list are refused.
        let e = s
            .find(&query(json!({"name": {"$where": "1=1"}})))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message.as_str()),
            (400, "Invalid query parameter $where")
        );
        let e = s
            .find(&query(json!({"$raw": "DROP TABLE x"})))
            .await
            .unwrap_err();
        assert_eq!(e.code(), 400);
        // $sort and $select with hostile names sort/pick nothing harmful.
        let sorted = s
            .find(&query(
                json!({"$sort": {"name; DROP TABLE x; --": 1, "age": -1}}),
            ))
            .await
            .unwrap();
        assert_eq!(sorted.as_array().unwrap().len(), 2, "{}", b.name);
        let selected = s
            .find(&query(
                json!({"$select": ["name\" FROM x; --", "age"], "$sort": {"age": 1}}),
            ))
            .await
            .unwrap();
        assert_eq!(selected, json!([{"age": 1, "id": 1}, {"age": 2, "id": 2}]));
        // Multi patch/remove with hostile queries touch only matching rows.
        let patched = s
            .patch(
                &Value::Null,
                json!({"age": 9}),
                &query(json!({"name": "ok' OR 'a'='a"})),
            )
            .await
            .unwrap();
        assert_eq!(patched, json!([]));
        assert_eq!(rows(&s).await.len(), 2, "{}: the table is intact", b.name);
        drop_table(&b.db, s.options().table.as_str()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_identifiers_are_quoted_per_dialect() {
    for b in backends().await {
        let s = service(
            &b,
            "quote",
            schema(&[
                ("we\"ird", FieldType::String),
                ("back`tick", FieldType::Integer),
                ("select", FieldType::Boolean),
            ]),
            false,
        )
        .await;
        let r = s
            .create(
                json!({"we\"ird": "a", "back`tick": 3, "select": true}),
                &Params::default(),
            )
            .await
            .unwrap();
        assert_eq!(r["back`tick"], json!(3), "{}", b.name);
        let found = s
            .find(&query(
                json!({"we\"ird": "a", "back`tick": {"$gte": 3}, "select": true, "$sort": {"back`tick": -1}}),
            ))
            .await
            .unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1, "{}", b.name);
        drop_table(&b.db, s.options().table.as_str()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_after_hook_leaves_no_row_and_emits_no_event() {
    for b in backends().await {
        let s = Arc::new(service(&b, "tx", people_schema(), true).await);
        let app = App::new();
        let handle = app
            .use_arc_service("people", s.clone(), ServiceOptions::default())
            .unwrap();
        let events = Arc::new(Mutex::new(Vec::<Value>::new()));
        let seen = events.clone();
        handle.on("created", move |data, _| {
            seen.lock().unwrap().push(data.clone())
        });
        let fail = Arc::new(Mutex::new(true));
        let fail2 = fail.clone();
        app.hooks(HookMap::new().after(
            "create",
            sync_hook(move |ctx| {
                assert!(ctx.params.transaction.is_some());
                if *fail2.lock().unwrap() {
                    return Err(Error::forbidden("no"));
                }
                Ok(())
            }),
        ));
        let people = app.service("people").unwrap();
        let e = people
            .create(json!({"name": "a"}), Params::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), 403);
        let e = people
            .create(json!([{"name": "b"}, {"name": "c"}]), Params::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), 403);
        assert_eq!(rows(&s).await.len(), 0, "{}: rolled back", b.name);
        assert!(events.lock().unwrap().is_empty(), "{}: no event", b.name);

        *fail.lock().unwrap() = false;
        people
            .create(json!({"name": "d"}), Params::default())
            .await
            .unwrap();
        assert_eq!(rows(&s).await.len(), 1, "{}: committed", b.name);
        assert_eq!(events.lock().unwrap().len(), 1, "{}: one event", b.name);
        drop_table(&b.db, s.options().table.as_str()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_writes_are_all_or_nothing() {
    for b in backends().await {
        let s = service(&b, "multi", people_schema(), true).await;
        let e = s
            .create(
                json!([{"name": "a", "age": 1}, {"name": "b", "age": "two"}]),
                &Params::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message.as_str()),
            (400, "Invalid value for 'age': expected an integer")
        );
        assert_eq!(rows(&s).await.len(), 0, "{}", b.name);
        s.create(json!([{"name": "a"}, {"name": "b"}]), &Params::default())
            .await
            .unwrap();
        let e = s
            .patch(&Value::Null, json!({"age": 1.5}), &Params::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), 400);
        let all = s.find(&Params::default()).await.unwrap();
        assert!(all
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("age").is_none()));
        // A duplicate id is a conflict. (Sequences are not transactional: the rolled-back
        // create may have used ids on PostgreSQL and MariaDB.)
        let taken = all[0]["id"].clone();
        let e = s
            .create(json!({"id": taken, "name": "dup"}), &Params::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), 409, "{}", b.name);
        drop_table(&b.db, s.options().table.as_str()).await;
    }
}

#[tokio::test]
async fn the_sqlite_file_keeps_records_across_reopening() {
    let dir = TempDir::new("durable");
    let config = SqlConfig {
        url: format!("sqlite://{}/nested/dir/roost.db", dir.0.display()),
        ..SqlConfig::default()
    };
    let options = SqlOptions {
        schema: people_schema(),
        ..SqlOptions::new("people")
    };
    let db = Database::connect(&config).await.unwrap();
    let s = SqlService::new(db.clone(), options.clone()).unwrap();
    s.migrate().await.unwrap();
    for i in 0..20 {
        s.create(
            json!({"name": format!("n{i}"), "age": i, "x": {"k": i}}),
            &Params::default(),
        )
        .await
        .unwrap();
    }
    drop(s);
    db.close().await;
    drop(db);

    let db = Database::connect(&config).await.unwrap();
    let s = SqlService::new(db.clone(), options).unwrap();
    assert!(s.migrate().await.unwrap().is_empty());
    let all = s.find(&Params::default()).await.unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(
        all[19],
        json!({"id": 20, "name": "n19", "age": 19, "x": {"k": 19}})
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_add_columns_and_refuse_destructive_changes() {
    for b in backends().await {
        let name = fresh_table(&b.db, "mig").await;
        let v1 = TableDef::new(&name, "id", IdType::Integer, &people_schema()).unwrap();
        let changes = migrate(&b.db, &v1).await.unwrap();
        assert_eq!(
            changes,
            vec![Change::CreatedTable {
                table: name.clone()
            }]
        );
        assert!(migrate(&b.db, &v1).await.unwrap().is_empty(), "{}", b.name);

        let mut fields = people_schema();
        fields.insert("born".into(), FieldType::Date);
        let v2 = TableDef::new(&name, "id", IdType::Integer, &fields).unwrap();
        let changes = migrate(&b.db, &v2).await.unwrap();
        assert_eq!(changes.len(), 1, "{}", b.name);
        assert!(
            changes[0]
                .to_string()
                .starts_with(&format!("added column {name}.born")),
            "{}",
            changes[0]
        );

        let mut changed = fields.clone();
        changed.insert("age".into(), FieldType::String);
        let v3 = TableDef::new(&name, "id", IdType::Integer, &changed).unwrap();
        let e = migrate(&b.db, &v3).await.unwrap_err();
        assert!(matches!(e, SqlError::Destructive(_)), "{}: {e}", b.name);
        assert!(e.to_string().contains("column `age`"), "{e}");

        let v4 = TableDef::new(&name, "id", IdType::Integer, &people_schema()).unwrap();
        let e = migrate(&b.db, &v4).await.unwrap_err();
        assert!(e.to_string().contains("`born`"), "{}: {e}", b.name);

        let v5 = TableDef::new(&name, "id", IdType::String, &fields).unwrap();
        assert!(
            migrate(&b.db, &v5).await.is_err(),
            "{}: id type change",
            b.name
        );
        drop_table(&b.db, &name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_and_string_ids() {
    for b in backends().await {
        let table = fresh_table(&b.db, "uuid").await;
        let s = SqlService::new(
            b.db.clone(),
            SqlOptions {
                id_type: IdType::Uuid,
                schema: people_schema(),
                ..SqlOptions::new(table.clone())
            },
        )
        .unwrap();
        s.migrate().await.unwrap();
        let a = s
            .create(json!({"name": "a"}), &Params::default())
            .await
            .unwrap();
        let b2 = s
            .create(json!({"name": "b"}), &Params::default())
            .await
            .unwrap();
        let id = a["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 36);
        assert_eq!(
            s.get(&json!(id), &Params::default()).await.unwrap()["name"],
            "a"
        );
        // Unsorted find lists records in creation order.
        let all = s.find(&Params::default()).await.unwrap();
        assert_eq!(all[1]["id"], b2["id"], "{}", b.name);
        drop_table(&b.db, &table).await;

        let table = fresh_table(&b.db, "sid").await;
        let s = SqlService::new(
            b.db.clone(),
            SqlOptions {
                id_type: IdType::String,
                ..SqlOptions::new(table.clone())
            },
        )
        .unwrap();
        s.migrate().await.unwrap();
        let e = s
            .create(json!({"n": 1}), &Params::default())
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message.as_str()), (400, "'id' is required"));
        s.create(json!({"id": "k", "n": 1}), &Params::default())
            .await
            .unwrap();
        assert_eq!(
            s.remove(&json!("k"), &Params::default()).await.unwrap(),
            json!({"id": "k", "n": 1})
        );
        drop_table(&b.db, &table).await;
    }
}

#[tokio::test]
async fn an_unreachable_or_exhausted_database_is_unavailable_or_times_out() {
    // Nothing listens on port 1.
    let down = SqlConfig {
        url: "postgres://roost@127.0.0.1:1/none".into(),
        acquire_timeout_ms: 2_000,
        ..SqlConfig::default()
    };
    let e = Database::connect(&down).await.unwrap_err();
    assert_eq!(Error::from(e).code(), 503);
    let e = Database::connect(&SqlConfig {
        url: "redis://x".into(),
        ..SqlConfig::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(e, SqlError::Config(_)));

    // One connection, held by an open call transaction: the next call times out (408).
    let dir = TempDir::new("busy");
    let db = Database::connect(&SqlConfig {
        url: format!("sqlite://{}/busy.db", dir.0.display()),
        max_connections: 1,
        // Also how long opening the file may take: 200 ms was too short on a loaded machine.
        acquire_timeout_ms: 1_500,
        ..SqlConfig::default()
    })
    .await
    .unwrap();
    let s = SqlService::new(db.clone(), SqlOptions::new("t")).unwrap();
    s.migrate().await.unwrap();
    // A call's first write opens its transaction, which keeps the connection.
    let in_call = Params {
        transaction: Some(TransactionHandle::new()),
        ..Params::default()
    };
    s.create(json!({"n": 1}), &in_call).await.unwrap();
    let e = s.find(&Params::default()).await.unwrap_err();
    assert_eq!(e.code(), 408);
    drop(in_call);
    // A closed pool is unavailable.
    db.close().await;
    let e = s.find(&Params::default()).await.unwrap_err();
    assert_eq!(e.code(), 503);
}
