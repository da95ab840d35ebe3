//! The few JavaScript coercions Feathers' query code relies on (`parseInt`, `Number()`,
//! `String()`, `<`, property access and object key order), for JSON values.
//!
//! Feathers and sift are written against JS semantics, so matching them exactly means
//! reproducing these rules rather than Rust's. Everything here is total: no input panics.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

/// JS whitespace as `String.prototype.trim` and `Number()` see it.
fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// `Number(string)`.
pub(crate) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits
                .chars()
                .filter_map(|c| c.to_digit(radix))
                .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d));
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    if is_decimal_literal(unsigned) {
        t.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// `digits[.digits][e[+-]digits]` with at least one mantissa digit (JS StrUnsignedDecimalLiteral).
fn is_decimal_literal(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if !(digits(int) && digits(frac)) || int.len() + frac.len() == 0 {
        return false;
    }
    match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    }
}

/// `Number(value)` (ToNumber); objects go through `String()` first, as ToPrimitive does.
pub(crate) fn to_number(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        Value::Array(_) => string_to_number(&to_string(value)),
        Value::Object(_) => f64::NAN,
    }
}

/// `String(number)`: shortest round-trip digits, in JS notation (`1e+21`, `1.5e-7`, `-0` → `0`).
pub(crate) fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    // Integers below 2^53 (ids, counts) print as their digits in JS too: no need for the
    // shortest-digits path below, which costs a float formatting and three allocations.
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        return (x as i64).to_string();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        if k == 1 {
            format!("{digits}e{e}")
        } else {
            format!("{}.{}e{e}", &digits[..1], &digits[1..])
        }
    };
    format!("{sign}{body}")
}

/// `String(value)` (template literal `${value}`).
pub fn to_string(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                if v.is_null() {
                    String::new()
                } else {
                    to_string(v)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `parseInt(value, 10)`: an integer, ±Infinity or NaN.
pub(crate) fn parse_int(value: &Value) -> f64 {
    let text = to_string(value);
    let t = text.trim_start_matches(is_js_space);
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return f64::NAN;
    }
    let magnitude = rest[..end].parse::<f64>().unwrap_or(f64::NAN);
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// JavaScript truthiness of a JSON value (`null`, `false`, `0`, `NaN` and `""` are falsy).
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The array index a property key denotes (`"0"`, `"17"`, not `"01"`), as JS objects order them.
pub(crate) fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|i| *i != u32::MAX)
}

/// Own keys in JS order: array indices ascending, then the other keys in insertion order.
pub(crate) fn ordered_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut indexed: Vec<(u32, &String)> = map
        .keys()
        .filter_map(|k| array_index(k).map(|i| (i, k)))
        .collect();
    indexed.sort_by_key(|(i, _)| *i);
    let mut keys: Vec<&String> = indexed.into_iter().map(|(_, k)| k).collect();
    keys.extend(map.keys().filter(|k| array_index(k).is_none()));
    keys
}

/// `map` rebuilt in JS key order, so it serialises as a JS object would.
pub fn js_ordered(map: Map<String, Value>) -> Map<String, Value> {
    if !map.keys().any(|k| array_index(k).is_some()) {
        return map;
    }
    let keys: Vec<String> = ordered_keys(&map).into_iter().cloned().collect();
    let mut map = map;
    let mut out = Map::new();
    for key in keys {
        if let Some(v) = map.remove(&key) {
            out.insert(key, v);
        }
    }
    out
}

/// The own enumerable properties `{...value}` copies.
pub(crate) fn spread(value: &Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.clone(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Value::String(s) => s
            .encode_utf16()
            .enumerate()
            .map(|(i, u)| (i.to_string(), Value::String(String::from_utf16_lossy(&[u]))))
            .collect(),
        _ => Map::new(),
    }
}

/// `value[key]` for own data properties (`undefined` is `None`): object keys, array indices and
/// `length`, string code units and `length`.
pub(crate) fn get<'a>(value: &'a Value, key: &str) -> Option<Cow<'a, Value>> {
    match value {
        Value::Object(map) => map.get(key).map(Cow::Borrowed),
        Value::Array(items) => {
            if key == "length" {
                return Some(Cow::Owned(items.len().into()));
            }
            let i = array_index(key)?;
            items.get(i as usize).map(Cow::Borrowed)
        }
        Value::String(s) => {
            if key == "length" {
                return Some(Cow::Owned(s.encode_utf16().count().into()));
            }
            let i = array_index(key)? as usize;
            let unit = s.encode_utf16().nth(i)?;
            Some(Cow::Owned(Value::String(String::from_utf16_lossy(&[unit]))))
        }
        _ => None,
    }
}

/// Whether `key` is an own property of `value` (`hasOwnProperty`).
pub(crate) fn has_own(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key),
        Value::Array(_) | Value::String(_) => get(value, key).is_some(),
        _ => false,
    }
}

/// String comparison by UTF-16 code units, as JS `<` compares strings.
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The abstract relational comparison behind `<`/`<=` (`None` when NaN is involved).
/// Arrays and objects become strings first; `null` becomes 0.
pub(crate) fn relational(a: &Value, b: &Value) -> Option<Ordering> {
    let primitive = |v: &Value| match v {
        Value::Array(_) | Value::Object(_) => Value::String(to_string(v)),
        other => other.clone(),
    };
    match (primitive(a), primitive(b)) {
        (Value::String(x), Value::String(y)) => Some(cmp_utf16(&x, &y)),
        (x, y) => to_number(&x).partial_cmp(&to_number(&y)),
    }
}

/// A number as a JSON value: integral values become JSON integers, NaN and infinities `null`
/// (what `JSON.stringify` sends).
pub fn number_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        return Value::from(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_int_follows_js() {
        let cases = [
            (json!("12"), 12.0),
            (json!("  -3px"), -3.0),
            (json!(2.9), 2.0),
            (json!("1e3"), 1.0),
            (json!(1e30), 1.0),
            (json!([2]), 2.0),
            (json!("0x10"), 0.0),
        ];
        for (v, want) in cases {
            assert_eq!(parse_int(&v), want, "{v}");
        }
        for v in [
            json!("abc"),
            json!(true),
            json!(null),
            json!({}),
            json!(""),
            json!("-"),
        ] {
            assert!(parse_int(&v).is_nan(), "{v}");
        }
    }

    #[test]
    fn number_to_string_follows_js() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (123.456, "123.456"),
            (-0.0, "0"),
            (42.0, "42"),
            (-7.0, "-7"),
            (9_007_199_254_740_991.0, "9007199254740991"),
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1e300, "1e+300"),
        ];
        for (x, want) in cases {
            assert_eq!(number_to_string(x), want);
        }
    }

    #[test]
    fn to_number_follows_js() {
        assert_eq!(to_number(&json!(" 12 ")), 12.0);
        assert_eq!(to_number(&json!("")), 0.0);
        assert_eq!(to_number(&json!("0x1f")), 31.0);
        assert_eq!(to_number(&json!([[-1]])), -1.0);
        assert!(to_number(&json!("inf")).is_nan());
        assert!(to_number(&json!("1e")).is_nan());
        assert_eq!(to_number(&json!("-Infinity")), f64::NEG_INFINITY);
    }

    #[test]
    fn keys_are_ordered_like_js_objects() {
        let m = json!({"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "4294967295": 6});
        let keys: Vec<&str> = ordered_keys(m.as_object().unwrap())
            .into_iter()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["2", "10", "b", "a", "01", "4294967295"]);
    }

    #[test]
    fn relational_compares_like_js() {
        assert_eq!(relational(&json!("10"), &json!("9")), Some(Ordering::Less));
        assert_eq!(relational(&json!([3]), &json!([5])), Some(Ordering::Less));
        assert_eq!(relational(&json!({}), &json!(1)), None);
        assert_eq!(cmp_utf16("\u{ffff}", "\u{10000}"), Ordering::Greater);
    }
}
