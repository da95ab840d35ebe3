//! Where services keep their records: the `[storage]` section (a [`roost_sql::SqlConfig`]
//! whose SQLite paths are relative to `server.data_dir`), the shared [`Storage`] handle, and
//! [`service_for`], the one function that gives an app a memory or SQL service.
//!
//! # Putting a service in storage
//! ```
//! use roost::storage::{self, SqlTable, Storage};
//! use roost_core::schema::FieldType;
//! use roost_core::service::{AdapterOptions, Multi};
//! use roost_core::{json, App, Params, ServiceOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // `Storage::new(&config)` in an app; connects lazily, once.
//! let storage = Storage::from_sql_config(roost_sql::SqlConfig {
//!     url: format!("sqlite://{}", dir.path().join("roost.db").display()),
//!     ..roost_sql::SqlConfig::default()
//! });
//! let table = SqlTable {
//!     table: storage::default_table("users"),
//!     schema: [("email".to_owned(), FieldType::String)].into_iter().collect(),
//!     id_type: roost_sql::IdType::Integer,
//! };
//! let adapter = AdapterOptions {
//!     id: "id".into(),
//!     multi: Multi::All(false),
//!     paginate: None,
//! };
//! // The table is created (or its new columns added) before the service is returned.
//! let users = storage::service_for(&storage, "users", table, adapter).await?;
//! assert!(!storage.changes().is_empty());
//! let app = App::new();
//! app.use_arc_service("users", users, ServiceOptions::default())?;
//! let created = app
//!     .service("users")?
//!     .create(json!({"email": "ada@example.com"}), Params::default())
//!     .await?;
//! assert_eq!(created["id"], 1);
//! storage.close().await;
//! # Ok(())
//! # }
//! ```
//! With `[storage] url = "memory"` the same call returns a [`MemoryService`] (tests, demos);
//! otherwise an [`SqlService`] on the shared pool. Every migration change is logged and kept
//! ([`Storage::changes`]) so `roost migrate` can print them.

use crate::config::Config;
use roost_core::memory::MemoryService;
use roost_core::schema::Schema;
use roost_core::service::AdapterOptions;
use roost_core::Service;
use roost_sql::{Change, Database, IdType, SqlConfig, SqlError, SqlOptions, SqlService};
use serde::{Deserialize, Serialize};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The `url` that keeps every service in memory (lost on restart).
pub const MEMORY_URL: &str = "memory";

/// `[storage]`: [`SqlConfig`], with the default URL `sqlite://roost.db` (in the data
/// directory) instead of the library's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorageConfig(pub SqlConfig);

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig(SqlConfig {
            url: "sqlite://roost.db".to_owned(),
            ..SqlConfig::default()
        })
    }
}

impl Deref for StorageConfig {
    type Target = SqlConfig;
    fn deref(&self) -> &SqlConfig {
        &self.0
    }
}

impl DerefMut for StorageConfig {
    fn deref_mut(&mut self) -> &mut SqlConfig {
        &mut self.0
    }
}

/// What can stop storage at start (or `roost migrate`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database refused a migration that would lose data.
    #[error("{0}")]
    Destructive(String),
    /// The database could not be reached or answered with an error.
    #[error("storage ({url}): {source}")]
    Sql {
        /// The URL without its password.
        url: String,
        /// What went wrong.
        source: SqlError,
    },
    /// A service's table definition is unusable.
    #[error("service `{path}`: {source}")]
    Service {
        /// The service path.
        path: String,
        /// What went wrong.
        source: SqlError,
    },
    /// Registering a service on the app failed.
    #[error("{0}")]
    App(String),
}

impl StorageError {
    /// Whether this is a refused destructive migration (`roost migrate` exits 2).
    pub fn is_destructive(&self) -> bool {
        matches!(self, StorageError::Destructive(_))
    }
}

/// `url` with the password of `scheme://user:password@host` replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The effective `[storage]` settings: a relative SQLite path (`sqlite://roost.db`) is made
/// relative to `server.data_dir`; absolute paths (`sqlite:///var/lib/x.db`), `:memory:` and
/// server URLs are kept.
pub(crate) fn resolve(config: &Config) -> SqlConfig {
    let mut sql = config.storage.0.clone();
    if let Some(rest) = sql.url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest);
        if !path.is_empty() && !path.starts_with(":memory:") && Path::new(path).is_relative() {
            let joined = config.server.data_dir.join(rest);
            sql.url = format!("sqlite://{}", joined.display());
        }
    }
    sql
}

/// The storage of one server: memory, or one SQL pool shared by every SQL service, opened at
/// first use.
#[derive(Debug)]
pub struct Storage {
    config: SqlConfig,
    db: OnceCell<Database>,
    changes: Mutex<Vec<Change>>,
    /// Set once a destructive migration was refused, whatever error type carried it up.
    refused_destructive: AtomicBool,
}

/// A SQL table for [`service_for`].
#[derive(Debug, Clone, PartialEq)]
pub struct SqlTable {
    /// The table name.
    pub table: String,
    /// Typed fields (each gets a column; other fields are kept in a JSON column).
    pub schema: Schema,
    /// How ids are made.
    pub id_type: IdType,
}

impl Storage {
    /// Storage as `config` says (`[storage]` resolved against `server.data_dir`). Does not
    /// connect yet: the first SQL service does, so memory-only apps never open a database.
    pub fn new(config: &Config) -> Storage {
        Storage::from_sql_config(resolve(config))
    }

    /// Storage on exactly these settings.
    pub fn from_sql_config(config: SqlConfig) -> Storage {
        Storage {
            config,
            db: OnceCell::new(),
            changes: Mutex::new(Vec::new()),
            refused_destructive: AtomicBool::new(false),
        }
    }

    /// Storage that keeps everything in memory.
    pub fn memory() -> Storage {
        Storage::from_sql_config(SqlConfig {
            url: MEMORY_URL.to_owned(),
            ..SqlConfig::default()
        })
    }

    /// Whether services live in memory (`url = "memory"`).
    pub fn is_memory(&self) -> bool {
        self.config.url == MEMORY_URL
    }

    /// The database URL, password hidden.
    pub fn url(&self) -> String {
        redact(&self.config.url)
    }

    /// The pool, connecting on first use. Fails when the database cannot be reached.
    pub async fn database(&self) -> Result<&Database, StorageError> {
        self.db
            .get_or_try_init(|| async {
                Database::connect(&self.config)
                    .await
                    .map_err(|source| StorageError::Sql {
                        url: self.url(),
                        source,
                    })
            })
            .await
    }

    /// The pool if a SQL service opened it (readiness pings only a database in use).
    pub fn opened(&self) -> Option<&Database> {
        self.db.get()
    }

    /// Every migration change applied so far, in order.
    pub fn changes(&self) -> Vec<Change> {
        self.changes
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Whether a migration was refused because it would lose data. The default app's tables
    /// are opened through a store factory whose errors are Feathers errors, so `roost
    /// migrate` asks here rather than matching the error it got.
    pub fn refused_destructive(&self) -> bool {
        self.refused_destructive.load(Ordering::Relaxed)
    }

    /// Closes the pool (if it was opened).
    pub async fn close(&self) {
        if let Some(db) = self.db.get() {
            db.close().await;
        }
    }

    fn record(&self, changes: &[Change]) {
        let mut all = self
            .changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        all.extend_from_slice(changes);
    }
}

/// The default table of a service path: slashes become `_` (`api/people` → `api_people`).
pub fn default_table(path: &str) -> String {
    path.trim_matches('/').replace('/', "_")
}

/// A service at `path` kept in `storage`: a [`MemoryService`] when the storage is memory,
/// otherwise an [`SqlService`] on `table` whose table was created or extended first (each
/// change logged and kept for [`Storage::changes`]). Fails when the database is unreachable,
/// the definition is unusable or the table would need a destructive change.
pub async fn service_for(
    storage: &Storage,
    path: &str,
    table: SqlTable,
    adapter: AdapterOptions,
) -> Result<Arc<dyn Service>, StorageError> {
    if storage.is_memory() {
        return Ok(Arc::new(MemoryService::new(adapter)));
    }
    let db = storage.database().await?.clone();
    let name = table.table.clone();
    let service = SqlService::new(
        db,
        SqlOptions {
            adapter,
            table: table.table,
            schema: table.schema,
            id_type: table.id_type,
            ..SqlOptions::new(name.as_str())
        },
    )
    .map_err(|source| StorageError::Service {
        path: path.to_owned(),
        source,
    })?;
    let changes = service.migrate().await.map_err(|source| match source {
        SqlError::Destructive(why) => {
            storage.refused_destructive.store(true, Ordering::Relaxed);
            StorageError::Destructive(format!("service `{path}` (table `{name}`): {why}"))
        }
        source => StorageError::Sql {
            url: storage.url(),
            source,
        },
    })?;
    for change in &changes {
        tracing::info!(path, %change, "migrated");
    }
    storage.record(&changes);
    Ok(Arc::new(service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_live_in_the_data_dir() {
        let mut config = Config::default();
        config.server.data_dir = "/srv/roost".into();
        assert_eq!(resolve(&config).url, "sqlite:///srv/roost/roost.db");
        config.storage.url = "sqlite:///abs/x.db?mode=rwc".into();
        assert_eq!(resolve(&config).url, "sqlite:///abs/x.db?mode=rwc");
        config.storage.url = "sqlite::memory:".into();
        assert_eq!(resolve(&config).url, "sqlite::memory:");
        config.storage.url = "postgres://u:secret@h:5432/db".into();
        assert_eq!(resolve(&config).url, "postgres://u:secret@h:5432/db");
        assert_eq!(redact(&config.storage.url), "postgres://u:***@h:5432/db");
        assert_eq!(redact("sqlite://roost.db"), "sqlite://roost.db");
        assert_eq!(default_table("/api/people/"), "api_people");
    }

    #[tokio::test]
    async fn memory_and_sqlite_services() {
        use roost_core::{json, Params};
        let table = SqlTable {
            table: "notes".into(),
            schema: Schema::new(),
            id_type: IdType::Integer,
        };
        let memory = service_for(
            &Storage::memory(),
            "notes",
            table.clone(),
            AdapterOptions::default(),
        )
        .await
        .unwrap();
        memory
            .create(json!({"text": "a"}), &Params::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_owned();
        let storage = Storage::new(&config);
        let sql = service_for(&storage, "notes", table.clone(), AdapterOptions::default())
            .await
            .unwrap();
        let created = sql
            .create(json!({"text": "a"}), &Params::default())
            .await
            .unwrap();
        assert_eq!(created["text"], "a");
        assert_eq!(storage.changes().len(), 1);
        assert!(dir.path().join("roost.db").exists());
        service_for(&storage, "notes", table.clone(), AdapterOptions::default())
            .await
            .unwrap();
        assert_eq!(storage.changes().len(), 1, "second start changes nothing");
        // Text ids too: a second start finds the table as it left it.
        for id_type in [IdType::Uuid, IdType::String] {
            let table = SqlTable {
                table: format!("{id_type:?}"),
                id_type,
                ..table.clone()
            };
            for _ in 0..2 {
                service_for(&storage, "t", table.clone(), AdapterOptions::default())
                    .await
                    .unwrap();
            }
        }
        assert_eq!(storage.changes().len(), 3);
        storage.close().await;
    }
}
