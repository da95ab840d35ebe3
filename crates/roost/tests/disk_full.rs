//! A full disk is a clear, temporary failure: the real binary keeps its SQLite database on a
//! small tmpfs that fills up; writes then answer 503 `Unavailable` saying the disk is full
//! (and `/readyz` says so)
//! (never 500), reads keep working, and once space is freed the next writes succeed without
//! a restart. Needs root (to mount the tmpfs); skipped with a note otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use common::{call, config_file, Roost, PEOPLE_SQL};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` mounted on a fresh directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn post(roost: &Roost, body: &Value) -> (u16, Value) {
    call(roost.addr, "POST", "/people", Some(body))
}

#[test]
fn a_full_disk_answers_503_and_writes_recover_once_space_is_freed() {
    let disk = match Tmpfs::mount("4m") {
        Ok(disk) => disk,
        Err(e) => {
            eprintln!(
                "SKIP a_full_disk_answers_503_and_writes_recover_once_space_is_freed: cannot \
                 mount a tmpfs ({e}); needs root, as scripts/test.sh runs"
            );
            return;
        }
    };
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_file(config_dir.path(), PEOPLE_SQL);
    let data = disk.path().join("data");
    // Room the test frees later.
    let ballast: PathBuf = disk.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; 1 << 20]).unwrap();
    let roost = Roost::start(&config, &data, &[]);

    // Records of 32 KiB until the disk is full (4 MiB: well within 200 of them).
    let big = "x".repeat(32 * 1024);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let (status, body) = post(&roost, &json!({"name": big, "age": i}));
        if status != 201 {
            refused = Some((status, body));
            break;
        }
        acked.push(body["id"].clone());
    }
    let Some((status, error)) = refused else {
        panic!("4 MiB held 200 records of 32 KiB: {:#?}", roost.log());
    };
    assert_eq!(status, 503, "{error}\n{:#?}", roost.log());
    assert_eq!(error["name"], "Unavailable");
    assert!(
        error["message"].as_str().unwrap().contains("disk is full"),
        "{error}"
    );
    assert!(!acked.is_empty(), "some records fit before the disk filled");
    // Still full: still the same clear answer. Reads keep working.
    let (status, error) = post(&roost, &json!({"name": big, "age": 0}));
    assert_eq!((status, &error["name"]), (503, &json!("Unavailable")));
    let (status, found) = call(roost.addr, "GET", "/people?$select[]=id", None);
    assert_eq!(status, 200, "{found}");
    // A load balancer reading /readyz moves traffic away meanwhile.
    let (status, ready) = call(roost.addr, "GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    assert!(ready.to_string().contains("disk is full"), "{ready}");

    std::fs::remove_file(&ballast).unwrap();
    // No restart: the next writes succeed.
    for i in 0..3 {
        let (status, created) = post(&roost, &json!({"name": "after", "age": i}));
        assert_eq!(status, 201, "write {i} after freeing space: {created}");
        acked.push(created["id"].clone());
    }
    let (status, ready) = call(roost.addr, "GET", "/readyz", None);
    assert_eq!(status, 200, "ready again once a write committed: {ready}");
    let (status, found) = call(roost.addr, "GET", "/people?$select[]=id", None);
    assert_eq!(status, 200);
    let ids: Vec<Value> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, acked, "every acknowledged record, and only those");
    drop(roost);
}
