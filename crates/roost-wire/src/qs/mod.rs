//! Query strings parsed exactly as a Feathers 5 Koa server parses them.
//!
//! `@feathersjs/koa` 5.0.50 installs `koa-qs` 3.0.0 in its default "extended" mode, which calls
//! `qs.parse(querystring)` with **no options**; koa-qs' `^6.9.4` range resolves to qs **6.17.1**.
//! [`QsOptions::default`] is therefore qs' defaults: brackets, `depth` 5, `parameterLimit` 1000,
//! `arrayLimit` 20, no dot notation, `strictMerge`, no prototype keys, sparse arrays compacted.
//! The vectors in `tests/vectors/qs.json` come from that qs (see `tools/qs-vectors`).
//!
//! Parsing happens in two passes, as in qs:
//! 1. the string is split on `&` (at most `parameter_limit` pieces, the rest ignored) and each
//!    piece into a decoded key and value; repeated keys collect their values in order;
//! 2. each distinct key (in JS key order: array-index keys first) is split into a path
//!    (`keys`), wrapped around its value and merged into the result (`merge`).
//!
//! Every scalar in the result is a string, `a` and `a=` both give `''`, and the result is always
//! a JSON object. For example `$sort[createdAt]=-1&$or[0][name]=x&id[$in][]=1&id[$in][]=2` gives
//! `{"$sort":{"createdAt":"-1"},"$or":[{"name":"x"}],"id":{"$in":["1","2"]}}`.
//!
//! ```
//! use roost_wire::qs::{parse, QsOptions};
//! let query = parse("$limit=10&$sort[createdAt]=-1&tags[]=a&tags[]=b", &QsOptions::default())?;
//! assert_eq!(query["$sort"]["createdAt"], "-1");
//! assert_eq!(query["tags"], serde_json::json!(["a", "b"]));
//! // indices at or above arrayLimit (20) make an object, as Koa does
//! let sparse = parse("i[0]=a&i[25]=b", &QsOptions::default())?;
//! assert_eq!(sparse["i"], serde_json::json!({"0": "a", "25": "b"}));
//! # Ok::<(), roost_wire::qs::QsError>(())
//! ```

mod decode;
mod keys;
mod merge;
mod node;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use node::{JsObject, Node};

/// The deepest key path [`parse`] builds, whatever [`QsOptions::depth`] says.
///
/// Merging recurses once per level; this bound keeps the stack small for any input. qs has no
/// such cap, but no Feathers app sets a depth anywhere near it.
pub const MAX_DEPTH: usize = 256;

/// How [`parse`] reads a query string. `Default` is what a Feathers 5 Koa server uses.
///
/// The names follow qs' options (`depth` is qs' `depth`, and so on); options qs has but Feathers
/// does not use (`allowDots`, `comma`, `charset`, …) are fixed at qs' defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QsOptions {
    /// How many bracket groups of a key become nested objects; the rest of the key stays one
    /// literal key (`a[b][c]` at depth 1 gives `{a: {b: {"[c]": …}}}`). Default 5, capped at
    /// [`MAX_DEPTH`]. 0 keeps every key whole.
    pub depth: usize,
    /// How many `&`-separated pieces are read; the rest are ignored (empty pieces count).
    /// Default 1000.
    pub parameter_limit: usize,
    /// Largest array length: an index `n >= array_limit` is an object key, and an array that
    /// would get more elements becomes an object with numeric keys. Default 20.
    pub array_limit: usize,
    /// Fail with [`QsError::DepthExceeded`] instead of keeping the rest of a too-deep key.
    /// Default false.
    pub strict_depth: bool,
    /// Fail with [`QsError::ParameterLimitExceeded`] or [`QsError::ArrayLimitExceeded`] instead of
    /// ignoring extra parameters and turning long arrays into objects. Default false.
    pub throw_on_limit_exceeded: bool,
}

impl Default for QsOptions {
    fn default() -> Self {
        Self {
            depth: 5,
            parameter_limit: 1000,
            array_limit: 20,
            strict_depth: false,
            throw_on_limit_exceeded: false,
        }
    }
}

impl QsOptions {
    fn effective_depth(&self) -> usize {
        self.depth.min(MAX_DEPTH)
    }
}

/// Why [`parse`] refused a query string. Only the strict options produce errors: with the
/// default options every input parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QsError {
    /// A key has more bracket groups than `depth` and `strict_depth` is set.
    #[error("Input depth exceeded depth option of {depth} and strictDepth is true")]
    DepthExceeded {
        /// The configured depth.
        depth: usize,
    },
    /// More than `parameter_limit` parameters and `throw_on_limit_exceeded` is set.
    #[error("Parameter limit exceeded. Only {limit} parameter(s) allowed.")]
    ParameterLimitExceeded {
        /// The configured parameter limit.
        limit: usize,
    },
    /// An array would exceed `array_limit` and `throw_on_limit_exceeded` is set.
    #[error("Array limit exceeded. Only {limit} element(s) allowed in an array.")]
    ArrayLimitExceeded {
        /// The configured array limit.
        limit: usize,
    },
}

/// Parses a query string (the part after `?`, without it) into a JSON object, as Feathers' Koa
/// transport does.
///
/// A leading `?` is not stripped (qs' `ignoreQueryPrefix` is off): `?a=1` gives `{"?a": "1"}`.
pub fn parse(input: &str, options: &QsOptions) -> Result<Value, QsError> {
    let mut result = Node::Obj(JsObject::new());
    for (key, value) in collect_values(input, options)?.into_entries() {
        if key.is_empty() {
            continue;
        }
        let Some(segments) = keys::split_key(&key, options)? else {
            continue;
        };
        let built = merge::build(&segments, value, options)?;
        result = merge::merge(result, built, options)?;
    }
    Ok(result.into_value())
}

/// First pass: decoded keys with their values, repeated keys combined.
fn collect_values(input: &str, options: &QsOptions) -> Result<JsObject, QsError> {
    let mut values = JsObject::new();
    if input.is_empty() {
        return Ok(values);
    }
    // qs decodes encoded brackets before splitting, so `a%5Bb%5D=c` is the key `a[b]`.
    let cleaned = decode_brackets(input);
    let mut pieces = cleaned.split('&');
    for piece in pieces.by_ref().take(options.parameter_limit) {
        // `]=` first, so an `=` inside brackets (`a[b=c]=d`) stays in the key.
        let split_at = piece
            .find("]=")
            .map(|at| at + 1)
            .or_else(|| piece.find('='));
        let (key, value) = match split_at {
            Some(at) => (
                decode::decode(&piece[..at]),
                decode::decode(&piece[at + 1..]),
            ),
            None => (decode::decode(piece), String::new()),
        };
        if options.throw_on_limit_exceeded {
            if let Some(Node::Arr(existing)) = values.get(&key) {
                let len = existing.len();
                if len > 0 && len >= options.array_limit as u64 {
                    return Err(QsError::ArrayLimitExceeded {
                        limit: options.array_limit,
                    });
                }
            }
        }
        let value = Node::Str(value);
        match values.get_mut(&key) {
            Some(slot) => {
                let existing = Node::take(slot);
                *slot = merge::combine(existing, value, options)?;
            }
            None => values.insert(key, value),
        }
    }
    if options.throw_on_limit_exceeded && pieces.next().is_some() {
        return Err(QsError::ParameterLimitExceeded {
            limit: options.parameter_limit,
        });
    }
    Ok(values)
}

/// `%5B`/`%5D` (any case) → `[`/`]`, as qs does to the raw string.
fn decode_brackets(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or("");
        if escape.eq_ignore_ascii_case("%5B") {
            out.push('[');
            rest = &rest[at + 3..];
        } else if escape.eq_ignore_ascii_case("%5D") {
            out.push(']');
            rest = &rest[at + 3..];
        } else {
            out.push('%');
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn koa(input: &str) -> Value {
        parse(input, &QsOptions::default()).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn feathers_queries() {
        assert_eq!(
            koa("%24limit=10&%24sort%5BcreatedAt%5D=-1&%24or%5B0%5D%5Bname%5D=x&id%5B%24in%5D%5B0%5D=1&text="),
            json!({"$limit": "10", "$sort": {"createdAt": "-1"}, "$or": [{"name": "x"}], "id": {"$in": ["1"]}, "text": ""})
        );
    }

    #[test]
    fn arrays_and_limits() {
        assert_eq!(koa("a=1&a=2"), json!({"a": ["1", "2"]}));
        assert_eq!(koa("a[1]=y&a[0]=x"), json!({"a": ["x", "y"]}));
        assert_eq!(koa("a[0]=x&a[b]=y"), json!({"a": {"0": "x", "b": "y"}}));
        assert_eq!(koa("a[999999999]=x"), json!({"a": {"999999999": "x"}}));
        assert_eq!(koa("a[b]=1&a=2"), json!({"a": [{"b": "1"}, "2"]}));
        let long: Vec<String> = (0..21).map(|i| format!("a={i}")).collect();
        let obj = koa(&long.join("&"));
        assert_eq!(obj["a"]["20"], "20");
    }

    #[test]
    fn odd_pieces() {
        assert_eq!(koa(""), json!({}));
        assert_eq!(
            koa("&&=x&a&b=&c=%zz"),
            json!({"a": "", "b": "", "c": "%zz"})
        );
        assert_eq!(koa("__proto__[x]=1&a[toString]=2"), json!({}));
        assert_eq!(
            koa("a[b][c][d][e][f][g]=x")["a"]["b"]["c"]["d"]["e"]["f"],
            json!({"[g]": "x"})
        );
    }

    #[test]
    fn strict_options_fail() {
        let strict = QsOptions {
            parameter_limit: 2,
            array_limit: 2,
            throw_on_limit_exceeded: true,
            ..QsOptions::default()
        };
        assert!(matches!(
            parse("a=1&b=2&c=3", &strict),
            Err(QsError::ParameterLimitExceeded { limit: 2 })
        ));
        assert!(matches!(
            parse("a[5]=1", &strict),
            Err(QsError::ArrayLimitExceeded { limit: 2 })
        ));
    }

    #[test]
    fn decode_brackets_only_touches_bracket_escapes() {
        assert_eq!(decode_brackets("a%5bb%5D%255B%5%"), "a[b]%255B%5%");
    }

    #[test]
    fn huge_inputs_stay_bounded() {
        let unlimited = QsOptions {
            depth: usize::MAX,
            parameter_limit: usize::MAX,
            array_limit: usize::MAX,
            ..QsOptions::default()
        };
        let repeated = "a=1&".repeat(100_000);
        assert_eq!(
            parse(&repeated, &unlimited).map(|v| v["a"].as_array().map(Vec::len)),
            Ok(Some(100_000))
        );
        // Checked against qs 6.17.1 with the same options: the 20-digit index is not canonical, so
        // it is a plain key and `a[]` lands at "0". qs itself spins for minutes on
        // `a[4294967293]=x&a[]=y` (it counts the elements of a 4-billion-slot sparse array); here
        // holes cost nothing, and `y` fills index 0 as it would in qs.
        let indices = "a[4294967294]=x&a[99999999999999999999]=y&a[]=z";
        assert_eq!(
            parse(indices, &unlimited),
            Ok(json!({"a": {"0": "z", "4294967294": "x", "99999999999999999999": "y"}}))
        );
        assert_eq!(
            parse("a[4294967293]=x&a[]=y", &unlimited),
            Ok(json!({"a": ["y", "x"]}))
        );
        let deep = format!("a{}=x", "[]".repeat(100_000));
        assert!(parse(&deep, &unlimited).is_ok());
        let wide: String = (0..5000).map(|i| format!("k{i}[{i}]=v&")).collect();
        assert_eq!(koa(&wide).as_object().map(|o| o.len()), Some(1000));
    }

    proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,200}") {
            let _ = parse(&input, &QsOptions::default());
        }

        #[test]
        fn never_panics_on_query_alphabet(input in "[a-c0-9\\[\\]=&%5BDd+]{0,120}", depth in 0usize..8, limit in 0usize..25) {
            let options = QsOptions { depth, array_limit: limit, ..QsOptions::default() };
            let result = parse(&input, &options);
            prop_assert!(result.as_ref().is_ok_and(Value::is_object));
        }
    }
}
