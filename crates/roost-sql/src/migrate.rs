//! Migrations of declared services: create missing tables, add new columns, refuse anything
//! that would lose data.

use crate::config::Database;
use crate::dialect::Dialect;
use crate::error::SqlError;
use crate::table::{IdType, TableDef, EXTRA_COLUMN, SEQ_COLUMN};
use crate::transaction::WriteTx;
use roost_core::schema::FieldType;
use std::fmt;

/// A change [`migrate`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new table.
    CreatedTable {
        /// Its name.
        table: String,
    },
    /// A new column in an existing table.
    AddedColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its declared SQL type.
        sql_type: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreatedTable { table } => write!(f, "created table {table}"),
            Change::AddedColumn {
                table,
                column,
                sql_type,
            } => write!(f, "added column {table}.{column} ({sql_type})"),
        }
    }
}

/// Brings `table`'s storage up to its definition: creates the table when it is missing and
/// adds the columns of new fields. Returns what it changed (empty when nothing). A column
/// whose type differs from the schema, or a column the schema no longer has, is refused with
/// [`SqlError::Destructive`] and nothing further is changed: Roost never drops or converts
/// data on its own.
pub async fn migrate(db: &Database, table: &TableDef) -> Result<Vec<Change>, SqlError> {
    let d = db.dialect();
    let existing = columns(db, table.name()).await?;
    if existing.is_empty() {
        create_table(db, table).await?;
        tracing::info!(table = table.name(), "created table");
        return Ok(vec![Change::CreatedTable {
            table: table.name().to_owned(),
        }]);
    }
    let find = |name: &str| existing.iter().find(|(c, _)| c == name).map(|(_, t)| t);
    let id_class = match table.id_type() {
        IdType::Integer => class_of_field(d, FieldType::Integer),
        IdType::Uuid | IdType::String => class_of_field(d, FieldType::String),
    };
    match find(table.id()) {
        None => {
            return Err(SqlError::Destructive(format!(
                "table `{}` exists without the id column `{}`; rename or drop it by hand",
                table.name(),
                table.id()
            )))
        }
        Some(actual) if class_of_column(d, actual) != id_class => {
            return Err(type_changed(table.name(), table.id(), actual, id_class))
        }
        Some(_) => {}
    }
    for (column, actual) in &existing {
        let known = column == table.id()
            || column == EXTRA_COLUMN
            || column == SEQ_COLUMN
            || table.field_type(column).is_some();
        if !known {
            return Err(SqlError::Destructive(format!(
                "column `{column}` of table `{}` is not in the schema; Roost does not drop \
                 columns: declare the field again, or drop the column by hand",
                table.name()
            )));
        }
        if let Some(ty) = table.field_type(column) {
            let expected = class_of_field(d, ty);
            if class_of_column(d, actual) != expected {
                return Err(type_changed(table.name(), column, actual, expected));
            }
        }
    }
    let mut changes = Vec::new();
    let mut wanted: Vec<(String, String)> = table
        .fields()
        .iter()
        .map(|(f, ty)| (f.clone(), d.column_type(*ty)))
        .collect();
    wanted.push((EXTRA_COLUMN.to_owned(), d.column_type(FieldType::Json)));
    for (column, sql_type) in wanted {
        if find(&column).is_some() {
            continue;
        }
        let sql = format!(
            "ALTER TABLE {} ADD COLUMN {} {sql_type}",
            d.quote(table.name()),
            d.quote(&column)
        );
        sqlx::query(&sql).execute(db.pool()).await?;
        tracing::info!(table = table.name(), column, "added column");
        changes.push(Change::AddedColumn {
            table: table.name().to_owned(),
            column,
            sql_type,
        });
    }
    Ok(changes)
}

fn type_changed(table: &str, column: &str, actual: &str, expected: &str) -> SqlError {
    SqlError::Destructive(format!(
        "column `{column}` of table `{table}` is stored as {actual} but the schema needs \
         {expected} storage; Roost does not change column types: migrate the data by hand"
    ))
}

/// The storage class of a declared field type (SQLite keeps Roost's own type names).
fn class_of_field(d: Dialect, ty: FieldType) -> &'static str {
    match (d, ty) {
        (Dialect::Sqlite, FieldType::Integer) => "INTEGER",
        (Dialect::Sqlite, FieldType::Number) => "REAL",
        (Dialect::Sqlite, FieldType::Boolean) => "BOOL_INT",
        (Dialect::Sqlite, FieldType::String) => "TEXT",
        (Dialect::Sqlite, FieldType::Date) => "DATE_TEXT",
        (Dialect::Sqlite, FieldType::Json) => "JSON_TEXT",
        (_, FieldType::Integer) => "int",
        (_, FieldType::Number) => "real",
        (_, FieldType::Boolean) => "bool",
        (_, FieldType::String | FieldType::Date | FieldType::Json) => "text",
    }
}

/// The storage class of a column type as the database reports it.
fn class_of_column(d: Dialect, actual: &str) -> &'static str {
    let lower = actual.to_ascii_lowercase();
    match d {
        Dialect::Sqlite => match actual.to_ascii_uppercase().as_str() {
            "INTEGER" => "INTEGER",
            "REAL" => "REAL",
            "BOOL_INT" => "BOOL_INT",
            "TEXT" => "TEXT",
            "DATE_TEXT" => "DATE_TEXT",
            "JSON_TEXT" => "JSON_TEXT",
            _ => "other",
        },
        Dialect::Postgres | Dialect::MySql { .. } => match lower.as_str() {
            "bigint" => "int",
            "double precision" | "double" => "real",
            "boolean" => "bool",
            "smallint" if matches!(d, Dialect::MySql { .. }) => "bool",
            "text" | "longtext" | "varchar" | "character varying" => "text",
            _ => "other",
        },
    }
}

/// The columns of `table` and their types; empty when it does not exist.
async fn columns(db: &Database, table: &str) -> Result<Vec<(String, String)>, SqlError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT name, type FROM pragma_table_info(?)",
        Dialect::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::MySql { .. } => {
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(db.pool()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let name = crate::table::text(row, 0).map_err(|e| SqlError::Schema(e.message))?;
        let ty = crate::table::text(row, 1).map_err(|e| SqlError::Schema(e.message))?;
        out.push((name.unwrap_or_default(), ty.unwrap_or_default()));
    }
    Ok(out)
}

async fn create_table(db: &Database, table: &TableDef) -> Result<(), SqlError> {
    let d = db.dialect();
    let mut cols = vec![format!(
        "{} {}",
        d.quote(table.id()),
        d.id_column(table.id_type(), table.start_id())
    )];
    for (field, ty) in table.fields() {
        cols.push(format!("{} {}", d.quote(field), d.column_type(*ty)));
    }
    cols.push(format!(
        "{} {}",
        d.quote(EXTRA_COLUMN),
        d.column_type(FieldType::Json)
    ));
    let text_id = table.id_type() != IdType::Integer;
    match d {
        Dialect::Postgres if text_id => cols.push(format!(
            "{} BIGINT GENERATED ALWAYS AS IDENTITY",
            d.quote(SEQ_COLUMN)
        )),
        Dialect::MySql { .. } if text_id => cols.push(format!(
            "{} BIGINT NOT NULL AUTO_INCREMENT UNIQUE",
            d.quote(SEQ_COLUMN)
        )),
        _ => {}
    }
    let mut sql = format!(
        "CREATE TABLE {} ({})",
        d.quote(table.name()),
        cols.join(", ")
    );
    if let Dialect::MySql { .. } = d {
        sql.push_str(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
        if !text_id && table.start_id() > 1 {
            sql.push_str(&format!(" AUTO_INCREMENT={}", table.start_id()));
        }
    }
    let mut tx = WriteTx::begin_migration(db).await?;
    let conn = tx.conn().map_err(|_| sqlx::Error::WorkerCrashed)?;
    sqlx::query(&sql).execute(&mut *conn).await?;
    if d == Dialect::Sqlite && !text_id && table.start_id() != 1 {
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
            .bind(table.name())
            .bind(table.start_id().saturating_sub(1))
            .execute(&mut *conn)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
