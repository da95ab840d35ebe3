//! Shared helpers of the SQL adapter's integration tests: the backends under test and a
//! fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use roost_sql::{Database, SqlConfig};
use std::sync::atomic::{AtomicU64, Ordering};

/// A backend to run against.
pub struct Backend {
    pub name: &'static str,
    pub db: Database,
    /// Keeps a SQLite file's directory alive.
    pub _dir: Option<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "roost-sql-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn sqlite() -> Backend {
    sqlite_with(|_| {}).await
}

async fn sqlite_with(tweak: impl Fn(&mut SqlConfig)) -> Backend {
    let dir = TempDir::new("sqlite");
    let mut config = SqlConfig {
        url: format!("sqlite://{}/test.db", dir.0.display()),
        ..SqlConfig::default()
    };
    tweak(&mut config);
    Backend {
        name: "sqlite",
        db: Database::connect(&config).await.unwrap(),
        _dir: Some(dir),
    }
}

async fn from_env(
    var: &str,
    name: &'static str,
    tweak: impl Fn(&mut SqlConfig),
) -> Option<Backend> {
    let Ok(url) = std::env::var(var) else {
        eprintln!(
            "\n!!!!!! {name}: SKIPPED — {var} is not set. Run under \
             scripts/services/with-databases.sh to test against a real server. !!!!!!\n"
        );
        return None;
    };
    let mut config = SqlConfig {
        url,
        max_connections: 4,
        ..SqlConfig::default()
    };
    tweak(&mut config);
    Some(Backend {
        name,
        db: Database::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("{name}: cannot connect with {var}: {e}")),
        _dir: None,
    })
}

/// SQLite always; PostgreSQL and MariaDB/MySQL when their URLs are set.
pub async fn backends() -> Vec<Backend> {
    backends_with(|_| {}).await
}

/// [`backends`], each configured by `tweak` (after the defaults of this module).
pub async fn backends_with(tweak: impl Fn(&mut SqlConfig)) -> Vec<Backend> {
    let mut all = vec![sqlite_with(&tweak).await];
    all.extend(from_env("ROOST_TEST_POSTGRES_URL", "postgres", &tweak).await);
    all.extend(from_env("ROOST_TEST_MYSQL_URL", "mariadb", &tweak).await);
    all
}

/// A table name unique to this process and call, dropped first if a previous run left it.
pub async fn fresh_table(db: &Database, tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t_{tag}_{}_{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    let sql = format!("DROP TABLE IF EXISTS {}", db.dialect().quote(&name));
    sqlx::query(&sql).execute(db.pool()).await.unwrap();
    name
}

pub async fn drop_table(db: &Database, name: &str) {
    let sql = format!("DROP TABLE IF EXISTS {}", db.dialect().quote(name));
    let _ = sqlx::query(&sql).execute(db.pool()).await;
}

/// A migrated service on a fresh table of `b` whose `fields` are integers.
pub async fn integer_service(
    b: &Backend,
    tag: &str,
    fields: &[&str],
) -> std::sync::Arc<roost_sql::SqlService> {
    let table = fresh_table(&b.db, tag).await;
    let schema: roost_core::schema::Schema = fields
        .iter()
        .map(|f| ((*f).to_owned(), roost_core::schema::FieldType::Integer))
        .collect();
    let service = roost_sql::SqlService::new(
        b.db.clone(),
        roost_sql::SqlOptions {
            schema,
            ..roost_sql::SqlOptions::new(table)
        },
    )
    .unwrap();
    service.migrate().await.unwrap();
    std::sync::Arc::new(service)
}

/// Every row of `s` (an unpaginated `find`).
pub async fn rows(s: &roost_sql::SqlService) -> Vec<serde_json::Value> {
    use roost_core::Service;
    match s.find(&roost_core::Params::default()).await.unwrap() {
        serde_json::Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}
