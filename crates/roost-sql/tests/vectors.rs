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
use roost_core::params::PaginateOverride;
use roost_core::schema::{FieldType, Schema};
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::{json, MemoryOptions, MemoryService, Params, Service, Value};
use roost_sql::{IdType, SqlOptions, SqlService};

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

fn paginate_of(v: &Value) -> Option<Paginate> {
    let obj = v.as_object()?;
    let n = |k: &str| obj.get(k).and_then(Value::as_u64).map(|n| n as usize);
    Some(Paginate {
        default: n("default"),
        max: n("max"),
    })
}

fn adapter_of(v: &Value) -> AdapterOptions {
    AdapterOptions {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("id")
            .to_owned(),
        multi: match v.get("multi") {
            Some(m) => serde_json::from_value::<Multi>(m.clone()).unwrap(),
            None => Multi::default(),
        },
        paginate: v.get("paginate").and_then(paginate_of),
    }
}

/// JSON equality, numbers by value, object key order ignored.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Object(xm), Value::Object(ym)) => {
            xm.len() == ym.len()
                && xm
                    .iter()
                    .all(|(k, x)| ym.get(k).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
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

async fn call(service: &dyn Service, case: &Value, params: &Params) -> roost_core::Result<Value> {
    let id = case.get("id").cloned().unwrap_or(Value::Null);
    let body = case.get("body").cloned().unwrap_or(Value::Null);
    match case["method"].as_str().unwrap() {
        "find" => service.find(params).await,
        "get" => service.get(&id, params).await,
        "create" => service.create(body, params).await,
        "update" => service.update(&id, body, params).await,
        "patch" => service.patch(&id, body, params).await,
        "remove" => service.remove(&id, params).await,
        m => panic!("unknown method {m}"),
    }
}

fn params_of(case: &Value) -> Params {
    let mut params =
        Params::default().with_query(case["query"].as_object().cloned().unwrap_or_default());
    if let Some(p) = case.get("paginate") {
        params.paginate = Some(match paginate_of(p) {
            Some(p) => PaginateOverride::With(p),
            None => PaginateOverride::Disabled,
        });
    }
    params
}

fn check(result: roost_core::Result<Value>, expected: &Value) -> Result<(), String> {
    match (result, expected.get("error")) {
        (Ok(got), None) => {
            if !same(&got, &expected["result"]) {
                return Err(format!("result {got}\n   expected {}", expected["result"]));
            }
        }
        (Err(got), Some(want)) => {
            let name = want["name"].as_str().unwrap_or_default();
            if name == "Error" || name == "TypeError" {
                if got.code() != 400 || (name == "Error" && got.message != want["message"]) {
                    return Err(format!("error {}\n   expected {want}", got.to_json()));
                }
            } else {
                let mut got_json = got.to_json();
                if let Some(o) = got_json.as_object_mut() {
                    o.remove("className");
                }
                if !same(&got_json, want) {
                    return Err(format!("error {got_json}\n   expected {want}"));
                }
            }
        }
        (Ok(got), Some(want)) => return Err(format!("result {got}\n   expected error {want}")),
        (Err(got), None) => {
            return Err(format!(
                "error {}\n   expected {}",
                got.to_json(),
                expected["result"]
            ))
        }
    }
    Ok(())
}

async fn all_records(service: &dyn Service) -> Value {
    let all = Params {
        paginate: Some(PaginateOverride::Disabled),
        ..Params::default()
    };
    service.find(&all).await.unwrap()
}

async fn run_case(b: &Backend, case: &Value, datasets: &Value) -> Result<(), String> {
    let adapter = adapter_of(&case["options"]);
    let start = case["options"]
        .get("startId")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let data = match &case["data"] {
        Value::String(name) => datasets[name].clone(),
        other => other.clone(),
    };
    let data = data.as_array().cloned().unwrap_or_default();
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
    let (seed, next) = with_ids(&data, &adapter.id, start);
    let table = fresh_table(&b.db, "v").await;
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
    let result = call(&service, case, &params_of(case)).await;
    let outcome = check(result, &case["expected"]);
    let outcome = match (outcome, case["expected"].get("store")) {
        (Ok(()), Some(store)) => {
            let got = all_records(&service).await;
            if same(&got, store) {
                Ok(())
            } else {
                Err(format!("store {got}\n   expected {store}"))
            }
        }
        (other, _) => other,
    };
    drop_table(&b.db, &table).await;
    outcome
}

fn load() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../roost-core/tests/vectors/query.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_agrees_with_memory_on_every_vector() {
    let file = load();
    let cases = file["cases"].as_array().unwrap();
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
    let file = load();
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
            let (seed, next) = with_ids(&people, &adapter.id, 0);
            let table = fresh_table(&b.db, "p").await;
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
            .unwrap();
            service.migrate().await.unwrap();
            service.import(&seed).await.unwrap();
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
