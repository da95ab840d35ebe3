//! Minimal Socket.IO clients for the tests: websocket-only (Engine.IO frames over
//! `roost_testkit::ws`) and long-polling (raw HTTP requests), plus a server with the test app
//! of `common` and, optionally, a handshake authentication whose `authentication` service
//! accepts the token `good` and refuses any other with the jsonwebtoken error.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use async_trait::async_trait;
use roost_core::{json, App, Error, ErrorKind, Params, Result, Service, ServiceOptions, Value};
use roost_testkit::ws::{connect, Received, WsClient};
use roost_testkit::{request, HttpResponse};
use roost_transport::{
    CorsConfig, HandshakeAuth, Primus, PrimusConfig, RestConfig, SocketIo, SocketIoConfig,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The websocket-only handshake path.
pub const WS_PATH: &str = "/socket.io/?EIO=4&transport=websocket";
/// The long-polling handshake path.
pub const POLLING_PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// `authentication.create({strategy: 'jwt', accessToken})`: `good` passes, anything else
/// fails as jsonwebtoken does (`jwt malformed`, data `{name: 'JsonWebTokenError'}`). Each
/// call is written to `log` as `login` (success) or `refused`.
#[derive(Default, Clone)]
pub struct FakeAuth {
    pub log: Arc<Mutex<Vec<&'static str>>>,
}

#[async_trait]
impl Service for FakeAuth {
    async fn create(&self, data: Value, _p: &Params) -> Result<Value> {
        if data["accessToken"] == "good" {
            self.log.lock().unwrap().push("login");
            Ok(json!({"accessToken": "good", "authentication": {"strategy": "jwt"}}))
        } else {
            self.log.lock().unwrap().push("refused");
            Err(Error::new(ErrorKind::NotAuthenticated, "jwt malformed")
                .with_data(json!({"name": "JsonWebTokenError"})))
        }
    }
}

/// A handshake authentication reading `Authorization: Bearer <token>`.
pub fn bearer_auth() -> HandshakeAuth {
    Arc::new(|headers| {
        let value = headers.get("authorization")?.as_str()?;
        let token = value.strip_prefix("Bearer ")?;
        Some((
            "authentication".to_owned(),
            json!({"strategy": "jwt", "accessToken": token}),
        ))
    })
}

/// Serves `app` with Primus and Socket.IO on 127.0.0.1:0.
pub async fn start_with(
    app: App,
    config: SocketIoConfig,
    auth: Option<HandshakeAuth>,
) -> (SocketAddr, Primus, SocketIo) {
    start_with_cors(app, config, auth, &CorsConfig::default()).await
}

/// [`start_with`] with the CORS settings `cors` (REST's and Socket.IO's).
pub async fn start_with_cors(
    app: App,
    config: SocketIoConfig,
    auth: Option<HandshakeAuth>,
    cors: &CorsConfig,
) -> (SocketAddr, Primus, SocketIo) {
    if auth.is_some() && app.service("authentication").is_err() {
        app.use_service(
            "authentication",
            FakeAuth::default(),
            ServiceOptions::default(),
        )
        .unwrap();
    }
    let primus = Primus::new(app.clone(), PrimusConfig::default());
    let socketio = SocketIo::new(app.clone(), config, auth);
    let router =
        roost_transport::router_with_primus(app, RestConfig::default(), cors, Some(&primus));
    let router = socketio.wrap(router, cors);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, primus, socketio)
}

/// [`start_with`] `app`, without handshake authentication.
pub async fn start(app: App, config: SocketIoConfig) -> (SocketAddr, Primus, SocketIo) {
    start_with(app, config, None).await
}

/// [`start`] the test app of `common` with the default settings as `set` changes them.
pub async fn start_app(set: impl FnOnce(&mut SocketIoConfig)) -> (SocketAddr, Primus, SocketIo) {
    let mut config = SocketIoConfig::default();
    set(&mut config);
    start(crate::common::app(), config).await
}

/// Polls `cond` until it holds (panics after 10 s).
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// The next text frame (panics on anything else).
pub async fn text(client: &mut WsClient) -> String {
    match tokio::time::timeout(Duration::from_secs(5), client.recv()).await {
        Ok(Received::Text(text)) => text,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The next frame that is not an Engine.IO ping (pings are answered).
pub async fn packet(client: &mut WsClient) -> String {
    loop {
        let t = text(client).await;
        if t == "2" {
            client.send_text("3").await;
            continue;
        }
        return t;
    }
}

/// A websocket-only Engine.IO session (open packet read), not joined to the namespace.
pub async fn ws_session(addr: SocketAddr) -> WsClient {
    ws_session_at(addr, WS_PATH).await
}

/// [`ws_session`] at `path`.
pub async fn ws_session_at(addr: SocketAddr, path: &str) -> WsClient {
    let mut client = connect(addr, path).await.unwrap();
    let open = text(&mut client).await;
    assert!(open.starts_with("0{"), "{open}");
    let open: Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(open["upgrades"], json!([]));
    client
}

/// Engine.IO open + namespace connect: returns the client after `40{"sid":…}`.
pub async fn sio_connect(addr: SocketAddr) -> WsClient {
    let mut client = ws_session(addr).await;
    client.send_text("40").await;
    let connected = packet(&mut client).await;
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    client
}

/// Reads until the server ends the websocket; returns the text frames seen before, without
/// Engine.IO pings.
pub async fn until_closed(client: &mut WsClient) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.recv()).await {
            Ok(Received::Text(t)) if t == "2" => {}
            Ok(Received::Text(t)) => texts.push(t),
            Ok(_) => return texts,
            Err(_) => panic!("not closed; received {texts:?}"),
        }
    }
}

/// A long-polling Engine.IO session.
pub struct Polling {
    pub addr: SocketAddr,
    pub sid: String,
}

impl Polling {
    /// The handshake `GET`; `Err` with the answer when it is refused.
    pub async fn open(addr: SocketAddr) -> std::result::Result<Polling, HttpResponse> {
        Polling::open_with(addr, &[]).await
    }

    /// The handshake `GET` with extra headers.
    pub async fn open_with(
        addr: SocketAddr,
        headers: &[(&str, &str)],
    ) -> std::result::Result<Polling, HttpResponse> {
        let r = request(addr, "GET", POLLING_PATH, headers, None)
            .await
            .unwrap();
        if r.status != 200 {
            return Err(r);
        }
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.starts_with("0{"), "{body}");
        let open: Value = serde_json::from_str(&body[1..]).unwrap();
        Ok(Polling {
            addr,
            sid: open["sid"].as_str().unwrap().to_owned(),
        })
    }

    fn path(&self) -> String {
        format!("{POLLING_PATH}&sid={}", self.sid)
    }

    /// `POST`s `body` (packets joined with `\x1e`).
    pub async fn post(&self, body: &str) -> HttpResponse {
        request(
            self.addr,
            "POST",
            &self.path(),
            &[("Content-Type", "text/plain;charset=UTF-8")],
            Some(body.as_bytes()),
        )
        .await
        .unwrap()
    }

    /// A polling `GET`: the answer as it came.
    pub async fn get_raw(&self) -> HttpResponse {
        request(self.addr, "GET", &self.path(), &[], None)
            .await
            .unwrap()
    }

    /// A polling `GET` that must succeed: its packets, Engine.IO pings answered.
    pub async fn get(&self) -> Vec<String> {
        let r = self.get_raw().await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let body = String::from_utf8(r.body).unwrap();
        let packets: Vec<String> = body.split('\u{1e}').map(str::to_owned).collect();
        if packets.iter().any(|p| p == "2") {
            self.post("3").await;
        }
        packets.into_iter().filter(|p| p != "2").collect()
    }

    /// The handshake (which must succeed), then [`Polling::connect`].
    pub async fn joined(addr: SocketAddr) -> Polling {
        let polling = Polling::open(addr).await.unwrap();
        polling.connect().await;
        polling
    }

    /// Joins the namespace: `POST 40`, then the `40{"sid":…}` answer.
    pub async fn connect(&self) {
        assert_eq!(self.post("40").await.status, 200);
        let packets = self.get().await;
        assert!(packets[0].starts_with("40{\"sid\":"), "{packets:?}");
    }
}
