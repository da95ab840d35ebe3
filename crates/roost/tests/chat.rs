//! The default chat app (interop/CHAT-APP.md) over real REST requests and real Primus
//! sockets: signup, logins, reAuthenticate, logout, token errors, the users rules, who
//! receives which event under both publishing presets, token expiry on a live socket, and
//! the generated secret. Timings are never asserted: expiry is awaited by bounded polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use roost::chat::{self, ChatApp, PublishRules, SeedUser};
use roost::config::Config;
use roost::server;
use roost::storage::Storage;
use roost_auth::ExpiresIn;
use roost_core::{json, App, Value};
use roost_testkit::ws::{connect, WsClient};
use roost_testkit::{json_request, request, HttpResponse};
use std::net::SocketAddr;
use std::time::Duration;

struct Server {
    addr: SocketAddr,
    app: App,
    chat: ChatApp,
    _data: tempfile::TempDir,
}

fn seed(email: &str, password: &str, roles: &[&str]) -> SeedUser {
    SeedUser {
        email: email.into(),
        password: password.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        permissions: Vec::new(),
    }
}

async fn start(preset: &str, expires_in: &str) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.port = 0;
    config.server.data_dir = data.path().to_owned();
    config.primus.ping_interval_ms = 0;
    config.app.publish_rules = PublishRules::Preset(preset.into());
    config.app.seed_users = vec![
        seed("alice@example.com", "alice-pw", &["admin"]),
        seed("bob@example.com", "bob-pw", &["user"]),
    ];
    config.auth.0.jwt_options.expires_in = Some(ExpiresIn::Span(expires_in.into()));
    // Fast hashes for tests; the default is Feathers' cost 10.
    config.auth.0.local.hash_size = 4;
    let server = roost::Server::builder()
        .config(config)
        .build()
        .await
        .unwrap();
    let app = server.app().clone();
    let chat = server.chat().unwrap().clone();
    let listener = server::bind(server.config()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve_until(listener, std::future::pending()));
    Server {
        addr,
        app,
        chat,
        _data: data,
    }
}

impl Server {
    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> HttpResponse {
        let bytes = serde_json::to_vec(&body).unwrap();
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        request(self.addr, "POST", path, &headers, Some(&bytes))
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> HttpResponse {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        request(self.addr, method, path, &headers, bytes.as_deref())
            .await
            .unwrap()
    }

    async fn rest_login(&self, email: &str, password: &str) -> Value {
        let res = self
            .post(
                "/authentication",
                json!({"strategy": "local", "email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json());
        res.json()
    }

    async fn socket(&self) -> Socket {
        Socket {
            ws: connect(self.addr, "/primus").await.unwrap(),
            next_id: 0,
            seen: Vec::new(),
        }
    }
}

/// A Primus client with its own ack ids, keeping the event frames that arrive before acks.
struct Socket {
    ws: WsClient,
    next_id: u64,
    seen: Vec<Value>,
}

impl Socket {
    /// One call; `Ok(result)` or `Err(error json)`.
    async fn call(&mut self, method: &str, path: &str, args: &[Value]) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws.call(id, method, path, args).await;
        let (data, events) = self.ws.ack(id).await;
        self.seen.extend(events);
        match data.get(0) {
            Some(Value::Null) => Ok(data.get(1).cloned().unwrap_or(Value::Null)),
            Some(error) => Err(error.clone()),
            None => Err(Value::Null),
        }
    }

    async fn login(&mut self, email: &str, password: &str) -> Value {
        let data = json!({"strategy": "local", "email": email, "password": password});
        self.call("create", "authentication", &[data, json!({})])
            .await
            .unwrap()
    }

    /// The `(event, payload)` frames received so far: a cheap call whose ack comes after
    /// everything already queued to this socket.
    async fn events(&mut self) -> Vec<(String, Value)> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .call(id, "find", "messages", &[json!({"$limit": 0})])
            .await;
        let (_data, frames) = self.ws.ack(id).await;
        self.seen.extend(frames);
        std::mem::take(&mut self.seen)
            .into_iter()
            .filter(|f| f["type"] == 0)
            .map(|f| {
                (
                    f["data"][0].as_str().unwrap_or_default().to_owned(),
                    f["data"][1].clone(),
                )
            })
            .collect()
    }

    /// The texts of the `messages created` events received so far.
    async fn created_texts(&mut self) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter(|(name, _)| name == "messages created")
            .map(|(_, m)| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn auth_err(s: &Server, body: Value) -> String {
    let res = s.post("/authentication", body, None).await;
    assert_eq!(res.status, 401, "{:?}", res.json());
    res.json()["message"].as_str().unwrap().to_owned()
}

fn message(error: &Value) -> &str {
    error["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn signup_and_local_login_over_rest_with_every_error() {
    let s = start("default", "1d").await;
    // Public signup; roles are dropped, the password never comes back.
    let res = s
        .post(
            "/users",
            json!({"email": "carol@example.com", "password": "carol-pw", "roles": ["admin"]}),
            None,
        )
        .await;
    assert_eq!(res.status, 201);
    let carol = res.json();
    assert_eq!(carol["id"], 3, "seed users are 1 and 2");
    assert!(carol.get("password").is_none() && carol.get("roles").is_none());
    let dup = s
        .post(
            "/users",
            json!({"email": "carol@example.com", "password": "x"}),
            None,
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["name"], "Conflict");

    let login = s.rest_login("carol@example.com", "carol-pw").await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(login["authentication"]["strategy"], "local");
    assert_eq!(login["user"]["email"], "carol@example.com");
    assert!(login["user"].get("password").is_none());
    assert!(login["authentication"]["payload"].get("iss").is_none());
    assert_eq!(login["authentication"]["payload"]["sub"], "3");

    assert_eq!(
        auth_err(
            &s,
            json!({"strategy": "local", "email": "carol@example.com", "password": "bad"})
        )
        .await,
        "Invalid login"
    );
    assert_eq!(
        auth_err(
            &s,
            json!({"strategy": "local", "email": "nobody@example.com", "password": "x"})
        )
        .await,
        "Invalid login"
    );
    assert_eq!(
        auth_err(&s, json!({"email": "carol@example.com"})).await,
        "Invalid authentication information (no `strategy` set)"
    );
    assert_eq!(
        auth_err(&s, json!({"strategy": "github"})).await,
        "Invalid authentication information (strategy not allowed in authStrategies)"
    );
    // reAuthenticate over REST returns the same token.
    let jwt = s
        .post(
            "/authentication",
            json!({"strategy": "jwt", "accessToken": token}),
            None,
        )
        .await;
    assert_eq!(jwt.status, 201);
    assert_eq!(jwt.json()["accessToken"], token.as_str());
    assert_eq!(jwt.json()["authentication"]["strategy"], "jwt");

    // Protected users: no header, good header, bad tokens.
    let none = s.send("GET", "/users", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(message(&none.json()), "Not authenticated");
    let bearer = format!("Bearer {token}");
    let ok = s.send("GET", "/users/3", None, Some(&bearer)).await;
    assert_eq!(ok.status, 200);
    assert!(ok.json().get("password").is_none());
    let garbage = s.send("GET", "/users", None, Some("Bearer nope")).await;
    assert_eq!(garbage.status, 401);
    assert_eq!(message(&garbage.json()), "jwt malformed");
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let bad = s
        .send("GET", "/users", None, Some(&format!("Bearer {tampered}")))
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(message(&bad.json()), "invalid signature");

    // Messages are public: a bad token makes the caller anonymous, a good one sets userId.
    let anon = s
        .post(
            "/messages",
            json!({"text": "hi", "userId": 99}),
            Some("nope"),
        )
        .await;
    assert_eq!(anon.status, 201);
    assert!(anon.json().get("userId").is_none());
    assert!(anon.json()["createdAt"].is_i64());
    assert_eq!(anon.json()["id"], 1);
    let mine = s
        .post(
            "/messages",
            json!({"text": "mine", "userId": 99, "roomId": "r1"}),
            Some(&token),
        )
        .await;
    assert_eq!(mine.json()["userId"], 3);
    assert_eq!(mine.json()["roomId"], "r1");
    for (body, text) in [
        (json!({}), "text is required"),
        (json!({"text": ""}), "text is required"),
        (json!({"text": "x".repeat(10_001)}), "text is too long"),
    ] {
        let res = s.post("/messages", body, None).await;
        assert_eq!(res.status, 400);
        assert_eq!(message(&res.json()), text);
    }
    let join = s
        .send("POST", "/messages", Some(json!({"roomId": "r1"})), None)
        .await;
    assert_eq!(join.status, 400, "no text: create, not join");
    let join = request(
        s.addr,
        "POST",
        "/messages",
        &[
            ("Content-Type", "application/json"),
            ("X-Service-Method", "join"),
        ],
        Some(br#"{"roomId":"r1"}"#),
    )
    .await
    .unwrap();
    assert_eq!(join.status, 400);
    assert_eq!(message(&join.json()), "join needs a real-time connection");
    let page = s.send("GET", "/messages", None, None).await.json();
    assert_eq!(page["limit"], 10);
    assert_eq!(page["total"], 2);
}

#[tokio::test]
async fn only_yourself_unless_admin() {
    let s = start("default", "1d").await;
    let bob = s.rest_login("bob@example.com", "bob-pw").await;
    let alice = s.rest_login("alice@example.com", "alice-pw").await;
    let bob_auth = format!("Bearer {}", bob["accessToken"].as_str().unwrap());
    let alice_auth = format!("Bearer {}", alice["accessToken"].as_str().unwrap());
    let res = s
        .send(
            "PATCH",
            "/users/1",
            Some(json!({"email": "evil@example.com"})),
            Some(&bob_auth),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(message(&res.json()), "You can only change your own user");
    let res = s.send("DELETE", "/users/1", None, Some(&bob_auth)).await;
    assert_eq!(res.status, 403);
    // Bob may change himself, but not his roles.
    let res = s
        .send(
            "PATCH",
            "/users/2",
            Some(json!({"password": "bob-pw2", "roles": ["admin"]})),
            Some(&bob_auth),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    assert_eq!(res.json()["roles"], json!(["user"]));
    assert!(res.json().get("password").is_none());
    s.rest_login("bob@example.com", "bob-pw2").await;
    // Taking someone else's email is a conflict.
    let res = s
        .send(
            "PATCH",
            "/users/2",
            Some(json!({"email": "alice@example.com"})),
            Some(&bob_auth),
        )
        .await;
    assert_eq!(res.status, 409);
    // The admin may change bob, roles included.
    let res = s
        .send(
            "PATCH",
            "/users/2",
            Some(json!({"roles": ["user", "editor"]})),
            Some(&alice_auth),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["roles"], json!(["user", "editor"]));
}

#[tokio::test]
async fn socket_login_reauthenticate_and_logout() {
    let s = start("default", "1d").await;
    let mut a = s.socket().await;
    let err = a
        .call(
            "create",
            "authentication",
            &[json!({"strategy": "local", "email": "alice@example.com", "password": "x"})],
        )
        .await
        .unwrap_err();
    assert_eq!(message(&err), "Invalid login");
    let err = a.call("find", "users", &[json!({})]).await.unwrap_err();
    assert_eq!(message(&err), "Not authenticated");

    let login = a.login("alice@example.com", "alice-pw").await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(login["user"]["roles"], json!(["admin"]));
    // Later calls carry the connection's login.
    let users = a.call("find", "users", &[json!({})]).await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(users[0].get("password").is_none());

    // reAuthenticate on a new socket (after a reconnect): same token, same rights.
    let mut again = s.socket().await;
    let re = again
        .call(
            "create",
            "authentication",
            &[json!({"strategy": "jwt", "accessToken": token})],
        )
        .await
        .unwrap();
    assert_eq!(re["accessToken"], token.as_str());
    assert_eq!(re["authentication"]["strategy"], "jwt");
    again.call("get", "users", &[json!(1)]).await.unwrap();
    let bad = again
        .call(
            "create",
            "authentication",
            &[json!({"strategy": "jwt", "accessToken": "garbage"})],
        )
        .await
        .unwrap_err();
    assert_eq!(message(&bad), "jwt malformed");
    assert_eq!(s.chat.sessions().armed(), 2);

    // Logout: auth gone, channels left, the socket stays usable.
    let out = a
        .call("remove", "authentication", &[Value::Null])
        .await
        .unwrap();
    assert_eq!(out["accessToken"], token.as_str());
    let err = a.call("find", "users", &[json!({})]).await.unwrap_err();
    assert_eq!(message(&err), "Not authenticated");
    assert_eq!(s.chat.sessions().armed(), 1);
    let ids = s.app.connections().ids();
    assert!(ids
        .iter()
        .any(|id| s.app.channels().channels_of(*id).is_empty()));
    // The other socket is still logged in, and user events reach it without passwords.
    again.call("get", "users", &[json!(1)]).await.unwrap();
    let res = s
        .post(
            "/users",
            json!({"email": "dave@example.com", "password": "dave-pw"}),
            None,
        )
        .await;
    assert_eq!(res.status, 201);
    let events = again.events().await;
    let created: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "users created")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["email"], "dave@example.com");
    assert!(created[0].get("password").is_none());
    assert!(a.events().await.is_empty(), "logged out: in no channel");

    // Logging in as someone else on the same socket drops the previous user's channels.
    again.login("bob@example.com", "bob-pw").await;
    let id = s
        .app
        .connections()
        .ids()
        .into_iter()
        .find(|id| {
            s.app
                .channels()
                .channels_of(*id)
                .contains(&"user/2".to_owned())
        })
        .unwrap();
    let mut channels = s.app.channels().channels_of(id);
    channels.sort();
    assert_eq!(channels, vec!["authenticated", "role/user", "user/2"]);
}

/// Four sockets: alice twice (A1 in room r1, A2 not), bob (in r1) and an anonymous one (in
/// r1). Each creates messages; each socket's `messages created` events are checked.
async fn chat_scenario(preset: &str) -> Vec<Vec<Vec<String>>> {
    let s = start(preset, "1d").await;
    let mut a1 = s.socket().await;
    let mut a2 = s.socket().await;
    let mut b = s.socket().await;
    let mut n = s.socket().await;
    a1.login("alice@example.com", "alice-pw").await;
    a2.login("alice@example.com", "alice-pw").await;
    b.login("bob@example.com", "bob-pw").await;
    for socket in [&mut a1, &mut b, &mut n] {
        let joined = socket
            .call("join", "messages", &[json!({"roomId": "r1"})])
            .await
            .unwrap();
        assert_eq!(joined, json!({"roomId": "r1", "joined": true}));
    }
    let mut received = Vec::new();
    let steps: [(usize, Value); 4] = [
        (0, json!({"text": "alice in r1", "roomId": "r1"})),
        (0, json!({"text": "alice no room"})),
        (3, json!({"text": "anon in r1", "roomId": "r1"})),
        (3, json!({"text": "anon no room"})),
    ];
    for (author, data) in steps {
        let socket = match author {
            0 => &mut a1,
            _ => &mut n,
        };
        socket.call("create", "messages", &[data]).await.unwrap();
        let mut row = Vec::new();
        for socket in [&mut a1, &mut a2, &mut b, &mut n] {
            row.push(socket.created_texts().await);
        }
        received.push(row);
    }
    // Leaving the room stops room events.
    n.call("leave", "messages", &[json!({"roomId": "r1"})])
        .await
        .unwrap();
    b.call(
        "create",
        "messages",
        &[json!({"text": "bob in r1", "roomId": "r1"})],
    )
    .await
    .unwrap();
    let mut row = Vec::new();
    for socket in [&mut a1, &mut a2, &mut b, &mut n] {
        row.push(socket.created_texts().await);
    }
    received.push(row);
    received
}

/// Checks who received each message of [`chat_scenario`]: `expected[i]` is message i's text
/// and, for the sockets [A1, A2, B, N], whether each got it (and nothing else).
fn assert_receivers(got: &[Vec<Vec<String>>], expected: [(&str, [bool; 4]); 5]) {
    assert_eq!(got.len(), expected.len());
    for (row, (text, to)) in got.iter().zip(expected) {
        let want: Vec<Vec<String>> = to
            .iter()
            .map(|&yes| {
                if yes {
                    vec![text.to_owned()]
                } else {
                    Vec::new()
                }
            })
            .collect();
        assert_eq!(row, &want, "{text}");
    }
}

const Y: bool = true;
const N: bool = false;

/// Each message of [`chat_scenario`] and who gets it, [A1, A2, B, N], with the default rules
/// and with the reference rules (where a logged-in author's message goes to the author's
/// sockets, not to the room).
const RECEIVERS: [(&str, [bool; 4], [bool; 4]); 5] = [
    ("alice in r1", [Y, N, Y, Y], [Y, Y, N, N]),
    ("alice no room", [Y, Y, N, N], [Y, Y, N, N]),
    ("anon in r1", [Y, N, Y, Y], [Y, N, Y, Y]),
    ("anon no room", [Y, Y, Y, N], [Y, Y, Y, N]),
    ("bob in r1", [Y, N, Y, N], [N, N, Y, N]),
];

#[tokio::test]
async fn who_receives_what_with_the_default_rules() {
    let got = chat_scenario("default").await;
    assert_receivers(&got, RECEIVERS.map(|(text, default, _)| (text, default)));
}

#[tokio::test]
async fn who_receives_what_with_the_reference_rules() {
    let got = chat_scenario("reference").await;
    assert_receivers(
        &got,
        RECEIVERS.map(|(text, _, reference)| (text, reference)),
    );
}

#[tokio::test]
async fn expiry_on_a_live_socket_leaves_channels_keeps_the_socket_and_relogin_restores() {
    let s = start("default", "2s").await;
    let mut a = s.socket().await;
    let mut b = s.socket().await;
    a.login("alice@example.com", "alice-pw").await;
    a.call("join", "messages", &[json!({"roomId": "r1"})])
        .await
        .unwrap();
    b.call("join", "messages", &[json!({"roomId": "r1"})])
        .await
        .unwrap();
    // Until the timer fires, the connection carries an expired token ("jwt expired");
    // afterwards it carries none ("Not authenticated"). Poll, bounded.
    let mut cleared = false;
    for _ in 0..100 {
        match a.call("find", "users", &[json!({})]).await {
            Err(e) if message(&e) == "Not authenticated" => {
                cleared = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(cleared, "the connection was not logged out at expiry");
    // Still open, and out of every channel: a room message reaches b only.
    let res = s
        .post(
            "/messages",
            json!({"text": "after expiry", "roomId": "r1"}),
            None,
        )
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(a.created_texts().await, Vec::<String>::new());
    assert_eq!(b.created_texts().await, ["after expiry"]);
    // Anonymous sockets are not in `authenticated`; a logged-in one is again after a login.
    a.login("alice@example.com", "alice-pw").await;
    let res = s
        .post("/messages", json!({"text": "to authenticated"}), None)
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(a.created_texts().await, ["to authenticated"]);
    assert_eq!(b.created_texts().await, Vec::<String>::new());
}

#[tokio::test]
async fn the_generated_secret_is_private_and_reused() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = data.path().join("nested");
    config.auth.0.local.hash_size = 4;
    let first = chat::install(&App::new(), &config, &Storage::new(&config))
        .await
        .unwrap()
        .unwrap();
    let path = data.path().join("nested").join("secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(&path).unwrap();
    assert!(secret.trim().len() >= 64);
    let token = first
        .auth()
        .create_access_token(Default::default(), Some("1".into()));
    let second = chat::install(&App::new(), &config, &Storage::new(&config))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret);
    assert!(second.auth().verify_access_token(&token).is_ok());
    // A configured secret wins and nothing is read.
    config.auth.0.secret = "configured-secret-of-enough-length!!".into();
    let third = chat::install(&App::new(), &config, &Storage::new(&config))
        .await
        .unwrap()
        .unwrap();
    assert!(third.auth().verify_access_token(&token).is_err());
    // `[app] enabled = false` installs nothing.
    config.app.enabled = false;
    assert!(chat::install(&App::new(), &config, &Storage::new(&config))
        .await
        .unwrap()
        .is_none());
    let _ = json_request;
}
