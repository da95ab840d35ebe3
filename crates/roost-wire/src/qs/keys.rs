//! Splitting a decoded key into its path: `a[b][]` → `a`, `[b]`, `[]`.
//!
//! Rules (qs 6.17, `allowDots: false`):
//! - the part before the first `[` is the parent (absent when the key starts with `[`);
//! - each following group runs to its *balanced* `]`, so `a[b[c]]` has the segment `[b[c]]`;
//!   text between groups is skipped (`a[b]c[d]` → `a`, `[b]`, `[d]`);
//! - after `depth` groups, or at a group that never closes, the rest of the key becomes one
//!   literal segment wrapped in brackets (`[[g]]`, later unwrapped to the key `[g]`);
//! - a parent or group content naming an `Object.prototype` property drops the whole parameter,
//!   because qs does not allow prototype keys by default.

use super::{QsError, QsOptions};

/// `Object.prototype`'s own property names in Node.js: qs drops parameters that would set them.
const PROTOTYPE_KEYS: [&str; 12] = [
    "constructor",
    "__defineGetter__",
    "__defineSetter__",
    "hasOwnProperty",
    "__lookupGetter__",
    "__lookupSetter__",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toString",
    "valueOf",
    "__proto__",
    "toLocaleString",
];

fn is_prototype_key(name: &str) -> bool {
    PROTOTYPE_KEYS.contains(&name)
}

/// `[x]` → `x`; anything else unchanged (qs' `stripWrappingBrackets`).
pub(super) fn strip_wrapping_brackets(segment: &str) -> &str {
    segment
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(segment)
}

/// The key's segments, or `None` when the parameter is dropped.
pub(super) fn split_key(key: &str, options: &QsOptions) -> Result<Option<Vec<String>>, QsError> {
    let depth = options.effective_depth();
    if depth == 0 {
        if is_prototype_key(strip_wrapping_brackets(key)) {
            return Ok(None);
        }
        return Ok(Some(vec![key.to_owned()]));
    }

    let mut segments = Vec::new();
    let first = key.find('[');
    let parent = first.map_or(key, |at| &key[..at]);
    if !parent.is_empty() {
        if is_prototype_key(parent) {
            return Ok(None);
        }
        segments.push(parent.to_owned());
    }

    let mut open = first;
    let mut groups = 0;
    while let Some(start) = open {
        if groups >= depth {
            break;
        }
        let Some(close) = matching_close(key, start) else {
            segments.push(format!("[{}]", &key[start..]));
            return Ok(Some(segments));
        };
        if is_prototype_key(&key[start + 1..close]) {
            return Ok(None);
        }
        segments.push(key[start..=close].to_owned());
        groups += 1;
        open = key[close + 1..].find('[').map(|at| close + 1 + at);
    }

    if let Some(start) = open {
        if options.strict_depth {
            return Err(QsError::DepthExceeded {
                depth: options.depth,
            });
        }
        segments.push(format!("[{}]", &key[start..]));
    }
    Ok(Some(segments))
}

/// Index of the `]` balancing the `[` at `open`.
fn matching_close(key: &str, open: usize) -> Option<usize> {
    let mut level = 0usize;
    for (i, b) in key.bytes().enumerate().skip(open) {
        match b {
            b'[' => level += 1,
            b']' => {
                level -= 1;
                if level == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(key: &str) -> Option<Vec<String>> {
        split_key(key, &QsOptions::default()).unwrap_or_default()
    }

    #[test]
    fn splits_balanced_groups() {
        assert_eq!(split("a[b][]").unwrap(), ["a", "[b]", "[]"]);
        assert_eq!(split("a[b[c]]").unwrap(), ["a", "[b[c]]"]);
        assert_eq!(split("a[b]c[d]").unwrap(), ["a", "[b]", "[d]"]);
        assert_eq!(split("[a]").unwrap(), ["[a]"]);
        assert_eq!(split("a]").unwrap(), ["a]"]);
    }

    #[test]
    fn keeps_the_rest_beyond_depth_or_an_open_group() {
        assert_eq!(
            split("a[b][c][d][e][f][g][h]").unwrap(),
            ["a", "[b]", "[c]", "[d]", "[e]", "[f]", "[[g][h]]"]
        );
        assert_eq!(split("a[b").unwrap(), ["a", "[[b]"]);
        let strict = QsOptions {
            depth: 1,
            strict_depth: true,
            ..QsOptions::default()
        };
        assert_eq!(
            split_key("a[b][c]", &strict),
            Err(QsError::DepthExceeded { depth: 1 })
        );
    }

    #[test]
    fn drops_prototype_keys() {
        for key in [
            "__proto__",
            "toString[a]",
            "a[hasOwnProperty]",
            "a[b][constructor]",
        ] {
            assert_eq!(split(key), None, "{key}");
        }
        assert!(split("a[b][c][d][e][f][toString]").is_some());
        assert!(split("prototype").is_some());
    }
}
