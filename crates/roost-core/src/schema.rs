//! Field schemas of declared services, and the coercion of REST query strings to the fields'
//! types, as Feathers query schemas do with Ajv `coerceTypes` (docs/feathers-semantics.md §F13–F14).
//!
//! REST query values always arrive as strings (`age[$lt]=30` gives `"30"`); socket queries
//! keep their JSON types and are not coerced.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Number, Value};
use std::collections::BTreeMap;

/// The type of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// An ISO-8601 date-time, kept as a string.
    Date,
    /// Any JSON value (never coerced).
    Json,
}

impl FieldType {
    fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Json => "json",
        }
    }
}

/// The fields of a service, by name.
pub type Schema = BTreeMap<String, FieldType>;

/// Coerces one string to `ty`, as Ajv's `coerceTypes` does. `None` when it cannot.
fn coerce_str(s: &str, ty: FieldType) -> Option<Value> {
    match ty {
        FieldType::String | FieldType::Date | FieldType::Json => Some(Value::String(s.to_owned())),
        FieldType::Integer => {
            let n: f64 = s.trim().parse().ok().filter(|_| !s.trim().is_empty())?;
            if n.fract() != 0.0 || !n.is_finite() {
                return None;
            }
            s.trim()
                .parse::<i64>()
                .ok()
                .map(Value::from)
                .or_else(|| Number::from_f64(n).map(Value::Number))
        }
        FieldType::Number => {
            if s.trim().is_empty() {
                return None;
            }
            if let Ok(i) = s.trim().parse::<i64>() {
                return Some(Value::from(i));
            }
            let n: f64 = s.trim().parse().ok()?;
            Number::from_f64(n).map(Value::Number)
        }
        FieldType::Boolean => match s {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

struct Coercer<'a> {
    schema: &'a Schema,
    errors: Vec<Value>,
}

impl Coercer<'_> {
    fn value(&mut self, path: &str, ty: FieldType, value: &mut Value) {
        match value {
            // `a=` (qs gives "") and the literal `null` mean null for every type but string.
            Value::String(s) if ty != FieldType::String && (s.is_empty() || s == "null") => {
                *value = Value::Null;
            }
            Value::String(s) => match coerce_str(s, ty) {
                Some(v) => *value = v,
                None => self.errors.push(json!({
                    "instancePath": path,
                    "keyword": "type",
                    "params": {"type": ty.as_str()},
                    "message": format!("must be {}", ty.as_str()),
                })),
            },
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(&format!("{path}/{i}"), ty, item);
                }
            }
            Value::Object(ops) => {
                for (op, operand) in ops.iter_mut() {
                    if op.starts_with('$') {
                        self.value(&format!("{path}/{op}"), ty, operand);
                    }
                }
            }
            _ => {}
        }
    }

    fn query(&mut self, path: &str, query: &mut Map<String, Value>) {
        for (key, value) in query.iter_mut() {
            match key.as_str() {
                "$or" | "$and" => {
                    if let Value::Array(items) = value {
                        for (i, item) in items.iter_mut().enumerate() {
                            if let Value::Object(sub) = item {
                                self.query(&format!("{path}/{key}/{i}"), sub);
                            }
                        }
                    }
                }
                _ => {
                    if let Some(ty) = self.schema.get(key) {
                        self.value(&format!("{path}/{key}"), *ty, value);
                    }
                }
            }
        }
    }
}

/// Coerces the values of `query` for the fields of `schema`, recursing into operators and
/// `$or`/`$and`. Filters (`$limit`, `$sort`, …) and unknown fields are left to the adapter.
/// A value that cannot be coerced gives 400 `validation failed` with Ajv-style errors.
pub fn coerce_query(schema: &Schema, query: &mut Map<String, Value>) -> Result<()> {
    let mut coercer = Coercer {
        schema,
        errors: Vec::new(),
    };
    coercer.query("", query);
    if coercer.errors.is_empty() {
        Ok(())
    } else {
        Err(Error::bad_request("validation failed").with_data(Value::Array(coercer.errors)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        [
            ("name", FieldType::String),
            ("age", FieldType::Integer),
            ("score", FieldType::Number),
            ("created", FieldType::Boolean),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn coerce(q: &Value) -> Result<Value> {
        let mut map = q.as_object().cloned().unwrap_or_default();
        coerce_query(&schema(), &mut map).map(|()| Value::Object(map))
    }

    #[test]
    fn coerces_scalars_operators_and_nested_queries() {
        let got = coerce(&json!({
            "name": "10", "age": {"$lt": "30", "$in": ["1", "2"]}, "score": "1.5",
            "created": "true", "$or": [{"age": "4"}], "$limit": "2", "other": "5"
        }))
        .unwrap();
        assert_eq!(
            got,
            json!({
                "name": "10", "age": {"$lt": 30, "$in": [1, 2]}, "score": 1.5,
                "created": true, "$or": [{"age": 4}], "$limit": "2", "other": "5"
            })
        );
    }

    #[test]
    fn null_and_empty_strings() {
        assert_eq!(coerce(&json!({"age": ""})).unwrap(), json!({"age": null}));
        assert_eq!(coerce(&json!({"name": ""})).unwrap(), json!({"name": ""}));
    }

    #[test]
    fn bad_values_fail_validation() {
        let e = coerce(&json!({"age": {"$gt": "abc"}, "created": "yes"})).unwrap_err();
        assert_eq!((e.code(), e.message.as_str()), (400, "validation failed"));
        let data = e.data.unwrap();
        assert_eq!(data[0]["instancePath"], "/age/$gt");
        assert_eq!(data[0]["message"], "must be integer");
        assert_eq!(data[1]["instancePath"], "/created");
        assert!(coerce(&json!({"age": "1.5"})).is_err());
        assert!(coerce(&json!({"score": "1e999"})).is_err());
    }
}
