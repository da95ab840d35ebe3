//! The paginated result of `find`: `{total, limit, skip, data}`.

use crate::js;
use serde_json::{Map, Value};

/// A page of results, as Feathers sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Records matching the query, ignoring `$limit` and `$skip`.
    pub total: usize,
    /// The effective `$limit` (`None` when neither the query nor the pagination set one, in
    /// which case the key is left out; NaN is sent as `null`, as `JSON.stringify` does).
    pub limit: Option<f64>,
    /// The `$skip` applied (`0` when absent or NaN).
    pub skip: f64,
    /// The records of this page.
    pub data: Vec<Value>,
}

impl Page {
    /// The page as Feathers JSON, keys in Feathers' order.
    pub fn into_value(self) -> Value {
        let mut map = Map::new();
        map.insert("total".into(), self.total.into());
        if let Some(limit) = self.limit {
            map.insert("limit".into(), js::number_value(limit));
        }
        map.insert("skip".into(), js::number_value(self.skip));
        map.insert("data".into(), Value::Array(self.data));
        Value::Object(map)
    }
}

/// `Array.prototype.slice(start, end)` bounds on a list of `len` items (negative values count
/// from the end, NaN is 0, fractions truncate).
pub(crate) fn slice_bounds(len: usize, start: f64, end: Option<f64>) -> (usize, usize) {
    let clamp = |x: f64| -> usize {
        let x = if x.is_nan() { 0.0 } else { x.trunc() };
        let len_f = len as f64;
        let r = if x < 0.0 {
            (len_f + x).max(0.0)
        } else {
            x.min(len_f)
        };
        r as usize
    };
    let from = clamp(start);
    let to = end.map_or(len, clamp);
    (from, to.max(from))
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slices_like_js() {
        assert_eq!(slice_bounds(8, -2.0, None), (6, 8));
        assert_eq!(slice_bounds(8, 0.0, Some(f64::NAN)), (0, 0));
        assert_eq!(slice_bounds(8, 0.0, Some(-2.0)), (0, 6));
        assert_eq!(slice_bounds(8, 50.0, Some(1e300)), (8, 8));
        assert_eq!(slice_bounds(3, 1.0, Some(f64::INFINITY)), (1, 3));
    }

    #[test]
    fn page_json_omits_missing_limit_and_nulls_nan() {
        let p = Page {
            total: 2,
            limit: None,
            skip: 0.0,
            data: vec![],
        };
        assert_eq!(p.into_value(), json!({"total": 2, "skip": 0, "data": []}));
        let p = Page {
            total: 2,
            limit: Some(f64::NAN),
            skip: 1.0,
            data: vec![],
        };
        assert_eq!(
            p.into_value(),
            json!({"total": 2, "limit": null, "skip": 1, "data": []})
        );
    }
}
