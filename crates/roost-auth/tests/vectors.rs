//! Cross-checks with the real npm packages Feathers 5.0.50 uses.
//!
//! - `vectors/auth.json` (written by `tools/auth-vectors/gen.js`): bcryptjs hashes and
//!   jsonwebtoken tokens with the outcomes those packages give; Roost must agree on each.
//! - The other direction: hashes and tokens made by Roost are verified by bcryptjs and
//!   jsonwebtoken through `tools/auth-vectors/verify-roost.js`, when that project's
//!   `node_modules` is installed (`npm ci` there); otherwise the test says it skipped.
#![allow(clippy::unwrap_used)]

use roost_auth::jwt::{self, Algorithm, VerifyOptions};
use roost_auth::{AuthConfig, Authentication, ExpiresIn, PasswordHasher};
use roost_core::{json, App, Error, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/auth.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bcryptjs_hashes_verify_in_roost() {
    let v = vectors();
    let hasher = PasswordHasher::new(4, 2, 1024);
    let mut checked = 0;
    for case in v["bcrypt"].as_array().unwrap() {
        let hash = case["hash"].as_str().unwrap();
        for check in case["checks"].as_array().unwrap() {
            let password = check["password"].as_str().unwrap();
            let expected = check["matches"].as_bool().unwrap();
            let got = hasher
                .verify(password.to_owned(), hash.to_owned())
                .await
                .unwrap();
            assert_eq!(got, expected, "{hash} with {password:?}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked}");
    println!("{checked} bcryptjs checks agree");
}

fn options(o: &Value) -> VerifyOptions {
    VerifyOptions {
        algorithm: Algorithm::from_name(o["algorithm"].as_str().unwrap()).unwrap(),
        audience: o["audience"].as_str().map(str::to_owned),
        issuer: o["issuer"].as_str().map(str::to_owned),
    }
}

#[test]
fn jsonwebtoken_tokens_verify_the_same_in_roost() {
    let v = vectors();
    let secret = v["secret"].as_str().unwrap().as_bytes();
    let now = v["now"].as_u64().unwrap();
    let cases = v["jwt"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let outcome = jwt::verify(token, secret, &options(&case["options"]), now);
        if case["ok"] == json!(true) {
            let payload = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(payload.into_value(), case["payload"], "{name}");
        } else {
            let err = Error::from(outcome.err().unwrap_or_else(|| panic!("{name}: accepted")));
            assert_eq!(err.code(), 401, "{name}");
            assert_eq!(err.message, case["error"]["message"], "{name}");
            assert_eq!(err.data.as_ref(), Some(&case["error"]["data"]), "{name}");
        }
    }
    assert!(cases.len() >= 30);
    println!("{} jsonwebtoken vectors agree", cases.len());
}

/// Hashes and tokens made by Roost, with what bcryptjs and jsonwebtoken must say about them.
fn roost_made() -> Value {
    let mut hashes = Vec::new();
    let passwords = [
        "alice-pw",
        "pässwörd ✓ 😀",
        &"x".repeat(72),
        &("z".repeat(70) + "😀tail"),
    ];
    for password in passwords {
        for cost in [4, 10] {
            if cost == 10 && password.len() > 20 {
                continue;
            }
            let hash = roost_auth::password::hash_blocking(password, cost).unwrap();
            hashes.push(json!({"password": password, "hash": hash, "matches": true}));
            hashes.push(json!({"password": format!("{password}?"), "hash": hash,
                               "matches": password.len() >= 72}));
        }
    }
    let mut tokens = Vec::new();
    let configs = [
        ("defaults", AuthConfig::with_secret("roost-made-secret")),
        ("no issuer, HS384, 2h", {
            let mut c = AuthConfig::with_secret("roost-made-secret");
            c.jwt_options.issuer = None;
            c.jwt_options.algorithm = "HS384".into();
            c.jwt_options.expires_in = Some(ExpiresIn::Span("2h".into()));
            c
        }),
        ("HS512, no exp, unicode secret", {
            let mut c = AuthConfig::with_secret("sécret ✓");
            c.jwt_options.algorithm = "HS512".into();
            c.jwt_options.expires_in = None;
            c
        }),
    ];
    for (name, config) in configs {
        let expected = json!({
            "secret": config.secret,
            "algorithm": config.jwt_options.algorithm,
            "audience": config.jwt_options.audience,
            "issuer": config.jwt_options.issuer,
            "typ": config.jwt_options.typ(),
        });
        let auth = Authentication::new(&App::new(), config).unwrap();
        let mut payload = Map::new();
        payload.insert("name".into(), json!("ünï ✓"));
        let token = auth.create_access_token(payload, Some("7".into()));
        let claims = auth.verify_access_token(&token).unwrap().into_value();
        tokens.push(json!({"name": name, "token": token, "verify": expected, "payload": claims}));
    }
    json!({"hashes": hashes, "tokens": tokens})
}

fn node_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/auth-vectors")
}

#[test]
fn roost_hashes_and_tokens_verify_in_node() {
    let dir = node_project();
    if !dir.join("node_modules").is_dir() {
        println!(
            "SKIPPED roost_hashes_and_tokens_verify_in_node: run `npm ci` in {} to enable it",
            dir.display()
        );
        return;
    }
    let input = roost_made().to_string();
    let child = Command::new("node")
        .arg("verify-roost.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            println!("SKIPPED roost_hashes_and_tokens_verify_in_node: cannot run node ({e})");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "verify-roost.js failed:\n{stdout}\n{stderr}"
    );
}
