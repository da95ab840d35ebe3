//! `SqlService`: a Feathers service over one table, answering exactly as the memory adapter
//! does (same results, same errors and messages).

use crate::compile::{Compiler, Expr, SqlBuf};
use crate::config::Database;
use crate::dialect::Dialect;
use crate::error::{to_feathers_error, SqlError};
use crate::migrate::{migrate, Change};
use crate::table::{Arg, IdType, TableDef, EXTRA_COLUMN};
use crate::transaction::{SqlTransaction, WriteTx};
use async_trait::async_trait;
use roost_core::params::Params;
use roost_core::query::{sort_records, Page, Query, QueryError, QueryLimits, Select};
use roost_core::schema::{FieldType, Schema};
use roost_core::service::{AdapterOptions, Paginate, Service, STANDARD_METHODS};
use roost_core::transaction::Transaction;
use roost_core::{js, Error, Map, Result, Value};
use sqlx::any::AnyArguments;
use sqlx::pool::PoolConnection;
use sqlx::AnyConnection;
use sqlx::{Any, Row};
use std::sync::Arc;
use tokio::sync::MutexGuard;

/// Options of a [`SqlService`].
#[derive(Debug, Clone, PartialEq)]
pub struct SqlOptions {
    /// Id field, `multi` and `paginate` (as for the memory adapter).
    pub adapter: AdapterOptions,
    /// The table.
    pub table: String,
    /// Typed fields; each has a column. Other fields are kept in a JSON column.
    pub schema: Schema,
    /// How ids are made.
    pub id_type: IdType,
    /// The first generated integer id of a new table (default 1; MySQL cannot start at 0).
    pub start_id: i64,
    /// Guards on incoming queries.
    pub limits: QueryLimits,
}

impl SqlOptions {
    /// Options for `table` with the default adapter options, no schema and integer ids.
    pub fn new(table: impl Into<String>) -> Self {
        SqlOptions {
            adapter: AdapterOptions::default(),
            table: table.into(),
            schema: Schema::new(),
            id_type: IdType::Integer,
            start_id: 1,
            limits: QueryLimits::default(),
        }
    }
}

/// A Feathers service stored in one SQL table, answering as `@feathersjs/memory` does.
///
/// ```
/// use roost_core::schema::FieldType;
/// use roost_core::{json, App, Params, ServiceOptions};
/// use roost_sql::{Database, SqlConfig, SqlOptions, SqlService};
///
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("roost-sql-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let config = SqlConfig {
///     url: format!("sqlite://{}/app.db", dir.display()), // embedded SQLite
///     ..SqlConfig::default()
/// };
/// let db = Database::connect(&config).await.expect("database");
/// let options = SqlOptions {
///     schema: [("text".to_owned(), FieldType::String)].into_iter().collect(),
///     ..SqlOptions::new("todos")
/// };
/// let todos = SqlService::new(db, options).expect("table definition");
/// todos.migrate().await.expect("migration"); // creates the table
///
/// let app = App::new();
/// let todos = app.use_service("todos", todos, ServiceOptions::default())?;
/// let todo = todos.create(json!({"text": "a", "tags": ["x"]}), Params::default()).await?;
/// assert_eq!(todo, json!({"id": 1, "text": "a", "tags": ["x"]}));
/// assert_eq!(todos.find(Params::default()).await?, json!([todo]));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), roost_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SqlService {
    db: Database,
    table: TableDef,
    options: SqlOptions,
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` wants
fn db_error(e: sqlx::Error) -> Error {
    to_feathers_error(&e)
}

fn not_found(id: &Value) -> Error {
    Error::not_found(format!("No record found for id '{}'", js::to_string(id)))
}

fn ended() -> Error {
    Error::general("The transaction of this call has already ended")
}

/// Where a method's statements run: the call's transaction, a transaction of its own (writes
/// outside a call, e.g. from a script) or a plain pooled connection (reads).
enum Session<'a> {
    Shared(MutexGuard<'a, Option<WriteTx>>),
    Own(WriteTx),
    Plain(PoolConnection<Any>),
}

impl Session<'_> {
    fn conn(&mut self) -> Result<&mut AnyConnection> {
        match self {
            Session::Shared(guard) => guard.as_mut().ok_or_else(ended)?.conn(),
            Session::Own(tx) => tx.conn(),
            Session::Plain(conn) => Ok(&mut **conn),
        }
    }

    /// Commits a transaction of its own; the call's transaction is the core's to commit.
    async fn finish(self) -> Result<()> {
        match self {
            Session::Own(tx) => tx.commit().await.map_err(db_error),
            Session::Shared(_) | Session::Plain(_) => Ok(()),
        }
    }
}

fn bind<'q>(buf: &'q SqlBuf) -> sqlx::query::Query<'q, Any, AnyArguments<'q>> {
    let mut q = sqlx::query(&buf.text);
    for arg in &buf.args {
        q = match arg {
            // Typed NULLs: PostgreSQL infers parameter types from them.
            Arg::Null(FieldType::Integer) => q.bind(None::<i64>),
            Arg::Null(FieldType::Number) => q.bind(None::<f64>),
            Arg::Null(FieldType::Boolean) => q.bind(None::<bool>),
            Arg::Null(_) => q.bind(None::<String>),
            Arg::Bool(b) => q.bind(*b),
            Arg::Int(i) => q.bind(*i),
            Arg::Float(f) => q.bind(*f),
            Arg::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

/// `Array.prototype.slice` bounds (negative counts from the end, NaN is 0).
fn slice_bounds(len: usize, start: f64, end: Option<f64>) -> (usize, usize) {
    let clamp = |x: f64| -> usize {
        let x = if x.is_nan() { 0.0 } else { x.trunc() };
        let len_f = len as f64;
        (if x < 0.0 {
            (len_f + x).max(0.0)
        } else {
            x.min(len_f)
        }) as usize
    };
    let from = clamp(start);
    let to = end.map_or(len, clamp);
    (from, to.max(from))
}

fn object(data: &Value) -> Result<Map<String, Value>> {
    match data {
        Value::Object(map) => Ok(map.clone()),
        _ => Err(Error::bad_request("Data must be an object")),
    }
}

impl SqlService {
    /// A service on `db` with `options`. Checks the table definition; call
    /// [`SqlService::migrate`] (or [`crate::migrate()`]) before use so the table exists.
    pub fn new(db: Database, options: SqlOptions) -> std::result::Result<Self, SqlError> {
        let table = TableDef::new(
            &options.table,
            &options.adapter.id,
            options.id_type,
            &options.schema,
        )?
        .with_start_id(options.start_id);
        Ok(SqlService { db, table, options })
    }

    /// Creates the table or adds new columns; see [`crate::migrate()`].
    pub async fn migrate(&self) -> std::result::Result<Vec<Change>, SqlError> {
        migrate(&self.db, &self.table).await
    }

    /// The options this service was built with.
    pub fn options(&self) -> &SqlOptions {
        &self.options
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Inserts records as they are, ids included (even falsy ones such as 0), in one
    /// transaction: for loading data exported from another store. Integer sequences move
    /// past the imported ids.
    pub async fn import(&self, records: &[Value]) -> Result<()> {
        let params = Params::default();
        let mut session = self.session(&params, true).await?;
        for record in records {
            self.insert(session.conn()?, record, true).await?;
        }
        session.finish().await
    }

    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn id_field(&self) -> &str {
        &self.options.adapter.id
    }

    fn compiler(&self) -> Compiler<'_> {
        Compiler {
            table: &self.table,
            dialect: self.dialect(),
        }
    }

    /// Where the statements of a method run. A write opens the call's transaction in its
    /// handle (if no other database's transaction took the handle first); a read uses the
    /// call's transaction only when a write already opened it.
    async fn session<'a>(&self, params: &'a Params, write: bool) -> Result<Session<'a>> {
        let key = self.db.key();
        let handle = params.transaction.as_ref();
        if let Some(tx) = SqlTransaction::find(handle, key) {
            return Ok(Session::Shared(tx.lock().await));
        }
        if !write {
            return Ok(Session::Plain(
                self.db
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| self.db.to_feathers_error(&e))?,
            ));
        }
        if let Some(handle) = handle {
            let opened = handle
                .open_with(|| async {
                    let tx = WriteTx::begin(&self.db).await?;
                    Ok(Arc::new(SqlTransaction::new(key, tx)) as Arc<dyn Transaction>)
                })
                .await?;
            if let Some(tx) = SqlTransaction::own(opened, key) {
                return Ok(Session::Shared(tx.lock().await));
            }
        }
        Ok(Session::Own(WriteTx::begin(&self.db).await?))
    }

    fn paginate(&self, params: &Params) -> Option<Paginate> {
        self.options.adapter.paginate_for(params)
    }

    fn parse(&self, params: &Params) -> std::result::Result<Query, QueryError> {
        Query::for_call(params, &self.options.adapter, &self.options.limits)
    }

    /// The query of patch and remove: parsed, `$limit` dropped.
    fn parse_without_limit(&self, params: &Params) -> std::result::Result<Query, QueryError> {
        Query::for_multi_call(params, &self.options.adapter, &self.options.limits)
    }

    fn project(&self, select: Option<&Select>, record: &Value) -> Result<Value> {
        match select {
            Some(select) => select.apply(record, self.id_field()),
            None => Ok(record.clone()),
        }
    }

    fn select_sql(&self, buf: &mut SqlBuf) {
        let d = self.dialect();
        buf.push("SELECT ")
            .push(&self.table.select_list(d))
            .push(" FROM ")
            .push(&d.quote(self.table.name()));
    }

    /// Rows matching `filter`, in `order` then creation order.
    async fn fetch(
        &self,
        conn: &mut AnyConnection,
        filter: Option<&Expr>,
        order: &[String],
        limit: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<Value>> {
        let d = self.dialect();
        let mut buf = SqlBuf::new(d);
        self.select_sql(&mut buf);
        if let Some(filter) = filter {
            buf.push(" WHERE ").expr(filter);
        }
        let mut order = order.to_vec();
        order.push(self.table.order_column(d));
        buf.push(" ORDER BY ").push(&order.join(", "));
        buf.push(&d.limit_offset(limit, offset));
        let rows = bind(&buf).fetch_all(conn).await.map_err(db_error)?;
        rows.iter().map(|row| self.table.decode_row(row)).collect()
    }

    async fn count(&self, conn: &mut AnyConnection, filter: Option<&Expr>) -> Result<usize> {
        let d = self.dialect();
        let mut buf = SqlBuf::new(d);
        buf.push("SELECT COUNT(*) FROM ")
            .push(&d.quote(self.table.name()));
        if let Some(filter) = filter {
            buf.push(" WHERE ").expr(filter);
        }
        let row = bind(&buf).fetch_one(conn).await.map_err(db_error)?;
        let n: i64 = row.try_get(0).map_err(db_error)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn id_column(&self) -> String {
        self.dialect().quote(self.table.id())
    }

    /// The record with this id, locked for update inside write transactions.
    async fn fetch_by_id(
        &self,
        conn: &mut AnyConnection,
        id: &Value,
        lock: bool,
    ) -> Result<Option<Value>> {
        let Some(arg) = self.table.lookup_id(id) else {
            return Ok(None);
        };
        self.fetch_by_arg(conn, arg, lock).await
    }

    async fn fetch_by_arg(
        &self,
        conn: &mut AnyConnection,
        arg: Arg,
        lock: bool,
    ) -> Result<Option<Value>> {
        let d = self.dialect();
        let mut buf = SqlBuf::new(d);
        self.select_sql(&mut buf);
        buf.push(" WHERE ")
            .push(&self.id_column())
            .push(" = ")
            .bind(arg);
        if lock && d != Dialect::Sqlite {
            buf.push(" FOR UPDATE");
        }
        let row = bind(&buf).fetch_optional(conn).await.map_err(db_error)?;
        row.map(|row| self.table.decode_row(&row)).transpose()
    }

    /// Every record matching `query`, in creation order (the targets of multi patch/remove).
    async fn matching_all(&self, conn: &mut AnyConnection, query: &Query) -> Result<Vec<Value>> {
        let plan = self.compiler().plan(&query.condition);
        let mut records = self.fetch(conn, plan.sql(), &[], None, None).await?;
        if !plan.is_exact() {
            records.retain(|r| query.matches(r));
        }
        Ok(records)
    }

    async fn find_in(&self, conn: &mut AnyConnection, params: &Params) -> Result<Value> {
        let paginate = self.paginate(params);
        let query = self.parse(params)?;
        let compiler = self.compiler();
        let plan = compiler.plan(&query.condition);
        let order = match &query.filters.sort {
            Some(sort) => compiler.order_by(sort),
            None => Some(Vec::new()),
        };
        let select = query.filters.select.as_ref();
        let (limit, skip) = (query.filters.limit, query.filters.skip);
        let records = match (plan.is_exact(), order) {
            (true, Some(order)) => {
                if paginate.is_none() {
                    if limit == Some(0.0) {
                        Vec::new()
                    } else {
                        let limit = query.filters.limit_count().map(|n| n as u64);
                        let offset = query.filters.skip_count().map(|n| n as u64);
                        self.fetch(conn, plan.sql(), &order, limit, offset).await?
                    }
                } else {
                    let total = self.count(conn, plan.sql()).await?;
                    let (from, _) = slice_bounds(total, skip.unwrap_or(0.0), None);
                    let (_, len) = match limit {
                        Some(limit) => slice_bounds(total - from, 0.0, Some(limit)),
                        None => (0, total - from),
                    };
                    let data = if len == 0 {
                        Vec::new()
                    } else {
                        self.fetch(
                            conn,
                            plan.sql(),
                            &order,
                            Some(len as u64),
                            (from > 0).then_some(from as u64),
                        )
                        .await?
                    };
                    return self.page(total, &query, select, &data);
                }
            }
            _ => {
                // Memory's own algorithm over the rows SQL narrowed down.
                let mut records = self.fetch(conn, plan.sql(), &[], None, None).await?;
                if let Some(sort) = &query.filters.sort {
                    sort_records(&mut records, sort);
                }
                records.retain(|r| query.matches(r));
                if paginate.is_some() {
                    let total = records.len();
                    if let Some(skip) = skip {
                        let (from, to) = slice_bounds(records.len(), skip, None);
                        records = records[from..to].to_vec();
                    }
                    if let Some(limit) = limit {
                        let (from, to) = slice_bounds(records.len(), 0.0, Some(limit));
                        records = records[from..to].to_vec();
                    }
                    return self.page(total, &query, select, &records);
                }
                if limit == Some(0.0) {
                    Vec::new()
                } else {
                    let skip = query.filters.skip_count().unwrap_or(0);
                    let take = query.filters.limit_count().unwrap_or(usize::MAX);
                    records.into_iter().skip(skip).take(take).collect()
                }
            }
        };
        let data = records
            .iter()
            .map(|r| self.project(select, r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Value::Array(data))
    }

    fn page(
        &self,
        total: usize,
        query: &Query,
        select: Option<&Select>,
        records: &[Value],
    ) -> Result<Value> {
        let data = records
            .iter()
            .map(|r| self.project(select, r))
            .collect::<Result<Vec<_>>>()?;
        let skip = query
            .filters
            .skip
            .filter(|s| js::is_truthy(&js::number_value(*s)))
            .unwrap_or(0.0);
        Ok(Page {
            total,
            limit: query.filters.limit,
            skip,
            data,
        }
        .into_value())
    }

    async fn get_in(&self, conn: &mut AnyConnection, id: &Value, params: &Params) -> Result<Value> {
        let query = self.parse(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        let record = self
            .fetch_by_id(conn, id, false)
            .await?
            .ok_or_else(|| not_found(id))?;
        let query = query?;
        if !query.matches(&record) {
            return Err(not_found(id));
        }
        self.project(query.filters.select.as_ref(), &record)
    }

    /// Inserts one record and reads it back. `keep_falsy_id` keeps ids such as 0 and any id
    /// the column holds (import: trusted data); a client's id must be a safe integer.
    async fn insert(
        &self,
        conn: &mut AnyConnection,
        data: &Value,
        keep_falsy_id: bool,
    ) -> Result<Value> {
        let d = self.dialect();
        let map = object(data)?;
        let given = map
            .get(self.id_field())
            .filter(|id| js::is_truthy(id) || (keep_falsy_id && !id.is_null()));
        let id = match given {
            Some(id) if keep_falsy_id => Some(self.table.new_id(id)?),
            Some(id) => Some(self.table.client_id(id)?),
            None => match self.table.id_type() {
                IdType::Integer => None,
                IdType::Uuid => Some(Arg::Text(uuid::Uuid::new_v4().to_string())),
                IdType::String => {
                    return Err(Error::bad_request(format!(
                        "'{}' is required",
                        self.id_field()
                    )))
                }
            },
        };
        let values = self.table.encode_record(&map)?;
        let mut columns: Vec<String> = Vec::new();
        if id.is_some() {
            columns.push(self.id_column());
        }
        columns.extend(self.table.fields().iter().map(|(f, _)| d.quote(f)));
        columns.push(d.quote(EXTRA_COLUMN));
        let mut buf = SqlBuf::new(d);
        buf.push("INSERT INTO ")
            .push(&d.quote(self.table.name()))
            .push(" (")
            .push(&columns.join(", "))
            .push(") VALUES (");
        for (i, arg) in id.iter().cloned().chain(values).enumerate() {
            if i > 0 {
                buf.push(", ");
            }
            buf.bind(arg);
        }
        buf.push(")");
        let id = match id {
            Some(id) => {
                bind(&buf).execute(&mut *conn).await.map_err(db_error)?;
                if let (Dialect::Postgres, Arg::Int(n)) = (d, &id) {
                    if *n >= self.table.start_id() {
                        self.bump_sequence(conn).await?;
                    }
                }
                id
            }
            None if d.has_returning() => {
                buf.push(" RETURNING ").push(&self.id_column());
                let row = bind(&buf).fetch_one(&mut *conn).await.map_err(db_error)?;
                Arg::Int(row.try_get::<i64, _>(0).map_err(db_error)?)
            }
            None => {
                let done = bind(&buf).execute(&mut *conn).await.map_err(db_error)?;
                Arg::Int(done.last_insert_id().ok_or_else(|| {
                    tracing::error!(table = self.table.name(), "no generated id reported");
                    Error::general("Internal storage error")
                })?)
            }
        };
        self.fetch_by_arg(conn, id, false).await?.ok_or_else(|| {
            tracing::error!(
                table = self.table.name(),
                "a created record cannot be read back"
            );
            Error::general("Internal storage error")
        })
    }

    /// PostgreSQL identities do not move past explicit ids; move it so later generated ids
    /// do not collide.
    async fn bump_sequence(&self, conn: &mut AnyConnection) -> Result<()> {
        let d = self.dialect();
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), (SELECT MAX({}) FROM {}))",
            self.id_column(),
            d.quote(self.table.name())
        );
        sqlx::query(&sql)
            .bind(d.quote(self.table.name()))
            .bind(self.table.id())
            .execute(conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Replaces every column but the id of the record with `id`.
    async fn write(
        &self,
        conn: &mut AnyConnection,
        id: &Value,
        record: &Map<String, Value>,
    ) -> Result<Value> {
        let d = self.dialect();
        let id = self.table.lookup_id(id).ok_or_else(|| not_found(id))?;
        let values = self.table.encode_record(record)?;
        let mut columns: Vec<String> = self
            .table
            .fields()
            .iter()
            .map(|(f, _)| d.quote(f))
            .collect();
        columns.push(d.quote(EXTRA_COLUMN));
        let mut buf = SqlBuf::new(d);
        buf.push("UPDATE ")
            .push(&d.quote(self.table.name()))
            .push(" SET ");
        for (i, (column, arg)) in columns.iter().zip(values).enumerate() {
            if i > 0 {
                buf.push(", ");
            }
            buf.push(column).push(" = ").bind(arg);
        }
        buf.push(" WHERE ")
            .push(&self.id_column())
            .push(" = ")
            .bind(id.clone());
        bind(&buf).execute(&mut *conn).await.map_err(db_error)?;
        self.fetch_by_arg(conn, id, false).await?.ok_or_else(|| {
            tracing::error!(
                table = self.table.name(),
                "an updated record cannot be read back"
            );
            Error::general("Internal storage error")
        })
    }

    async fn delete(&self, conn: &mut AnyConnection, id: &Value) -> Result<()> {
        let d = self.dialect();
        let Some(id) = self.table.lookup_id(id) else {
            return Ok(());
        };
        let mut buf = SqlBuf::new(d);
        buf.push("DELETE FROM ")
            .push(&d.quote(self.table.name()))
            .push(" WHERE ")
            .push(&self.id_column())
            .push(" = ")
            .bind(id);
        bind(&buf).execute(conn).await.map_err(db_error)?;
        Ok(())
    }

    fn id_of(&self, record: &Value) -> Value {
        record.get(self.id_field()).cloned().unwrap_or(Value::Null)
    }

    /// `{...stored, ...data, [id]: stored id}`.
    fn merged(&self, stored: &Value, data: &Map<String, Value>) -> Map<String, Value> {
        let mut record = stored.as_object().cloned().unwrap_or_default();
        record.extend(data.clone());
        record.insert(self.id_field().to_owned(), self.id_of(stored));
        record
    }

    async fn update_in(
        &self,
        conn: &mut AnyConnection,
        id: &Value,
        data: &Value,
        query: &Query,
    ) -> Result<(Value, bool)> {
        let old = self
            .fetch_by_id(conn, id, true)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !query.matches(&old) {
            return Err(not_found(id));
        }
        self.project(query.filters.select.as_ref(), &old)?;
        let mut record = object(data)?;
        record.remove(self.id_field());
        let new = self.write(conn, &self.id_of(&old), &record).await?;
        let still_matches = query.matches(&new);
        Ok((new, still_matches))
    }

    async fn patch_in(
        &self,
        conn: &mut AnyConnection,
        id: &Value,
        data: &Value,
        query: std::result::Result<Query, QueryError>,
    ) -> Result<Value> {
        let data = object(data)?;
        if id.is_null() {
            if !self.options.adapter.multi.allows("patch") {
                return Err(Error::method_not_allowed("Can not patch multiple entries"));
            }
            let query = query?;
            let targets = self.matching_all(conn, &query).await?;
            let mut patched = Vec::with_capacity(targets.len());
            for target in &targets {
                let record = self.merged(target, &data);
                let new = self.write(conn, &self.id_of(target), &record).await?;
                patched.push(self.project(query.filters.select.as_ref(), &new)?);
            }
            return Ok(Value::Array(patched));
        }
        let old = self
            .fetch_by_id(conn, id, true)
            .await?
            .ok_or_else(|| not_found(id))?;
        let query = query?;
        if !query.matches(&old) {
            return Err(not_found(id));
        }
        self.project(query.filters.select.as_ref(), &old)?;
        let record = self.merged(&old, &data);
        let new = self.write(conn, &self.id_of(&old), &record).await?;
        self.project(query.filters.select.as_ref(), &new)
    }

    async fn remove_in(
        &self,
        conn: &mut AnyConnection,
        id: &Value,
        query: std::result::Result<Query, QueryError>,
    ) -> Result<Value> {
        if id.is_null() {
            if !self.options.adapter.multi.allows("remove") {
                return Err(Error::method_not_allowed("Can not remove multiple entries"));
            }
            let query = query?;
            let targets = self.matching_all(conn, &query).await?;
            let select = query.filters.select.as_ref();
            let removed = targets
                .iter()
                .map(|t| self.project(select, t))
                .collect::<Result<Vec<_>>>()?;
            for target in &targets {
                self.delete(conn, &self.id_of(target)).await?;
            }
            return Ok(Value::Array(removed));
        }
        let old = self
            .fetch_by_id(conn, id, true)
            .await?
            .ok_or_else(|| not_found(id))?;
        let query = query?;
        if !query.matches(&old) {
            return Err(not_found(id));
        }
        let result = self.project(query.filters.select.as_ref(), &old)?;
        self.delete(conn, &self.id_of(&old)).await?;
        Ok(result)
    }
}

#[async_trait]
impl Service for SqlService {
    async fn find(&self, params: &Params) -> Result<Value> {
        let mut session = self.session(params, false).await?;
        self.find_in(session.conn()?, params).await
    }

    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        let mut session = self.session(params, false).await?;
        self.get_in(session.conn()?, id, params).await
    }

    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        let select = params.query.get("$select").and_then(Select::from_raw);
        let items = match &data {
            Value::Array(items) => {
                if !self.options.adapter.multi.allows("create") {
                    return Err(Error::method_not_allowed("Can not create multiple entries"));
                }
                Some(items)
            }
            _ => None,
        };
        let mut session = self.session(params, true).await?;
        let result = match items {
            Some(items) => {
                let mut created = Vec::with_capacity(items.len());
                for item in items {
                    let record = self.insert(session.conn()?, item, false).await?;
                    created.push(self.project(select.as_ref(), &record)?);
                }
                Value::Array(created)
            }
            None => {
                let record = self.insert(session.conn()?, &data, false).await?;
                self.project(select.as_ref(), &record)?
            }
        };
        session.finish().await?;
        Ok(result)
    }

    async fn update(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        let query = self.parse(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        if id.is_null() || data.is_array() {
            return Err(Error::bad_request(
                "You can not replace multiple instances. Did you mean 'patch'?",
            ));
        }
        let mut session = self.session(params, true).await?;
        // A missing record answers 404 before a query the matcher refuses, as memory does.
        let query = match query {
            Ok(q) => q,
            Err(e) => {
                self.fetch_by_id(session.conn()?, id, false)
                    .await?
                    .ok_or_else(|| not_found(id))?;
                return Err(e.into_error());
            }
        };
        let (record, still_matches) = self.update_in(session.conn()?, id, &data, &query).await?;
        session.finish().await?;
        // Memory writes the new data, then answers 404 when it no longer matches the query.
        if !still_matches {
            return Err(not_found(id));
        }
        self.project(query.filters.select.as_ref(), &record)
    }

    async fn patch(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        let query = self.parse_without_limit(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        let mut session = self.session(params, true).await?;
        let result = self.patch_in(session.conn()?, id, &data, query).await?;
        session.finish().await?;
        Ok(result)
    }

    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        let query = self.parse_without_limit(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        let mut session = self.session(params, true).await?;
        let result = self.remove_in(session.conn()?, id, query).await?;
        session.finish().await?;
        Ok(result)
    }

    fn implemented_methods(&self) -> Vec<String> {
        STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect()
    }
}
