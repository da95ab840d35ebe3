//! Declared services with built-in hooks named in the configuration, on the real binary:
//! `authenticate`, `set_from_user`, `restrict_to_user`, `hash_password` and `protect`, over
//! REST with the default app's users and tokens.
#![allow(clippy::unwrap_used)]

mod common;

use common::{config_file, Roost, BIN};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Command;

const NOTES: &str = r#"
[services.notes]
adapter = "sql"
schema = { text = "string", ownerId = "integer" }
[services.notes.hooks.before]
all = ["authenticate"]
create = ["set_from_user:ownerId"]
find = ["restrict_to_user:ownerId"]
get = ["restrict_to_user:ownerId"]
patch = ["restrict_to_user:ownerId", "set_from_user:ownerId"]
remove = ["restrict_to_user:ownerId"]
[services.notes.hooks.after]
all = ["protect:secret"]

[services.vault]
[services.vault.hooks.before]
create = ["hash_password:pin"]
[services.vault.hooks.after]
all = ["protect:pin"]
"#;

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(roost_testkit::request(
            addr,
            method,
            path,
            &headers,
            bytes.as_deref(),
        ))
        .unwrap();
    (res.status, res.json())
}

fn signup_and_login(addr: SocketAddr, email: &str) -> (i64, String) {
    let creds = json!({"email": email, "password": "pw"});
    let (status, user) = http(addr, "POST", "/users", None, Some(&creds));
    assert_eq!(status, 201, "{user}");
    let mut login = creds;
    login["strategy"] = json!("local");
    let (status, auth) = http(addr, "POST", "/authentication", None, Some(&login));
    assert_eq!(status, 201, "{auth}");
    (
        user["id"].as_i64().unwrap(),
        auth["accessToken"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn declared_hooks_authenticate_own_and_protect() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), NOTES);
    let roost = Roost::start(&config, &dir.path().join("data"), &[]);
    let addr = roost.addr;
    let (alice, alice_token) = signup_and_login(addr, "alice@example.com");
    let (bob, bob_token) = signup_and_login(addr, "bob@example.com");
    assert_ne!(alice, bob);

    // authenticate: no token, no notes.
    let (status, error) = http(addr, "GET", "/notes", None, None);
    assert_eq!(status, 401, "{error}");
    assert_eq!(error["name"], "NotAuthenticated");

    // set_from_user: the owner is the caller, whatever the body says; protect hides `secret`.
    let note = json!({"text": "alice's", "ownerId": bob, "secret": "s"});
    let (status, created) = http(addr, "POST", "/notes", Some(&alice_token), Some(&note));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["ownerId"], json!(alice));
    assert!(created.get("secret").is_none(), "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, _) = http(
        addr,
        "POST",
        "/notes",
        Some(&bob_token),
        Some(&json!({"text": "bob's"})),
    );
    assert_eq!(status, 201);

    // restrict_to_user: each sees only their own; another's record does not exist for them,
    // even when the query string asks for it.
    let (status, mine) = http(
        addr,
        "GET",
        &format!("/notes?ownerId={bob}"),
        Some(&alice_token),
        None,
    );
    assert_eq!(status, 200);
    let texts: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["alice's"]);
    let (status, _) = http(addr, "GET", &format!("/notes/{id}"), Some(&bob_token), None);
    assert_eq!(status, 404);
    let (status, _) = http(
        addr,
        "PATCH",
        &format!("/notes/{id}"),
        Some(&bob_token),
        Some(&json!({"text": "x"})),
    );
    assert_eq!(status, 404);
    let (status, _) = http(
        addr,
        "DELETE",
        &format!("/notes/{id}"),
        Some(&bob_token),
        None,
    );
    assert_eq!(status, 404);
    let (status, got) = http(
        addr,
        "GET",
        &format!("/notes/{id}"),
        Some(&alice_token),
        None,
    );
    assert_eq!((status, got["text"].clone()), (200, json!("alice's")));

    // hash_password on any field; protect keeps the hash from callers.
    let (status, stored) = http(addr, "POST", "/vault", None, Some(&json!({"pin": "1234"})));
    assert_eq!(status, 201, "{stored}");
    assert!(stored.get("pin").is_none(), "{stored}");
}

#[test]
fn bad_declared_hooks_fail_fast_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (text, expected) in [
        (
            "[services.a.hooks.before]\nall = [\"authorize\"]\n",
            "unknown hook `authorize`",
        ),
        (
            "[services.a.hooks.after]\nall = [\"authenticate\"]\n",
            "is a before hook",
        ),
        (
            "[app]\nenabled = false\n[services.a.hooks.before]\nall = [\"authenticate\"]\n",
            "need the default app",
        ),
    ] {
        let config = config_file(dir.path(), text);
        let out = Command::new(BIN)
            .args(["config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
}
