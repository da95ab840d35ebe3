//! Every acknowledged write survives SIGKILL: the real `roost` binary with a SQLite-backed
//! declared service is killed without warning after its answers and restarted on the same
//! data directory.
#![allow(clippy::unwrap_used)]

mod common;

use common::{call, config_file, Roost, PEOPLE_SQL};
use serde_json::{json, Value};

#[test]
fn acknowledged_records_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), PEOPLE_SQL);
    let data = dir.path().join("data");

    let roost = Roost::start(&config, &data, &[]);
    let mut acked = Vec::new();
    for i in 0..40 {
        let (status, created) = call(
            roost.addr,
            "POST",
            "/people",
            Some(&json!({"name": format!("p{i}"), "age": i, "extra": {"n": i}})),
        );
        assert_eq!(status, 201, "{created}");
        acked.push(created);
    }
    let (status, patched) = call(roost.addr, "PATCH", "/people/1", Some(&json!({"age": 99})));
    assert_eq!(status, 200, "{patched}");
    acked[0] = patched;
    let (status, _) = call(roost.addr, "DELETE", "/people/2", None);
    assert_eq!(status, 200);
    acked.remove(1);
    roost.kill();

    assert!(
        data.join("roost.db").exists(),
        "the database lives in the data dir"
    );
    let roost = Roost::start(&config, &data, &[]);
    let (status, found) = call(roost.addr, "GET", "/people", None);
    assert_eq!(status, 200, "{found}");
    assert_eq!(found, Value::Array(acked));
    // Ids keep counting after the restart.
    let (status, created) = call(roost.addr, "POST", "/people", Some(&json!({"name": "new"})));
    assert_eq!(status, 201);
    assert_eq!(created["id"], 41);
}
