//! `$select`: which properties a result keeps (the id field always).

use crate::error::Error;
use crate::js;
use serde_json::{Map, Value};

/// A parsed `$select`.
#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    /// The usual form, an array of property names (items stringified as JS does). Unknown
    /// names are ignored; the id field is always added. Names are literal: `a.b` is a
    /// property called `a.b`, not a path.
    Fields(Vec<String>),
    /// A string: Feathers concatenates the id field to it and picks each character as a
    /// property name (`'name'` with id `id` picks `n a m e i d`).
    Characters(String),
    /// Any other truthy value (object, number, `true`): Feathers crashes with a TypeError as
    /// soon as a record is selected. Roost answers `BadRequest` at that point.
    Invalid,
}

impl Select {
    /// `$select` as memory reads it from a query it did not validate (create).
    pub fn from_raw(value: &Value) -> Option<Select> {
        match value {
            Value::Array(items) => Some(Select::Fields(items.iter().map(js::to_string).collect())),
            v if !js::is_truthy(v) => None,
            Value::String(s) => Some(Select::Characters(s.clone())),
            _ => Some(Select::Invalid),
        }
    }

    /// The property names picked, in order, for a service whose id field is `id_field`.
    pub fn fields(&self, id_field: &str) -> Result<Vec<String>, Error> {
        match self {
            Select::Fields(names) => {
                let mut all = names.clone();
                all.push(id_field.to_owned());
                Ok(all)
            }
            Select::Characters(s) => Ok(s
                .chars()
                .chain(id_field.chars())
                .map(String::from)
                .collect()),
            Select::Invalid => Err(Error::bad_request(
                "$select must be an array of property names",
            )),
        }
    }

    /// Projects `record` (memory's `select` + lodash-style `pick`).
    pub fn apply(&self, record: &Value, id_field: &str) -> Result<Value, Error> {
        let mut picked = Map::new();
        for name in self.fields(id_field)? {
            if let Some(value) = js::get(record, &name) {
                picked.insert(name, value.into_owned());
            }
        }
        Ok(Value::Object(js::js_ordered(picked)))
    }
}

/// Applies an optional `$select`.
pub(crate) fn project(
    select: Option<&Select>,
    record: &Value,
    id_field: &str,
) -> Result<Value, Error> {
    match select {
        Some(select) => select.apply(record, id_field),
        None => Ok(record.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_listed_fields_and_the_id() {
        let r = json!({"id": 1, "name": "a", "age": 3});
        let s = Select::Fields(vec!["age".into(), "nope".into()]);
        assert_eq!(s.apply(&r, "id").unwrap(), json!({"age": 3, "id": 1}));
        // A string picks its characters and those of the id field: `n a m e i d` here.
        let s = Select::from_raw(&json!("name")).unwrap();
        assert_eq!(s.apply(&r, "id").unwrap(), json!({}));
        let s = Select::from_raw(&json!("a")).unwrap();
        assert_eq!(
            s.apply(&json!({"a": 1, "i": 2, "x": 3}), "id").unwrap(),
            json!({"a": 1, "i": 2})
        );
        assert_eq!(Select::from_raw(&json!(null)), None);
        let e = Select::from_raw(&json!({"a": 1}))
            .unwrap()
            .apply(&r, "id")
            .unwrap_err();
        assert_eq!(e.code(), 400);
    }
}
