//! Feathers' query validation (`filterQuery` of `@feathersjs/adapter-commons` 5.0.50): the
//! filters are converted in a fixed order, then every other key is checked.

use super::select::Select;
use super::sort::{Sort, SortKey};
use super::{FieldPath, Filters, QueryLimits};
use crate::error::Error;
use crate::js;
use crate::service::Paginate;
use serde_json::{Map, Value};

/// The property operators Feathers accepts (`OPERATORS`); memory adds none.
const OPERATORS: [&str; 8] = ["$in", "$nin", "$lt", "$lte", "$gt", "$gte", "$ne", "$or"];

/// The top-level filters (`FILTERS`), in the order Feathers converts them.
const FILTERS: [&str; 6] = ["$skip", "$sort", "$limit", "$select", "$or", "$and"];

/// Checks `query` and returns its filters and the conditions (`$or`, `$and`, properties)
/// as Feathers hands them to the adapter's matcher.
pub(super) fn sanitize(
    query: &Map<String, Value>,
    paginate: Option<&Paginate>,
) -> Result<(Filters, Map<String, Value>), Error> {
    let skip = query.get("$skip").map(js::parse_int);
    let sort = query.get("$sort").map(parse_sort).transpose()?;
    let limit = limit(query.get("$limit").map(js::parse_int), paginate);
    let select = query
        .get("$select")
        .map(parse_select)
        .transpose()?
        .flatten();
    let mut conditions = Map::new();
    for key in ["$or", "$and"] {
        if let Some(value) = query.get(key) {
            validate(value)?;
            conditions.insert(key.to_owned(), value.clone());
        }
    }
    for key in js::ordered_keys(query) {
        if key.starts_with('$') {
            if !FILTERS.contains(&key.as_str()) {
                return Err(Error::bad_request(format!("Invalid filter value {key}")));
            }
        } else if let Some(value) = query.get(key) {
            validate(value)?;
            conditions.insert(key.clone(), value.clone());
        }
    }
    let filters = Filters {
        limit,
        skip,
        sort,
        select,
    };
    Ok((filters, conditions))
}

/// Refuses a query wider than `limits` allows (`$in`/`$nin` values, `$or`/`$and` branches
/// and nesting, terms in all), walking the raw JSON without recursion before anything is
/// built from it: the database never sees a query past its own limits.
pub(super) fn check_size(query: &Map<String, Value>, limits: &QueryLimits) -> Result<(), Error> {
    let too_large = |what: String, limit: usize| {
        Err(Error::bad_request(format!("Query is too large: {what}"))
            .with_data(serde_json::json!({ "limit": limit })))
    };
    let mut terms = 0usize;
    // Query objects with their `$or`/`$and` depth (0: the query itself).
    let mut stack: Vec<(&Map<String, Value>, usize)> = vec![(query, 0)];
    while let Some((object, depth)) = stack.pop() {
        for (key, value) in object {
            match (key.as_str(), value) {
                ("$sort" | "$select" | "$limit" | "$skip", _) if depth == 0 => continue,
                ("$or" | "$and", Value::Array(branches)) => {
                    if branches.len() > limits.max_or {
                        return too_large(
                            format!(
                                "{key} has {} branches (the limit is {})",
                                branches.len(),
                                limits.max_or
                            ),
                            limits.max_or,
                        );
                    }
                    if depth >= limits.max_logical_depth {
                        return too_large(
                            format!(
                                "$or/$and nested more than {} levels deep",
                                limits.max_logical_depth
                            ),
                            limits.max_logical_depth,
                        );
                    }
                    for branch in branches {
                        match branch {
                            Value::Object(branch) => stack.push((branch, depth + 1)),
                            _ => terms += 1,
                        }
                    }
                }
                (_, Value::Object(ops)) if ops.keys().any(|k| k.starts_with('$')) => {
                    for (op, operand) in ops {
                        terms += match (op.as_str(), operand) {
                            ("$in" | "$nin" | "$or", Value::Array(list)) => {
                                let max = if op == "$or" {
                                    limits.max_or
                                } else {
                                    limits.max_in
                                };
                                if list.len() > max {
                                    return too_large(
                                        format!(
                                            "{op} has {} values (the limit is {max})",
                                            list.len()
                                        ),
                                        max,
                                    );
                                }
                                list.len().max(1)
                            }
                            _ => 1,
                        };
                    }
                }
                _ => terms += 1,
            }
            if terms > limits.max_terms {
                return too_large(
                    format!("more than {} terms", limits.max_terms),
                    limits.max_terms,
                );
            }
        }
    }
    Ok(())
}

/// `validateQueryProperty`: every `$key` inside objects (also inside arrays) must be an
/// operator. The error's data is the object holding the offending key.
pub(super) fn validate(value: &Value) -> Result<(), Error> {
    match value {
        Value::Array(items) => items.iter().try_for_each(validate),
        Value::Object(map) => {
            for key in js::ordered_keys(map) {
                if key.starts_with('$') && !OPERATORS.contains(&key.as_str()) {
                    return Err(Error::bad_request(format!("Invalid query parameter {key}"))
                        .with_data(value.clone()));
                }
                if let Some(child) = map.get(key) {
                    validate(child)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `getLimit`: with pagination (a truthy default or max) the limit is
/// `min($limit if a number ≥ 0 else default, max)`; otherwise `$limit` as parsed.
pub(super) fn limit(parsed: Option<f64>, paginate: Option<&Paginate>) -> Option<f64> {
    let truthy = |n: Option<usize>| n.is_some_and(|n| n > 0);
    match paginate {
        Some(p) if truthy(p.default) || truthy(p.max) => {
            let base = p.default.unwrap_or(0) as f64;
            let lower = match parsed {
                Some(l) if !l.is_nan() && l >= 0.0 => l,
                _ => base,
            };
            let upper = p.max.map_or(f64::MAX, |m| m as f64);
            Some(lower.min(upper))
        }
        _ => parsed,
    }
}

/// `$sort`: an object maps paths to directions (parseInt'd, objects validated); a string or
/// array is used as it is, so its indices become keys (JS `Object.keys`) and its items are
/// coerced with `Number()`. `null` makes Feathers crash (`Object.keys(null)`).
fn parse_sort(value: &Value) -> Result<Sort, Error> {
    let entries: Vec<(String, f64)> = match value {
        Value::Null => {
            return Err(Error::bad_request(
                "Invalid $sort: cannot convert null to an object",
            ))
        }
        Value::Object(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for key in js::ordered_keys(map) {
                let Some(direction) = map.get(key) else {
                    continue;
                };
                let direction = if direction.is_object() || direction.is_array() {
                    validate(direction)?;
                    js::to_number(direction)
                } else {
                    js::parse_int(direction)
                };
                entries.push((key.clone(), direction));
            }
            entries
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (i.to_string(), js::to_number(item)))
            .collect(),
        Value::String(s) => s
            .encode_utf16()
            .enumerate()
            .map(|(i, unit)| {
                let ch = String::from_utf16_lossy(&[unit]);
                (i.to_string(), js::string_to_number(&ch))
            })
            .collect(),
        Value::Bool(_) | Value::Number(_) => Vec::new(),
    };
    Ok(Sort {
        keys: sort_keys(entries),
    })
}

/// Memory's sorter computes `direction * compare(a, b)` key by key and stops at the first
/// non-zero result. So a 0 direction skips its key, NaN ends the comparison (and every later
/// key with it), and an infinite direction decides when values differ but yields NaN when
/// they are equal, which also ends the comparison.
fn sort_keys(entries: Vec<(String, f64)>) -> Vec<SortKey> {
    let mut keys = Vec::new();
    for (key, direction) in entries {
        if direction.is_nan() {
            break;
        }
        if direction == 0.0 {
            continue;
        }
        keys.push(SortKey {
            path: FieldPath::parse(&key),
            descending: direction < 0.0,
        });
        if direction.is_infinite() {
            break;
        }
    }
    keys
}

/// `$select`: an array of names (each stringified); anything else is validated and kept, and
/// memory later treats a falsy value as "everything", a string as its characters and any
/// other value as a crash.
fn parse_select(value: &Value) -> Result<Option<Select>, Error> {
    if let Value::Array(items) = value {
        return Ok(Some(Select::Fields(
            items.iter().map(js::to_string).collect(),
        )));
    }
    validate(value)?;
    Ok(Select::from_raw(value))
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<(Filters, Map<String, Value>), Error> {
        sanitize(v.as_object().unwrap(), None)
    }

    #[test]
    fn unknown_filters_and_operators_use_feathers_messages() {
        assert_eq!(
            run(json!({"$foo": 1})).unwrap_err().message,
            "Invalid filter value $foo"
        );
        let e = run(json!({"age": {"$gt": 1, "$like": "x"}})).unwrap_err();
        assert_eq!(e.message, "Invalid query parameter $like");
        assert_eq!(e.data, Some(json!({"$gt": 1, "$like": "x"})));
        let e = run(json!({"$and": [{"$and": []}]})).unwrap_err();
        assert_eq!(e.message, "Invalid query parameter $and");
        let e = run(json!({"tags": [{"$exists": true}]})).unwrap_err();
        assert_eq!(e.message, "Invalid query parameter $exists");
        let e = run(json!({"$sort": {"a": {"$x": 1}}, "$bad": 1})).unwrap_err();
        assert_eq!(e.message, "Invalid query parameter $x");
    }

    #[test]
    fn filters_are_parse_int_ed() {
        let (f, _) =
            run(json!({"$limit": "3", "$skip": "x", "$sort": {"a": "-1", "b.c": "1"}})).unwrap();
        assert_eq!(f.limit, Some(3.0));
        assert!(f.skip.is_some_and(f64::is_nan));
        let keys = f.sort.unwrap().keys;
        assert_eq!(keys.len(), 2);
        assert!(keys[0].descending && !keys[1].descending);
        assert_eq!(keys[1].path.segments(), ["b", "c"]);
    }

    #[test]
    fn sort_directions_skip_and_halt() {
        let (f, _) = run(json!({"$sort": {"a": 0, "b": 1, "c": "up", "d": 1}})).unwrap();
        let keys: Vec<String> = f
            .sort
            .unwrap()
            .keys
            .iter()
            .map(|k| k.path.to_string())
            .collect();
        assert_eq!(keys, ["b"]);
    }

    #[test]
    fn pagination_limits() {
        let p = Paginate {
            default: Some(10),
            max: Some(50),
        };
        assert_eq!(limit(None, Some(&p)), Some(10.0));
        assert_eq!(limit(Some(-1.0), Some(&p)), Some(10.0));
        assert_eq!(limit(Some(f64::NAN), Some(&p)), Some(10.0));
        assert_eq!(limit(Some(80.0), Some(&p)), Some(50.0));
        assert_eq!(limit(Some(0.0), Some(&p)), Some(0.0));
        let max_only = Paginate {
            default: None,
            max: Some(4),
        };
        assert_eq!(limit(None, Some(&max_only)), Some(0.0));
        assert_eq!(limit(Some(-2.0), Some(&Paginate::default())), Some(-2.0));
        assert_eq!(limit(None, None), None);
    }

    #[test]
    fn wide_and_deep_queries_are_refused_before_anything_is_built() {
        let limits = QueryLimits::BUILT_IN;
        let check = |v: Value| check_size(v.as_object().unwrap(), &limits);
        let many: Vec<Value> = (0..501).map(Value::from).collect();
        let e = check(json!({"id": {"$in": many}})).unwrap_err();
        assert_eq!(
            e.message,
            "Query is too large: $in has 501 values (the limit is 500)"
        );
        assert_eq!(e.data, Some(json!({"limit": 500})));
        let e = check(json!({"id": {"$nin": many}})).unwrap_err();
        assert!(e.message.contains("$nin has 501 values"), "{}", e.message);
        let branches: Vec<Value> = (0..101).map(|i| json!({"a": i})).collect();
        let e = check(json!({"$or": branches})).unwrap_err();
        assert_eq!(
            e.message,
            "Query is too large: $or has 101 branches (the limit is 100)"
        );
        let e = check(json!({"$or": [{"$and": [{"$or": [{"$and": [{"$or": [{"a": 1}]}]}]}]}]}))
            .unwrap_err();
        assert_eq!(
            e.message,
            "Query is too large: $or/$and nested more than 4 levels deep"
        );
        assert!(check(json!({"$or": [{"$and": [{"$or": [{"$and": [{"a": 1}]}]}]}]})).is_ok());
        let fields: Map<String, Value> = (0..501).map(|i| (format!("f{i}"), json!(i))).collect();
        let e = check(Value::Object(fields)).unwrap_err();
        assert_eq!(e.message, "Query is too large: more than 500 terms");
        // At the limits, and the filters do not count.
        let at: Vec<Value> = (0..500).map(Value::from).collect();
        let huge_select: Vec<Value> = (0..5000).map(|i| json!(format!("f{i}"))).collect();
        assert!(check(json!({"id": {"$in": at}, "$select": huge_select, "$limit": 5})).is_ok());
    }

    #[test]
    fn or_and_come_first_in_conditions() {
        let (_, c) = run(json!({"a": 1, "$and": [{"b": 2}], "$or": [{"c": 3}]})).unwrap();
        let keys: Vec<&str> = c.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$or", "$and", "a"]);
    }
}
