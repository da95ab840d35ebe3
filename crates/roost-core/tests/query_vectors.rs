//! Runs every case of `tests/vectors/query.json` (generated from @feathersjs/memory 5.0.50 by
//! `tools/vectors/gen-query-vectors.js`) against `MemoryService` and requires the same answer.
#![allow(clippy::unwrap_used)]

use roost_core::{MemoryOptions, MemoryService, Params, Service, Value};
use roost_testkit::vectors;

async fn run(case: &Value, datasets: &Value) -> Result<(), String> {
    let options = &case["options"];
    let service = MemoryService::with_options(MemoryOptions {
        adapter: vectors::adapter_of(options),
        start_id: options.get("startId").and_then(Value::as_i64).unwrap_or(0),
        ..MemoryOptions::default()
    });
    for record in vectors::seed(case, datasets) {
        service.create(record, &Params::default()).await.unwrap();
    }
    let result = vectors::call(&service, case, &vectors::params_of(case)).await;
    vectors::check_with_store(&service, result, &case["expected"]).await
}

#[tokio::test]
async fn memory_agrees_with_feathers_on_every_vector() {
    let file = vectors::load();
    let cases = vectors::cases(&file);
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
