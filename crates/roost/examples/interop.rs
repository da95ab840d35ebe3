//! The real-time interop test app (interop/REALTIME-APP.md), built with roost-core's APIs:
//! memory services, custom methods through a small `Service` impl, channels and publishers,
//! and the app's `send_*` for custom events. The JavaScript tests in `interop/` drive it with
//! the official clients, and the same tests run against the Node reference.
//!
//! ```text
//! cargo build -p roost --example interop
//! target/debug/examples/interop --port 3030 --ping-interval-ms 10000
//! target/debug/examples/interop --storage sqlite:///tmp/x/roost.db   # people* in SQL
//! ```
//! Listens on 127.0.0.1, logs to stderr, answers `/healthz` once ready, exits 0 on SIGTERM.

use async_trait::async_trait;
use clap::Parser;
use roost::storage::{self, SqlTable, Storage};
use roost_core::hooks::{hook_fn, sync_hook, Hook, HookMap};
use roost_core::publish::Publisher;
use roost_core::schema::FieldType;
use roost_core::service::{AdapterOptions, Multi};
use roost_core::{
    json, App, Channels, Error, MemoryService, Params, Result, Service, ServiceOptions, Value,
};
use std::process::ExitCode;
use std::sync::Arc;

/// The interop test app.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one, logged at start).
    #[arg(long, default_value_t = 3030)]
    port: u16,
    /// Primus heartbeat interval in ms (0 turns it off).
    #[arg(long, default_value_t = 10_000)]
    ping_interval_ms: u64,
    /// Keep `people` and `people-customid` in this SQL database (`sqlite://…`,
    /// `postgres://…`, `mysql://…`) instead of memory.
    #[arg(long, env = "ROOST_INTEROP_STORAGE")]
    storage: Option<String>,
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// `'room/' + data.roomId` as JavaScript writes it.
fn room_of(data: &Value) -> String {
    let id = match data.get("roomId") {
        None => "undefined".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(_)) => "[object Object]".to_owned(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    };
    format!("room/{id}")
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// `messages`: the memory adapter plus `join`, `leave` and `typing`.
struct Messages {
    store: MemoryService,
    channels: Channels,
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
        let room_id = data.get("roomId").cloned().unwrap_or(Value::Null);
        match method {
            "join" => {
                self.channels.channel(&room_of(&data)).join(p.connection);
                Ok(json!({ "joined": room_id }))
            }
            "leave" => {
                self.channels.channel(&room_of(&data)).leave(p.connection);
                Ok(json!({ "left": room_id }))
            }
            // The after hook emits `typing`.
            "typing" => Ok(data),
            other => Err(Error::method_not_allowed(format!(
                "Method '{other}' not allowed on service 'messages'"
            ))),
        }
    }
    fn implemented_methods(&self) -> Vec<String> {
        strings(&[
            "find", "get", "create", "update", "patch", "remove", "join", "leave", "typing",
        ])
    }
}

/// `broadcast`: `toAll`, `toMe`, `toChannel`; the before hook does the sending.
struct Broadcast;

#[async_trait]
impl Service for Broadcast {
    async fn call(&self, _method: &str, _data: Value, _p: &Params) -> Result<Value> {
        Ok(json!({ "sent": true }))
    }
    fn implemented_methods(&self) -> Vec<String> {
        strings(&["toAll", "toMe", "toChannel"])
    }
}

/// Sends the custom event `{event, data}` of a `broadcast` call to its recipients.
fn broadcast_hook() -> Arc<dyn Hook> {
    sync_hook(|ctx| {
        let input = ctx.data.clone().unwrap_or(Value::Null);
        let event = match input.get("event") {
            Some(Value::String(e)) => e.clone(),
            _ => return Err(Error::bad_request("`event` must be a string")),
        };
        let data = input.get("data").cloned().unwrap_or(Value::Null);
        let app = &ctx.app;
        match ctx.method.as_str() {
            "toAll" => app.send_to_all(&event, data),
            "toMe" => ctx
                .params
                .connection
                .map_or(0, |conn| app.send_to_connection(conn, &event, data)),
            _ => match input.get("channel") {
                Some(Value::String(channel)) => {
                    app.send_to_channel(app.channel(channel), &event, data)
                }
                _ => return Err(Error::bad_request("`channel` must be a string")),
            },
        };
        Ok(())
    })
}

/// `context.dispatch` = the result without `secret` (each item of a multi create).
fn hide_secret() -> Arc<dyn Hook> {
    sync_hook(|ctx| {
        let strip = |v: &Value| match v {
            Value::Object(map) => {
                let mut map = map.clone();
                map.shift_remove("secret");
                Value::Object(map)
            }
            other => other.clone(),
        };
        ctx.dispatch = match &ctx.result {
            Some(Value::Array(items)) => Some(Value::Array(items.iter().map(strip).collect())),
            Some(result) => Some(strip(result)),
            None => None,
        };
        Ok(())
    })
}

/// `people` / `people-customid` as in interop/config/rest.toml, in `storage`.
async fn people(app: &App, storage: &Storage, path: &str, id: &str) -> Result<()> {
    let adapter = AdapterOptions {
        id: id.to_owned(),
        multi: Multi::All(false),
        paginate: None,
    };
    let table = SqlTable {
        table: storage::default_table(path),
        schema: [
            ("name", FieldType::String),
            ("age", FieldType::Integer),
            ("created", FieldType::Boolean),
        ]
        .into_iter()
        .map(|(field, ty)| (field.to_owned(), ty))
        .collect(),
        id_type: roost_sql::IdType::Integer,
    };
    let service = storage::service_for(storage, path, table, adapter)
        .await
        .map_err(|e| Error::general(e.to_string()))?;
    app.use_arc_service(path, service, ServiceOptions::default())?;
    Ok(())
}

async fn build(storage: &Storage) -> Result<App> {
    let app = App::new();
    app.on_connection(|app, conn| {
        app.channel("anonymous").join([conn.id()]);
    });
    people(&app, storage, "people", "id").await?;
    people(&app, storage, "people-customid", "customid").await?;

    let messages = app.use_service(
        "messages",
        Messages {
            store: MemoryService::new(AdapterOptions {
                id: "id".to_owned(),
                multi: Multi::All(true),
                paginate: None,
            }),
            channels: app.channels().clone(),
        },
        ServiceOptions {
            methods: Some(strings(&[
                "find", "get", "create", "update", "patch", "remove", "join", "leave", "typing",
            ])),
            events: strings(&["typing"]),
            ..ServiceOptions::default()
        },
    )?;
    messages.hooks(HookMap::new().after("create", hide_secret()).after(
        "typing",
        hook_fn(|ctx| {
            Box::pin(async move {
                let data = ctx.result.clone().unwrap_or(Value::Null);
                ctx.app.service("messages")?.emit("typing", data).await;
                Ok(())
            })
        }),
    ))?;
    messages.publish(Publisher::new(|data, ctx| {
        let app = &ctx.app;
        let target = match ctx.event.as_deref().unwrap_or_default() {
            "patched" => app
                .channel("anonymous")
                .send(json!({ "id": data.get("id"), "redacted": true }))
                .into(),
            "removed" => vec![app.channel(&room_of(data)), app.channel("anonymous")].into(),
            _ if truthy(data.get("roomId")) => app.channel(&room_of(data)).into(),
            _ => app.channel("anonymous").into(),
        };
        Ok(Some(target))
    }));

    app.use_service(
        "broadcast",
        Broadcast,
        ServiceOptions {
            methods: Some(strings(&["toAll", "toMe", "toChannel"])),
            ..ServiceOptions::default()
        },
    )?
    .hooks(
        HookMap::new()
            .before("toAll", broadcast_hook())
            .before("toMe", broadcast_hook())
            .before("toChannel", broadcast_hook()),
    )?;
    Ok(app)
}

async fn run(args: Args) -> std::result::Result<(), String> {
    let storage = match &args.storage {
        Some(url) => Storage::from_sql_config(roost_sql::SqlConfig {
            url: url.clone(),
            ..roost_sql::SqlConfig::default()
        }),
        None => Storage::memory(),
    };
    let app = build(&storage).await.map_err(|e| e.message)?;
    let server = roost::Server::builder()
        .app(app)
        .storage(storage)
        .configure(|config| {
            config.server.host = [127, 0, 0, 1].into();
            config.server.port = args.port;
            config.server.shutdown_grace_secs = 2;
            config.primus.ping_interval_ms = args.ping_interval_ms;
        })
        .build()
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(ping_interval_ms = args.ping_interval_ms, storage = %server.storage().url(), "interop app");
    server.listen().await.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("interop: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop: {e}");
            ExitCode::FAILURE
        }
    }
}
