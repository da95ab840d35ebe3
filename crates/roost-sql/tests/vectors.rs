//! The differential test: every case of `roost-core/tests/vectors/query.json` (answers of the
//! real @feathersjs/memory 5.0.50) on SQLite, PostgreSQL and MariaDB, each answer required to
//! be identical. PostgreSQL and MariaDB run when `ROOST_TEST_POSTGRES_URL` /
//! `ROOST_TEST_MYSQL_URL` are set (see `scripts/services/with-databases.sh`).
//!
//! Each case gets a fresh table whose schema is inferred from its data: a field whose values
//! all have one type gets a typed column (compiled to exact SQL), any other field a JSON
//! column. Seed records are imported with the ids memory assigned them.
//!
//! A second pass, `typed_people`, replays every query of the `people` cases on a copy of that
//! dataset with consistent types, so that `age` and `active` are typed columns too, and
//! compares SQL with `MemoryService` directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends, drop_table, fresh_table, Backend};
use roost_core::schema::{FieldType, Schema};
use roost_core::service::AdapterOptions;
use roost_core::{json, MemoryOptions, MemoryService, Params, Service, Value};
use roost_sql::{IdType, SqlOptions, SqlService};
use roost_testkit::vectors::{self, adapter_of, call, check, params_of};

/// Cases a backend cannot answer like memory, with the reason. Keep this list short and true.
const SKIPS: &[(&str, &[&str], &str)] = &[
    (
        "create with existing id overwrites",
        &["sqlite", "postgres", "mariadb"],
        "SQL create never overwrites a record: a duplicate id is 409 Conflict",
    ),
    (
        "$sort null and missing then n",
        &["sqlite", "postgres", "mariadb"],
        "V8 artefact: memory's comparator is inconsistent for null against missing, and with a \
         second key its result follows no order SQL can express",
    ),
    (
        "create custom id field",
        &["sqlite", "mariadb"],
        "SQLite and MariaDB never generate id 0 (memory's default startId); they start at 1",
    ),
    (
        "create with integer-like string key orders first",
        &["sqlite", "postgres", "mariadb"],
        "memory lists integer-like keys first (JS object key order); SQL keeps creation order",
    ),
];

fn skip_reason(name: &str, backend: &str) -> Option<&'static str> {
    SKIPS
        .iter()
        .find(|(n, bs, _)| *n == name && bs.contains(&backend))
        .map(|(_, _, why)| *why)
}

/// The column type for a field whose non-null values are `values`.
fn infer(values: &[&Value]) -> FieldType {
    let all = |f: fn(&Value) -> bool| !values.is_empty() && values.iter().all(|v| f(v));
    if all(|v| v.as_i64().is_some()) {
        FieldType::Integer
    } else if all(Value::is_number) {
        FieldType::Number
    } else if all(Value::is_string) {
        FieldType::String
    } else if all(Value::is_boolean) {
        FieldType::Boolean
    } else {
        FieldType::Json
    }
}

/// Schema and id type for the records of a case; `None` when ids mix types.
fn schema_of(records: &[&Value], id: &str) -> Option<(Schema, IdType)> {
    let mut fields: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    let mut ids = Vec::new();
    let generated = json!(0);
    for record in records {
        // A record without a truthy id gets a generated integer.
        if !record.get(id).is_some_and(roost_core::js::is_truthy) {
            ids.push(&generated);
        }
        for (k, v) in record.as_object().into_iter().flatten() {
            if k == id {
                ids.push(v);
            } else {
                let e = fields.entry(k.clone()).or_default();
                if !v.is_null() {
                    e.push(v);
                }
            }
        }
    }
    let ids: Vec<&Value> = ids
        .into_iter()
        .filter(|v| v.is_number() || roost_core::js::is_truthy(v))
        .collect();
    let id_type = match infer(&ids) {
        FieldType::Integer => IdType::Integer,
        FieldType::String => IdType::String,
        _ if ids.is_empty() => IdType::Integer,
        _ => return None,
    };
    let schema = fields
        .iter()
        .map(|(k, vs)| (k.clone(), infer(vs)))
        .collect();
    Some((schema, id_type))
}

/// Memory's ids for seed records: a truthy id is kept, otherwise the counter's next value.
fn with_ids(records: &[Value], id: &str, start: i64) -> (Vec<Value>, i64) {
    let mut next = start;
    let out = records
        .iter()
        .map(|r| {
            let mut r = r.as_object().cloned().unwrap_or_default();
            if !r.get(id).is_some_and(roost_core::js::is_truthy) {
                r.insert(id.to_owned(), json!(next));
                next += 1;
            }
            Value::Object(r)
        })
        .collect();
    (out, next)
}

/// A migrated service for `adapter` on a fresh table of `b` (its name comes back too),
/// holding `records`: those without an id get one counted from `start`.
async fn seeded(
    b: &Backend,
    tag: &str,
    adapter: AdapterOptions,
    (schema, id_type): (Schema, IdType),
    records: &[Value],
    start: i64,
) -> Result<(SqlService, String), String> {
    let (seed, next) = with_ids(records, &adapter.id, start);
    let table = fresh_table(&b.db, tag).await;
    let service = SqlService::new(
        b.db.clone(),
        SqlOptions {
            adapter,
            table: table.clone(),
            schema,
            id_type,
            start_id: next,
            ..SqlOptions::new("")
        },
    )
    .map_err(|e| e.to_string())?;
    service.migrate().await.map_err(|e| e.to_string())?;
    service
        .import(&seed)
        .await
        .map_err(|e| format!("seeding failed: {}", e.to_json()))?;
    Ok((service, table))
}

async fn run_case(b: &Backend, case: &Value, datasets: &Value) -> Result<(), String> {
    let adapter = adapter_of(&case["options"]);
    let start = case["options"]
        .get("startId")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let data = vectors::seed(case, datasets);
    let mut typed: Vec<&Value> = data.iter().collect();
    let body = case.get("body").cloned().unwrap_or(Value::Null);
    match &body {
        Value::Array(items) => typed.extend(items.iter()),
        Value::Object(_) => typed.push(&body),
        _ => {}
    }
    let Some((schema, id_type)) = schema_of(&typed, &adapter.id) else {
        return Err("SKIP ids of mixed types".into());
    };
    let (service, table) = seeded(b, "v", adapter, (schema, id_type), &data, start).await?;
    let result = call(&service, case, &params_of(case)).await;
    let outcome = vectors::check_with_store(&service, result, &case["expected"]).await;
    drop_table(&b.db, &table).await;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_agrees_with_memory_on_every_vector() {
    let file = vectors::load();
    let cases = vectors::cases(&file);
    let mut report = Vec::new();
    let mut failed_total = 0;
    for b in backends().await {
        let (mut ran, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
        for case in cases {
            let name = case["name"].as_str().unwrap();
            if let Some(why) = skip_reason(name, b.name) {
                skipped.push(format!("{name} ({why})"));
                continue;
            }
            ran += 1;
            match run_case(&b, case, &file["datasets"]).await {
                Ok(()) => {}
                Err(why) if why.starts_with("SKIP ") => {
                    ran -= 1;
                    skipped.push(format!("{name} ({})", &why[5..]));
                }
                Err(why) => failures.push(format!("{name}: {why}")),
            }
        }
        failed_total += failures.len();
        report.push(format!(
            "[{}] {} cases: {ran} run, {} skipped, {} failed\n  skipped:\n    {}\n  failed:\n    {}",
            b.name,
            cases.len(),
            skipped.len(),
            failures.len(),
            skipped.join("\n    "),
            failures.join("\n    ")
        ));
        b.db.close().await;
    }
    println!("{}", report.join("\n"));
    assert_eq!(failed_total, 0, "{}", report.join("\n"));
}

/// `people` with one type per field.
fn typed_people(datasets: &Value) -> Vec<Value> {
    let mut people = datasets["people"].as_array().cloned().unwrap();
    for p in &mut people {
        if p["age"] == json!("40") {
            p["age"] = json!(40);
        }
        if p["active"] == json!("yes") {
            p["active"] = json!(true);
        }
    }
    people
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_columns_agree_with_memory_on_people_queries() {
    let file = vectors::load();
    let people = typed_people(&file["datasets"]);
    let mut failed_total = 0;
    let mut report = Vec::new();
    for b in backends().await {
        let (mut ran, mut failures) = (0, Vec::new());
        for case in file["cases"].as_array().unwrap() {
            if case["data"] != json!("people") || case["method"] != json!("find") {
                continue;
            }
            ran += 1;
            let adapter = adapter_of(&case["options"]);
            let memory = MemoryService::with_options(MemoryOptions {
                adapter: adapter.clone(),
                ..MemoryOptions::default()
            });
            for p in &people {
                memory.create(p.clone(), &Params::default()).await.unwrap();
            }
            let rows: Vec<&Value> = people.iter().collect();
            let (schema, id_type) = schema_of(&rows, &adapter.id).unwrap();
            let (service, table) = seeded(&b, "p", adapter, (schema, id_type), &people, 0)
                .await
                .unwrap();
            let params = params_of(case);
            let want = memory.find(&params).await;
            let got = service.find(&params).await;
            let expected = match want {
                Ok(v) => json!({ "result": v }),
                Err(e) => json!({ "error": e.to_json() }),
            };
            let expected = match expected.get("error") {
                Some(e) => {
                    let mut e = e.clone();
                    if let Some(o) = e.as_object_mut() {
                        o.remove("className");
                    }
                    json!({ "error": e })
                }
                None => expected,
            };
            if let Err(why) = check(got, &expected) {
                failures.push(format!("{}: {why}", case["name"]));
            }
            drop_table(&b.db, &table).await;
        }
        failed_total += failures.len();
        report.push(format!(
            "[{} typed people] {ran} run, {} failed\n    {}",
            b.name,
            failures.len(),
            failures.join("\n    ")
        ));
        b.db.close().await;
    }
    println!("{}", report.join("\n"));
    assert_eq!(failed_total, 0, "{}", report.join("\n"));
}
