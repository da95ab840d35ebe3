//! Builds the [`Condition`] tree from validated conditions, the way the memory adapter's
//! matcher (sift 17) builds its operations, including the errors sift raises while doing so.

use super::{Condition, FieldOp, FieldPath};
use crate::error::Error;
use crate::js;
use serde_json::{Map, Value};

/// Compiles one query object (the whole query or one `$or`/`$and` branch).
pub(super) fn compile(query: &Map<String, Value>) -> Result<Condition, Error> {
    let mut all = Vec::new();
    for key in js::ordered_keys(query) {
        let Some(value) = query.get(key) else {
            continue;
        };
        let condition = match key.as_str() {
            "$or" => compile_or(value)?,
            "$and" => compile_and(value)?,
            op if op.starts_with('$') => Condition::Field {
                path: FieldPath(Vec::new()),
                ops: vec![operator(op, value)?],
            },
            field => Condition::Field {
                path: FieldPath::parse(field),
                ops: field_ops(value)?,
            },
        };
        all.push(condition);
    }
    Ok(if all.len() == 1 {
        all.remove(0)
    } else {
        Condition::And(all)
    })
}

/// A `$or`/`$and` branch: objects are queries, arrays are queries over their indices and
/// anything else never matches a record.
fn compile_branch(value: &Value) -> Result<Condition, Error> {
    match value {
        Value::Object(map) => compile(map),
        Value::Array(items) => compile(&js::spread(&Value::Array(items.clone()))),
        _ => Ok(Condition::False),
    }
}

fn nonempty() -> Error {
    Error::bad_request("$and/$or/$nor must be a nonempty array")
}

fn not_a_list(what: &str) -> Error {
    Error::bad_request(format!("{what} must be an array of queries"))
}

/// `$or`: sift checks emptiness first, then compiles the branches.
fn compile_or(value: &Value) -> Result<Condition, Error> {
    match value {
        Value::Array(items) if items.is_empty() => Err(nonempty()),
        Value::String(s) if s.is_empty() => Err(nonempty()),
        Value::Array(items) => Ok(Condition::Or(
            items.iter().map(compile_branch).collect::<Result<_, _>>()?,
        )),
        _ => Err(not_a_list("$or")),
    }
}

/// `$and`: sift compiles the branches first, then checks emptiness.
fn compile_and(value: &Value) -> Result<Condition, Error> {
    match value {
        Value::Array(items) => {
            let branches: Vec<Condition> =
                items.iter().map(compile_branch).collect::<Result<_, _>>()?;
            if branches.is_empty() {
                return Err(nonempty());
            }
            Ok(Condition::And(branches))
        }
        _ => Err(not_a_list("$and")),
    }
}

/// Whether an operand holds operators (sift's `containsOperation`).
fn has_operator(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k.starts_with('$')))
}

/// The operations of `{field: value}`: an object of operators, or an equality.
fn field_ops(value: &Value) -> Result<Vec<FieldOp>, Error> {
    let Some(map) = value.as_object().filter(|_| has_operator(value)) else {
        return Ok(vec![FieldOp::Eq(value.clone())]);
    };
    let mut ops = Vec::new();
    let mut nested = false;
    for key in js::ordered_keys(map) {
        let Some(operand) = map.get(key) else {
            continue;
        };
        if key.starts_with('$') {
            ops.push(operator(key, operand)?);
        } else {
            field_ops(operand)?;
            nested = true;
        }
    }
    if nested {
        return Err(Error::bad_request(
            "Property queries must contain only operations, or exact objects.",
        ));
    }
    Ok(ops)
}

/// One named operator. `$or`/`$and` cannot be applied to a property.
fn operator(name: &str, operand: &Value) -> Result<FieldOp, Error> {
    let list = |name: &str| -> Result<Vec<Value>, Error> {
        let items = match operand {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        if items.iter().any(has_operator) {
            return Err(Error::bad_request(format!("cannot nest $ under {name}")));
        }
        Ok(items)
    };
    Ok(match name {
        "$ne" => FieldOp::Ne(operand.clone()),
        "$in" => FieldOp::In(list(name)?),
        "$nin" => FieldOp::Nin(list(name)?),
        "$lt" => FieldOp::Lt(operand.clone()),
        "$lte" => FieldOp::Lte(operand.clone()),
        "$gt" => FieldOp::Gt(operand.clone()),
        "$gte" => FieldOp::Gte(operand.clone()),
        "$or" | "$and" => {
            if name == "$or" {
                compile_or(operand)?;
            } else {
                compile_and(operand)?;
            }
            return Err(Error::bad_request(format!(
                "Malformed query. {name} cannot be matched against property."
            )));
        }
        other => {
            return Err(Error::bad_request(format!(
                "Unsupported operation: {other}"
            )))
        }
    })
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<Condition, Error> {
        compile(v.as_object().unwrap())
    }

    #[test]
    fn builds_fields_and_groups() {
        let c = run(json!({"a.b": {"$gt": 1, "$in": 2}, "$or": [{"c": 3}, 5]})).unwrap();
        let want = Condition::And(vec![
            Condition::Field {
                path: FieldPath::parse("a.b"),
                ops: vec![FieldOp::Gt(json!(1)), FieldOp::In(vec![json!(2)])],
            },
            Condition::Or(vec![
                Condition::Field {
                    path: FieldPath::parse("c"),
                    ops: vec![FieldOp::Eq(json!(3))],
                },
                Condition::False,
            ]),
        ]);
        assert_eq!(c, want);
        assert!(run(json!({})).unwrap().is_always());
    }

    #[test]
    fn sift_errors_have_sift_messages() {
        let msg = |v| run(v).unwrap_err().message;
        assert_eq!(
            msg(json!({"$or": []})),
            "$and/$or/$nor must be a nonempty array"
        );
        assert_eq!(
            msg(json!({"$and": []})),
            "$and/$or/$nor must be a nonempty array"
        );
        assert_eq!(
            msg(json!({"a": {"$in": [{"$ne": 1}]}})),
            "cannot nest $ under $in"
        );
        assert_eq!(
            msg(json!({"a": {"$nin": [{"$gt": 1}]}})),
            "cannot nest $ under $nin"
        );
        assert_eq!(
            msg(json!({"a": {"$ne": 1, "b": 2}})),
            "Property queries must contain only operations, or exact objects."
        );
        assert_eq!(
            msg(json!({"a": {"$or": [{"b": 1}]}})),
            "Malformed query. $or cannot be matched against property."
        );
        assert_eq!(
            msg(json!({"$or": {"a": 1}})),
            "$or must be an array of queries"
        );
    }
}
