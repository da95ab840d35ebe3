//! The `qs.stringify` encoder with its defaults (the `qs` package `@feathersjs/rest-client`
//! uses for query strings): nested objects as `a[b]=c`, arrays with indices `a[0]=x`, keys and
//! values percent-encoded as RFC 3986 (`A-Za-z0-9-._~` kept), `null` as `a=`, empty arrays
//! and objects left out. Roost's `roost_wire::qs` parses what this writes.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

/// What `qs` leaves unencoded besides letters and digits.
const QS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `qs.stringify(query)`; empty when nothing is left to encode.
///
/// ```
/// let query = serde_json::json!({"text": {"$in": ["a b", "c"]}, "$limit": 2});
/// assert_eq!(
///     roost_gateway::qs::stringify(query.as_object().unwrap()),
///     "text%5B%24in%5D%5B0%5D=a%20b&text%5B%24in%5D%5B1%5D=c&%24limit=2"
/// );
/// ```
pub fn stringify(query: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for (key, value) in query {
        encode_into(key, value, &mut parts);
    }
    parts.join("&")
}

fn encode_into(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                encode_into(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                encode_into(&format!("{prefix}[{key}]"), item, out);
            }
        }
        scalar => out.push(format!(
            "{}={}",
            encode(prefix),
            encode(&scalar_text(scalar))
        )),
    }
}

/// A scalar as JavaScript's `String(value)` writes it (`null` → empty, as qs does).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // JavaScript prints integral doubles without a fraction (`1`, not `1.0`).
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, QS_ENCODE).to_string()
}

/// Percent-encodes one path segment as `encodeURIComponent` does (ids in REST routes).
pub(crate) fn encode_component(text: &str) -> String {
    const COMPONENT: &AsciiSet = &QS_ENCODE
        .remove(b'!')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: Value) -> String {
        match v {
            Value::Object(map) => stringify(&map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn matches_qs_defaults() {
        // Expected strings as `qs.stringify` (6.x) prints them.
        assert_eq!(s(json!({"a": "b"})), "a=b");
        assert_eq!(
            s(json!({"age": {"$gt": 18}, "$limit": 2})),
            "age%5B%24gt%5D=18&%24limit=2"
        );
        assert_eq!(
            s(json!({"$sort": {"name": -1}, "id": {"$in": [1, 2]}})),
            "%24sort%5Bname%5D=-1&id%5B%24in%5D%5B0%5D=1&id%5B%24in%5D%5B1%5D=2"
        );
        assert_eq!(
            s(json!({"n": null, "t": true, "e": [], "o": {}})),
            "n=&t=true"
        );
        assert_eq!(
            s(json!({"text": "a b&c/é"})),
            "text=a%20b%26c%2Fé".replace('é', "%C3%A9")
        );
        assert_eq!(s(json!({"f": 1.0, "g": 1.5})), "f=1&g=1.5");
        assert_eq!(s(json!({})), "");
    }

    #[test]
    fn components_as_encode_uri_component() {
        assert_eq!(encode_component("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(encode_component("x!*'()-_.~"), "x!*'()-_.~");
    }
}
