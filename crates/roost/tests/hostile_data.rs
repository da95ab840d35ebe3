//! The hostile-client suite, data and secrets (`tests/hostile.rs` has the network attacks):
//! the real `roost serve` binary (the default chat app on SQLite) driven over real sockets by
//! a client that tries to hurt it, one case per attack that once worked (SECURITY.md lists
//! them). Each case asserts the clear Feathers error the attacker gets, that a second,
//! well-behaved client keeps working, and that every acknowledged write is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use roost_testkit::{json_request, request, HttpResponse};
use serde_json::{json, Value};

/// The real binary on the default app (an empty config file), bcrypt cost 4 for speed.
struct Server {
    roost: common::Roost,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn start() -> Server {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("roost.toml");
    std::fs::write(&config, "").unwrap();
    let data = tempfile::tempdir().unwrap();
    let roost = common::Roost::start(
        &config,
        data.path(),
        &[("ROOST_AUTH__LOCAL__HASH_SIZE", "4")],
    );
    Server {
        roost,
        _dirs: (config_dir, data),
    }
}

impl Server {
    async fn post(&self, path: &str, body: Value) -> HttpResponse {
        json_request(self.roost.addr, "POST", path, &body)
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: &str,
    ) -> HttpResponse {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
        ];
        request(self.roost.addr, method, path, &headers, bytes.as_deref())
            .await
            .unwrap()
    }

    async fn signup_and_login(&self, email: &str, password: &str) -> (Value, String) {
        let res = self
            .post("/users", json!({"email": email, "password": password}))
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json());
        let login = self
            .post(
                "/authentication",
                json!({"strategy": "local", "email": email, "password": password}),
            )
            .await;
        assert_eq!(login.status, 201, "{:?}", login.json());
        let token = login.json()["accessToken"].as_str().unwrap().to_owned();
        (res.json(), token)
    }

    /// A well-behaved client: signs up, writes a message, reads it back.
    async fn well_behaved(&self, name: &str) {
        let (_, token) = self
            .signup_and_login(&format!("{name}@example.com"), "pw")
            .await;
        let text = format!("hello from {name}");
        let created = self
            .send("POST", "/messages", Some(&json!({"text": text})), &token)
            .await;
        assert_eq!(created.status, 201, "{:?}", created.json());
        let id = created.json()["id"].clone();
        let got = self
            .send("GET", &format!("/messages/{id}"), None, &token)
            .await;
        assert_eq!(got.status, 200, "{:?}", got.json());
        assert_eq!(got.json()["text"], text);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Once, `POST /messages {"id": 9223372036854775807}` exhausted SQLite's AUTOINCREMENT and
/// every later write on every table failed. Client ids and extra fields are not stored on
/// the ids the server numbers itself; writes keep working, across a restart too.
#[test]
fn client_ids_cannot_exhaust_or_skew_server_numbered_ids() {
    let roost = start();
    runtime().block_on(async {
        let max = json!(i64::MAX);
        let res = roost
            .post(
                "/messages",
                json!({"text": "x", "id": max, "extra": "y".repeat(1000)}),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json());
        let message = res.json();
        assert_ne!(message["id"], max);
        assert!(message["id"].as_i64().unwrap() < 1 << 53);
        assert!(message.get("extra").is_none(), "{message}");
        let allowed = ["id", "text", "roomId", "userId", "createdAt"];
        assert!(
            message
                .as_object()
                .unwrap()
                .keys()
                .all(|k| allowed.contains(&k.as_str())),
            "{message}"
        );
        let signup = roost
            .post(
                "/users",
                json!({"email": "evil@example.com", "password": "pw", "id": max}),
            )
            .await;
        assert_eq!(signup.status, 201, "{:?}", signup.json());
        assert_ne!(signup.json()["id"], max);
        // Every later write still works.
        for i in 0..3 {
            let res = roost
                .post("/messages", json!({"text": format!("after {i}")}))
                .await;
            assert_eq!(res.status, 201, "{:?}", res.json());
        }
        roost.well_behaved("good").await;
    });
}

/// Once, `GET /users?email=<victim>&password[$gte]=<prefix>` was a comparison oracle that
/// gave any logged-in user every bcrypt hash. Protected fields cannot be queried, sorted or
/// selected by external callers.
#[test]
fn protected_fields_cannot_be_queried_sorted_or_selected() {
    let roost = start();
    runtime().block_on(async {
        let (victim, _) = roost.signup_and_login("victim@example.com", "secret").await;
        let (_, token) = roost.signup_and_login("attacker@example.com", "pw").await;
        let victim_id = victim["id"].clone();
        for query in [
            "email=victim%40example.com&password[$gte]=%242",
            "password[$lt]=z",
            "$or[0][password][$gt]=a",
            "$sort[password]=1",
            "$select[]=password",
            &format!("id={victim_id}&password=x"),
        ] {
            let res = roost
                .send("GET", &format!("/users?{query}"), None, &token)
                .await;
            assert_eq!(res.status, 400, "{query}: {:?}", res.json());
            assert_eq!(res.json()["name"], "BadRequest", "{query}");
            assert!(
                res.json()["message"].as_str().unwrap().contains("password"),
                "{query}"
            );
            // get with a query is refused the same way.
            let res = roost
                .send("GET", &format!("/users/{victim_id}?{query}"), None, &token)
                .await;
            assert_eq!(res.status, 400, "get {query}: {:?}", res.json());
        }
        // The same user still finds users by email, and never sees a hash.
        let res = roost
            .send("GET", "/users?email=victim%40example.com", None, &token)
            .await;
        assert_eq!(res.status, 200, "{:?}", res.json());
        let found = res.json();
        let list = found.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert!(list[0].get("password").is_none());
        // Logins (the internal lookup by email) are unaffected.
        let login = roost
            .post(
                "/authentication",
                json!({"strategy": "local", "email": "victim@example.com", "password": "secret"}),
            )
            .await;
        assert_eq!(login.status, 201);
        roost.well_behaved("bystander").await;
    });
}
