//! The JavaScript values qs builds while it parses, modelled closely enough to give the same result.
//!
//! qs works on JS arrays and objects, and its output depends on three JS behaviours that
//! `serde_json::Value` does not have, so parsing happens on [`Node`] and converts at the end:
//! - arrays may have holes (`a[2]=x` makes `[ , , 'x']`), which count in `length` until the final
//!   compaction; [`JsArray`] keeps its items in a map so a hole costs nothing;
//! - object keys that are array indices (`"0"`…`"4294967294"`) enumerate first, in numeric order,
//!   before every other key in insertion order; [`JsObject`] stores the two kinds apart;
//! - qs remembers, per object, the highest index of an "overflow" object (an array that grew past
//!   `arrayLimit`) and of a "conflict" container (a scalar meeting an object), so later values are
//!   appended after it; those marks live on the containers here.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

/// The largest JS array index (`2^32 - 2`); bigger numeric keys are ordinary property names.
const MAX_ARRAY_INDEX: u64 = 4_294_967_294;

/// A value under construction: every scalar is a string, as in qs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Str(String),
    Arr(JsArray),
    Obj(JsObject),
}

impl Node {
    /// Whether JS `typeof v === 'object' && v` holds (a container rather than a string).
    pub(super) fn is_container(&self) -> bool {
        !matches!(self, Node::Str(_))
    }

    /// Moves the value out, leaving a cheap placeholder that is overwritten right after.
    pub(super) fn take(slot: &mut Node) -> Node {
        std::mem::replace(slot, Node::Str(String::new()))
    }

    /// The final JSON value; arrays lose their holes as in `utils.compact`.
    pub(super) fn into_value(self) -> Value {
        match self {
            Node::Str(s) => Value::String(s),
            Node::Arr(a) => Value::Array(a.items.into_values().map(Node::into_value).collect()),
            Node::Obj(o) => Value::Object(
                o.into_entries()
                    .map(|(k, v)| (k, v.into_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

/// A JS array that may have holes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct JsArray {
    len: u64,
    items: BTreeMap<u64, Node>,
    /// Highest index of a strictMerge conflict pair (qs' conflict side channel).
    pub(super) conflict: Option<f64>,
}

impl JsArray {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// JS `length`: one past the highest index, holes included.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Elements actually present (qs' `countElements`).
    pub(super) fn count(&self) -> usize {
        self.items.len()
    }

    pub(super) fn get_mut(&mut self, index: u64) -> Option<&mut Node> {
        self.items.get_mut(&index)
    }

    pub(super) fn set(&mut self, index: u64, node: Node) {
        self.len = self.len.max(index.saturating_add(1));
        self.items.insert(index, node);
    }

    pub(super) fn push(&mut self, node: Node) {
        self.set(self.len, node);
    }

    /// JS `this.concat(node)`: an array is spread (keeping its holes), anything else appended.
    pub(super) fn concat(mut self, node: Node) -> Self {
        match node {
            Node::Arr(other) => {
                let offset = self.len;
                for (i, item) in other.items {
                    self.items.insert(offset.saturating_add(i), item);
                }
                self.len = offset.saturating_add(other.len);
            }
            scalar_or_object => self.push(scalar_or_object),
        }
        self
    }

    /// Present elements with their indices, ascending (what `forEach` and `Object.keys` visit).
    pub(super) fn into_items(self) -> impl Iterator<Item = (u64, Node)> {
        self.items.into_iter()
    }

    /// qs' `arrayToObject`: holes are skipped, marks are not carried over.
    pub(super) fn into_object(self) -> JsObject {
        let mut obj = JsObject::new();
        for (i, item) in self.items {
            obj.insert(i.to_string(), item);
        }
        obj
    }
}

/// A plain JS object with JS key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct JsObject {
    indexed: BTreeMap<u32, Node>,
    named: Vec<(String, Node)>,
    positions: HashMap<String, usize>,
    /// Highest numeric key of an object that replaced an array past `arrayLimit`.
    pub(super) overflow: Option<f64>,
    /// Highest numeric key of a strictMerge conflict container.
    pub(super) conflict: Option<f64>,
}

impl JsObject {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn with(key: String, node: Node) -> Self {
        let mut obj = Self::new();
        obj.insert(key, node);
        obj
    }

    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match array_index(key) {
            Some(i) => self.indexed.get(&i),
            None => self.positions.get(key).map(|&p| &self.named[p].1),
        }
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match array_index(key) {
            Some(i) => self.indexed.get_mut(&i),
            None => match self.positions.get(key) {
                Some(&p) => Some(&mut self.named[p].1),
                None => None,
            },
        }
    }

    /// JS `obj[key] = node`: replaces in place, or adds at the key's JS position.
    pub(super) fn insert(&mut self, key: String, node: Node) {
        if let Some(i) = array_index(&key) {
            self.indexed.insert(i, node);
        } else if let Some(&p) = self.positions.get(&key) {
            self.named[p].1 = node;
        } else {
            self.positions.insert(key.clone(), self.named.len());
            self.named.push((key, node));
        }
    }

    /// Keys in JS enumeration order.
    pub(super) fn keys(&self) -> impl Iterator<Item = String> + '_ {
        let indexed = self.indexed.keys().map(u32::to_string);
        indexed.chain(self.named.iter().map(|(k, _)| k.clone()))
    }

    /// Entries in JS enumeration order (`Object.keys`).
    pub(super) fn into_entries(self) -> impl Iterator<Item = (String, Node)> {
        let indexed = self.indexed.into_iter().map(|(i, v)| (i.to_string(), v));
        indexed.chain(self.named)
    }
}

/// `Some(i)` when `key` is a JS array index: canonical decimal, at most `2^32 - 2`.
fn array_index(key: &str) -> Option<u32> {
    let n = canonical_uint(key)?;
    if n <= MAX_ARRAY_INDEX {
        u32::try_from(n).ok()
    } else {
        None
    }
}

/// Digits without a leading zero (or `"0"`), small enough for `u64`.
fn canonical_uint(key: &str) -> Option<u64> {
    let bytes = key.as_bytes();
    let well_formed = !bytes.is_empty()
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    if well_formed {
        key.parse().ok()
    } else {
        None
    }
}

/// JS `String(n)` for the numbers qs uses as keys.
pub(super) fn js_number_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n == 0.0 {
        "0".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if n.abs() >= 1e21 {
        // JS switches to exponent form here and always signs the exponent.
        let s = format!("{n:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        // Rust prints the shortest round-trip digits without exponent, like JS below 1e21.
        format!("{n}")
    }
}

/// `Some(n)` when `String(parseInt(key, 10)) === key`, i.e. `key` is how JS prints an integer.
pub(super) fn integer_key(key: &str) -> Option<f64> {
    let digits = key.strip_prefix('-').unwrap_or(key);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = key.parse().ok()?;
    (js_number_string(n) == key).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_follow_js_order() {
        let mut o = JsObject::new();
        for k in ["b", "10", "a", "2", "4294967295", "01", "0"] {
            o.insert(k.to_owned(), Node::Str(k.to_owned()));
        }
        let keys: Vec<String> = o.keys().collect();
        assert_eq!(keys, ["0", "2", "10", "b", "a", "4294967295", "01"]);
    }

    #[test]
    fn arrays_keep_holes_until_conversion() {
        let mut a = JsArray::new();
        a.set(3, Node::Str("x".into()));
        assert_eq!((a.len(), a.count()), (4, 1));
        let a = a.concat(Node::Str("y".into()));
        assert_eq!(a.len(), 5);
        assert_eq!(Node::Arr(a).into_value(), serde_json::json!(["x", "y"]));
    }

    #[test]
    fn numbers_print_like_js() {
        assert_eq!(js_number_string(25.0), "25");
        assert_eq!(js_number_string(1e20), "100000000000000000000");
        assert_eq!(js_number_string(2f64.powi(60)), "1152921504606847000");
        assert_eq!(js_number_string(1e21), "1e+21");
        assert_eq!(js_number_string(-0.0), "0");
        assert_eq!(integer_key("25"), Some(25.0));
        assert_eq!(integer_key("-3"), Some(-3.0));
        for k in ["", "-", "-0", "01", "+1", " 1", "1e3", "9007199254740993"] {
            assert_eq!(integer_key(k), None, "{k}");
        }
    }
}
