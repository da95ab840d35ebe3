//! A table: its name, id column and typed field columns, and the conversion of Feathers
//! records to rows and back.
//!
//! Each schema field has a column of its type. Fields that are not in the schema, and the
//! explicit `null`s of schema fields, live in one JSON text column, [`EXTRA_COLUMN`], so a
//! record comes back exactly as it was written: a missing field stays missing, `null` stays
//! `null`, and unknown fields are kept (as the memory adapter keeps them). A value whose type
//! does not fit its column is refused with `BadRequest`.

use crate::dialect::Dialect;
use crate::error::SqlError;
use roost_core::schema::{FieldType, Schema};
use roost_core::{js, Error, Map, Result, Value};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

/// The column holding fields outside the schema (a JSON object as text, or NULL).
pub const EXTRA_COLUMN: &str = "_extra";

/// The insertion-order column of tables with text ids on PostgreSQL and MySQL (SQLite uses
/// its `rowid`; integer ids are their own order).
pub const SEQ_COLUMN: &str = "_seq";

/// Longest column or table name (PostgreSQL's limit; MySQL allows 64).
const MAX_NAME_BYTES: usize = 63;

/// The largest integer id a client may give (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_ID: u64 = (1 << 53) - 1;

/// How ids are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IdType {
    /// A 64-bit integer the database assigns (auto-increment) unless `create` brings a
    /// truthy one.
    #[default]
    Integer,
    /// A random UUID (v4) text made by Roost unless `create` brings a truthy id.
    Uuid,
    /// A text id the client must supply in `create`.
    String,
}

/// A bound parameter. Values only ever reach the database this way.
#[derive(Debug, Clone, PartialEq)]
#[doc(hidden)]
pub enum Arg {
    /// SQL NULL in a column of this type (PostgreSQL types parameters, even NULLs).
    Null(FieldType),
    /// A boolean (0/1 on SQLite and MySQL).
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// Text.
    Text(String),
}

/// A checked table definition.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    name: String,
    id: String,
    id_type: IdType,
    start_id: i64,
    /// Schema fields except the id field, in name order.
    fields: Vec<(String, FieldType)>,
}

fn check_name(what: &str, name: &str) -> std::result::Result<(), SqlError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || name.starts_with('$')
        || name.contains(['.', '\0'])
        || name == EXTRA_COLUMN
        || name == SEQ_COLUMN;
    if bad {
        return Err(SqlError::Schema(format!(
            "{what} {name:?} cannot be a column: names are 1–{MAX_NAME_BYTES} bytes, \
             without '.', NUL or a leading '$', and `{EXTRA_COLUMN}`, `{SEQ_COLUMN}` are reserved"
        )));
    }
    Ok(())
}

impl TableDef {
    /// Checks the names and builds the definition. A schema entry for the id field is
    /// ignored (the id type decides its column).
    pub fn new(
        name: &str,
        id: &str,
        id_type: IdType,
        schema: &Schema,
    ) -> std::result::Result<TableDef, SqlError> {
        check_name("table", name)?;
        check_name("id field", id)?;
        let mut fields = Vec::with_capacity(schema.len());
        for (field, ty) in schema {
            if field == id {
                continue;
            }
            check_name("field", field)?;
            fields.push((field.clone(), *ty));
        }
        Ok(TableDef {
            name: name.to_owned(),
            id: id.to_owned(),
            id_type,
            start_id: 1,
            fields,
        })
    }

    /// The first id the database assigns in a new table (integer ids; default 1). MySQL
    /// cannot generate 0 and starts at 1 then.
    pub(crate) fn with_start_id(mut self, start_id: i64) -> Self {
        self.start_id = start_id;
        self
    }

    /// The first generated id of a new table.
    pub fn start_id(&self) -> i64 {
        self.start_id
    }

    /// The column that orders records as they were created: memory's unsorted `find` order.
    pub(crate) fn order_column(&self, d: Dialect) -> String {
        match (self.id_type, d) {
            (IdType::Integer, _) => d.quote(&self.id),
            (_, Dialect::Sqlite) => "rowid".to_owned(),
            _ => d.quote(SEQ_COLUMN),
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id field.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id type.
    pub fn id_type(&self) -> IdType {
        self.id_type
    }

    /// The typed fields (id excluded), in name order.
    pub fn fields(&self) -> &[(String, FieldType)] {
        &self.fields
    }

    /// The type of a schema field.
    pub(crate) fn field_type(&self, name: &str) -> Option<FieldType> {
        self.fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, ty)| *ty)
    }

    /// `"id", "a", "b", "_extra"`, quoted: the column list every SELECT reads.
    pub(crate) fn select_list(&self, d: Dialect) -> String {
        let mut cols = vec![d.quote(&self.id)];
        cols.extend(self.fields.iter().map(|(f, _)| d.quote(f)));
        cols.push(d.quote(EXTRA_COLUMN));
        cols.join(", ")
    }

    /// The id as stored, from a JSON id given to get/update/patch/remove. `None` when no
    /// record can have it (memory looks records up by `String(id)`, so `"1"` finds `1`).
    pub(crate) fn lookup_id(&self, id: &Value) -> Option<Arg> {
        match self.id_type {
            IdType::Integer => match id {
                Value::Number(n) => n.as_i64().map(Arg::Int).or_else(|| {
                    let f = n.as_f64()?;
                    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(Arg::Int(f as i64))
                }),
                Value::String(s) => s
                    .parse::<i64>()
                    .ok()
                    .filter(|i| i.to_string() == *s)
                    .map(Arg::Int),
                _ => None,
            },
            IdType::Uuid | IdType::String => Some(Arg::Text(js::to_string(id))),
        }
    }

    /// The id to store for a truthy id given in `create` data.
    pub(crate) fn new_id(&self, id: &Value) -> Result<Arg> {
        let bad = || {
            Error::bad_request(format!(
                "Invalid value for '{}': expected {}",
                self.id,
                match self.id_type {
                    IdType::Integer => "an integer",
                    IdType::Uuid | IdType::String => "a string",
                }
            ))
        };
        match (self.id_type, id) {
            (IdType::Integer, Value::Number(_)) => match encode(FieldType::Integer, id) {
                Some(arg) => Ok(arg),
                None => Err(bad()),
            },
            (IdType::Uuid | IdType::String, Value::String(s)) => Ok(Arg::Text(s.clone())),
            (IdType::Uuid | IdType::String, Value::Number(_)) => Ok(Arg::Text(js::to_string(id))),
            _ => Err(bad()),
        }
    }

    /// [`Self::new_id`] for an id a client gave: an integer id must also lie within
    /// ±(2^53 − 1). Past 2^53 every JavaScript client rounds the id and reads the wrong
    /// record, and an id near the 64-bit limit leaves the table no ids to number later
    /// records with (every later insert failed).
    pub(crate) fn client_id(&self, id: &Value) -> Result<Arg> {
        match self.new_id(id)? {
            Arg::Int(n) if n.unsigned_abs() > MAX_SAFE_ID => Err(Error::bad_request(format!(
                "Invalid value for '{}': an id must be between -{MAX_SAFE_ID} and {MAX_SAFE_ID}",
                self.id
            ))),
            arg => Ok(arg),
        }
    }

    /// The column values of `record` (id excluded), in [`Self::fields`] order followed by
    /// the extra column.
    pub(crate) fn encode_record(&self, record: &Map<String, Value>) -> Result<Vec<Arg>> {
        let mut args = Vec::with_capacity(self.fields.len() + 1);
        let mut extra = Map::new();
        for (field, ty) in &self.fields {
            match record.get(field) {
                None => args.push(Arg::Null(*ty)),
                Some(Value::Null) => {
                    args.push(Arg::Null(*ty));
                    extra.insert(field.clone(), Value::Null);
                }
                Some(value) => args.push(encode(*ty, value).ok_or_else(|| {
                    Error::bad_request(format!(
                        "Invalid value for '{field}': expected {}",
                        type_name(*ty)
                    ))
                })?),
            }
        }
        for (key, value) in record {
            if key != &self.id && self.field_type(key).is_none() {
                extra.insert(key.clone(), value.clone());
            }
        }
        args.push(if extra.is_empty() {
            Arg::Null(FieldType::Json)
        } else {
            Arg::Text(Value::Object(extra).to_string())
        });
        Ok(args)
    }

    /// Rebuilds a record from a row read with [`Self::select_list`].
    pub(crate) fn decode_row(&self, row: &AnyRow) -> Result<Value> {
        let mut record = Map::new();
        let extra = match text(row, self.fields.len() + 1)? {
            Some(t) => match serde_json::from_str::<Value>(&t) {
                Ok(Value::Object(map)) => map,
                _ => return Err(corrupt(&self.name, EXTRA_COLUMN)),
            },
            None => Map::new(),
        };
        for (i, (field, ty)) in self.fields.iter().enumerate() {
            match decode(row, i + 1, *ty).map_err(|_| corrupt(&self.name, field))? {
                Some(value) => {
                    record.insert(field.clone(), value);
                }
                None if extra.contains_key(field) => {
                    record.insert(field.clone(), Value::Null);
                }
                None => {}
            }
        }
        for (key, value) in extra {
            if !record.contains_key(&key) {
                record.insert(key, value);
            }
        }
        let id = match self.id_type {
            IdType::Integer => decode(row, 0, FieldType::Integer),
            IdType::Uuid | IdType::String => decode(row, 0, FieldType::String),
        }
        .map_err(|_| corrupt(&self.name, &self.id))?
        .unwrap_or(Value::Null);
        record.insert(self.id.clone(), id);
        Ok(Value::Object(js::js_ordered(record)))
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "a string",
        FieldType::Date => "a date string",
        FieldType::Integer => "an integer",
        FieldType::Number => "a number",
        FieldType::Boolean => "a boolean",
        FieldType::Json => "a JSON value",
    }
}

fn corrupt(table: &str, column: &str) -> Error {
    tracing::error!(
        table,
        column,
        "a stored value does not fit its column's type"
    );
    Error::general("Internal storage error")
}

/// The bound value of a non-null JSON value in a column of type `ty`, if it fits.
pub(crate) fn encode(ty: FieldType, value: &Value) -> Option<Arg> {
    match (ty, value) {
        (FieldType::Integer, Value::Number(n)) => n.as_i64().map(Arg::Int).or_else(|| {
            let f = n.as_f64()?;
            // Integral doubles within i64 (e.g. 30.0 sent by a JS client).
            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(Arg::Int(f as i64))
        }),
        (FieldType::Number, Value::Number(n)) => n.as_f64().map(Arg::Float),
        (FieldType::Boolean, Value::Bool(b)) => Some(Arg::Bool(*b)),
        (FieldType::String | FieldType::Date, Value::String(s)) => Some(Arg::Text(s.clone())),
        (FieldType::Json, Value::Null) => None,
        (FieldType::Json, v) => Some(Arg::Text(v.to_string())),
        _ => None,
    }
}

type Decoded = std::result::Result<Option<Value>, sqlx::Error>;

/// Reads column `i` as a value of type `ty`; drivers differ in what they report (SQLite and
/// MySQL booleans are integers, MySQL text may arrive as bytes), so each read is lenient.
fn decode(row: &AnyRow, i: usize, ty: FieldType) -> Decoded {
    Ok(match ty {
        FieldType::Integer => integer(row, i)?.map(Value::from),
        FieldType::Number => match row.try_get::<Option<f64>, _>(i) {
            Ok(f) => f.map(js::number_value),
            Err(_) => integer(row, i)?.map(Value::from),
        },
        FieldType::Boolean => match row.try_get::<Option<bool>, _>(i) {
            Ok(b) => b.map(Value::Bool),
            Err(_) => integer(row, i)?.map(|n| Value::Bool(n != 0)),
        },
        FieldType::String | FieldType::Date => text(row, i)
            .map_err(|_| sqlx::Error::ColumnNotFound(String::new()))?
            .map(Value::String),
        FieldType::Json => {
            match text(row, i).map_err(|_| sqlx::Error::ColumnNotFound(String::new()))? {
                Some(t) => {
                    Some(serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))?)
                }
                None => None,
            }
        }
    })
}

fn integer(row: &AnyRow, i: usize) -> std::result::Result<Option<i64>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(i)
}

/// Text, or UTF-8 bytes (MySQL reports TEXT columns as blobs).
pub(crate) fn text(row: &AnyRow, i: usize) -> Result<Option<String>> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(t) => Ok(t),
        Err(_) => match row.try_get::<Option<Vec<u8>>, _>(i) {
            Ok(Some(bytes)) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Error::general("Internal storage error")),
            Ok(None) => Ok(None),
            Err(e) => Err(crate::error::to_feathers_error(&e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> TableDef {
        let schema: Schema = [("age", FieldType::Integer), ("name", FieldType::String)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        TableDef::new("people", "id", IdType::Integer, &schema).unwrap()
    }

    #[test]
    fn names_are_checked() {
        let schema = Schema::new();
        assert!(TableDef::new("a.b", "id", IdType::Integer, &schema).is_err());
        assert!(TableDef::new("t", "$id", IdType::Integer, &schema).is_err());
        let bad: Schema = [("_extra".to_owned(), FieldType::Json)]
            .into_iter()
            .collect();
        assert!(TableDef::new("t", "id", IdType::Integer, &bad).is_err());
        assert!(TableDef::new("t\"; DROP TABLE x; --", "id", IdType::Integer, &schema).is_ok());
    }

    #[test]
    fn client_integer_ids_stay_within_what_javascript_can_read() {
        let table = def();
        assert_eq!(table.client_id(&json!(7)).unwrap(), Arg::Int(7));
        assert_eq!(table.client_id(&json!(-7)).unwrap(), Arg::Int(-7));
        let max = MAX_SAFE_ID as i64;
        assert_eq!(table.client_id(&json!(max)).unwrap(), Arg::Int(max));
        // Imports (trusted seed data) keep any id the column holds.
        assert_eq!(table.new_id(&json!(i64::MAX)).unwrap(), Arg::Int(i64::MAX));
        for id in [
            json!(max + 1),
            json!(i64::MAX),
            json!(-max - 1),
            json!(u64::MAX),
        ] {
            let e = table.client_id(&id).unwrap_err();
            assert_eq!(e.code(), 400, "{id}");
        }
    }

    #[test]
    fn records_split_into_columns_and_extra() {
        let r = json!({"age": 3.0, "name": null, "x": [1]});
        let args = def().encode_record(r.as_object().unwrap()).unwrap();
        assert_eq!(
            args,
            vec![
                Arg::Int(3),
                Arg::Null(FieldType::String),
                Arg::Text(r#"{"name":null,"x":[1]}"#.into())
            ]
        );
        let e = def()
            .encode_record(json!({"age": "3"}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(e.message, "Invalid value for 'age': expected an integer");
    }

    #[test]
    fn lookup_ids_follow_string_keys() {
        let d = def();
        assert_eq!(d.lookup_id(&json!("1")), Some(Arg::Int(1)));
        assert_eq!(d.lookup_id(&json!(1.0)), Some(Arg::Int(1)));
        assert_eq!(d.lookup_id(&json!("01")), None);
        assert_eq!(d.lookup_id(&json!(1.5)), None);
    }
}
