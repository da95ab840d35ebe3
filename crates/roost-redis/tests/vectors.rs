//! roost-redis' flatted and feathers-sync codecs against the real npm packages:
//! - the stored vectors (`tests/vectors/cluster.json`, written by `tools/cluster-vectors/gen.js`):
//!   flatted bytes and trees, and feathers-sync messages exactly as Node pods publish them;
//! - Roost-written messages fed to a Feathers app running the real feathers-sync core through
//!   `tools/cluster-vectors/verify-roost.js`, when that project's `node_modules` is installed
//!   (`npm ci` there); otherwise the test says it skipped.
#![allow(clippy::unwrap_used)]

use roost_core::broker::{
    Audience, ChannelTarget, Envelope, EnvelopeLimits, EventContext, NodeId, Sequencer,
};
use roost_redis::feathers_sync::{self, Serializer, SyncMessage, NODE_ORIGIN};
use roost_redis::flatted::{self, FlattedLimits};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn vectors() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cluster.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn flatted_matches_the_npm_package_both_ways() {
    let v = vectors();
    let cases = v["flatted"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let text = case["flatted"].as_str().unwrap();
        let parsed = flatted::parse(text.as_bytes(), &FlattedLimits::default()).unwrap();
        if let Some(value) = case.get("value") {
            assert_eq!(flatted::stringify(value), text, "stringify {value}");
            assert_eq!(&parsed, value, "parse {text}");
        } else {
            assert_eq!(parsed, case["tree"], "parse {text}");
        }
    }
}

#[test]
fn flatted_input_is_bounded() {
    let limits = FlattedLimits::default();
    for junk in ["", "{}", "[]", "nope", "[1,"] {
        assert!(flatted::parse(junk.as_bytes(), &limits).is_err(), "{junk}");
    }
    // 40 levels that each reference the next twice: 2^40 values if copied naively.
    let mut elements = Vec::new();
    for i in 0..40 {
        let next = (i + 1).to_string();
        elements.push(json!([next, next]));
    }
    elements.push(json!({}));
    let text = serde_json::to_string(&elements).unwrap();
    assert!(matches!(
        flatted::parse(text.as_bytes(), &limits),
        Err(flatted::FlattedError::TooLarge(_) | flatted::FlattedError::TooDeep(_))
    ));
    let deep: Vec<Value> = (0..200).map(|i| json!([(i + 1).to_string()])).collect();
    let text = serde_json::to_string(&deep).unwrap();
    assert!(matches!(
        flatted::parse(text.as_bytes(), &limits),
        Err(flatted::FlattedError::TooDeep(128))
    ));
    // References that point nowhere read as absent, as `undefined` is in JavaScript.
    let parsed = flatted::parse(br#"[{"a":"9","b":1},["9"]]"#, &limits).unwrap();
    assert_eq!(parsed, json!({"b": 1}));
}

/// Every message a Node pod published decodes into what the receiving Node pod's publishers
/// saw: data, method, id, user, provider and the payload.
#[test]
fn node_messages_decode_as_node_reads_them() {
    let v = vectors();
    let cases = v["feathersSync"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    for case in cases {
        let name = format!("{} {}", case["serializer"], case["name"]);
        let text = case["text"].as_str().unwrap();
        let message = feathers_sync::decode(text.as_bytes(), &EnvelopeLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let SyncMessage::Node(envelope) = message else {
            panic!("{name}: not read as a Node message");
        };
        let heard = &case["heard"][0];
        assert_eq!(envelope.origin.as_str(), NODE_ORIGIN);
        assert_eq!(envelope.to, Audience::Publish, "{name}");
        assert_eq!(
            envelope.path.as_deref(),
            heard["path"].as_str().or(Some("messages"))
        );
        assert_eq!(envelope.event, heard["event"], "{name}");
        assert_eq!(envelope.data, heard["data"], "{name}");
        let ctx = &envelope.context;
        assert_eq!(ctx.method.as_deref(), heard["method"].as_str(), "{name}");
        assert_eq!(ctx.id.as_ref(), heard.get("id"), "{name}");
        assert_eq!(ctx.user.as_ref(), heard.get("user"), "{name}");
        assert_eq!(
            ctx.provider.as_deref(),
            heard["provider"].as_str(),
            "{name}"
        );
        // Node's dispatcher sends `dispatch || result`, narrowed to the item for multi results.
        let chosen = heard.get("dispatch").or(heard.get("result"));
        let expected = match chosen {
            Some(Value::Array(items)) if !heard["data"].is_array() => items
                .iter()
                .find(|i| **i == heard["data"])
                .cloned()
                .unwrap_or(Value::Null),
            Some(value) => value.clone(),
            None => heard["data"].clone(),
        };
        assert_eq!(envelope.payload(), &expected, "{name}");
    }
}

fn roost_envelopes() -> Vec<Envelope> {
    let mut sequencer = Sequencer::new(NodeId::new("roost-a").unwrap(), 100);
    let user = json!({"id": 7, "email": "ann@example.com"});
    let mut out = vec![
        Envelope::service_event(
            "messages",
            "created",
            json!({"id": 1, "text": "hi", "tags": ["a", "a"], "n": 2.5}),
            None,
            vec![ChannelTarget {
                name: "rooms/1".into(),
                seq: 0,
                data: None,
            }],
            EventContext {
                method: Some("create".into()),
                id: None,
                user: Some(user.clone()),
                provider: Some("socketio".into()),
            },
        ),
        Envelope::service_event(
            "messages",
            "patched",
            json!({"id": 3, "text": "edited", "secret": "s"}),
            Some(json!({"id": 3, "text": "edited"})),
            Vec::new(),
            EventContext {
                method: Some("patch".into()),
                id: Some(json!(3)),
                user: Some(user),
                provider: Some("rest".into()),
            },
        ),
        Envelope::service_event(
            "messages",
            "removed",
            json!({"id": "x"}),
            None,
            Vec::new(),
            EventContext {
                method: Some("remove".into()),
                id: Some(json!("x")),
                ..EventContext::default()
            },
        ),
        Envelope::service_event(
            "messages",
            "typing",
            json!({"user": 7}),
            None,
            Vec::new(),
            EventContext::default(),
        ),
    ];
    for e in &mut out {
        sequencer.stamp(e);
    }
    out
}

/// What a Node listener should see for a Roost envelope.
fn expected_in_node(e: &Envelope) -> Value {
    let mut expect = json!({
        "event": e.event, "path": e.path, "data": e.data, "result": e.data,
    });
    let ctx = &e.context;
    for (key, value) in [
        ("method", ctx.method.clone().map(Value::String)),
        ("id", ctx.id.clone()),
        ("user", ctx.user.clone()),
        ("provider", ctx.provider.clone().map(Value::String)),
        ("dispatch", e.dispatch.clone()),
    ] {
        if let Some(value) = value {
            expect[key] = value;
        }
    }
    expect
}

#[test]
fn roost_messages_round_trip_and_node_reads_them() {
    let limits = EnvelopeLimits::default();
    let mut messages = Vec::new();
    for serializer in [Serializer::Json, Serializer::Flatted] {
        for (i, envelope) in roost_envelopes().into_iter().enumerate() {
            let bytes =
                feathers_sync::encode(&envelope, i as u64 + 1, serializer, &limits).unwrap();
            let text = String::from_utf8(bytes).unwrap();
            match serializer {
                Serializer::Json => assert!(text.starts_with('{')),
                Serializer::Flatted => assert!(text.starts_with("[{")),
            }
            // Roost reads its own message back whole.
            match feathers_sync::decode(text.as_bytes(), &limits).unwrap() {
                SyncMessage::Roost {
                    envelope: back,
                    sync_seq,
                } => {
                    assert_eq!(sync_seq, i as u64 + 1);
                    assert_eq!(back, envelope);
                }
                other => panic!("{other:?}"),
            }
            messages.push(json!({
                "serializer": if serializer == Serializer::Json { "json" } else { "flatted" },
                "text": text,
                "expect": expected_in_node(&envelope),
            }));
        }
    }

    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/cluster-vectors");
    if !dir.join("node_modules").is_dir() {
        println!(
            "SKIPPED the Node half of roost_messages_round_trip_and_node_reads_them: run `npm ci` in {} to enable it",
            dir.display()
        );
        return;
    }
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
            println!("SKIPPED the Node half: cannot run node ({e})");
            return;
        }
    };
    let input = serde_json::to_vec(&json!({ "messages": messages })).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "verify-roost.js failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");
}
