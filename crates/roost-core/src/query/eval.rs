//! Evaluates a [`Condition`] against a record with the memory adapter's matcher semantics
//! (sift 17, restricted to the operators Feathers lets through).

use super::{Condition, FieldOp, FieldPath};
use crate::js;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// How far the value walk descends (path segments plus nested arrays) before it stops; only
/// reached by hostile input, which then simply fails to match.
const WALK_BUDGET: usize = 256;

/// A value found at a path. A missing value (`undefined`) is `null`: sift treats both alike.
struct Candidate<'a> {
    value: Cow<'a, Value>,
    /// Seen by equality and ordering operators: false for a missing property of an array.
    tested: bool,
    /// Skipped by `$ne`, `$in`, `$nin`: a non-numeric property missing from an array
    /// (`tags.name` reaching the `tags` array itself).
    missing_array_property: bool,
}

impl Condition {
    /// Whether `record` satisfies this condition (memory semantics).
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Condition::And(children) => children.iter().all(|c| c.matches(record)),
            Condition::Or(children) => children.iter().any(|c| c.matches(record)),
            Condition::False => false,
            Condition::Field { path, ops } => {
                let candidates = candidates(record, path);
                ops.iter().all(|op| holds(op, &candidates))
            }
        }
    }
}

fn candidates<'a>(record: &'a Value, path: &FieldPath) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    walk(
        Cow::Borrowed(record),
        path.segments(),
        0,
        (true, false),
        WALK_BUDGET,
        &mut out,
    );
    out
}

fn child<'a>(item: &Cow<'a, Value>, key: &str) -> Option<Cow<'a, Value>> {
    match item {
        Cow::Borrowed(v) => js::get(v, key),
        Cow::Owned(v) => js::get(v, key).map(|c| Cow::Owned(c.into_owned())),
    }
}

/// sift's `walkKeyPathValues`: arrays met on the way contribute each element (unless the next
/// key is numeric or a real array property) and then themselves.
fn walk<'a>(
    item: Cow<'a, Value>,
    path: &[String],
    depth: usize,
    (tested, missing_array_property): (bool, bool),
    budget: usize,
    out: &mut Vec<Candidate<'a>>,
) {
    if budget == 0 {
        return;
    }
    let key = path.get(depth);
    if let Value::Array(items) = item.as_ref() {
        let spread = key.is_none_or(|k| js::string_to_number(k).is_nan() && !js::has_own(&item, k));
        if spread {
            for i in 0..items.len() {
                let element = match &item {
                    Cow::Borrowed(Value::Array(items)) => items.get(i).map(Cow::Borrowed),
                    other => other
                        .as_array()
                        .and_then(|a| a.get(i))
                        .map(|v| Cow::Owned(v.clone())),
                };
                if let Some(element) = element {
                    walk(element, path, depth, (true, false), budget - 1, out);
                }
            }
        }
    }
    let Some(key) = key.filter(|_| !item.is_null()) else {
        out.push(Candidate {
            value: item,
            tested,
            missing_array_property,
        });
        return;
    };
    let own = js::has_own(&item, key);
    let is_array = item.is_array();
    let flags = (
        !is_array || own,
        is_array && !own && js::string_to_number(key).is_nan(),
    );
    let next = child(&item, key).unwrap_or(Cow::Owned(Value::Null));
    walk(next, path, depth + 1, flags, budget - 1, out);
}

fn holds(op: &FieldOp, candidates: &[Candidate<'_>]) -> bool {
    let present = || candidates.iter().filter(|c| !c.missing_array_property);
    let tested = || candidates.iter().filter(|c| c.tested);
    match op {
        FieldOp::Eq(v) => tested().any(|c| equals(v, &c.value)),
        FieldOp::Ne(v) => !present().any(|c| equals(v, &c.value)),
        FieldOp::In(vs) => present().any(|c| vs.iter().any(|v| equals(v, &c.value))),
        FieldOp::Nin(vs) => !present().any(|c| vs.iter().any(|v| equals(v, &c.value))),
        FieldOp::Lt(v) => tested().any(|c| ordered(&c.value, v, |o| o == Ordering::Less, false)),
        FieldOp::Lte(v) => tested().any(|c| ordered(&c.value, v, |o| o != Ordering::Greater, true)),
        FieldOp::Gt(v) => tested().any(|c| ordered(&c.value, v, |o| o == Ordering::Greater, false)),
        FieldOp::Gte(v) => tested().any(|c| ordered(&c.value, v, |o| o != Ordering::Less, true)),
    }
}

#[derive(PartialEq)]
enum JsType {
    Number,
    String,
    Boolean,
    Object,
}

fn type_of(v: &Value) -> JsType {
    match v {
        Value::Number(_) => JsType::Number,
        Value::String(_) => JsType::String,
        Value::Bool(_) => JsType::Boolean,
        Value::Null | Value::Array(_) | Value::Object(_) => JsType::Object,
    }
}

/// sift's numerical operations: only values of the operand's JS type are compared, with JS
/// `<`/`<=`. `or_equal` adds the `b === operand` shortcut of `$lte`/`$gte`.
fn ordered(
    value: &Value,
    operand: &Value,
    accept: impl Fn(Ordering) -> bool,
    or_equal: bool,
) -> bool {
    if type_of(value) != type_of(operand) {
        return false;
    }
    if or_equal && strict_equals(value, operand) {
        return true;
    }
    if !or_equal && value.is_null() {
        return false;
    }
    js::relational(value, operand).is_some_and(accept)
}

/// JS `===` for JSON values (arrays and objects are never identical here).
fn strict_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// sift's `equals`: deep, `null` equal to missing, object key order ignored.
pub(super) fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equals(x, y))
        }
        (Value::Object(xm), Value::Object(ym)) => {
            xm.len() == ym.len()
                && xm
                    .iter()
                    .all(|(k, x)| equals(x, ym.get(k).unwrap_or(&Value::Null)))
        }
        _ => strict_equals(a, b),
    }
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::super::{compile::compile, Condition};
    use serde_json::{json, Value};

    fn matches(query: Value, record: Value) -> bool {
        let c: Condition = compile(query.as_object().unwrap()).unwrap();
        c.matches(&record)
    }

    #[test]
    fn equality_is_deep_and_reaches_into_arrays() {
        assert!(matches(json!({"t": "a"}), json!({"t": ["b", "a"]})));
        assert!(matches(json!({"t": ["b", "a"]}), json!({"t": ["b", "a"]})));
        assert!(matches(json!({"t": 1}), json!({"t": [[1]]})));
        assert!(matches(
            json!({"o": {"b": 1, "a": 2}}),
            json!({"o": {"a": 2, "b": 1}})
        ));
        assert!(!matches(
            json!({"o": {"a": 2}}),
            json!({"o": {"a": 2, "b": 1}})
        ));
        assert!(matches(json!({"x": null}), json!({})));
        assert!(matches(json!({"a.b": null}), json!({"a": null})));
        assert!(matches(
            json!({"a.b": 1}),
            json!({"a": [{"b": 2}, {"b": 1}]})
        ));
        assert!(matches(json!({"a.1": "y"}), json!({"a": ["x", "y"]})));
    }

    #[test]
    fn negations_hold_when_no_value_is_equal() {
        assert!(!matches(
            json!({"t": {"$ne": "a"}}),
            json!({"t": ["a", "b"]})
        ));
        assert!(!matches(json!({"x": {"$ne": null}}), json!({})));
        assert!(matches(json!({"t": {"$nin": []}}), json!({})));
        assert!(!matches(json!({"t": {"$nin": [null]}}), json!({})));
        assert!(matches(
            json!({"a.b": {"$ne": null}}),
            json!({"a": [{"b": 1}]})
        ));
    }

    #[test]
    fn ordering_compares_only_same_types() {
        assert!(matches(json!({"n": {"$gt": 1}}), json!({"n": 2})));
        assert!(!matches(json!({"n": {"$gt": 1}}), json!({"n": "2"})));
        assert!(matches(json!({"s": {"$lt": "b"}}), json!({"s": "a"})));
        assert!(matches(json!({"n": {"$lte": null}}), json!({})));
        assert!(!matches(json!({"n": {"$lt": null}}), json!({"n": null})));
        assert!(matches(json!({"t": {"$lt": 2}}), json!({"t": [5, 1]})));
        assert!(matches(json!({"b": {"$gt": false}}), json!({"b": true})));
    }

    #[test]
    fn groups() {
        let q = json!({"$or": [{"a": 1}, {"b": {"$in": [2, 3]}}], "c": true});
        assert!(matches(q.clone(), json!({"b": 3, "c": true})));
        assert!(!matches(q, json!({"b": 3})));
        assert!(matches(
            json!({"$and": [{"$or": [{"a": 1}]}, {"b": 2}]}),
            json!({"a": 1, "b": 2})
        ));
        assert!(!matches(json!({"$or": [5]}), json!({"a": 5})));
        assert!(matches(json!({"$or": [{"$ne": 1}]}), json!({"a": 5})));
    }
}
