//! Errors of the SQL adapter, and the one function that turns a database failure into the
//! Feathers error a client receives.

use roost_core::Error;
use sqlx::error::ErrorKind as DbErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};

/// What can go wrong while configuring, connecting or migrating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The configuration is unusable (unknown URL scheme, bad path…).
    #[error("invalid SQL configuration: {0}")]
    Config(String),
    /// A table definition is unusable (a field name that cannot be a column…).
    #[error("invalid table definition: {0}")]
    Schema(String),
    /// A migration would destroy data (a changed column type, a dropped column).
    #[error("refusing a destructive migration: {0}")]
    Destructive(String),
    /// The database could not be reached when connecting.
    #[error("cannot reach the database: {0}")]
    Unreachable(sqlx::Error),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<SqlError> for Error {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Database(e) => to_feathers_error(&e),
            SqlError::Unreachable(e) => {
                tracing::error!(error = %e, "database unreachable");
                Error::unavailable("The database is unavailable")
            }
            other => {
                tracing::error!(error = %other, "SQL adapter misconfigured");
                Error::general("Internal storage error")
            }
        }
    }
}

/// Maps a sqlx error to the Feathers error sent to the client: an unreachable or overloaded
/// database is `Unavailable` (503), a deadline (pool acquire, statement timeout, lock wait) is
/// `Timeout` (408), a duplicate key is `Conflict` (409), a rejected value is `BadRequest`
/// (400). Anything else is logged in full and answered with a bare `GeneralError`.
pub fn to_feathers_error(e: &sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut => {
            tracing::warn!("timed out waiting for a database connection");
            Error::timeout("Timed out waiting for a database connection")
        }
        sqlx::Error::Protocol(message) if message.contains("too many arguments") => {
            // sqlx refuses a statement with more parameters than the protocol carries:
            // the client's query is too large, not the database's fault.
            tracing::debug!(error = %e, "statement refused: too many parameters");
            statement_too_large()
        }
        sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => {
            tracing::error!(error = %e, "database unavailable");
            Error::unavailable("The database is unavailable")
        }
        sqlx::Error::Database(db) => {
            let mut code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if is_sqlite(db.as_ref()) {
                // SQLite reports extended codes (e.g. 778, a failed write): the primary code
                // is the low byte.
                if let Ok(n) = code.parse::<i32>() {
                    code = format!("sqlite:{}", n & 0xff);
                }
            }
            if beyond_statement_limits(&code, db.message()) {
                // Caused by what a client sent (a query past the database's own limits):
                // answered 400, and not logged above debug, so clients cannot flood the log.
                tracing::debug!(error = %e, code, "statement beyond the database's limits");
                return statement_too_large();
            }
            if let Some(error) = by_code(&code) {
                tracing::warn!(error = %e, code, "database refused the statement");
                return error;
            }
            match db.kind() {
                DbErrorKind::UniqueViolation => {
                    Error::conflict("A record with the same unique value already exists")
                }
                DbErrorKind::ForeignKeyViolation => {
                    Error::conflict("The record is referenced by or references another record")
                }
                DbErrorKind::NotNullViolation | DbErrorKind::CheckViolation => {
                    Error::bad_request("The record does not satisfy the table's constraints")
                }
                _ => {
                    tracing::error!(error = %e, code, "database error");
                    Error::general("Internal storage error")
                }
            }
        }
        other => {
            tracing::error!(error = %other, "database error");
            Error::general("Internal storage error")
        }
    }
}

fn statement_too_large() -> Error {
    Error::bad_request("The query is too large for the database")
}

/// Whether the database refused a statement for its size or complexity: SQLite's variable,
/// expression-depth and length limits (reported as plain `SQLITE_ERROR`, so recognised by
/// message, or `SQLITE_TOOBIG`), PostgreSQL's program-limit class `54`, MySQL's placeholder
/// and thread-stack limits.
fn beyond_statement_limits(code: &str, message: &str) -> bool {
    const SQLITE_MESSAGES: [&str; 5] = [
        "too many SQL variables",
        "Expression tree is too large",
        "parser stack overflow",
        "too many terms in compound SELECT",
        "pattern too complex",
    ];
    match code {
        "sqlite:1" => SQLITE_MESSAGES.iter().any(|m| message.contains(m)),
        "sqlite:18" | "54000" | "54001" | "54011" | "54023" | "1390" | "1436" => true,
        _ => false,
    }
}

/// Whether `e` comes from SQLite (whose codes are numbers, like MySQL's).
fn is_sqlite(e: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return true;
    }
    let _ = e;
    false
}

/// The message of a write refused because the database's disk is full.
pub const DISK_FULL: &str = "The database's disk is full: writes fail until space is freed";

/// When (ms since the epoch) a write last failed for a full disk, and when one last
/// committed: `/readyz` reports the database full between the two. Process-wide, as a process
/// serves one `[storage]` database.
static LAST_DISK_FULL_MS: AtomicU64 = AtomicU64::new(0);
static LAST_COMMIT_MS: AtomicU64 = AtomicU64::new(0);

/// How long a disk-full failure keeps the node unready without a later commit: long enough
/// for a load balancer to move writes elsewhere, short enough that traffic comes back and
/// finds out (by writing) once space was freed.
pub const DISK_FULL_UNREADY: std::time::Duration = std::time::Duration::from_secs(10);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A write transaction committed: the disk has room again.
pub(crate) fn note_commit() {
    LAST_COMMIT_MS.store(now_ms(), Ordering::Relaxed);
}

/// Whether the last write failure for a full disk is newer than the last commit and less
/// than [`DISK_FULL_UNREADY`] old: the database cannot take writes now.
pub fn disk_full_now() -> bool {
    let full = LAST_DISK_FULL_MS.load(Ordering::Relaxed);
    let window = u64::try_from(DISK_FULL_UNREADY.as_millis()).unwrap_or(u64::MAX);
    full != 0
        && full >= LAST_COMMIT_MS.load(Ordering::Relaxed)
        && now_ms().saturating_sub(full) < window
}

/// Vendor codes that mean "try again later" or "too slow", by backend: PostgreSQL SQLSTATEs,
/// MySQL/MariaDB error numbers and SQLite primary result codes (`sqlite:N`).
fn by_code(code: &str) -> Option<Error> {
    let timeout = || Some(Error::timeout("The database did not answer in time"));
    let unavailable = || Some(Error::unavailable("The database is unavailable"));
    let disk_full = || {
        LAST_DISK_FULL_MS.store(now_ms(), Ordering::Relaxed);
        Some(Error::unavailable(DISK_FULL))
    };
    match code {
        // PostgreSQL: query_canceled (statement_timeout), lock_not_available.
        "57014" | "55P03" => timeout(),
        // PostgreSQL: disk full; MySQL/MariaDB: disk full, table full.
        "53100" | "1021" | "1114" => disk_full(),
        // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many
        // connections, serialization failure, deadlock, out of memory.
        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "53200" => unavailable(),
        // MariaDB max_statement_time, MySQL max_execution_time, lock wait timeout.
        "1969" | "3024" | "1205" => timeout(),
        // MySQL: too many connections, deadlock, server shutdown, read-only.
        "1040" | "1213" | "1053" | "1290" => unavailable(),
        // SQLite: BUSY / LOCKED after busy_timeout.
        "sqlite:5" | "sqlite:6" => timeout(),
        // SQLite: disk (or database size limit) full.
        "sqlite:13" => disk_full(),
        // SQLite: I/O error, cannot open, read-only database.
        "sqlite:10" | "sqlite:14" | "sqlite:8" => unavailable(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_map_to_timeout_and_unavailable() {
        assert_eq!(to_feathers_error(&sqlx::Error::PoolTimedOut).code(), 408);
        assert_eq!(to_feathers_error(&sqlx::Error::PoolClosed).code(), 503);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(to_feathers_error(&sqlx::Error::Io(io)).code(), 503);
        assert_eq!(by_code("57014").map(|e| e.code()), Some(408));
        assert_eq!(by_code("1969").map(|e| e.code()), Some(408));
        assert!(by_code("23505").is_none());
        assert_eq!(
            by_code("sqlite:13").map(|e| e.message),
            Some(DISK_FULL.into())
        );
        assert!(
            by_code("13").is_none(),
            "MySQL 13 is not SQLite's disk full"
        );
    }

    #[test]
    fn statements_past_the_database_limits_are_the_clients_fault() {
        assert!(beyond_statement_limits(
            "sqlite:1",
            "too many SQL variables"
        ));
        assert!(beyond_statement_limits(
            "sqlite:18",
            "string or blob too big"
        ));
        assert!(beyond_statement_limits(
            "sqlite:1",
            "Expression tree is too large (maximum depth 1000)"
        ));
        assert!(beyond_statement_limits("54001", "statement is too complex"));
        assert!(!beyond_statement_limits("sqlite:1", "no such column: x"));
        assert!(
            !beyond_statement_limits("1", "too many SQL variables"),
            "MySQL 1 is not SQLite"
        );
        let protocol = sqlx::Error::Protocol("too many arguments for query: 70000".into());
        assert_eq!(to_feathers_error(&protocol).code(), 400);
    }
}
