//! `SqlConfig` (the `[storage]` settings) and [`Database`], a connection pool that knows its
//! dialect.

use crate::dialect::Dialect;
use crate::error::SqlError;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool};
use sqlx::{Connection, Executor, Row};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How Roost reaches its SQL database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// `sqlite://path/to/file.db` (relative to the working directory; the file and its
    /// directory are created), `sqlite:///absolute/path.db`, `postgres://user:pass@host:port/db`
    /// or `mysql://user:pass@host:port/db` (MySQL 8 or MariaDB 10.5+; `mariadb://` is accepted
    /// too). Default `sqlite://roost-data/roost.db`.
    pub url: String,
    /// Most connections open at once. Default 10 (SQLite: readers share them; one writes at a
    /// time, the other writers queue in order, each for at most `acquire_timeout_ms`).
    pub max_connections: u32,
    /// Connections kept open when idle. Default 0.
    pub min_connections: u32,
    /// Milliseconds a call waits for a free connection (SQLite writes: also for their turn
    /// to write) before failing with `Timeout` (408). Default 5000.
    pub acquire_timeout_ms: u64,
    /// Milliseconds one statement may run before the server cancels it and the call fails
    /// with `Timeout` (408); 0 disables. PostgreSQL (`statement_timeout`), MariaDB
    /// (`max_statement_time`) and MySQL (`max_execution_time`, SELECT only). Not available on
    /// SQLite. Default 30000.
    pub statement_timeout_ms: u64,
    /// SQLite only: milliseconds a statement waits for a lock held by another process (or
    /// by a connection being closed) before failing with `Timeout` (408). Default 5000.
    pub busy_timeout_ms: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            url: "sqlite://roost-data/roost.db".to_owned(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout_ms: 5_000,
            statement_timeout_ms: 30_000,
            busy_timeout_ms: 5_000,
        }
    }
}

/// Numbers unique to each [`Database`], so a transaction is only reused by the pool that
/// opened it.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A connection pool and its dialect. Cheap to clone; every clone shares the pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    dialect: Dialect,
    key: u64,
    /// SQLite: one write transaction at a time, the others queued in order (SQLite has one
    /// write lock; writers that wait on it in `busy_timeout` retry by polling, unfairly, and
    /// fail under load). `None` for servers, which lock per row.
    writer: Option<Arc<Semaphore>>,
    /// How long a writer waits for its turn (`acquire_timeout_ms`).
    write_wait: Duration,
}

fn install_drivers() {
    // `install_drivers` fails only when drivers are already installed, which is fine.
    let _ = sqlx::any::install_drivers(&[
        #[cfg(feature = "mysql")]
        sqlx::mysql::any::DRIVER,
        #[cfg(feature = "postgres")]
        sqlx::postgres::any::DRIVER,
        #[cfg(feature = "sqlite")]
        sqlx::sqlite::any::DRIVER,
    ]);
}

/// The SQLite file path of a `sqlite:` URL (`None` for in-memory databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

impl Database {
    /// Opens a pool as `config` says and checks that the database answers. SQLite files (and
    /// their directory) are created, in WAL mode with `busy_timeout`.
    pub async fn connect(config: &SqlConfig) -> Result<Database, SqlError> {
        install_drivers();
        let dialect = Dialect::from_url(&config.url).ok_or_else(|| {
            SqlError::Config(format!(
                "unsupported database URL scheme in {:?}: use sqlite:, postgres: or mysql:",
                config.url.split(':').next().unwrap_or_default()
            ))
        })?;
        let mut url = config.url.clone();
        let mut options = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(config.min_connections)
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms));
        match dialect {
            Dialect::Sqlite => {
                #[cfg(not(feature = "sqlite"))]
                return Err(SqlError::Config(
                    "built without the `sqlite` feature".into(),
                ));
                match sqlite_path(&url) {
                    Some(path) => {
                        if let Some(dir) = Path::new(path).parent() {
                            if !dir.as_os_str().is_empty() {
                                create_private_dir(dir).map_err(|e| {
                                    SqlError::Config(format!(
                                        "cannot create the directory {}: {e}",
                                        dir.display()
                                    ))
                                })?;
                            }
                        }
                        if !url.contains("mode=") || url.contains("mode=rwc") {
                            create_private_file(Path::new(path)).map_err(|e| {
                                SqlError::Config(format!("cannot create {path}: {e}"))
                            })?;
                        }
                        if !url.contains("mode=") {
                            url.push_str(if url.contains('?') { "&" } else { "?" });
                            url.push_str("mode=rwc");
                        }
                    }
                    // Every connection to `:memory:` is a new, empty database: keep one.
                    None => {
                        options = options
                            .max_connections(1)
                            .min_connections(1)
                            .idle_timeout(None)
                            .max_lifetime(None);
                    }
                }
            }
            Dialect::Postgres => {
                #[cfg(not(feature = "postgres"))]
                return Err(SqlError::Config(
                    "built without the `postgres` feature".into(),
                ));
            }
            Dialect::MySql { .. } => {
                #[cfg(not(feature = "mysql"))]
                return Err(SqlError::Config("built without the `mysql` feature".into()));
                if let Some(rest) = url.strip_prefix("mariadb:") {
                    url = format!("mysql:{rest}");
                }
            }
        }
        let settings = Settings {
            statement_timeout_ms: config.statement_timeout_ms,
            busy_timeout_ms: config.busy_timeout_ms,
        };
        let pool = options
            .after_connect(move |conn, _| {
                Box::pin(async move { settings.apply(conn, dialect).await })
            })
            .connect(&url)
            .await
            .map_err(|e| match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                    SqlError::Unreachable(e)
                }
                other => SqlError::Database(other),
            })?;
        let dialect = match dialect {
            Dialect::MySql { .. } => {
                let version: String = sqlx::query("SELECT CAST(VERSION() AS CHAR)")
                    .fetch_one(&pool)
                    .await?
                    .try_get(0)?;
                Dialect::MySql {
                    mariadb: version.to_ascii_lowercase().contains("mariadb"),
                }
            }
            other => other,
        };
        tracing::info!(backend = dialect.name(), "connected to the SQL database");
        Ok(Database {
            pool,
            dialect,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            writer: (dialect == Dialect::Sqlite).then(|| Arc::new(Semaphore::new(1))),
            write_wait: Duration::from_millis(config.acquire_timeout_ms),
        })
    }

    /// The dialect (for MySQL URLs: whether the server is MariaDB).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// The writer's turn (SQLite), waited for in order, at most `acquire_timeout_ms`: then
    /// the call fails with `Timeout` (408). `None` where writers need no turn.
    pub(crate) async fn write_permit(&self) -> roost_core::Result<Option<OwnedSemaphorePermit>> {
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        match tokio::time::timeout(self.write_wait, Arc::clone(writer).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed.
            Ok(Err(_)) => Err(roost_core::Error::unavailable(
                "The database is unavailable",
            )),
            Err(_) => {
                tracing::warn!("timed out waiting for the database's write lock");
                Err(roost_core::Error::timeout(
                    "Timed out waiting for the database's write lock",
                ))
            }
        }
    }

    /// [`Database::write_permit`] without a deadline.
    pub(crate) async fn write_permit_unbounded(&self) -> Option<OwnedSemaphorePermit> {
        let writer = self.writer.as_ref()?;
        Arc::clone(writer).acquire_owned().await.ok()
    }

    /// [`crate::to_feathers_error`], except that a pool that timed out while it still had room
    /// for another connection could not open one: the database is down (503), not busy (408).
    /// (The pool counts connections it is still trying to open, so "no open connection" is
    /// not a test that works during an outage.)
    pub fn to_feathers_error(&self, e: &sqlx::Error) -> roost_core::Error {
        let saturated = self.pool.size() >= self.pool.options().get_max_connections()
            && self.pool.num_idle() == 0;
        if matches!(e, sqlx::Error::PoolTimedOut) && !saturated {
            tracing::error!("no connection to the database could be opened");
            return roost_core::Error::unavailable("The database is unavailable");
        }
        crate::error::to_feathers_error(e)
    }

    /// Closes every connection (waits for those in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `SELECT 1` on a pooled connection: whether the database answers now (readiness
    /// checks).
    pub async fn ping(&self) -> Result<(), SqlError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Per-connection settings applied when a connection opens.
#[derive(Debug, Clone, Copy)]
struct Settings {
    statement_timeout_ms: u64,
    busy_timeout_ms: u64,
}

impl Settings {
    // The numbers formatted here are integers from the configuration, never input.
    async fn apply(self, conn: &mut AnyConnection, dialect: Dialect) -> Result<(), sqlx::Error> {
        match dialect {
            Dialect::Sqlite => {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute(format!("PRAGMA busy_timeout = {}", self.busy_timeout_ms).as_str())
                    .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
            }
            Dialect::Postgres => {
                conn.execute(
                    format!("SET statement_timeout = {}", self.statement_timeout_ms).as_str(),
                )
                .await?;
            }
            Dialect::MySql { .. } => {
                // Explicit id 0 is kept (memory's ids start at 0), strict values, no silent
                // truncation.
                conn.execute(
                    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES')",
                )
                .await?;
                let version: String = sqlx::query("SELECT CAST(VERSION() AS CHAR)")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                let ms = self.statement_timeout_ms;
                let set = if version.to_ascii_lowercase().contains("mariadb") {
                    format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0)
                } else {
                    format!("SET SESSION max_execution_time = {ms}")
                };
                conn.execute(set.as_str()).await?;
            }
        }
        conn.ping().await
    }
}

/// Creates `dir` and its missing parents readable by the owner only (0700 on Unix): the
/// database holds password hashes and tokens. An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the SQLite file `path` empty and readable by the owner only (0600 on Unix) when
/// it does not exist yet; SQLite gives its `-wal` and `-shm` files the same mode. An
/// existing file is left as it is, with a warning when other users can read it.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path) {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{mode:o}"),
                        "the database file is readable by other users; chmod 600 it"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://roost-data/roost.db"),
            Some("roost-data/roost.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[test]
    fn default_is_a_sqlite_file() {
        let c = SqlConfig::default();
        assert_eq!(Dialect::from_url(&c.url), Some(Dialect::Sqlite));
        let parsed: SqlConfig =
            serde_json::from_str(r#"{"url": "postgres://localhost/roost"}"#).unwrap();
        assert_eq!(parsed.max_connections, 10);
    }
}
