//! `$sort`: memory's comparison across types and its sort, reproduced exactly.
//!
//! Memory compares with NeDB's `compare`: undefined and null first, then numbers, strings
//! (by UTF-16 code units), booleans, arrays (element by element, then length) and objects
//! (values in sorted-key order, then key count). JSON has no dates, which sort between
//! booleans and arrays in Feathers. Its `compare` is not quite an order (a null and a missing
//! value each sort before the other), so the result depends on the sort algorithm: for fewer
//! than 64 records this module runs V8's algorithm for such arrays (binary insertion sort
//! after an initial run) and gets V8's answer; longer lists use a stable sort in which a
//! missing value sorts before null.

use super::FieldPath;
use crate::js;
use serde_json::Value;
use std::borrow::Borrow;
use std::cmp::Ordering;

/// V8 sorts arrays shorter than this with a single binary insertion sort.
const V8_SINGLE_RUN: usize = 64;

/// Comparisons deeper than this treat the rest as equal (hostile input only).
const MAX_COMPARE_DEPTH: usize = 256;

/// A parsed `$sort`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sort {
    /// The keys in priority order. Keys whose direction is 0 are left out, and so are a key
    /// with a non-numeric direction and every key after it (memory stops comparing there).
    pub keys: Vec<SortKey>,
}

/// One `$sort` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The property (dot paths reach into nested objects).
    pub path: FieldPath,
    /// `-1` (or any negative direction).
    pub descending: bool,
}

/// The value at `path`; `None` for undefined. (Feathers crashes with a TypeError when a dot
/// path crosses a missing parent; Roost treats the value as undefined.)
fn value_at<'a>(record: &'a Value, path: &FieldPath) -> Option<std::borrow::Cow<'a, Value>> {
    let mut current = std::borrow::Cow::Borrowed(record);
    for key in path.segments() {
        current = match current {
            std::borrow::Cow::Borrowed(v) => js::get(v, key)?,
            std::borrow::Cow::Owned(v) => std::borrow::Cow::Owned(js::get(&v, key)?.into_owned()),
        };
    }
    Some(current)
}

/// NeDB's `compare` as memory uses it: -1, 0 or 1; `None` is undefined.
fn compare_js(a: Option<&Value>, b: Option<&Value>, depth: usize) -> i32 {
    if depth > MAX_COMPARE_DEPTH {
        return 0;
    }
    let (a, b) = match (a, b) {
        (None, None) | (Some(Value::Null), Some(Value::Null)) => return 0,
        (None | Some(Value::Null), _) => return -1,
        (_, None | Some(Value::Null)) => return 1,
        (Some(a), Some(b)) => (a, b),
    };
    let sign = |o: Option<Ordering>| match o {
        Some(Ordering::Less) => -1,
        Some(Ordering::Greater) => 1,
        _ => 0,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => sign(x.as_f64().partial_cmp(&y.as_f64())),
        (Value::Number(_), _) => -1,
        (_, Value::Number(_)) => 1,
        (Value::String(x), Value::String(y)) => sign(Some(js::cmp_utf16(x, y))),
        (Value::String(_), _) => -1,
        (_, Value::String(_)) => 1,
        (Value::Bool(x), Value::Bool(y)) => sign(Some(x.cmp(y))),
        (Value::Bool(_), _) => -1,
        (_, Value::Bool(_)) => 1,
        (Value::Array(xs), Value::Array(ys)) => {
            for (x, y) in xs.iter().zip(ys) {
                let c = compare_js(Some(x), Some(y), depth + 1);
                if c != 0 {
                    return c;
                }
            }
            sign(Some(xs.len().cmp(&ys.len())))
        }
        (Value::Array(_), _) => -1,
        (_, Value::Array(_)) => 1,
        (Value::Object(xm), Value::Object(ym)) => {
            let mut xk: Vec<&String> = xm.keys().collect();
            let mut yk: Vec<&String> = ym.keys().collect();
            xk.sort_by(|p, q| js::cmp_utf16(p, q));
            yk.sort_by(|p, q| js::cmp_utf16(p, q));
            for (kx, ky) in xk.iter().zip(&yk) {
                let c = compare_js(xm.get(*kx), ym.get(*ky), depth + 1);
                if c != 0 {
                    return c;
                }
            }
            sign(Some(xk.len().cmp(&yk.len())))
        }
        // Every other pair was handled above; null arms returned early.
        _ => 0,
    }
}

/// Memory's cross-type order as a total order (`None` is a missing value, before `null`):
/// missing < null < numbers < strings < booleans < arrays < objects.
pub fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let rank = |v: Option<&Value>| match v {
        None => 0,
        Some(Value::Null) => 1,
        Some(_) => 2,
    };
    match (rank(a), rank(b)) {
        (2, 2) => compare_js(a, b, 0).cmp(&0),
        (x, y) => x.cmp(&y),
    }
}

impl Sort {
    /// memory's record comparator (`direction * compare(a[key], b[key])`, key by key).
    fn compare_js(&self, a: &Value, b: &Value) -> i32 {
        for key in &self.keys {
            let (x, y) = (value_at(a, &key.path), value_at(b, &key.path));
            let c = compare_js(x.as_deref(), y.as_deref(), 0);
            let c = if key.descending { -c } else { c };
            if c != 0 {
                return c;
            }
        }
        0
    }

    /// A total order over records that agrees with memory's comparator except for a null
    /// against a missing value.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for key in &self.keys {
            let (x, y) = (value_at(a, &key.path), value_at(b, &key.path));
            let c = compare_values(x.as_deref(), y.as_deref());
            let c = if key.descending { c.reverse() } else { c };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}

/// Sorts records as memory's `values.sort(sorter($sort))` does in V8.
pub fn sort_records<T: Borrow<Value> + Clone>(records: &mut [T], sort: &Sort) {
    if sort.keys.is_empty() {
        return;
    }
    if records.len() < V8_SINGLE_RUN {
        v8_single_run_sort(records, |a, b| sort.compare_js(a.borrow(), b.borrow()));
    } else {
        records.sort_by(|a, b| sort.compare(a.borrow(), b.borrow()));
    }
}

/// V8's TimSort for arrays shorter than its minimum run: find the initial ascending or
/// strictly descending run (reversing the latter), then binary-insert the rest.
fn v8_single_run_sort<T: Clone>(v: &mut [T], cmp: impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let descending = cmp(&v[1], &v[0]) < 0;
    let mut run = 2;
    while run < n {
        let order = cmp(&v[run], &v[run - 1]);
        if (descending && order >= 0) || (!descending && order < 0) {
            break;
        }
        run += 1;
    }
    if descending {
        v[..run].reverse();
    }
    for start in run..n {
        let pivot = v[start].clone();
        let (mut left, mut right) = (0, start);
        while left < right {
            let mid = left + ((right - left) >> 1);
            if cmp(&pivot, &v[mid]) < 0 {
                right = mid;
            } else {
                left = mid + 1;
            }
        }
        v[left..=start].rotate_right(1);
    }
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cross_type_order() {
        let ordered = [
            json!(null),
            json!(-5),
            json!(3),
            json!(""),
            json!("B"),
            json!("a"),
            json!(false),
            json!(true),
            json!([0, 2]),
            json!([1]),
            json!([1, "x"]),
            json!({}),
            json!({"b": 0}),
            json!({"a": 1}),
        ];
        for (i, a) in ordered.iter().enumerate() {
            assert_eq!(compare_values(None, Some(a)), Ordering::Less);
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare_values(Some(a), Some(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn null_and_missing_follow_v8() {
        let sort = |desc: bool| Sort {
            keys: vec![SortKey {
                path: FieldPath::parse("v"),
                descending: desc,
            }],
        };
        let data = [
            json!({"v": null, "n": 1}),
            json!({"n": 2}),
            json!({"v": 1, "n": 3}),
            json!({"v": null, "n": 4}),
            json!({"n": 5}),
            json!({"v": 0, "n": 6}),
        ];
        let order = |desc| {
            let mut d = data.to_vec();
            sort_records(&mut d, &sort(desc));
            d.iter()
                .map(|r| r["n"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(false), [2, 5, 1, 4, 6, 3]);
        assert_eq!(order(true), [3, 6, 1, 2, 4, 5]);
    }

    #[test]
    fn long_lists_sort_stably() {
        let mut d: Vec<Value> = (0..200).map(|i| json!({"k": i % 3, "i": i})).collect();
        let sort = Sort {
            keys: vec![SortKey {
                path: FieldPath::parse("k"),
                descending: true,
            }],
        };
        sort_records(&mut d, &sort);
        assert_eq!(d[0], json!({"k": 2, "i": 2}));
        assert_eq!(d[199], json!({"k": 0, "i": 198}));
    }
}
