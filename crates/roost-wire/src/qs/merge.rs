//! Building one parameter's value from its key path, and merging it into the result.
//!
//! This is where qs' array rules live:
//! - `[]` appends; `[n]` is an array index only when `n` is canonical and below `arrayLimit`,
//!   otherwise it is an object key (so `a[25]=x` gives `{a: {25: 'x'}}`);
//! - an array that would grow past `arrayLimit` turns into an "overflow" object with numeric keys,
//!   and later values keep being appended after its highest index;
//! - a scalar meeting an object (`a[b]=1&a=2`) becomes a pair `[{b: '1'}, '2']` (qs' `strictMerge`)
//!   and later scalars append to that pair, while an object meeting an array turns the array into
//!   an object with index keys.

use super::node::{integer_key, js_number_string, JsArray, JsObject, Node};
use super::{QsError, QsOptions};

/// qs' `utils.combine(a, b)`: `[].concat(a, b)`, or append to an overflow object.
pub(super) fn combine(a: Node, b: Node, options: &QsOptions) -> Result<Node, QsError> {
    match a {
        Node::Obj(mut obj) if obj.overflow.is_some() => {
            check_limit(options)?;
            let mut next = obj.overflow.unwrap_or_default();
            let values = match b {
                Node::Arr(arr) => arr.into_items().map(|(_, v)| v).collect(),
                other => vec![other],
            };
            for value in values {
                next += 1.0;
                obj.insert(js_number_string(next), value);
            }
            obj.overflow = Some(next);
            Ok(Node::Obj(obj))
        }
        a => {
            let start = match a {
                Node::Arr(arr) => arr,
                other => JsArray::new().concat(other),
            };
            limit_array(start.concat(b), options)
        }
    }
}

/// Turns `array` into an overflow object when it is longer than `arrayLimit`.
fn limit_array(array: JsArray, options: &QsOptions) -> Result<Node, QsError> {
    if array.len() > options.array_limit as u64 {
        check_limit(options)?;
        Ok(overflow(array))
    } else {
        Ok(Node::Arr(array))
    }
}

/// qs' `markOverflow(arrayToObject(array), array.length - 1)`.
fn overflow(array: JsArray) -> Node {
    let max = array.len().saturating_sub(1) as f64;
    let mut obj = array.into_object();
    obj.overflow = Some(max);
    Node::Obj(obj)
}

fn check_limit(options: &QsOptions) -> Result<(), QsError> {
    if options.throw_on_limit_exceeded {
        Err(QsError::ArrayLimitExceeded {
            limit: options.array_limit,
        })
    } else {
        Ok(())
    }
}

/// qs' `parseObject`: wraps `leaf` in the containers its key path describes, innermost first.
pub(super) fn build(segments: &[String], leaf: Node, options: &QsOptions) -> Result<Node, QsError> {
    let mut leaf = leaf;
    for segment in segments.iter().rev() {
        leaf = if segment == "[]" {
            match leaf {
                Node::Obj(obj) if obj.overflow.is_some() => Node::Obj(obj),
                other => combine(Node::Arr(JsArray::new()), other, options)?,
            }
        } else {
            let name = super::keys::strip_wrapping_brackets(segment);
            let bracketed = name.len() != segment.len();
            match integer_key(name).filter(|n| bracketed && *n >= 0.0) {
                Some(index) if index < options.array_limit as f64 && index <= MAX_INDEX => {
                    let mut arr = JsArray::new();
                    arr.set(index as u64, leaf);
                    Node::Arr(arr)
                }
                Some(_) if options.throw_on_limit_exceeded => {
                    return Err(QsError::ArrayLimitExceeded {
                        limit: options.array_limit,
                    })
                }
                Some(index) => {
                    let mut obj = JsObject::with(name.to_owned(), leaf);
                    obj.overflow = Some(index);
                    Node::Obj(obj)
                }
                // Unreachable with depth > 0 (the splitter drops such keys); qs keeps an empty object.
                None if name == "__proto__" => Node::Obj(JsObject::new()),
                None => Node::Obj(JsObject::with(name.to_owned(), leaf)),
            }
        };
    }
    Ok(leaf)
}

/// Array indices stop at `2^32 - 2` in JS; see `QsOptions::array_limit`.
const MAX_INDEX: f64 = 4_294_967_294.0;

/// qs' `utils.merge(target, source)` with its defaults (`strictMerge`, no prototype keys).
pub(super) fn merge(target: Node, source: Node, options: &QsOptions) -> Result<Node, QsError> {
    match source {
        // `if (!source) return target`: an empty string never overrides anything.
        Node::Str(s) if s.is_empty() => Ok(target),
        Node::Str(s) => merge_scalar(target, s, options),
        container => merge_container(target, container, options),
    }
}

fn merge_scalar(target: Node, value: String, options: &QsOptions) -> Result<Node, QsError> {
    match target {
        Node::Arr(mut arr) => {
            if arr.count() >= options.array_limit {
                check_limit(options)?;
                let next = arr.len() as f64;
                let mut obj = arr.concat(Node::Str(value)).into_object();
                obj.overflow = Some(next);
                return Ok(Node::Obj(obj));
            }
            arr.push(Node::Str(value));
            Ok(Node::Arr(arr))
        }
        Node::Obj(mut obj) => {
            if let Some(max) = obj.overflow {
                let next = max + 1.0;
                obj.insert(js_number_string(next), Node::Str(value));
                obj.overflow = Some(next);
                Ok(Node::Obj(obj))
            } else if let Some(last) = obj.conflict {
                let next = last + 1.0;
                if next >= options.array_limit as f64 {
                    check_limit(options)?;
                }
                obj.insert(js_number_string(next), Node::Str(value));
                obj.conflict = Some(next);
                Ok(Node::Obj(obj))
            } else {
                pair(Node::Obj(obj), Node::Str(value), options)
            }
        }
        scalar => pair(scalar, Node::Str(value), options),
    }
}

/// qs' `limitedPair`: `[first, second]`, marked as a conflict so later scalars append to it.
fn pair(first: Node, second: Node, options: &QsOptions) -> Result<Node, QsError> {
    let arr = JsArray::new().concat(first).concat(second);
    match limit_array(arr, options)? {
        Node::Arr(mut arr) => {
            arr.conflict = Some(1.0);
            Ok(Node::Arr(arr))
        }
        obj => Ok(obj),
    }
}

fn merge_container(target: Node, source: Node, options: &QsOptions) -> Result<Node, QsError> {
    match (target, source) {
        (Node::Str(scalar), Node::Obj(src)) if src.overflow.is_some() => {
            // The scalar goes first and every numeric key moves up by one.
            let max = src.overflow.unwrap_or_default();
            let mut obj = JsObject::with("0".to_owned(), Node::Str(scalar));
            for (key, value) in src.into_entries() {
                let shifted = integer_key(&key).map_or(f64::NAN, |n| n + 1.0);
                obj.insert(js_number_string(shifted), value);
            }
            obj.overflow = Some(max + 1.0);
            Ok(Node::Obj(obj))
        }
        (Node::Str(scalar), source) => limit_array(
            JsArray::new().concat(Node::Str(scalar)).concat(source),
            options,
        ),
        (Node::Arr(mut arr), Node::Arr(src)) => {
            for (i, item) in src.into_items() {
                match arr.get_mut(i) {
                    Some(slot) if slot.is_container() && item.is_container() => {
                        let existing = Node::take(slot);
                        *slot = merge(existing, item, options)?;
                    }
                    Some(_) => arr.push(item),
                    None => arr.set(i, item),
                }
            }
            if arr.count() > options.array_limit {
                check_limit(options)?;
                return Ok(overflow(arr));
            }
            Ok(Node::Arr(arr))
        }
        (Node::Arr(arr), source) => {
            let conflict = arr.conflict.map(|_| arr.len() as f64 - 1.0);
            let mut obj = arr.into_object();
            obj.conflict = conflict;
            merge_keys(obj, source, options)
        }
        (Node::Obj(obj), source) => merge_keys(obj, source, options),
    }
}

/// The object-into-object case: recurse on shared keys, add the others, keep marks current.
fn merge_keys(mut acc: JsObject, source: Node, options: &QsOptions) -> Result<Node, QsError> {
    let source_overflow = match &source {
        Node::Obj(obj) => obj.overflow,
        _ => None,
    };
    let entries: Vec<(String, Node)> = match source {
        Node::Obj(obj) => obj.into_entries().collect(),
        Node::Arr(arr) => arr.into_items().map(|(i, v)| (i.to_string(), v)).collect(),
        Node::Str(_) => return Ok(Node::Obj(acc)),
    };
    for (key, value) in entries {
        match acc.get_mut(&key) {
            Some(slot) => {
                let existing = Node::take(slot);
                *slot = merge(existing, value, options)?;
            }
            None => acc.insert(key.clone(), value),
        }
        if let (Some(min), None) = (source_overflow, acc.overflow) {
            let max = acc
                .keys()
                .filter_map(|k| integer_key(&k))
                .fold(min, f64::max);
            acc.overflow = Some(max);
        }
        if let Some(n) = integer_key(&key) {
            if let Some(max) = acc.overflow {
                if n >= 0.0 && n > max {
                    acc.overflow = Some(n);
                }
            }
            if let Some(last) = acc.conflict {
                if n > last {
                    acc.conflict = Some(n);
                }
            }
        }
    }
    Ok(Node::Obj(acc))
}
