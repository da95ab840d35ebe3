//! The `flatted` format (npm `flatted` 3.x), which feathers-sync deployments use as their
//! serializer so that circular hook contexts survive (iR Engine does).
//!
//! A flatted text is a JSON array. Element 0 is the root value. Every object, array and string
//! below the top level of an element is stored as its own element and replaced by its index,
//! written as a string (`"3"`); numbers, booleans and `null` stay inline. Strings are interned
//! by value, objects by identity. So `{"a":"b","n":1}` is `[{"a":"1","n":1},"b"]`, and a value
//! that contains itself is just an index pointing back.
//!
//! [`stringify()`] writes what the npm package writes for the same JSON value, byte for byte
//! (object keys in JavaScript's order: integer-like keys first, ascending). [`parse`] reads any
//! flatted text into a tree: a shared object is copied to each place it appears, and a
//! reference back to an enclosing object (a cycle, which a tree cannot hold) becomes `null`.
//! Both are bounded: nesting depth and the number of values produced are limited, so a small
//! text that references one big object many times cannot blow up memory.
//!
//! ```
//! use roost_redis::flatted::{parse, stringify, FlattedError, FlattedLimits};
//! use serde_json::json;
//!
//! let value = json!({"a": "b", "n": 1});
//! let text = stringify(&value);
//! assert_eq!(text, r#"[{"a":"1","n":1},"b"]"#);
//! assert_eq!(parse(text.as_bytes(), &FlattedLimits::default())?, value);
//!
//! // A cycle (`o.self = o` in JavaScript) becomes `null` in the tree.
//! let cyclic = parse(br#"[{"self":"0","x":1}]"#, &FlattedLimits::default())?;
//! assert_eq!(cyclic, json!({"self": null, "x": 1}));
//!
//! // Limits bound what a small text may expand to.
//! let tight = FlattedLimits { max_depth: 1, ..FlattedLimits::default() };
//! assert!(matches!(
//!     parse(br#"[{"a":"1"},{"b":"2"},{}]"#, &tight),
//!     Err(FlattedError::TooDeep(1))
//! ));
//! # Ok::<(), FlattedError>(())
//! ```

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Why a flatted text could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum FlattedError {
    /// Not JSON, or not a non-empty JSON array.
    #[error("not a flatted text: {0}")]
    NotFlatted(String),
    /// Resolving references nests deeper than the limit.
    #[error("flatted value nests deeper than {0} levels")]
    TooDeep(usize),
    /// Resolving references produces more values than the limit (shared objects are copied).
    #[error("flatted value expands to more than {0} values")]
    TooLarge(usize),
}

/// Limits for [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlattedLimits {
    /// Deepest nesting of the result. Default 128.
    pub max_depth: usize,
    /// Most values (objects, arrays, strings, scalars) in the result. Default 1,000,000.
    pub max_values: usize,
}

impl Default for FlattedLimits {
    fn default() -> Self {
        FlattedLimits {
            max_depth: 128,
            max_values: 1_000_000,
        }
    }
}

/// Writes `value` as flatted, as `require('flatted').stringify(value)` does.
pub fn stringify(value: &Value) -> String {
    let mut w = Writer::default();
    w.intern(value);
    let mut i = 0;
    let mut parts = Vec::new();
    while i < w.input.len() {
        let element = w.input[i];
        parts.push(w.element(element));
        i += 1;
    }
    format!("[{}]", parts.join(","))
}

#[derive(Default)]
struct Writer<'a> {
    input: Vec<&'a Value>,
    strings: HashMap<&'a str, usize>,
}

impl<'a> Writer<'a> {
    /// The index of `value` as an element; strings are interned by value, containers are new
    /// elements each time (a JSON tree has no shared objects).
    fn intern(&mut self, value: &'a Value) -> usize {
        if let Value::String(s) = value {
            if let Some(&i) = self.strings.get(s.as_str()) {
                return i;
            }
            self.strings.insert(s, self.input.len());
        }
        self.input.push(value);
        self.input.len() - 1
    }

    /// One element: its top level kept, nested strings and containers replaced by indexes.
    fn element(&mut self, value: &'a Value) -> String {
        match value {
            Value::Object(map) => {
                let fields: Vec<String> = js_key_order(map)
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", json_string(k), self.child(v)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|v| self.child(v)).collect();
                format!("[{}]", items.join(","))
            }
            scalar => scalar.to_string(),
        }
    }

    fn child(&mut self, value: &'a Value) -> String {
        match value {
            Value::String(_) | Value::Object(_) | Value::Array(_) => {
                json_string(&self.intern(value).to_string())
            }
            scalar => scalar.to_string(),
        }
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The keys of `map` in the order JavaScript enumerates them: array-index-like keys
/// (`"0"`…`"4294967294"`, canonical form) ascending, then the others in insertion order.
pub(crate) fn js_key_order(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let index = |k: &str| -> Option<u32> {
        let n: u32 = k.parse().ok()?;
        (n != u32::MAX && n.to_string() == k).then_some(n)
    };
    let mut indexed: Vec<(u32, (&String, &Value))> = Vec::new();
    let mut named = Vec::new();
    for (k, v) in map {
        match index(k) {
            Some(n) => indexed.push((n, (k, v))),
            None => named.push((k, v)),
        }
    }
    indexed.sort_by_key(|(n, _)| *n);
    indexed.into_iter().map(|(_, kv)| kv).chain(named).collect()
}

/// Reads a flatted text (bytes of UTF-8) into a JSON tree.
pub fn parse(text: &[u8], limits: &FlattedLimits) -> Result<Value, FlattedError> {
    let input: Vec<Value> =
        serde_json::from_slice(text).map_err(|e| FlattedError::NotFlatted(e.to_string()))?;
    let Some(root) = input.first() else {
        return Err(FlattedError::NotFlatted("an empty array".into()));
    };
    let mut reader = Reader {
        input: &input,
        limits,
        values: 0,
        path: Vec::new(),
    };
    match root {
        Value::Object(_) | Value::Array(_) => reader.element(0, 0),
        // A top-level string element is the string itself.
        scalar => Ok(scalar.clone()),
    }
}

struct Reader<'a> {
    input: &'a [Value],
    limits: &'a FlattedLimits,
    values: usize,
    /// Indexes of the elements being resolved (the enclosing objects), to spot cycles.
    path: Vec<usize>,
}

impl Reader<'_> {
    fn count(&mut self) -> Result<(), FlattedError> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(FlattedError::TooLarge(self.limits.max_values));
        }
        Ok(())
    }

    /// Element `index` with its references resolved.
    fn element(&mut self, index: usize, depth: usize) -> Result<Value, FlattedError> {
        if depth > self.limits.max_depth {
            return Err(FlattedError::TooDeep(self.limits.max_depth));
        }
        self.count()?;
        self.path.push(index);
        let out = match &self.input[index] {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.child(v, depth)? {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    out.push(self.child(v, depth)?.unwrap_or(Value::Null));
                }
                Value::Array(out)
            }
            scalar => scalar.clone(),
        };
        self.path.pop();
        Ok(out)
    }

    /// A value inside an element: a string is a reference; `None` when it points nowhere (the
    /// npm package yields `undefined`, which JSON drops).
    fn child(&mut self, value: &Value, depth: usize) -> Result<Option<Value>, FlattedError> {
        let Value::String(reference) = value else {
            // Numbers, booleans, null; and containers written inline by another writer,
            // which flatted keeps as they are.
            self.count()?;
            return Ok(Some(value.clone()));
        };
        let Some(index) = js_index(reference).filter(|i| *i < self.input.len()) else {
            return Ok(None);
        };
        match &self.input[index] {
            Value::Object(_) | Value::Array(_) => {
                if self.path.contains(&index) {
                    // A cycle: the tree cannot hold it.
                    self.count()?;
                    Ok(Some(Value::Null))
                } else {
                    self.element(index, depth + 1).map(Some)
                }
            }
            scalar => {
                self.count()?;
                Ok(Some(scalar.clone()))
            }
        }
    }
}

/// `+reference` as an array index, as JavaScript's `Number(string)` reads it for the cases a
/// writer produces: surrounding whitespace ignored, empty means 0, decimal digits, or an
/// integral decimal number (`"1.0"`, `"1e1"`).
fn js_index(reference: &str) -> Option<usize> {
    let t = reference.trim();
    if t.is_empty() {
        return Some(0);
    }
    if let Ok(n) = t.parse::<usize>() {
        return Some(n);
    }
    let f: f64 = t.parse().ok()?;
    (f.fract() == 0.0 && (0.0..1e15).contains(&f)).then_some(f as usize)
}
