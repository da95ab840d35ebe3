//! The configuration: one TOML file, `ROOST_…` environment overrides (`__` separates
//! levels: `ROOST_SERVER__PORT=4000`), then command-line flags. Every key is documented in
//! `docs/config.md`; `roost config` prints the effective result.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use roost_core::schema::Schema;
use roost_core::service::{Multi, Paginate};
use roost_transport::{CorsConfig, PrimusConfig, RestConfig, SocketIoConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use crate::ops::dashboard::DashboardConfig;

/// Errors found while loading or checking the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an override could not be read or has the wrong shape.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of range or inconsistent.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listening address, data directory, shutdown.
    pub server: ServerConfig,
    /// CORS for HTTP requests.
    pub cors: CorsConfig,
    /// REST limits and query-string parsing.
    pub rest: RestConfig,
    /// The Primus websocket transport: heartbeat, limits, queues, client library.
    pub primus: PrimusConfig,
    /// The Socket.IO transport at `/socket.io/`: heartbeat, limits.
    pub socketio: SocketIoConfig,
    /// Limits on the size of a query (every adapter, every transport).
    pub query: roost_core::query::QueryLimits,
    /// Logging.
    pub log: LogConfig,
    /// Services declared without code, by path.
    pub services: BTreeMap<String, DeclaredService>,
    /// The SQL database of SQL-backed services and of the default app (`crate::storage`).
    pub storage: crate::storage::StorageConfig,
    /// The default chat app.
    pub app: crate::chat::AppConfig,
    /// Authentication of the default app.
    pub auth: crate::auth_config::AuthSection,
    /// The live dashboard at `/dashboard`.
    pub dashboard: DashboardConfig,
    /// Gateway mode: Roost in front of an existing Feathers app (`docs/gateway.md`).
    pub gateway: roost_gateway::GatewayConfig,
    /// Cluster mode: several nodes over Redis (`docs/cluster.md`). Absent: one process.
    pub cluster: Option<roost_redis::RedisConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1`).
    pub host: IpAddr,
    /// Port to listen on (default 3030; 0 picks a free port and logs it).
    pub port: u16,
    /// Where Roost keeps its data (default `./roost-data`).
    pub data_dir: PathBuf,
    /// Seconds that requests in flight get to finish after SIGINT/SIGTERM (default 10).
    pub shutdown_grace_secs: u64,
    /// Seconds an HTTP connection gets, from its accept or from the end of its previous
    /// response, to send a complete request head: closes connections that send nothing,
    /// dribble a header or sit idle between requests (default 30; 0 turns it off).
    pub header_timeout_secs: u64,
    /// Seconds a request gets to send its whole body once its head is read (default 60;
    /// 0 turns it off). REST answers a late body with 408 `Timeout` and closes.
    pub body_timeout_secs: u64,
    /// Seconds a write may wait for the client to read (default 60; 0 turns it off): a
    /// client that stops reading a response (or a websocket) is disconnected.
    pub write_timeout_secs: u64,
    /// Connections (HTTP and upgraded websockets) one IP address may hold open at once; one
    /// more is answered `503` and closed. 0 (the default) turns the cap off, so load tests
    /// from one address work; set it when clients reach Roost directly.
    pub max_connections_per_ip: usize,
    /// Raise the soft open-file limit to the hard limit at start (default true; logged).
    pub raise_fd_limit: bool,
    /// Milliseconds each `/readyz` check (the storage ping) may take before the node is
    /// reported not ready (default 2000).
    pub readiness_timeout_ms: u64,
    /// Milliseconds between SIGINT/SIGTERM and the start of the drain (default 0): `/readyz`
    /// answers 503 and new requests are refused with 503 meanwhile, while the listener still
    /// accepts, so a load balancer sees the node leave before its sockets are closed.
    pub drain_delay_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 3030,
            data_dir: PathBuf::from("roost-data"),
            shutdown_grace_secs: 10,
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            write_timeout_secs: 60,
            max_connections_per_ip: 0,
            raise_fd_limit: true,
            readiness_timeout_ms: 2000,
            drain_delay_ms: 0,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `roost=debug,info` (default `info`; `RUST_LOG`
    /// wins when set).
    pub level: String,
    /// `pretty` (default) or `json`.
    pub format: LogFormat,
    /// Let the websocket library log frames and packets (default false).
    /// Off, their targets are capped at `info` whatever `level` or `RUST_LOG` ask: at
    /// debug and trace they log whole frames, passwords and access tokens included.
    pub wire_frames: bool,
}

/// The filter directives added when `log.wire_frames` is off: the libraries that log raw
/// frames or packets (with the credentials in them) at debug or trace.
pub const WIRE_LOG_CAPS: [&str; 2] = ["tungstenite=info", "tokio_tungstenite=info"];

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Pretty,
            wire_frames: false,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Storage of a declared service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// In memory; lost on restart.
    Memory,
    /// A table in the `[storage]` database.
    Sql,
}

/// `paginate = false` or `paginate = { default = 10, max = 50 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaginateSetting {
    /// `false` (`true` is refused: give the sizes).
    Flag(bool),
    /// The page sizes.
    Sizes(Paginate),
}

impl Default for PaginateSetting {
    fn default() -> Self {
        PaginateSetting::Flag(false)
    }
}

/// `[services.<path>]`: a service declared without code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclaredService {
    /// Storage (default `memory`).
    pub adapter: AdapterKind,
    /// The id field (default `id`).
    pub id: String,
    /// Pagination (default off).
    pub paginate: PaginateSetting,
    /// Multi permissions: `false` (default), `true` or a list of methods.
    pub multi: Multi,
    /// Externally callable methods (default: all six standard methods).
    pub methods: Option<Vec<String>>,
    /// Custom events the service publishes besides `created`/`updated`/`patched`/`removed`
    /// (Feathers' `events` option): emitted with `app.service(path).emit(event, data)`,
    /// published through the app's publishers or `[[app.publish_rules]]`.
    pub events: Vec<String>,
    /// Field types, used to coerce REST query strings (`integer`, `number`, `boolean`,
    /// `string`, `date`, `json`).
    pub schema: Schema,
    /// SQL only: the table (default: the path with `/` → `_`).
    pub table: Option<String>,
    /// SQL only: `integer` (default, generated), `uuid` (generated) or `string` (given).
    pub id_type: Option<roost_sql::IdType>,
    /// Built-in hooks by name (`[services.<path>.hooks.before]` / `.after`).
    pub hooks: crate::declared_hooks::DeclaredHooks,
}

impl Default for DeclaredService {
    fn default() -> Self {
        DeclaredService {
            adapter: AdapterKind::Memory,
            id: "id".to_owned(),
            paginate: PaginateSetting::default(),
            multi: Multi::default(),
            methods: None,
            events: Vec::new(),
            schema: Schema::new(),
            table: None,
            id_type: None,
            hooks: crate::declared_hooks::DeclaredHooks::default(),
        }
    }
}

impl DeclaredService {
    /// The pagination as the adapters take it.
    pub fn paginate(&self) -> Option<Paginate> {
        match self.paginate {
            PaginateSetting::Flag(_) => None,
            PaginateSetting::Sizes(p) => Some(p),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<IpAddr>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// The top-level sections, which `ROOST_<SECTION>__<KEY>` variables address.
const SECTIONS: [&str; 14] = [
    "server",
    "cors",
    "rest",
    "primus",
    "socketio",
    "query",
    "log",
    "services",
    "storage",
    "app",
    "auth",
    "dashboard",
    "gateway",
    "cluster",
];

impl Config {
    /// Loads defaults, then `file` (when given), then `ROOST_…` variables, then `overrides`,
    /// and checks the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Only `ROOST_<SECTION>__…` variables are configuration; others with the prefix
        // (`ROOST_CONFIG`, a test harness' `ROOST_BIN`) are not.
        figment = figment.merge(
            Env::prefixed("ROOST_")
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    SECTIONS
                        .iter()
                        .any(|s| key.strip_prefix(s).is_some_and(|r| r.starts_with("__")))
                })
                .split("__"),
        );
        let mut config: Config = figment.extract().map_err(Box::new)?;
        if let Some(host) = overrides.host {
            config.server.host = host;
        }
        if let Some(port) = overrides.port {
            config.server.port = port;
        }
        if let Some(dir) = &overrides.data_dir {
            config.server.data_dir.clone_from(dir);
        }
        config.validate()?;
        Ok(config)
    }

    /// Fails fast on values that would only break at first use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rest.body_limit == 0 {
            return Err(ConfigError::Invalid("rest.body_limit must be > 0".into()));
        }
        if self.rest.max_body_values == 0 {
            return Err(ConfigError::Invalid(
                "rest.max_body_values must be > 0".into(),
            ));
        }
        let q = &self.query;
        for (key, value) in [
            ("max_depth", q.max_depth),
            ("max_in", q.max_in),
            ("max_or", q.max_or),
            ("max_logical_depth", q.max_logical_depth),
            ("max_terms", q.max_terms),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("query.{key} must be > 0")));
            }
        }
        self.primus.validate().map_err(ConfigError::Invalid)?;
        self.socketio.validate().map_err(ConfigError::Invalid)?;
        self.gateway.validate().map_err(ConfigError::Invalid)?;
        if let Some(path) = &self.primus.client_library {
            if !path.is_file() {
                return Err(ConfigError::Invalid(format!(
                    "primus.client_library: {} is not a readable file",
                    path.display()
                )));
            }
        }
        let url = &self.storage.url;
        if url != crate::storage::MEMORY_URL && roost_sql::Dialect::from_url(url).is_none() {
            return Err(ConfigError::Invalid(format!(
                "storage.url: {:?} is not `memory` or a sqlite:, postgres: or mysql: URL",
                crate::storage::redact(url)
            )));
        }
        self.dashboard
            .validate(self.app.enabled)
            .map_err(ConfigError::Invalid)?;
        if self.app.enabled {
            self.app.validate().map_err(ConfigError::Invalid)?;
            crate::auth_config::validate(&self.auth.0)
                .map_err(|e| ConfigError::Invalid(format!("auth: {e}")))?;
        }
        for (path, service) in &self.services {
            let bad = |why: &str| ConfigError::Invalid(format!("services.{path}: {why}"));
            if path.trim_matches('/').is_empty() && path != "/" {
                return Err(bad("the path is empty"));
            }
            if service.id.is_empty() {
                return Err(bad("`id` must name a field"));
            }
            if service.adapter != AdapterKind::Sql
                && (service.table.is_some() || service.id_type.is_some())
            {
                return Err(bad("`table` and `id_type` need `adapter = \"sql\"`"));
            }
            if service.paginate == PaginateSetting::Flag(true) {
                return Err(bad(
                    "`paginate = true` is not a setting: use false or { default = 10, max = 50 }",
                ));
            }
            if let Some(Paginate {
                default: Some(d),
                max: Some(m),
            }) = service.paginate()
            {
                if d > m {
                    return Err(bad("paginate.default is larger than paginate.max"));
                }
            }
            for (i, event) in service.events.iter().enumerate() {
                if event.is_empty() {
                    return Err(bad("an entry of `events` is empty"));
                }
                if roost_core::service::STANDARD_EVENTS.contains(&event.as_str()) {
                    return Err(bad(&format!(
                        "`events` lists `{event}`, which the standard methods already emit"
                    )));
                }
                if service.events[..i].contains(event) {
                    return Err(bad(&format!("`events` lists `{event}` twice")));
                }
            }
            service
                .hooks
                .validate(service.methods.as_deref())
                .map_err(|why| bad(&why))?;
            if service.hooks.needs_auth() && !self.app.enabled {
                return Err(bad(
                    "`authenticate` and `hash_password` need the default app's authentication, \
                     and [app] enabled = false",
                ));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets (the auth secret, seed passwords)
    /// replaced by `<redacted>`.
    pub fn to_toml(&self) -> String {
        let printed = Config {
            app: self.app.redacted(),
            auth: self.auth.redacted(),
            dashboard: self.dashboard.redacted(),
            gateway: self.gateway.redacted(),
            cluster: self.cluster.clone().map(|mut cluster| {
                cluster.url = roost_redis::redact_url(&cluster.url);
                cluster
            }),
            ..self.clone()
        };
        toml::to_string_pretty(&printed).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_cluster_section_loads_and_prints_without_its_password() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[cluster]\nredis = \"redis://:hunter2@127.0.0.1:6390\"\nnode_id = \"api-1\""
        )
        .unwrap();
        let config = Config::load(Some(file.path()), &Overrides::default()).unwrap();
        let cluster = config.cluster.clone().unwrap();
        assert_eq!(cluster.url, "redis://:hunter2@127.0.0.1:6390");
        assert_eq!(cluster.node_id.as_deref(), Some("api-1"));
        assert_eq!(cluster.key_prefix, "roost");
        let printed = config.to_toml();
        assert!(printed.contains("[cluster]"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(Config::default().cluster.is_none());
    }

    #[test]
    fn file_then_env_then_flags() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            r#"
[server]
port = 4000
[services.people]
id = "id"
paginate = {{ default = 10, max = 50 }}
multi = ["create", "patch"]
schema = {{ name = "string", age = "integer", created = "boolean" }}
[services.plain]
paginate = false
multi = true
"#
        )
        .unwrap();
        let overrides = Overrides {
            host: Some(IpAddr::from([127, 0, 0, 2])),
            ..Overrides::default()
        };
        let config = Config::load(Some(file.path()), &overrides).unwrap();
        assert_eq!(config.server.port, 4000);
        assert_eq!(config.server.host, IpAddr::from([127, 0, 0, 2]));
        let people = &config.services["people"];
        assert_eq!(
            people.paginate(),
            Some(Paginate {
                default: Some(10),
                max: Some(50)
            })
        );
        assert!(people.multi.allows("patch") && !people.multi.allows("remove"));
        assert_eq!(config.services["plain"].paginate(), None);
        assert!(config.services["plain"].multi.allows("remove"));
        // The printed config loads back to the same thing.
        let mut again = tempfile::NamedTempFile::new().unwrap();
        again.write_all(config.to_toml().as_bytes()).unwrap();
        assert_eq!(
            Config::load(Some(again.path()), &overrides).unwrap(),
            config
        );
    }

    #[test]
    fn bad_values_fail_at_start() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[services.x]\npaginate = true").unwrap();
        let e = Config::load(Some(file.path()), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("paginate = true"), "{e}");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[server]\nprot = 1").unwrap();
        let e = Config::load(Some(file.path()), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("prot"), "{e}");
        let e =
            Config::load(Some(Path::new("/nonexistent.toml")), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("does not exist"));
    }
}
