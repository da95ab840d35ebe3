//! The authentication service, strategies, hooks and events end to end on a memory `users`
//! service, one test per rule of docs/feathers-semantics.md §E with the exact wire errors.
#![allow(clippy::unwrap_used)]

use roost_auth::{protect, AuthConfig, AuthEventKind, Authentication, ExpiresIn};
use roost_core::call::CallArgs;
use roost_core::external::call_external;
use roost_core::hooks::{sync_hook, HookMap, ALL};
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::{
    json, App, ConnectionId, Error, MemoryService, Params, Publisher, RecordingSink, ServiceHandle,
    Value,
};
use std::sync::{Arc, Mutex};

const SECRET: &str = "roost-integration-secret";

struct Setup {
    app: App,
    auth: Authentication,
}

fn config() -> AuthConfig {
    let mut config = AuthConfig::with_secret(SECRET);
    config.local.hash_size = 4;
    config
}

fn setup_with(config: AuthConfig, paginate: bool) -> Setup {
    let app = App::new();
    let adapter = AdapterOptions {
        paginate: paginate.then_some(Paginate {
            default: Some(10),
            max: Some(50),
        }),
        multi: Multi::All(true),
        ..AdapterOptions::default()
    };
    let users = app
        .use_service("users", MemoryService::new(adapter), Default::default())
        .unwrap();
    let auth = Authentication::new(&app, config).unwrap();
    auth.mount("authentication").unwrap();
    users
        .hooks(
            HookMap::new()
                .before("create", auth.hash_password("password"))
                .before("patch", auth.hash_password("password"))
                .after(ALL, protect(&["password"])),
        )
        .unwrap();
    Setup { app, auth }
}

async fn setup() -> Setup {
    let s = setup_with(config(), true);
    s.add_user("alice@example.com", "alice-pw").await;
    s
}

fn rest() -> Params {
    Params::external("rest")
}

impl Setup {
    async fn add_user(&self, email: &str, password: &str) -> Value {
        let users = self.app.service("users").unwrap();
        let data = json!({"email": email, "password": password, "roles": ["admin"]});
        users.create(data, Params::default()).await.unwrap()
    }

    async fn create(&self, data: Value, params: Params) -> Result<Value, Error> {
        self.app
            .service("authentication")
            .unwrap()
            .create(data, params)
            .await
    }

    /// `authentication.create` over REST with the jwt strategy and `token`.
    async fn jwt(&self, token: &Value) -> Result<Value, Error> {
        self.create(json!({"strategy": "jwt", "accessToken": token}), rest())
            .await
    }

    /// A `messages` memory service on the app.
    fn messages(&self) -> ServiceHandle {
        self.app
            .use_service(
                "messages",
                MemoryService::new(Default::default()),
                Default::default(),
            )
            .unwrap()
    }

    async fn login(&self) -> Value {
        self.create(
            json!({"strategy": "local", "email": "alice@example.com", "password": "alice-pw"}),
            rest(),
        )
        .await
        .unwrap()
    }
}

/// REST params carrying the jwt strategy and `token` as `params.authentication`.
fn with_jwt(token: &Value) -> Params {
    let mut params = rest();
    params.authentication = Some(json!({"strategy": "jwt", "accessToken": token}));
    params
}

fn not_authenticated(message: &str) -> Value {
    json!({"name": "NotAuthenticated", "message": message, "code": 401, "className": "not-authenticated"})
}

#[tokio::test]
async fn passwords_are_hashed_and_never_dispatched() {
    let s = setup_with(config(), false);
    let users = s.app.service("users").unwrap();
    let ctx = users
        .run(
            "create",
            CallArgs {
                data: Some(json!([{"email": "a", "password": "pw"}, {"email": "b"}])),
                params: rest(),
                ..CallArgs::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ctx.dispatch,
        Some(json!([{"email": "a", "id": 0}, {"email": "b", "id": 1}]))
    );
    assert_eq!(
        ctx.result, ctx.dispatch,
        "external calls get the dispatch as result"
    );
    let stored = users.get(json!(0), Params::default()).await.unwrap();
    let hash = stored["password"].as_str().unwrap();
    assert!(hash.starts_with("$2b$04$") && hash.len() == 60, "{hash}");
    let err = users
        .create(json!({"email": "c", "password": 5}), Params::default())
        .await
        .unwrap_err();
    assert_eq!(err.message, "Illegal arguments: number, number");
}

#[tokio::test]
async fn local_login_issues_a_feathers_token() {
    let s = setup().await;
    let result = s.login().await;
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["accessToken", "authentication", "user"]);
    assert_eq!(
        result["user"],
        json!({"email": "alice@example.com", "roles": ["admin"], "id": 0})
    );
    let auth = &result["authentication"];
    assert_eq!(auth["strategy"], "local");
    let payload = auth["payload"].as_object().unwrap();
    let claims: Vec<&str> = payload.keys().map(String::as_str).collect();
    assert_eq!(claims, ["iat", "exp", "aud", "iss", "sub", "jti"]);
    assert_eq!(payload["sub"], "0");
    assert_eq!(payload["aud"], "https://yourdomain.com");
    assert_eq!(payload["iss"], "feathers");
    assert_eq!(
        payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap(),
        86_400
    );
    let jti = payload["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36);
    assert_eq!(&jti[14..15], "4", "uuid v4");
    let token = result["accessToken"].as_str().unwrap();
    let verified = s.auth.verify_access_token(token).unwrap();
    assert_eq!(&verified.into_value(), &auth["payload"]);
}

#[tokio::test]
async fn every_local_failure_is_the_same_invalid_login() {
    let s = setup().await;
    let users = s.app.service("users").unwrap();
    users
        .create(json!({"email": "nohash@example.com"}), Params::default())
        .await
        .unwrap();
    let cases = [
        json!({"strategy": "local", "email": "alice@example.com", "password": "wrong"}),
        json!({"strategy": "local", "email": "nobody@example.com", "password": "alice-pw"}),
        json!({"strategy": "local", "email": "alice@example.com"}),
        json!({"strategy": "local", "password": "alice-pw"}),
        json!({"strategy": "local", "email": "alice@example.com", "password": ""}),
        json!({"strategy": "local", "email": "nohash@example.com", "password": "x"}),
        json!({"strategy": "local", "email": {"$ne": null}, "password": "alice-pw"}),
        json!({"strategy": "local", "email": "alice@example.com", "password": ["alice-pw"]}),
    ];
    for data in cases {
        let err = s.create(data.clone(), rest()).await.unwrap_err();
        assert_eq!(err.to_json(), not_authenticated("Invalid login"), "{data}");
    }
}

#[tokio::test]
async fn local_login_works_without_pagination() {
    let s = setup_with(config(), false);
    s.add_user("bob@example.com", "bob-pw").await;
    let result = s
        .create(
            json!({"strategy": "local", "email": "bob@example.com", "password": "bob-pw"}),
            Params::default(),
        )
        .await
        .unwrap();
    assert_eq!(result["authentication"]["payload"]["sub"], "0");
    assert!(result["user"].get("password").is_none());
}

#[tokio::test]
async fn strategy_errors_have_the_feathers_messages() {
    let s = setup().await;
    let cases = [
        (
            json!({}),
            "Invalid authentication information (no `strategy` set)",
        ),
        (
            json!(null),
            "Invalid authentication information (no `strategy` set)",
        ),
        (
            json!({"strategy": ""}),
            "Invalid authentication information (no `strategy` set)",
        ),
        (
            json!({"strategy": "github"}),
            "Invalid authentication information (strategy not allowed in authStrategies)",
        ),
    ];
    for (data, message) in cases {
        let err = s.create(data, rest()).await.unwrap_err();
        assert_eq!(err.to_json(), not_authenticated(message));
    }
    let mut params = rest();
    params
        .extra
        .insert("authStrategies".into(), json!(["github"]));
    let err = s
        .create(json!({"strategy": "github"}), params)
        .await
        .unwrap_err();
    assert_eq!(err.message, "Invalid authentication information");
    let mut params = rest();
    params.extra.insert("authStrategies".into(), json!([]));
    let err = s
        .create(json!({"strategy": "local"}), params)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "No authentication strategies allowed for creating a JWT (`authStrategies`)"
    );
    let mut config = config();
    config.auth_strategies = vec!["local".into()];
    let s = setup_with(config, true);
    let err = s.jwt(&json!("x")).await.unwrap_err();
    assert_eq!(
        err.message,
        "Invalid authentication information (strategy not allowed in authStrategies)"
    );
}

#[tokio::test]
async fn jwt_login_returns_the_same_token() {
    let s = setup().await;
    let login = s.login().await;
    let token = login["accessToken"].clone();
    let again = s.jwt(&json!(token)).await.unwrap();
    assert_eq!(again["accessToken"], token);
    assert_eq!(
        again["authentication"],
        json!({"strategy": "jwt", "accessToken": token, "payload": login["authentication"]["payload"]})
    );
    assert_eq!(again["user"], login["user"]);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_jsonwebtoken_messages() {
    let s = setup().await;
    let err = s.jwt(&json!("garbage")).await.unwrap_err();
    assert_eq!(
        err.to_json(),
        json!({"name": "NotAuthenticated", "message": "jwt malformed", "code": 401,
               "className": "not-authenticated", "data": {"name": "JsonWebTokenError"}})
    );
    let err = s
        .create(json!({"strategy": "jwt"}), rest())
        .await
        .unwrap_err();
    assert_eq!(err.to_json(), not_authenticated("No access token"));

    let mut expired = config();
    expired.jwt_options.expires_in = Some(ExpiresIn::Seconds(-10));
    let other = setup_with(expired, true);
    other.add_user("alice@example.com", "alice-pw").await;
    let login = other.login().await;
    let err = s.jwt(&login["accessToken"]).await.unwrap_err();
    assert_eq!(err.message, "jwt expired");
    let data = err.data.unwrap();
    assert_eq!(data["name"], "TokenExpiredError");
    assert!(data["expiredAt"].as_str().unwrap().ends_with(".000Z"));
}

#[tokio::test]
async fn a_deleted_user_cannot_use_its_token() {
    let s = setup().await;
    let login = s.login().await;
    s.app
        .service("users")
        .unwrap()
        .remove(json!(0), Params::default())
        .await
        .unwrap();
    let err = s.jwt(&login["accessToken"]).await.unwrap_err();
    assert_eq!(err.code(), 401);
}

#[tokio::test]
async fn logout_rules() {
    let s = setup().await;
    let login = s.login().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let service = s.app.service("authentication").unwrap();
    let params = with_jwt(&json!(token));
    let out = service.remove(Value::Null, params.clone()).await.unwrap();
    assert_eq!(out["accessToken"], token.as_str());
    assert_eq!(out["authentication"]["strategy"], "jwt");
    assert!(out["user"].get("password").is_none());
    let out = service.remove(json!(token), params.clone()).await.unwrap();
    assert_eq!(out["accessToken"], token.as_str());
    let err = service.remove(json!("other"), params).await.unwrap_err();
    assert_eq!(err.to_json(), not_authenticated("Invalid access token"));
    let err = service.remove(Value::Null, rest()).await.unwrap_err();
    assert_eq!(
        err.to_json(),
        not_authenticated("Invalid authentication information (no `strategy` set)")
    );
}

#[tokio::test]
async fn only_create_and_remove_are_exposed() {
    let s = setup().await;
    let err = call_external(&s.app, "find", &json!("authentication"), vec![], rest())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Method 'find' not allowed on service 'authentication'"
    );
}

#[tokio::test]
async fn the_service_publishes_nothing() {
    let s = setup().await;
    let sink = Arc::new(RecordingSink::new());
    s.app.set_delivery_sink(sink.clone());
    let conn = ConnectionId::next();
    s.app.channels().connect(conn);
    s.app.channel("everyone").join([conn]);
    s.app.publish(Publisher::new(|_, ctx| {
        Ok(Some(ctx.app.channel("everyone").into()))
    }));
    s.login().await;
    assert!(sink.take().is_empty());
    s.add_user("carol@example.com", "pw").await;
    assert_eq!(sink.take().len(), 1, "other services still publish");
}

type Seen = Arc<Mutex<Vec<String>>>;

#[tokio::test]
async fn login_and_logout_events() {
    let s = setup().await;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    s.auth.events().on_login(move |result, params| {
        log.lock().unwrap().push(format!(
            "login {} {}",
            result["authentication"]["strategy"].as_str().unwrap(),
            params.provider.as_deref().unwrap()
        ));
    });
    let log = seen.clone();
    s.auth
        .events()
        .on_logout(move |_, _| log.lock().unwrap().push("logout".into()));
    let log = seen.clone();
    s.auth.events().on_connection(move |kind, result, params| {
        let state = roost_auth::ConnectionAuth::from_login(result, Some("user")).unwrap();
        assert!(state.exp.is_some());
        log.lock().unwrap().push(format!(
            "connection {} {}",
            kind.as_str(),
            params.connection.unwrap().0 > 0
        ));
    });
    s.login().await;
    let internal = s
        .create(
            json!({"strategy": "local", "email": "alice@example.com", "password": "alice-pw"}),
            Params::default(),
        )
        .await
        .unwrap();
    assert!(internal["accessToken"].is_string());
    let _ = s
        .create(
            json!({"strategy": "local", "email": "x", "password": "y"}),
            rest(),
        )
        .await;
    let mut params = Params::external("primus");
    params.connection = Some(ConnectionId::next());
    let login = s
        .create(
            json!({"strategy": "local", "email": "alice@example.com", "password": "alice-pw"}),
            params.clone(),
        )
        .await
        .unwrap();
    params.authentication = Some(json!({"strategy": "jwt", "accessToken": login["accessToken"]}));
    s.app
        .service("authentication")
        .unwrap()
        .remove(Value::Null, params)
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "login local rest",
            "connection login true",
            "login local primus",
            "connection logout true",
            "logout"
        ]
    );
    assert_eq!(AuthEventKind::Logout.as_str(), "logout");
    let metrics = s.auth.metrics();
    assert_eq!(
        (
            metrics.logins(),
            metrics.login_failures(),
            metrics.logouts()
        ),
        (3, 1, 1)
    );
}

#[tokio::test]
async fn the_authenticate_hook() {
    let s = setup().await;
    let login = s.login().await;
    let seen: Arc<Mutex<Option<Params>>> = Arc::default();
    let store = seen.clone();
    let messages = s.messages();
    messages
        .hooks(
            HookMap::new()
                .around(ALL, s.auth.authenticate_hook(&["jwt"]).unwrap())
                .before(
                    "find",
                    sync_hook(move |ctx| {
                        *store.lock().unwrap() = Some(ctx.params.clone());
                        Ok(())
                    }),
                ),
        )
        .unwrap();
    let err = messages.find(rest()).await.unwrap_err();
    assert_eq!(err.to_json(), not_authenticated("Not authenticated"));
    messages.find(Params::default()).await.unwrap();
    let params = with_jwt(&login["accessToken"]);
    messages.find(params).await.unwrap();
    let params = seen.lock().unwrap().take().unwrap();
    assert!(params.authenticated);
    assert_eq!(params.provider.as_deref(), Some("rest"));
    let user = params.user.unwrap();
    assert_eq!(user["email"], "alice@example.com");
    assert!(
        user["password"].as_str().unwrap().starts_with("$2b$"),
        "params.user is the raw entity (§E14)"
    );
    let authentication = params.authentication.unwrap();
    assert_eq!(authentication["strategy"], "jwt");
    assert_eq!(authentication["payload"]["sub"], "0");

    let mut params = rest();
    params.authentication =
        Some(json!({"strategy": "local", "email": "alice@example.com", "password": "alice-pw"}));
    let err = messages.find(params).await.unwrap_err();
    assert_eq!(
        err.message,
        "Invalid authentication information (strategy not allowed in authStrategies)"
    );
    let mut params = rest();
    params.authenticated = true;
    messages.find(params).await.unwrap();
    let params = with_jwt(&json!("a.b.c"));
    let err = messages.find(params).await.unwrap_err();
    assert_eq!(err.message, "invalid token");
}

#[tokio::test]
async fn the_authenticate_hook_is_before_only_and_not_for_the_auth_service() {
    let s = setup().await;
    let messages = s.messages();
    messages
        .hooks(HookMap::new().after("find", s.auth.authenticate_hook(&["jwt"]).unwrap()))
        .unwrap();
    let err = messages.find(Params::default()).await.unwrap_err();
    assert_eq!(
        err.to_json(),
        not_authenticated("The authenticate hook must be used as a before hook")
    );
    s.app
        .service("authentication")
        .unwrap()
        .hooks(HookMap::new().before("create", s.auth.authenticate_hook(&["jwt"]).unwrap()))
        .unwrap();
    let err = s.login_err().await;
    assert_eq!(
        err.message,
        "The authenticate hook does not need to be used on the authentication service"
    );
    assert!(s.auth.authenticate_hook::<&str>(&[]).is_err());
}

impl Setup {
    async fn login_err(&self) -> Error {
        self.create(
            json!({"strategy": "local", "email": "alice@example.com", "password": "alice-pw"}),
            rest(),
        )
        .await
        .unwrap_err()
    }
}

#[tokio::test]
async fn entity_none_returns_no_user_and_no_subject() {
    let mut config = config();
    config.entity = None;
    let s = setup_with(config, true);
    s.add_user("alice@example.com", "alice-pw").await;
    let result = s.login().await;
    assert!(result.get("user").is_none());
    assert!(result["authentication"]["payload"].get("sub").is_none());
    let again = s.jwt(&result["accessToken"]).await.unwrap();
    assert!(again.get("user").is_none());
}

#[tokio::test]
async fn rest_headers_become_params_authentication() {
    let s = setup().await;
    let mut headers = roost_core::Map::new();
    headers.insert("authorization".into(), json!("Bearer abc"));
    assert_eq!(
        s.auth.parse_headers(&headers),
        Some(json!({"strategy": "jwt", "accessToken": "abc"}))
    );
    headers.insert("authorization".into(), json!("Basic abc"));
    assert_eq!(s.auth.parse_headers(&headers), None);
}

#[tokio::test]
async fn logins_work_when_the_users_service_requires_authentication() {
    let s = setup().await;
    let users = s.app.service("users").unwrap();
    let hook = s.auth.authenticate_hook(&["jwt"]).unwrap();
    users
        .hooks(
            HookMap::new()
                .around("find", hook.clone())
                .around("get", hook),
        )
        .unwrap();
    let err = users.get(json!(0), rest()).await.unwrap_err();
    assert_eq!(err.message, "Not authenticated");
    let login = s.login().await;
    assert_eq!(login["user"]["email"], "alice@example.com");
    assert!(login["user"].get("password").is_none());
    let again = s.jwt(&login["accessToken"]).await.unwrap();
    assert_eq!(again["user"], login["user"]);
    let params = with_jwt(&login["accessToken"]);
    let me = users.get(json!("0"), params).await.unwrap();
    assert_eq!(me, login["user"], "REST ids are strings; protect applies");
}

#[tokio::test]
async fn the_subject_needs_the_entity_id() {
    let app = App::new();
    let adapter = AdapterOptions {
        id: "_id".into(),
        ..AdapterOptions::default()
    };
    let users = app
        .use_service("users", MemoryService::new(adapter), Default::default())
        .unwrap();
    let auth = Authentication::new(&app, config()).unwrap();
    auth.mount("authentication").unwrap();
    users
        .hooks(HookMap::new().before("create", auth.hash_password("password")))
        .unwrap();
    users
        .create(json!({"email": "a@b", "password": "pw"}), Params::default())
        .await
        .unwrap();
    let s = Setup { app, auth };
    let data = json!({"strategy": "local", "email": "a@b", "password": "pw"});
    let err = s.create(data.clone(), rest()).await.unwrap_err();
    assert_eq!(
        err.to_json(),
        not_authenticated("Could not get local entity")
    );

    let mut config = config();
    config.entity_id = Some("_id".into());
    let auth = Authentication::new(&s.app, config).unwrap();
    let out = auth.create(&data, &rest()).await.unwrap();
    assert_eq!(out["authentication"]["payload"]["sub"], "0");
}

#[tokio::test]
async fn connection_state_from_a_login() {
    let s = setup().await;
    let login = s.login().await;
    let state = s.auth.connection_auth(&login).unwrap().unwrap();
    assert_eq!(state.access_token, login["accessToken"].as_str().unwrap());
    let exp = login["authentication"]["payload"]["exp"].as_f64().unwrap();
    assert_eq!(state.exp, Some(exp));
    let left = state.expires_in(std::time::SystemTime::now()).unwrap();
    assert!(
        left.as_secs() > 86_000 && left.as_secs() <= 86_400,
        "{left:?}"
    );
    // Without a payload the token itself is verified for its expiry.
    let bare = json!({"accessToken": login["accessToken"]});
    assert_eq!(
        s.auth.connection_auth(&bare).unwrap().unwrap().exp,
        Some(exp)
    );
    assert!(s
        .auth
        .connection_auth(&json!({"user": {}}))
        .unwrap()
        .is_none());
    let payload = s
        .auth
        .verify_access_token(login["accessToken"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload.exp(), Some(exp));
    assert_eq!(payload.sub(), Some("0"));
}

#[tokio::test]
async fn a_non_string_token_is_a_jsonwebtoken_error() {
    let s = setup().await;
    let err = s.jwt(&json!(5)).await.unwrap_err();
    assert_eq!(err.message, "jwt must be a string");
    assert_eq!(err.data, Some(json!({"name": "JsonWebTokenError"})));
}
