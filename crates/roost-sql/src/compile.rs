//! The query AST of `roost_core::query` compiled to SQL with bound parameters.
//!
//! A comparison on a typed scalar column (the id, or a schema field of type integer, number,
//! string, date or boolean) holds one JavaScript type or NULL, so memory's matcher semantics
//! reduce to plain SQL: an operand of another type never matches (sift compares only values
//! of the same type), `null` means NULL (null and missing are alike), and `$ne`/`$nin` hold
//! for NULL. Such conditions are `Plan::Exact`: the database filters, sorts, counts and
//! pages on its own.
//!
//! Everything else — JSON fields, fields outside the schema, dot paths, arrays — needs
//! memory's full semantics (array element matching, deep equality, cross-type order). Those
//! parts are `Plan::Inexact`: the exact parts still narrow the rows in SQL (a superset of
//! the answer) and the adapter applies the core's matcher to what comes back. Results are
//! identical either way; only the cost differs.

use crate::dialect::Dialect;
use crate::table::{Arg, IdType, TableDef};
use roost_core::query::{Condition, FieldOp, Sort};
use roost_core::schema::FieldType;
use roost_core::Value;

/// A SQL boolean expression whose values are bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Always true.
    True,
    /// Always false.
    False,
    /// `column <op> ?`.
    Cmp(String, &'static str, Arg),
    /// `column IS NULL`.
    IsNull(String),
    /// `column IS NOT NULL`.
    NotNull(String),
    /// `column IN (?, …)` or, negated, `column NOT IN (?, …)`; never empty.
    In(String, Vec<Arg>, bool),
    /// Every child holds.
    And(Vec<Expr>),
    /// Some child holds.
    Or(Vec<Expr>),
}

/// SQL text being built, with its parameters in order.
#[derive(Debug, Clone)]
pub struct SqlBuf {
    dialect: Dialect,
    /// The statement text.
    pub text: String,
    /// The bound parameters, in placeholder order.
    pub args: Vec<Arg>,
}

impl SqlBuf {
    /// An empty statement for `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        SqlBuf {
            dialect,
            text: String::new(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text (never input).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let placeholder = self.dialect.placeholder(self.args.len());
        self.text.push_str(&placeholder);
        self
    }

    /// Appends a boolean expression.
    pub fn expr(&mut self, expr: &Expr) -> &mut Self {
        match expr {
            Expr::True => self.push("1=1"),
            Expr::False => self.push("1=0"),
            Expr::Cmp(col, op, arg) => {
                self.push(col).push(" ").push(op).push(" ");
                self.bind(arg.clone())
            }
            Expr::IsNull(col) => self.push(col).push(" IS NULL"),
            Expr::NotNull(col) => self.push(col).push(" IS NOT NULL"),
            Expr::In(col, args, negated) => {
                self.push(col)
                    .push(if *negated { " NOT IN (" } else { " IN (" });
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind(arg.clone());
                }
                self.push(")")
            }
            Expr::And(items) | Expr::Or(items) if items.is_empty() => {
                self.expr(if matches!(expr, Expr::And(_)) {
                    &Expr::True
                } else {
                    &Expr::False
                })
            }
            Expr::And(items) | Expr::Or(items) => {
                let glue = if matches!(expr, Expr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(glue);
                    }
                    self.expr(item);
                }
                self.push(")")
            }
        }
    }
}

/// How much of a condition SQL evaluates exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The expression is the condition.
    Exact(Expr),
    /// The condition needs the core's matcher; the expression, when present, holds for every
    /// matching record (a prefilter).
    Inexact(Option<Expr>),
}

impl Plan {
    /// The SQL to put in WHERE (exact, or a prefilter).
    pub fn sql(&self) -> Option<&Expr> {
        match self {
            Plan::Exact(e) => Some(e),
            Plan::Inexact(e) => e.as_ref(),
        }
    }

    /// Whether the SQL is the whole condition.
    pub fn is_exact(&self) -> bool {
        matches!(self, Plan::Exact(_))
    }
}

/// The JavaScript type a typed column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    String,
    Boolean,
}

fn kind_of_type(ty: FieldType) -> Option<Kind> {
    match ty {
        FieldType::Integer | FieldType::Number => Some(Kind::Number),
        FieldType::String | FieldType::Date => Some(Kind::String),
        FieldType::Boolean => Some(Kind::Boolean),
        FieldType::Json => None,
    }
}

/// The operand as a parameter, when it has the column's JavaScript type.
fn operand(kind: Kind, value: &Value) -> Option<Arg> {
    match (kind, value) {
        (Kind::Number, Value::Number(n)) => Some(match n.as_i64() {
            Some(i) => Arg::Int(i),
            None => Arg::Float(n.as_f64()?),
        }),
        (Kind::String, Value::String(s)) => Some(Arg::Text(s.clone())),
        (Kind::Boolean, Value::Bool(b)) => Some(Arg::Bool(*b)),
        _ => None,
    }
}

/// Compiles conditions and sorts for one table.
#[derive(Debug, Clone, Copy)]
pub struct Compiler<'a> {
    /// The table.
    pub table: &'a TableDef,
    /// The dialect.
    pub dialect: Dialect,
}

impl Compiler<'_> {
    /// The quoted column and kind of a one-segment path on a typed scalar column.
    fn typed_column(&self, segments: &[String]) -> Option<(String, Kind)> {
        let [name] = segments else { return None };
        let kind = if name == self.table.id() {
            match self.table.id_type() {
                IdType::Integer => Kind::Number,
                IdType::Uuid | IdType::String => Kind::String,
            }
        } else {
            kind_of_type(self.table.field_type(name)?)?
        };
        Some((self.dialect.quote(name), kind))
    }

    /// Plans a condition.
    pub fn plan(&self, condition: &Condition) -> Plan {
        match condition {
            Condition::False => Plan::Exact(Expr::False),
            Condition::Field { path, ops } => match self.typed_column(path.segments()) {
                Some((col, kind)) => {
                    Plan::Exact(and(ops.iter().map(|op| field_op(&col, kind, op)).collect()))
                }
                None => Plan::Inexact(None),
            },
            Condition::And(children) => {
                let plans: Vec<Plan> = children.iter().map(|c| self.plan(c)).collect();
                let exact = plans.iter().all(Plan::is_exact);
                let parts: Vec<Expr> = plans.iter().filter_map(|p| p.sql().cloned()).collect();
                if exact {
                    Plan::Exact(and(parts))
                } else if parts.is_empty() {
                    Plan::Inexact(None)
                } else {
                    Plan::Inexact(Some(and(parts)))
                }
            }
            Condition::Or(children) => {
                let plans: Vec<Plan> = children.iter().map(|c| self.plan(c)).collect();
                let exact = plans.iter().all(Plan::is_exact);
                let parts: Option<Vec<Expr>> = plans.iter().map(|p| p.sql().cloned()).collect();
                match (exact, parts) {
                    (true, Some(parts)) => Plan::Exact(or(parts)),
                    (false, Some(parts)) => Plan::Inexact(Some(or(parts))),
                    (_, None) => Plan::Inexact(None),
                }
            }
        }
    }

    /// `ORDER BY` items for a sort on typed columns only (`None` otherwise: the adapter then
    /// sorts with memory's cross-type order). Missing and null sort first, as in memory.
    ///
    /// Memory's comparator puts a missing value before `null` when ascending and treats the
    /// two as equal when descending (V8's insertion sort over an inconsistent comparator); an
    /// ascending key therefore also orders by "explicitly null" (a key of the JSON column).
    pub fn order_by(&self, sort: &Sort) -> Option<Vec<String>> {
        let mut items = Vec::new();
        for key in &sort.keys {
            let (col, _) = self.typed_column(key.path.segments())?;
            if !key.descending {
                items.extend(self.explicit_null(&key.path.segments()[0], &col));
            }
            items.push(match (self.dialect, key.descending) {
                (Dialect::Postgres, false) => format!("{col} ASC NULLS FIRST"),
                (Dialect::Postgres, true) => format!("{col} DESC NULLS LAST"),
                (_, false) => format!("{col} ASC"),
                (_, true) => format!("{col} DESC"),
            });
        }
        Some(items)
    }

    /// 0 for a missing field, 1 for an explicit `null`, 2 for a value — only for field names
    /// made of ASCII letters, digits and `_`, which need no escaping inside the JSON path
    /// literal (other names sort null and missing alike).
    fn explicit_null(&self, field: &str, col: &str) -> Option<String> {
        if field == self.table.id() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return None;
        }
        let extra = self.dialect.quote(crate::table::EXTRA_COLUMN);
        let present = match self.dialect {
            Dialect::Sqlite => format!("json_type({extra}, '$.{field}') IS NOT NULL"),
            Dialect::Postgres => format!("{extra}::jsonb ? '{field}'"),
            Dialect::MySql { .. } => {
                format!("JSON_CONTAINS_PATH({extra}, 'one', '$.{field}')")
            }
        };
        Some(format!(
            "CASE WHEN {col} IS NOT NULL THEN 2 WHEN {present} THEN 1 ELSE 0 END"
        ))
    }
}

fn and(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    Expr::And(parts)
}

fn or(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    Expr::Or(parts)
}

/// One operator on a typed column (see the module docs for the rules).
fn field_op(col: &str, kind: Kind, op: &FieldOp) -> Expr {
    let col = || col.to_owned();
    let cmp = |sql_op: &'static str, v: &Value, null: Expr| match v {
        Value::Null => null,
        v => match operand(kind, v) {
            Some(arg) => Expr::Cmp(col(), sql_op, arg),
            None => Expr::False,
        },
    };
    match op {
        FieldOp::Eq(v) => cmp("=", v, Expr::IsNull(col())),
        FieldOp::Ne(v) => match v {
            Value::Null => Expr::NotNull(col()),
            v => match operand(kind, v) {
                Some(arg) => Expr::Or(vec![Expr::IsNull(col()), Expr::Cmp(col(), "<>", arg)]),
                None => Expr::True,
            },
        },
        FieldOp::In(vs) => {
            let (args, null) = split_list(kind, vs);
            let mut parts = Vec::new();
            if !args.is_empty() {
                parts.push(Expr::In(col(), args, false));
            }
            if null {
                parts.push(Expr::IsNull(col()));
            }
            if parts.is_empty() {
                Expr::False
            } else {
                or(parts)
            }
        }
        FieldOp::Nin(vs) => {
            let (args, null) = split_list(kind, vs);
            match (args.is_empty(), null) {
                (true, false) => Expr::True,
                (true, true) => Expr::NotNull(col()),
                (false, false) => Expr::Or(vec![Expr::IsNull(col()), Expr::In(col(), args, true)]),
                (false, true) => Expr::And(vec![Expr::NotNull(col()), Expr::In(col(), args, true)]),
            }
        }
        FieldOp::Lt(v) => cmp("<", v, Expr::False),
        FieldOp::Gt(v) => cmp(">", v, Expr::False),
        FieldOp::Lte(v) => cmp("<=", v, Expr::IsNull(col())),
        FieldOp::Gte(v) => cmp(">=", v, Expr::IsNull(col())),
    }
}

/// The operands of `$in`/`$nin` that can equal a value of the column, and whether `null` is
/// among them.
fn split_list(kind: Kind, values: &[Value]) -> (Vec<Arg>, bool) {
    let mut args = Vec::new();
    let mut null = false;
    for v in values {
        match v {
            Value::Null => null = true,
            v => args.extend(operand(kind, v)),
        }
    }
    (args, null)
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use roost_core::query::{Query, QueryLimits};
    use roost_core::schema::Schema;
    use serde_json::json;

    fn table() -> TableDef {
        let schema: Schema = [
            ("age", FieldType::Integer),
            ("name", FieldType::String),
            ("tags", FieldType::Json),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        TableDef::new("people", "id", IdType::Integer, &schema).unwrap()
    }

    fn sql(q: Value, dialect: Dialect) -> (Option<String>, bool, Vec<Arg>) {
        let t = table();
        let c = Compiler { table: &t, dialect };
        let query = Query::parse(q.as_object().unwrap(), None, &QueryLimits::default()).unwrap();
        let plan = c.plan(&query.condition);
        let mut buf = SqlBuf::new(dialect);
        let text = plan.sql().map(|e| buf.expr(e).text.clone());
        (text, plan.is_exact(), buf.args)
    }

    #[test]
    fn typed_columns_compile_exactly_with_bound_values() {
        let (text, exact, args) = sql(
            json!({"age": {"$gt": 20, "$nin": [30, null]}, "name": "x' OR 1=1 --"}),
            Dialect::Postgres,
        );
        assert!(exact);
        assert_eq!(
            text.unwrap(),
            r#"(("age" > $1 AND ("age" IS NOT NULL AND "age" NOT IN ($2))) AND "name" = $3)"#
        );
        assert_eq!(args[2], Arg::Text("x' OR 1=1 --".into()));
    }

    #[test]
    fn other_types_never_match_and_null_means_null() {
        let (text, _, args) = sql(json!({"age": "25", "name": null}), Dialect::Sqlite);
        assert_eq!(text.unwrap(), r#"(1=0 AND "name" IS NULL)"#);
        assert!(args.is_empty());
        let (text, _, _) = sql(json!({"age": {"$ne": "x"}}), Dialect::Sqlite);
        assert_eq!(text.unwrap(), "1=1");
    }

    #[test]
    fn json_fields_and_unknown_fields_are_prefiltered() {
        let (text, exact, _) = sql(json!({"tags": "a", "age": 3}), Dialect::Sqlite);
        assert!(!exact);
        assert_eq!(text.unwrap(), r#""age" = ?"#);
        let (text, exact, _) = sql(json!({"$or": [{"nope": 1}, {"age": 3}]}), Dialect::Sqlite);
        assert!(!exact && text.is_none());
        let (text, exact, _) = sql(json!({"a.b": 1}), Dialect::Sqlite);
        assert!(!exact && text.is_none());
    }
}
