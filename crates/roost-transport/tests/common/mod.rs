//! A small real-time app for the Primus tests (the shape of interop/REALTIME-APP.md) and a
//! server on 127.0.0.1:0.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use async_trait::async_trait;
use roost_core::hooks::{hook_fn, sync_hook, HookMap};
use roost_core::publish::Publisher;
use roost_core::service::{AdapterOptions, Multi};
use roost_core::{
    json, App, Channels, MemoryService, Params, Result, Service, ServiceOptions, Value,
};
use roost_transport::{CorsConfig, Primus, PrimusConfig, RestConfig};
use std::net::SocketAddr;

/// `messages`: memory + `join`/`leave` (channel `room/<roomId>`) + `typing`.
pub struct Messages {
    store: MemoryService,
    channels: Channels,
}

fn room(data: &Value) -> Option<String> {
    match data.get("roomId") {
        Some(Value::String(s)) => Some(format!("room/{s}")),
        Some(Value::Number(n)) => Some(format!("room/{n}")),
        _ => None,
    }
}

#[async_trait]
impl Service for Messages {
    async fn find(&self, p: &Params) -> Result<Value> {
        self.store.find(p).await
    }
    async fn get(&self, id: &Value, p: &Params) -> Result<Value> {
        self.store.get(id, p).await
    }
    async fn create(&self, data: Value, p: &Params) -> Result<Value> {
        self.store.create(data, p).await
    }
    async fn update(&self, id: &Value, data: Value, p: &Params) -> Result<Value> {
        self.store.update(id, data, p).await
    }
    async fn patch(&self, id: &Value, data: Value, p: &Params) -> Result<Value> {
        self.store.patch(id, data, p).await
    }
    async fn remove(&self, id: &Value, p: &Params) -> Result<Value> {
        self.store.remove(id, p).await
    }
    async fn call(&self, method: &str, data: Value, p: &Params) -> Result<Value> {
        let conn = p.connection;
        match (method, room(&data)) {
            ("join", Some(room)) => {
                self.channels.channel(&room).join(conn);
                Ok(json!({"joined": data["roomId"]}))
            }
            ("leave", Some(room)) => {
                self.channels.channel(&room).leave(conn);
                Ok(json!({"left": data["roomId"]}))
            }
            ("typing", _) => Ok(data),
            _ => Err(roost_core::Error::bad_request("roomId is required")),
        }
    }
    fn implemented_methods(&self) -> Vec<String> {
        [
            "find", "get", "create", "update", "patch", "remove", "join", "leave", "typing",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

/// `broadcast`: `toAll`, `toMe`, `toChannel`, sending custom events; publishes nothing.
pub struct Broadcast;

#[async_trait]
impl Service for Broadcast {
    async fn call(&self, _method: &str, _data: Value, _p: &Params) -> Result<Value> {
        Ok(json!({"sent": true}))
    }
    fn implemented_methods(&self) -> Vec<String> {
        vec!["toAll".into(), "toMe".into(), "toChannel".into()]
    }
}

/// Returns what a call saw.
pub struct Echo;

#[async_trait]
impl Service for Echo {
    async fn find(&self, p: &Params) -> Result<Value> {
        Ok(json!({
            "provider": p.provider, "query": p.query,
            "socketQuery": p.extra.get("socketQuery"),
            "host": p.headers.get("host"),
            "headers": p.headers,
            "connected": p.connection.is_some(),
            "user": p.user,
        }))
    }
    async fn get(&self, id: &Value, _p: &Params) -> Result<Value> {
        // A broken service: the transport must contain the panic to this one call.
        assert!(id != "panic", "Echo asked to panic");
        if id == "plain" {
            return Err(roost_core::Error::plain("boom"));
        }
        Ok(id.clone())
    }
}

fn send_hook() -> std::sync::Arc<dyn roost_core::hooks::Hook> {
    sync_hook(|ctx| {
        let data = ctx.data.clone().unwrap_or(Value::Null);
        let event = data["event"].as_str().unwrap_or("announcement").to_owned();
        let payload = data["data"].clone();
        match ctx.method.as_str() {
            "toAll" => ctx.app.send_to_all(&event, payload),
            "toMe" => ctx
                .params
                .connection
                .map_or(0, |c| ctx.app.send_to_connection(c, &event, payload)),
            _ => {
                let channel = data["channel"].as_str().unwrap_or("");
                ctx.app
                    .send_to_channel(ctx.app.channel(channel), &event, payload)
            }
        };
        Ok(())
    })
}

/// The test app.
pub fn app() -> App {
    let app = App::new();
    app.on_connection(|app, conn| {
        app.channel("anonymous").join([conn.id()]);
        if let Some(room) = conn.get("socketQuery").as_ref().and_then(room) {
            app.channel(&room).join([conn.id()]);
        }
    });
    let messages = app
        .use_service(
            "messages",
            Messages {
                store: MemoryService::new(AdapterOptions {
                    multi: Multi::All(true),
                    ..AdapterOptions::default()
                }),
                channels: app.channels().clone(),
            },
            ServiceOptions {
                methods: Some(
                    [
                        "find", "get", "create", "update", "patch", "remove", "join", "leave",
                        "typing",
                    ]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                ),
                events: vec!["typing".into()],
                ..ServiceOptions::default()
            },
        )
        .unwrap();
    messages
        .hooks(
            HookMap::new()
                .after(
                    "create",
                    sync_hook(|ctx| {
                        if let Some(Value::Object(mut r)) = ctx.result.clone() {
                            r.remove("secret");
                            ctx.dispatch = Some(Value::Object(r));
                        }
                        Ok(())
                    }),
                )
                .after(
                    "typing",
                    hook_fn(|ctx| {
                        Box::pin(async move {
                            let data = ctx.result.clone().unwrap_or(Value::Null);
                            ctx.app.service("messages")?.emit("typing", data).await;
                            Ok(())
                        })
                    }),
                ),
        )
        .unwrap();
    messages.publish(Publisher::new(|data, ctx| {
        let app = &ctx.app;
        let event = ctx.event.as_deref().unwrap_or("");
        let target = match event {
            "patched" => app
                .channel("anonymous")
                .send(json!({"id": data["id"], "redacted": true}))
                .into(),
            "removed" => vec![
                app.channel(&room(data).unwrap_or_else(|| "room/none".into())),
                app.channel("anonymous"),
            ]
            .into(),
            _ => match room(data) {
                Some(room) => app.channel(&room).into(),
                None => app.channel("anonymous").into(),
            },
        };
        Ok(Some(target))
    }));
    app.use_service(
        "broadcast",
        Broadcast,
        ServiceOptions {
            methods: Some(vec!["toAll".into(), "toMe".into(), "toChannel".into()]),
            ..ServiceOptions::default()
        },
    )
    .unwrap()
    .hooks(
        HookMap::new()
            .before("toAll", send_hook())
            .before("toMe", send_hook())
            .before("toChannel", send_hook()),
    )
    .unwrap();
    app.use_service("echo", Echo, ServiceOptions::default())
        .unwrap();
    app.use_service(
        "readonly",
        Echo,
        ServiceOptions {
            methods: Some(vec!["find".into()]),
            ..ServiceOptions::default()
        },
    )
    .unwrap();
    app
}

/// Serves `app` with Primus on 127.0.0.1:0.
pub async fn start_with(
    app: App,
    config: PrimusConfig,
    library: Option<&'static [u8]>,
) -> (SocketAddr, Primus) {
    let primus = Primus::with_client_library(app.clone(), config, library.map(<[u8]>::to_vec));
    let router = roost_transport::router_with_primus(
        app,
        RestConfig::default(),
        &CorsConfig::default(),
        Some(&primus),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, primus)
}

/// The test app with default settings.
pub async fn start() -> (SocketAddr, Primus) {
    start_with(app(), PrimusConfig::default(), None).await
}

/// Primus settings without the server's heartbeat (for clients that read nothing a while).
pub fn no_heartbeat() -> PrimusConfig {
    PrimusConfig {
        ping_interval_ms: 0,
        ..PrimusConfig::default()
    }
}

/// Serves the test app with `config`; the app comes back too.
pub async fn start_app(config: PrimusConfig) -> (SocketAddr, Primus, App) {
    let app = app();
    let (addr, primus) = start_with(app.clone(), config, None).await;
    (addr, primus, app)
}

/// A Primus round trip that proves every earlier frame of this client was read by the server.
pub async fn sync(c: &mut roost_testkit::ws::WsClient, id: u64) {
    c.call(id, "get", "echo", &[json!(id)]).await;
    let (data, _) = c.ack(id).await;
    assert_eq!(data, json!([null, id]));
}
