//! Runs every case of `tests/vectors/query.json` (generated from @feathersjs/memory 5.0.50 by
//! `tools/vectors/gen-query-vectors.js`) against `MemoryService` and requires the same answer.
#![allow(clippy::unwrap_used)]

use roost_core::params::PaginateOverride;
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::{MemoryOptions, MemoryService, Params, Service, Value};

fn paginate_of(v: &Value) -> Option<Paginate> {
    let obj = v.as_object()?;
    let n = |k: &str| obj.get(k).and_then(Value::as_u64).map(|n| n as usize);
    Some(Paginate {
        default: n("default"),
        max: n("max"),
    })
}

fn options_of(v: &Value) -> MemoryOptions {
    let multi = match v.get("multi") {
        Some(m) => serde_json::from_value::<Multi>(m.clone()).unwrap(),
        None => Multi::default(),
    };
    MemoryOptions {
        adapter: AdapterOptions {
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("id")
                .to_owned(),
            multi,
            paginate: v.get("paginate").and_then(paginate_of),
        },
        start_id: v.get("startId").and_then(Value::as_i64).unwrap_or(0),
        ..MemoryOptions::default()
    }
}

/// JSON equality where numbers compare by value (JS has one number type) and key order is
/// ignored.
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

async fn run(case: &Value, datasets: &Value) -> Result<(), String> {
    let service = MemoryService::with_options(options_of(&case["options"]));
    let data = match &case["data"] {
        Value::String(name) => datasets[name].clone(),
        other => other.clone(),
    };
    for record in data.as_array().unwrap() {
        service
            .create(record.clone(), &Params::default())
            .await
            .unwrap();
    }
    let mut params =
        Params::default().with_query(case["query"].as_object().cloned().unwrap_or_default());
    if let Some(p) = case.get("paginate") {
        params.paginate = Some(match paginate_of(p) {
            Some(p) => PaginateOverride::With(p),
            None => PaginateOverride::Disabled,
        });
    }
    let id = case.get("id").cloned().unwrap_or(Value::Null);
    let body = case.get("body").cloned().unwrap_or(Value::Null);
    let result = match case["method"].as_str().unwrap() {
        "find" => service.find(&params).await,
        "get" => service.get(&id, &params).await,
        "create" => service.create(body, &params).await,
        "update" => service.update(&id, body, &params).await,
        "patch" => service.patch(&id, body, &params).await,
        "remove" => service.remove(&id, &params).await,
        m => return Err(format!("unknown method {m}")),
    };
    let expected = &case["expected"];
    match (result, expected.get("error")) {
        (Ok(got), None) => {
            if !same(&got, &expected["result"]) {
                return Err(format!("result {got}\n   expected {}", expected["result"]));
            }
        }
        (Err(got), Some(want)) => {
            let name = want["name"].as_str().unwrap();
            if name == "Error" || name == "TypeError" {
                // A JavaScript crash in Feathers (500); Roost answers 400 and keeps sift's
                // messages (plain `Error`s).
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
    if let Some(store) = expected.get("store") {
        let all = Params {
            paginate: Some(PaginateOverride::Disabled),
            ..Params::default()
        };
        let got = service.find(&all).await.unwrap();
        if !same(&got, store) {
            return Err(format!("store {got}\n   expected {store}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn memory_agrees_with_feathers_on_every_vector() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/query.json"
    ))
    .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let cases = file["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        if let Err(why) = run(case, &file["datasets"]).await {
            failures.push(format!("{}: {why}", case["name"]));
        }
    }
    println!(
        "ran {} query vectors, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
