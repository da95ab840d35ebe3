//! Hostile clients against the real binary over real sockets: each case asserts the clear
//! answer (or close) the hostile client gets, its counter at `/metrics`, and that a second,
//! well-behaved client keeps working meanwhile.
#![allow(clippy::unwrap_used)]

mod common;

use common::Roost;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn start(env: &[(&str, &str)]) -> (Roost, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(dir.path(), "");
    let data = dir.path().join("data");
    (Roost::start(&config, &data, env), dir)
}

/// The value of counter `name` at `/metrics`, asked from `from`.
async fn counter(addr: SocketAddr, from: Option<IpAddr>, name: &str) -> u64 {
    let res = roost_testkit::request_from(from, addr, "GET", "/metrics", &[], None)
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let text = String::from_utf8_lossy(&res.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in {text}"))
        .parse()
        .unwrap()
}

/// Reads until the server closes; what it sent. Fails the test after 30 s (a hang guard, not
/// a timing assertion: the configured timeouts are a few seconds).
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server never closed the connection");
    out
}

#[test]
fn idle_dribbling_and_stalled_connections_are_closed_while_others_work() {
    // 2 s: room for a loaded machine to read a well-behaved request's head in time.
    let (roost, _dir) = start(&[
        ("ROOST_SERVER__HEADER_TIMEOUT_SECS", "2"),
        ("ROOST_SERVER__BODY_TIMEOUT_SECS", "2"),
    ]);
    let addr = roost.addr;
    runtime().block_on(async {
        // Sends nothing at all.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        // Dribbles a request head and stops.
        let mut dribble = TcpStream::connect(addr).await.unwrap();
        dribble
            .write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
        // Sends a head announcing 100 bytes of body, then 10 of them.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(
                b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"email\":",
            )
            .await
            .unwrap();
        // Well-behaved clients meanwhile: a request, and a websocket (upgraded connections
        // are the transports' to watch, not the header timeout's).
        let ok = roost_testkit::request(addr, "GET", "/healthz", &[], None)
            .await
            .unwrap();
        assert_eq!(ok.status, 200);
        let mut ws = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();

        assert!(read_until_closed(&mut idle).await.is_empty());
        read_until_closed(&mut dribble).await;
        let answer = String::from_utf8(read_until_closed(&mut stalled).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"name\":\"Timeout\""), "{answer}");

        // The websocket outlives the timeouts (it is idle longer than them here).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        ws.call(1, "find", "users", &[json!({"$limit": 0})]).await;
        assert!(
            ws.ack(1).await.0[0].is_object(),
            "an answer (NotAuthenticated)"
        );
        // Still serving, and every close was counted.
        let signup = roost_testkit::json_request(
            addr,
            "POST",
            "/users",
            &serde_json::json!({"email": "ok@example.com", "password": "pw"}),
        )
        .await
        .unwrap();
        assert_eq!(signup.status, 201);
        assert!(counter(addr, None, "roost_server_header_timeouts_total").await >= 2);
        assert_eq!(
            counter(addr, None, "roost_server_body_timeouts_total").await,
            1
        );
    });
    // The open-file limit is logged at start.
    assert!(
        roost.log().iter().any(|l| l.contains("open-file")),
        "{:#?}",
        roost.log()
    );
}

#[test]
fn the_per_ip_cap_refuses_the_extra_connection_and_counts_it() {
    let (roost, _dir) = start(&[("ROOST_SERVER__MAX_CONNECTIONS_PER_IP", "2")]);
    let addr = roost.addr;
    let other = Some(IpAddr::from([127, 0, 0, 2]));
    runtime().block_on(async {
        let _held: Vec<TcpStream> = vec![
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        ];
        let refused = roost_testkit::request(addr, "GET", "/healthz", &[], None)
            .await
            .unwrap();
        assert_eq!(refused.status, 503);
        assert_eq!(refused.json()["name"], "Unavailable");
        assert_eq!(
            refused.json()["message"],
            "Too many connections from this address"
        );
        // Another address is not affected.
        let ok = roost_testkit::request_from(other, addr, "GET", "/healthz", &[], None)
            .await
            .unwrap();
        assert_eq!(ok.status, 200);
        assert_eq!(
            counter(addr, other, "roost_server_per_ip_refused_total").await,
            1
        );
        // Once a held connection goes, the address gets a slot again.
        drop(_held);
        let mut again = None;
        for _ in 0..100 {
            let res = roost_testkit::request(addr, "GET", "/healthz", &[], None)
                .await
                .unwrap();
            if res.status == 200 {
                again = Some(res);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(again.is_some(), "the address never got a slot back");
    });
}

const NOTES: &str = "[services.notes]\nadapter = \"sql\"\n";

fn start_with_notes(env: &[(&str, &str)]) -> (Roost, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(dir.path(), NOTES);
    let data = dir.path().join("data");
    (Roost::start(&config, &data, env), dir)
}

/// A find on `notes` so wide that the database would refuse it, one with 2,000 `$or`
/// branches, and one nested 200 levels deep.
fn hostile_queries() -> [(Value, &'static str); 3] {
    let values: Vec<Value> = (0..40_000).map(Value::from).collect();
    let branches: Vec<Value> = (0..2_000).map(|i| json!({ "id": i })).collect();
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    [
        (
            json!({"id": {"$in": values}}),
            "Query is too large: $in has 40000 values (the limit is 500)",
        ),
        (
            json!({"$or": branches}),
            "Query is too large: $or has 2000 branches (the limit is 100)",
        ),
        (
            json!({"text": {"$in": deep}}),
            "Invalid JSON: the message is nested too deeply (the limit is 127 levels)",
        ),
    ]
}

fn no_error_logged(roost: &Roost) {
    let errors: Vec<String> = roost
        .log()
        .into_iter()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn oversized_and_too_deep_primus_calls_get_bad_request_acks() {
    // The query limits, not the message limits (size before login, values), are what this
    // test is about.
    let (roost, _dir) = start_with_notes(&[
        ("ROOST_PRIMUS__MAX_FRAME_SIZE_ANONYMOUS", "1048576"),
        ("ROOST_PRIMUS__MAX_FRAME_VALUES", "100000"),
    ]);
    let addr = roost.addr;
    runtime().block_on(async {
        let mut hostile = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();
        let mut good = roost_testkit::ws::connect(addr, "/primus/?_primuscb=y")
            .await
            .unwrap();
        good.call(1, "create", "notes", &[json!({"text": "kept"})])
            .await;
        assert_eq!(good.ack(1).await.0[0], Value::Null);
        for (i, (query, message)) in hostile_queries().into_iter().enumerate() {
            let id = 10 + i as u64;
            hostile.call(id, "find", "notes", &[query]).await;
            let (data, _) = hostile.ack(id).await;
            assert_eq!(data[0]["name"], "BadRequest", "{data}");
            assert_eq!(data[0]["code"], 400);
            assert_eq!(data[0]["message"], message);
            // The well-behaved client meanwhile.
            good.call(id, "find", "notes", &[json!({"text": "kept"})])
                .await;
            let (data, _) = good.ack(id).await;
            assert_eq!(data[1].as_array().map(Vec::len), Some(1), "{data}");
        }
        // The hostile socket is still usable too.
        hostile.call(99, "find", "notes", &[json!({})]).await;
        assert_eq!(hostile.ack(99).await.0[0], Value::Null);
        assert_eq!(counter(addr, None, "roost_query_limit_total").await, 2);
        assert_eq!(
            counter(addr, None, "roost_primus_too_deep_calls_total").await,
            1
        );
    });
    no_error_logged(&roost);
}

/// Reads Socket.IO packets until one starts with `prefix`, answering Engine.IO pings.
async fn sio_until(ws: &mut roost_testkit::ws::WsClient, prefix: &str) -> String {
    loop {
        match ws.recv().await {
            roost_testkit::ws::Received::Text(t) if t == "2" => ws.send_text("3").await,
            roost_testkit::ws::Received::Text(t) if t.starts_with(prefix) => return t,
            roost_testkit::ws::Received::Text(_) => {}
            other => panic!("socket.io session ended: {other:?}"),
        }
    }
}

async fn sio_connect(addr: SocketAddr) -> roost_testkit::ws::WsClient {
    let mut ws = roost_testkit::ws::connect(addr, "/socket.io/?EIO=4&transport=websocket")
        .await
        .unwrap();
    sio_until(&mut ws, "0{").await;
    ws.send_text("40").await;
    sio_until(&mut ws, "40").await;
    ws
}

#[test]
fn oversized_and_too_deep_socketio_calls_get_bad_request_acks() {
    let (roost, _dir) = start_with_notes(&[
        ("ROOST_SOCKETIO__MAX_PAYLOAD_ANONYMOUS", "1000000"),
        ("ROOST_SOCKETIO__MAX_PAYLOAD_VALUES", "100000"),
    ]);
    let addr = roost.addr;
    runtime().block_on(async {
        let mut hostile = sio_connect(addr).await;
        let mut good = sio_connect(addr).await;
        good.send_text(r#"421["create","notes",{"text":"kept"}]"#)
            .await;
        sio_until(&mut good, "431[").await;
        for (i, (query, message)) in hostile_queries().into_iter().enumerate() {
            let id = 10 + i;
            hostile
                .send_text(&format!("42{id}{}", json!(["find", "notes", query])))
                .await;
            let ack = sio_until(&mut hostile, &format!("43{id}[")).await;
            let data: Value = serde_json::from_str(&ack[2 + id.to_string().len()..]).unwrap();
            assert_eq!(data[0]["name"], "BadRequest", "{data}");
            assert_eq!(data[0]["message"], message);
            good.send_text(&format!(r#"42{id}["find","notes",{{"text":"kept"}}]"#))
                .await;
            let ack = sio_until(&mut good, &format!("43{id}[")).await;
            assert!(ack.contains("\"kept\""), "{ack}");
        }
        hostile.send_text(r#"4299["find","notes",{}]"#).await;
        let ack = sio_until(&mut hostile, "4399[").await;
        assert!(ack.starts_with("4399[null,"), "{ack}");
        assert_eq!(
            counter(addr, None, "roost_socketio_too_deep_calls_total").await,
            1
        );
    });
    no_error_logged(&roost);
}

/// Signs `email` up over REST.
async fn signup(addr: SocketAddr, email: &str) {
    let res = roost_testkit::json_request(
        addr,
        "POST",
        "/users",
        &json!({"email": email, "password": "pw"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 201, "{:?}", res.json());
}

#[test]
fn large_frames_before_login_are_refused_unparsed_and_after_login_accepted() {
    let (roost, _dir) = start_with_notes(&[]);
    let addr = roost.addr;
    runtime().block_on(async {
        signup(addr, "big@example.com").await;
        let big = "x".repeat(200 * 1024);
        // Primus: refused before login with an ack, the connection stays open.
        let mut primus = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();
        primus
            .call(1, "create", "notes", &[json!({"text": big})])
            .await;
        let (data, _) = primus.ack(1).await;
        assert_eq!(data[0]["name"], "BadRequest", "{data}");
        assert_eq!(data[0]["data"]["limit"], 65536);
        // Logged in, the same frame is a call like any other.
        primus
            .call(
                2,
                "create",
                "authentication",
                &[json!({"strategy": "local", "email": "big@example.com", "password": "pw"})],
            )
            .await;
        let (data, _) = primus.ack(2).await;
        assert!(data[1]["accessToken"].is_string(), "{data}");
        primus
            .call(3, "create", "notes", &[json!({"text": big})])
            .await;
        let (data, _) = primus.ack(3).await;
        assert_eq!(data[1]["text"].as_str().map(str::len), Some(big.len()));
        // Past max_frame_size (1 MiB), even logged in: closed with 1009.
        let huge = "y".repeat(1100 * 1024);
        primus
            .call(4, "create", "notes", &[json!({"text": huge})])
            .await;
        let (_, close) = primus.until_closed().await;
        assert_eq!(close, roost_testkit::ws::Received::Close(Some(1009)));

        // Socket.IO: the same before login, the session stays open.
        let mut sio = sio_connect(addr).await;
        sio.send_text(&format!("421{}", json!(["create", "notes", {"text": big}])))
            .await;
        let ack = sio_until(&mut sio, "431[").await;
        assert!(ack.contains("\"BadRequest\""), "{ack}");
        sio.send_text(r#"422["find","notes",{"$limit":1}]"#).await;
        let ack = sio_until(&mut sio, "432[").await;
        assert!(ack.starts_with("432[null,"), "{ack}");

        assert_eq!(
            counter(addr, None, "roost_primus_anonymous_frame_limit_total").await,
            1
        );
        assert_eq!(
            counter(addr, None, "roost_socketio_anonymous_frame_limit_total").await,
            1
        );
    });
}

#[test]
fn the_data_directory_and_database_are_private_and_trace_logs_hold_no_secrets() {
    let (roost, dir) = start(&[("RUST_LOG", "trace")]);
    let addr = roost.addr;
    runtime().block_on(async {
        signup(addr, "secret@example.com").await;
        // A login over Primus and one over Socket.IO: their frames carry the password.
        let mut primus = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();
        let login =
            json!({"strategy": "local", "email": "secret@example.com", "password": "pw-Sekr1t"});
        primus
            .call(1, "create", "authentication", std::slice::from_ref(&login))
            .await;
        primus.ack(1).await;
        let mut sio = sio_connect(addr).await;
        sio.send_text(&format!(
            "421{}",
            json!(["create", "authentication", login])
        ))
        .await;
        sio_until(&mut sio, "431[").await;
        // A well-behaved call still works.
        let ok = roost_testkit::request(addr, "GET", "/healthz", &[], None)
            .await
            .unwrap();
        assert_eq!(ok.status, 200);
    });
    // With `log.wire_frames = true` (or before the cap) tungstenite logs both frames,
    // password included, at trace.
    // The log is read by a thread: wait until it has trace lines and stops growing.
    let mut log = roost.log();
    for _ in 0..100 {
        std::thread::park_timeout(Duration::from_millis(100));
        let now = roost.log();
        if now.len() == log.len() && log.iter().any(|l| l.contains("TRACE")) {
            break;
        }
        log = now;
    }
    assert!(log.iter().any(|l| l.contains("TRACE")), "trace is on");
    let leaks: Vec<&String> = log.iter().filter(|l| l.contains("pw-Sekr1t")).collect();
    assert!(leaks.is_empty(), "{leaks:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let data = dir.path().join("data");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("roost.db")), 0o600);
        for extra in ["roost.db-wal", "roost.db-shm", "secret"] {
            let path = data.join(extra);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{extra}");
            }
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of process `pid`, in MiB.
fn rss_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resident memory of the server before, at the peak of and after eight logged-in 1 MiB
/// frames of small objects, parsed because `primus.max_frame_values` is raised for it (by
/// default they are refused unparsed). Watched every 0.5 s until the memory has come back (RSS
/// within a quarter of the growth above where it started) or 90 s have passed, whichever comes
/// first (`SPIKE_WATCH_SECS=30` keeps watching that long for the figures at 3, 15 and 30 s);
/// the timeline is printed (`--nocapture`).
///
/// With jemalloc (the `jemalloc` feature), its background thread purges freed pages after
/// `dirty_decay_ms` (10 s): the test asserts the memory comes back before the 90 s give-up,
/// a bound far above the decay so that a loaded machine does not fail it. With glibc's
/// allocator or mimalloc it does not (BENCHMARKS.md, "Memory after a spike"): the test is
/// then a measurement, run by hand (`cargo test -p roost --no-default-features --test hostile
/// -- --ignored --nocapture memory_after_a_spike_of_big_frames`).
#[test]
#[cfg_attr(
    not(all(feature = "jemalloc", not(feature = "mimalloc"))),
    ignore = "a measurement with this allocator, printed"
)]
fn memory_after_a_spike_of_big_frames() {
    let returns = cfg!(all(feature = "jemalloc", not(feature = "mimalloc")));
    let watch = std::env::var("SPIKE_WATCH_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    // The test client does not answer Primus pings: heartbeats off, so a slow (debug, loaded)
    // machine parsing the eight frames does not get the client closed as dead.
    let (roost, _dir) = start_with_notes(&[
        ("ROOST_PRIMUS__MAX_FRAME_VALUES", "1000000"),
        ("ROOST_PRIMUS__PING_INTERVAL_MS", "0"),
    ]);
    let addr = roost.addr;
    let pid = roost.child.id();
    runtime().block_on(async {
        signup(addr, "spike@example.com").await;
        let mut c = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();
        c.call(
            1,
            "create",
            "authentication",
            &[json!({"strategy": "local", "email": "spike@example.com", "password": "pw"})],
        )
        .await;
        c.ack(1).await;
        let before = rss_mib(pid).0;
        // Small objects: one allocation each (the worst case for returning memory).
        let frame = format!(
            r#"{{"type":0,"data":["nosuchmethod","notes",[{}0]],"id":2}}"#,
            r#"{"a":"b"},"#.repeat(100_000)
        );
        for _ in 0..8 {
            c.send_text(&frame).await;
            c.ack(2).await;
        }
        let (after, peak) = rss_mib(pid);
        // The spike happened (each frame parses into well over 10 MiB).
        assert!(peak >= before + 40, "RSS MiB: before {before}, peak {peak}");
        let back = before + (peak - before) / 4;
        let start = std::time::Instant::now();
        let mut timeline = vec![format!("0 s {after}")];
        let mut marks = [3u64, 15, 30].into_iter().peekable();
        let mut rss = after;
        let mut came_back = None;
        loop {
            let elapsed = start.elapsed();
            if came_back.is_none() && rss <= back {
                came_back = Some(elapsed);
            }
            if (came_back.is_some() && elapsed.as_secs() >= watch) || elapsed.as_secs() >= 90 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss = rss_mib(pid).0;
            if let Some(&mark) = marks.peek() {
                if start.elapsed().as_secs() >= mark {
                    timeline.push(format!("{mark} s {rss}"));
                    marks.next();
                }
            }
        }
        eprintln!(
            "RSS MiB: before {before}, peak {peak}, after the frames {}; back under {back} \
             after {came_back:?}",
            timeline.join(", ")
        );
        if returns {
            assert!(
                came_back.is_some(),
                "the spike's memory did not come back within 90 s: RSS MiB before {before}, \
                 peak {peak}, now {rss}"
            );
        }
    });
}

#[test]
fn messages_with_too_many_values_are_refused_unparsed() {
    let (roost, _dir) = start_with_notes(&[]);
    let addr = roost.addr;
    // 25,000 values in 50 KB: small, but about 25 MiB once parsed.
    let many: Vec<Value> = (0..25_000).map(|_| json!(0)).collect();
    let record = json!({"text": "many", "values": many});
    runtime().block_on(async {
        let rest = roost_testkit::json_request(addr, "POST", "/notes", &record)
            .await
            .unwrap();
        assert_eq!(rest.status, 400);
        assert_eq!(
            rest.json()["message"],
            "The request body holds more than 20000 JSON values"
        );
        let mut primus = roost_testkit::ws::connect(addr, "/primus/?_primuscb=x")
            .await
            .unwrap();
        primus
            .call(1, "create", "notes", std::slice::from_ref(&record))
            .await;
        let (data, _) = primus.ack(1).await;
        assert_eq!(
            data[0]["message"], "The message holds more than 20000 JSON values",
            "{data}"
        );
        let mut sio = sio_connect(addr).await;
        sio.send_text(&format!("421{}", json!(["create", "notes", record])))
            .await;
        let ack = sio_until(&mut sio, "431[").await;
        assert!(ack.contains("more than 20000 JSON values"), "{ack}");
        // Every one of them still works, and so does a second client.
        primus
            .call(2, "create", "notes", &[json!({"text": "fine"})])
            .await;
        assert_eq!(primus.ack(2).await.0[0], Value::Null);
        sio.send_text(r#"422["find","notes",{"text":"fine"}]"#)
            .await;
        assert!(sio_until(&mut sio, "432[").await.contains("\"fine\""));
        let ok = roost_testkit::json_request(addr, "POST", "/notes", &json!({"text": "ok"}))
            .await
            .unwrap();
        assert_eq!(ok.status, 201);
        assert_eq!(
            counter(addr, None, "roost_primus_value_limit_total").await,
            1
        );
        assert_eq!(
            counter(addr, None, "roost_socketio_value_limit_total").await,
            1
        );
        assert_eq!(counter(addr, None, "roost_rest_body_limit_total").await, 1);
    });
}

#[test]
fn odd_queries_on_sql_are_never_server_errors() {
    let (roost, _dir) = start_with_notes(&[]);
    let addr = roost.addr;
    runtime().block_on(async {
        let ok = roost_testkit::json_request(addr, "POST", "/notes", &json!({"text": "a"}))
            .await
            .unwrap();
        assert_eq!(ok.status, 201);
        for path in [
            "/notes?nosuchfield=1",
            "/notes?$sort[nosuchfield]=1",
            "/notes?$select[]=nosuchfield",
            "/notes?text[$in][]=a&text[$in][]=b",
            "/notes?a.b.c=1",
            "/notes?%22quoted%22=1",
            "/notes?text[$gt]=a&text[$lt]=%00",
            "/notes?$limit=-1&$skip=99999999999999999999",
            "/notes?id=9223372036854775808",
            "/notes/9223372036854775808",
            "/notes/abc",
        ] {
            let res = roost_testkit::request(addr, "GET", path, &[], None)
                .await
                .unwrap();
            assert!(res.status < 500, "{path}: {} {:?}", res.status, res.json());
        }
    });
    no_error_logged(&roost);
}

/// `roost serve` started under `sh -c 'ulimit …'`: the process, its address once it
/// listens, and its log lines (read by a thread). Killed when dropped.
struct Limited {
    child: std::process::Child,
    addr: Option<SocketAddr>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Limited {
    fn start(ulimit: &str, env: &[(&str, &str)]) -> Limited {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(common::BIN)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("ROOST_LOG__FORMAT", "json")
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (addr, log) = common::read_log(&mut child, Duration::from_secs(20));
        Limited {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log of a server started under `ulimit`, once it listens.
fn serve_log_under_ulimit(ulimit: &str, env: &[(&str, &str)]) -> Vec<String> {
    let server = Limited::start(ulimit, env);
    assert!(server.addr.is_some(), "{:#?}", server.log());
    server.log()
}

#[test]
fn idle_connections_past_the_fd_limit_stop_service_only_until_they_time_out() {
    // 256 descriptors, 300 idle connections: accept fails (counted, logged) until the
    // header timeout frees them, then the well-behaved client is served.
    let server = Limited::start("-n 256", &[("ROOST_SERVER__HEADER_TIMEOUT_SECS", "1")]);
    let addr = server.addr.unwrap_or_else(|| panic!("{:#?}", server.log()));
    runtime().block_on(async {
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut served = false;
        for _ in 0..60 {
            if let Ok(res) = roost_testkit::request(addr, "GET", "/healthz", &[], None).await {
                if res.status == 200 {
                    served = true;
                    break;
                }
            }
        }
        assert!(served, "never served again: {:#?}", server.log());
        assert!(counter(addr, None, "roost_server_header_timeouts_total").await >= 200);
        assert!(counter(addr, None, "roost_server_accept_errors_total").await >= 1);
        drop(idle);
    });
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("cannot accept a connection")),
        "{:#?}",
        server.log()
    );
}

#[test]
fn the_fd_limit_is_raised_and_a_too_small_one_is_warned_about() {
    // A soft limit below the hard one: raised at start, and said so.
    let log = serve_log_under_ulimit("-Sn 256", &[]);
    let raised = log
        .iter()
        .find(|l| l.contains("raised the open-file soft limit"))
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert!(raised.contains("\"before\":\"256\""), "{raised}");
    // Hard and soft at 256: nothing to raise, and 200,000 possible socket connections
    // (both transports' max_connections) do not fit: a warning.
    let log = serve_log_under_ulimit("-n 256", &[]);
    assert!(
        log.iter()
            .any(|l| l.contains("WARN") && l.contains("exceed the open-file limit")),
        "{log:#?}"
    );
    // Within the limit: no warning.
    let log = serve_log_under_ulimit(
        "-n 256",
        &[
            ("ROOST_PRIMUS__MAX_CONNECTIONS", "100"),
            ("ROOST_SOCKETIO__MAX_CONNECTIONS", "50"),
        ],
    );
    assert!(
        log.iter().any(|l| l.contains("roost listening")),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("exceed the open-file limit")),
        "{log:#?}"
    );
}

#[test]
fn a_client_that_stops_reading_is_disconnected_while_others_work() {
    let (roost, _dir) = start_with_notes(&[("ROOST_SERVER__WRITE_TIMEOUT_SECS", "2")]);
    let addr = roost.addr;
    runtime().block_on(async {
        // About 27 MB of notes: more than the socket buffers between server and client hold.
        let text = "n".repeat(900 * 1024);
        for _ in 0..30 {
            let res = roost_testkit::json_request(addr, "POST", "/notes", &json!({"text": text}))
                .await
                .unwrap();
            assert_eq!(res.status, 201);
        }
        // Asks for all of them and reads nothing.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"GET /notes HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut timed_out = 0;
        for _ in 0..100 {
            // Each /metrics is a well-behaved client served meanwhile.
            timed_out = counter(addr, None, "roost_server_write_timeouts_total").await;
            if timed_out > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(timed_out, 1);
        // The stalled connection was closed: reading it ends before the 27 MB.
        let mut received = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let read_all = async {
            loop {
                match stalled.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received += n,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read_all)
            .await
            .expect("the stalled connection was not closed");
        assert!(received < 30 * text.len(), "{received} bytes");
    });
}
