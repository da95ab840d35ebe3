//! The Feathers query language (docs/feathers-semantics.md §F): `params.query` parsed once into a typed AST.
//!
//! A query such as `{age: {$gt: 20}, $or: [{a: 1}, {b: 2}], $sort: {name: 1}, $limit: 10}` is
//! validated exactly as `@feathersjs/adapter-commons` 5.0.50 (`filterQuery`) does, then split
//! into [`Filters`] (`$limit $skip $sort $select`) and a [`Condition`] tree (`$or`, `$and` and
//! the property comparisons) following the matcher of `@feathersjs/memory` (sift 17).
//!
//! - [`Query::parse`] validates and builds the AST (errors carry Feathers' exact messages);
//! - [`Condition::matches`] evaluates it against a record (memory semantics);
//! - [`compare_values`] and [`sort_records`] give memory's cross-type sort order;
//! - [`Select::apply`] projects a record; [`Page`] is the paginated `find` result.
//!
//! The AST keeps field paths, operators and JSON values explicit so that a SQL adapter can
//! walk the same tree and emit bound parameters.

mod compile;
mod eval;
pub(crate) mod page;
mod parse;
pub(crate) mod select;
mod sort;

pub use page::Page;
pub use select::Select;
pub use sort::{compare_values, sort_records, Sort, SortKey};

use crate::error::Error;
use crate::params::Params;
use crate::service::{AdapterOptions, Paginate};
use serde_json::{Map, Value};
use std::fmt;

/// Guards applied before a query is looked at. Feathers has none; they keep hostile input
/// (deeply nested JSON, a `$in` of 40,000 values, an `$or` of 2,000 branches) from costing
/// stack, time and memory, and from reaching the database's own limits (SQLite: 32,766
/// bound parameters, expressions 1,000 deep), which would answer 500 instead of 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLimits {
    /// Deepest nesting of objects and arrays accepted in `params.query` (the query object
    /// itself is level 1). Deeper queries are answered with `BadRequest`. Default 32; the REST
    /// query-string parser already stops at depth 5, socket queries are plain JSON.
    pub max_depth: usize,
    /// Values in one `$in` or `$nin` list (default 500).
    pub max_in: usize,
    /// Branches in one `$or` or `$and` list (default 100).
    pub max_or: usize,
    /// `$or`/`$and` nested in one another (default 4).
    pub max_logical_depth: usize,
    /// Terms in the whole query: each comparison counts one, each value of a `$in`/`$nin`
    /// list one (default 500). Bounds the SQL a query becomes.
    pub max_terms: usize,
}

/// The limits every adapter built without explicit ones uses ([`QueryLimits::default`]);
/// the server sets them once at start from its configuration.
static PROCESS_LIMITS: std::sync::RwLock<Option<QueryLimits>> = std::sync::RwLock::new(None);

/// Queries refused by a [`QueryLimits`] limit since start, for `/metrics`.
static LIMIT_HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl QueryLimits {
    /// The built-in defaults.
    pub const BUILT_IN: QueryLimits = QueryLimits {
        max_depth: 32,
        max_in: 500,
        max_or: 100,
        max_logical_depth: 4,
        max_terms: 500,
    };

    /// Makes `limits` what [`QueryLimits::default`] returns from now on (adapters built
    /// afterwards use them).
    pub fn set_process_default(limits: QueryLimits) {
        let mut slot = PROCESS_LIMITS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(limits);
    }

    /// Queries refused at a limit since the process started.
    pub fn hits() -> u64 {
        LIMIT_HITS.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        PROCESS_LIMITS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or(QueryLimits::BUILT_IN)
    }
}

/// Why a query was refused. Feathers checks a query in two steps and the memory adapter
/// reports the second only when it actually builds its matcher (a `get` of a missing id
/// answers 404 first), so the two are kept apart.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Refused by Feathers' validation (`Invalid filter value $x`, `Invalid query parameter
    /// $x`, bad `$sort`…). Always reported, before anything else.
    #[error(transparent)]
    Invalid(Error),
    /// Accepted by the validation but not by the matcher (`$or: []`, `$in: [{$ne: 1}]`, an
    /// operator object mixed with fields…). Feathers raises these as plain JavaScript errors
    /// (HTTP 500); Roost answers `BadRequest` with sift's message.
    #[error(transparent)]
    Unsupported(Error),
}

impl QueryError {
    /// The Feathers error to send.
    pub fn into_error(self) -> Error {
        match self {
            QueryError::Invalid(e) | QueryError::Unsupported(e) => e,
        }
    }
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        e.into_error()
    }
}

/// A parsed Feathers query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `$limit`, `$skip`, `$sort`, `$select`.
    pub filters: Filters,
    /// Everything else: property comparisons, `$or`, `$and`.
    pub condition: Condition,
}

/// The special top-level parameters, converted as `@feathersjs/adapter-commons` does.
///
/// `limit` and `skip` are the results of JavaScript `parseInt`: an integer, ±infinity or NaN
/// (garbage such as `'abc'`). `None` means the parameter was absent (for `limit`: absent and
/// not supplied by pagination).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    /// `$limit` after pagination (`min($limit ≥ 0 ? $limit : default, max)` when paginating
    /// with a default or max).
    pub limit: Option<f64>,
    /// `$skip`.
    pub skip: Option<f64>,
    /// `$sort`, present even when it names no usable key (memory still sorts then, stably).
    pub sort: Option<Sort>,
    /// `$select`; `None` returns whole records.
    pub select: Option<Select>,
}

impl Filters {
    /// `$limit` as a count, when it is a non-negative finite number (the only case where
    /// adapters apply it without pagination).
    pub fn limit_count(&self) -> Option<usize> {
        self.limit.and_then(to_count)
    }

    /// `$skip` as a count, when it is a non-negative finite number.
    pub fn skip_count(&self) -> Option<usize> {
        self.skip.and_then(to_count)
    }
}

fn to_count(x: f64) -> Option<usize> {
    // `as` saturates at usize::MAX.
    (x >= 0.0 && x.is_finite()).then_some(x as usize)
}

/// A dotted property path (`address.city` → `["address", "city"]`). The empty path means the
/// record itself (an operator placed directly in an `$or` branch, e.g. `$or: [{$ne: 1}]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// Splits `key` on `.` as Feathers and sift do.
    pub fn parse(key: &str) -> Self {
        FieldPath(key.split('.').map(str::to_owned).collect())
    }

    /// The path segments.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Whether this is the empty (record itself) path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A comparison applied to the values found at a [`FieldPath`].
///
/// Memory semantics (sift): when the path crosses arrays, every element is a candidate value
/// as well as the array itself; `null` and a missing value are equal; equality is deep.
/// Positive operators hold when some candidate satisfies them, `$ne` and `$nin` when none
/// is equal. Ordering operators only compare values of the same JS type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldOp {
    /// `{field: value}`: deep equality.
    Eq(Value),
    /// `$ne`.
    Ne(Value),
    /// `$in` (a scalar operand is treated as a one-element list).
    In(Vec<Value>),
    /// `$nin`.
    Nin(Vec<Value>),
    /// `$lt`.
    Lt(Value),
    /// `$lte`.
    Lte(Value),
    /// `$gt`.
    Gt(Value),
    /// `$gte`.
    Gte(Value),
}

impl FieldOp {
    /// The Feathers operator name (`$in`…; `Eq` has none and gives `$eq`).
    pub fn name(&self) -> &'static str {
        match self {
            FieldOp::Eq(_) => "$eq",
            FieldOp::Ne(_) => "$ne",
            FieldOp::In(_) => "$in",
            FieldOp::Nin(_) => "$nin",
            FieldOp::Lt(_) => "$lt",
            FieldOp::Lte(_) => "$lte",
            FieldOp::Gt(_) => "$gt",
            FieldOp::Gte(_) => "$gte",
        }
    }
}

/// The condition tree of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every child holds (the keys of one query object, `$and`). Empty: always true.
    And(Vec<Condition>),
    /// Some child holds (`$or`). Never empty.
    Or(Vec<Condition>),
    /// Every operator holds for the values at `path`.
    Field {
        /// Where the values are.
        path: FieldPath,
        /// The comparisons, all of which must hold.
        ops: Vec<FieldOp>,
    },
    /// Never holds: an `$or`/`$and` branch that is not an object (`$or: [5]`).
    False,
}

impl Condition {
    /// The condition of an empty query.
    pub fn always() -> Self {
        Condition::And(Vec::new())
    }

    /// Whether this is the condition of an empty query.
    pub fn is_always(&self) -> bool {
        matches!(self, Condition::And(children) if children.is_empty())
    }
}

impl Query {
    /// Validates `query` and builds the AST. `paginate` is the pagination in force for this
    /// call (it fills in `$limit` exactly like Feathers' `getLimit`).
    pub fn parse(
        query: &Map<String, Value>,
        paginate: Option<&Paginate>,
        limits: &QueryLimits,
    ) -> Result<Query, QueryError> {
        check_depth(query, limits.max_depth)
            .and_then(|()| parse::check_size(query, limits))
            .map_err(|e| {
                LIMIT_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                QueryError::Invalid(e)
            })?;
        let (filters, conditions) =
            parse::sanitize(query, paginate).map_err(QueryError::Invalid)?;
        let condition = compile::compile(&conditions).map_err(QueryError::Unsupported)?;
        Ok(Query { filters, condition })
    }

    /// The query of a call to an adapter: `params.query` parsed with the pagination in force
    /// (`params.paginate` when a hook set it, else the adapter's).
    pub fn for_call(
        params: &Params,
        adapter: &AdapterOptions,
        limits: &QueryLimits,
    ) -> Result<Query, QueryError> {
        Query::parse(&params.query, adapter.paginate_for(params).as_ref(), limits)
    }

    /// [`Query::for_call`] for multi patch and remove, which ignore `$limit`.
    pub fn for_multi_call(
        params: &Params,
        adapter: &AdapterOptions,
        limits: &QueryLimits,
    ) -> Result<Query, QueryError> {
        let mut query = Query::for_call(params, adapter, limits)?;
        query.filters.limit = None;
        Ok(query)
    }

    /// Whether a record passes the condition (`$limit`, `$skip`, `$sort` aside).
    pub fn matches(&self, record: &Value) -> bool {
        self.condition.matches(record)
    }
}

/// Refuses queries nested deeper than `max_depth`, without recursion.
fn check_depth(query: &Map<String, Value>, max_depth: usize) -> Result<(), Error> {
    let mut stack: Vec<(&Value, usize)> = query.values().map(|v| (v, 2)).collect();
    if query.is_empty() {
        return Ok(());
    }
    if max_depth == 0 {
        return Err(too_deep(max_depth));
    }
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > max_depth {
            return Err(too_deep(max_depth));
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

fn too_deep(max_depth: usize) -> Error {
    Error::bad_request(format!(
        "Query is nested too deeply (more than {max_depth} levels)"
    ))
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn depth_limit_is_enforced_without_recursion() {
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({ "a": deep });
        }
        let e = Query::parse(&q(json!({ "x": deep })), None, &QueryLimits::default())
            .unwrap_err()
            .into_error();
        assert_eq!(
            e.message,
            "Query is nested too deeply (more than 32 levels)"
        );
        let ok = json!({"a": {"$in": [[1]]}});
        assert!(Query::parse(
            &q(ok.clone()),
            None,
            &QueryLimits {
                max_depth: 4,
                ..QueryLimits::BUILT_IN
            }
        )
        .is_ok());
        assert!(Query::parse(
            &q(ok),
            None,
            &QueryLimits {
                max_depth: 3,
                ..QueryLimits::BUILT_IN
            }
        )
        .is_err());
    }

    #[test]
    fn counts_only_for_non_negative_numbers() {
        let f = Filters {
            limit: Some(f64::NAN),
            skip: Some(3.0),
            ..Filters::default()
        };
        assert_eq!((f.limit_count(), f.skip_count()), (None, Some(3)));
    }
}
