//! The memory adapter: `@feathersjs/memory` 5.0.50 in Rust (docs/feathers-semantics.md §A9–A13, §F).
//!
//! Records live in a map keyed by `String(id)` that iterates like a JS object (array-index
//! keys ascending, then other keys in insertion order), because memory's unsorted `find`
//! returns `Object.values(store)`. Every method runs under one short lock and never awaits
//! while holding it.

use crate::error::{Error, Result};
use crate::js;
use crate::params::Params;
use crate::query::{sort_records, Page, Query, QueryError, QueryLimits, Select};
use crate::service::{AdapterOptions, Paginate, Service, STANDARD_METHODS};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Options of a [`MemoryService`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryOptions {
    /// Id field, `multi` and `paginate`.
    pub adapter: AdapterOptions,
    /// The first id assigned to a record created without a truthy id (`startId`, default 0);
    /// later ones count up by one.
    pub start_id: i64,
    /// Guards on incoming queries.
    pub limits: QueryLimits,
}

/// A store ordered like a JS object's keys.
#[derive(Debug, Default)]
struct Store {
    indexed: BTreeMap<u32, Value>,
    named: HashMap<String, (u64, Value)>,
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Store {
    fn get(&self, key: &str) -> Option<&Value> {
        match js::array_index(key) {
            Some(i) => self.indexed.get(&i),
            None => self.named.get(key).map(|(_, v)| v),
        }
    }

    /// Sets `key`; an existing key keeps its position, as JS assignment does.
    fn insert(&mut self, key: String, record: Value) {
        if let Some(i) = js::array_index(&key) {
            self.indexed.insert(i, record);
        } else if let Some(entry) = self.named.get_mut(&key) {
            entry.1 = record;
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key.clone());
            self.named.insert(key, (seq, record));
        }
    }

    fn remove(&mut self, key: &str) -> Option<Value> {
        match js::array_index(key) {
            Some(i) => self.indexed.remove(&i),
            None => {
                let (seq, record) = self.named.remove(key)?;
                self.order.remove(&seq);
                Some(record)
            }
        }
    }

    /// `Object.values(store)`.
    fn values(&self) -> Vec<&Value> {
        let named = self
            .order
            .values()
            .filter_map(|k| self.named.get(k).map(|(_, v)| v));
        self.indexed.values().chain(named).collect()
    }
}

#[derive(Debug)]
struct State {
    store: Store,
    next_id: i64,
}

/// An in-memory Feathers service, wire-compatible with `@feathersjs/memory` 5.0.50: the
/// query language, pagination, `multi`, `$select`, ids counted from `start_id`.
///
/// ```
/// use roost_core::service::{AdapterOptions, Paginate};
/// use roost_core::{json, App, MemoryOptions, MemoryService, Params, ServiceOptions};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let options = MemoryOptions {
///     adapter: AdapterOptions {
///         paginate: Some(Paginate { default: Some(10), max: Some(50) }),
///         ..AdapterOptions::default()
///     },
///     start_id: 1,
///     ..MemoryOptions::default()
/// };
/// let store = Arc::new(MemoryService::with_options(options));
/// let app = App::new();
/// let users = app.use_shared_service("users", store.clone(), ServiceOptions::default())?;
/// users.create(json!([{"name": "ada"}, {"name": "bob"}]), Params::default()).await
///     .unwrap_err(); // multi create is off by default
/// users.create(json!({"name": "ada"}), Params::default()).await?;
/// let query = json!({"name": "ada"}).as_object().cloned().unwrap_or_default();
/// let page = users.find(Params::default().with_query(query)).await?;
/// assert_eq!(page["total"], 1);
/// assert_eq!(page["data"][0]["id"], 1);
/// store.reset(); // empty again, ids from 1
/// assert!(store.is_empty());
/// # Ok::<(), roost_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct MemoryService {
    options: MemoryOptions,
    state: RwLock<State>,
}

impl Default for MemoryService {
    fn default() -> Self {
        MemoryService::with_options(MemoryOptions::default())
    }
}

fn not_found(id: &Value) -> Error {
    Error::not_found(format!("No record found for id '{}'", js::to_string(id)))
}

impl MemoryService {
    /// A service with these adapter options, `start_id` 0 and default query limits.
    pub fn new(adapter: AdapterOptions) -> Self {
        MemoryService::with_options(MemoryOptions {
            adapter,
            ..MemoryOptions::default()
        })
    }

    /// A service with every option given.
    pub fn with_options(options: MemoryOptions) -> Self {
        let next_id = options.start_id;
        MemoryService {
            options,
            state: RwLock::new(State {
                store: Store::default(),
                next_id,
            }),
        }
    }

    /// The options this service was built with.
    pub fn options(&self) -> &MemoryOptions {
        &self.options
    }

    /// Removes every record; the id counter keeps counting. Emits no event (as replacing
    /// `service.store` in Feathers does not).
    pub fn clear(&self) {
        self.write().store = Store::default();
    }

    /// Removes every record and restarts the id counter at `start_id`: the service is as
    /// new (Feathers: `service.store = {}; service._uId = startId`).
    pub fn reset(&self) {
        let mut state = self.write();
        state.store = Store::default();
        state.next_id = self.options.start_id;
    }

    /// How many records the store holds.
    pub fn len(&self) -> usize {
        let state = self.read();
        state.store.indexed.len() + state.store.named.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn id_field(&self) -> &str {
        &self.options.adapter.id
    }

    // A panic elsewhere cannot leave the store half-written (every write is a single
    // insert/remove), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
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

    fn project(&self, query: &Query, record: &Value) -> Result<Value> {
        crate::query::select::project(query.filters.select.as_ref(), record, self.id_field())
    }

    /// memory's unpaginated `_find`: every record sorted, then filtered, skipped and limited.
    fn matching(&self, store: &Store, query: &Query) -> Vec<Value> {
        let mut values = store.values();
        if let Some(sort) = &query.filters.sort {
            sort_records(&mut values, sort);
        }
        let (limit, skip) = (query.filters.limit, query.filters.skip);
        if limit == Some(0.0) {
            return Vec::new();
        }
        let mut skipped = 0.0;
        let mut matched = Vec::new();
        for record in values {
            if !query.matches(record) {
                continue;
            }
            if skip.is_some_and(|s| s > skipped) {
                skipped += 1.0;
                continue;
            }
            matched.push(record.clone());
            if limit == Some(matched.len() as f64) {
                break;
            }
        }
        matched
    }

    fn find_sync(&self, params: &Params) -> Result<Value> {
        let paginate = self.paginate(params);
        let query = self.parse(params)?;
        let state = self.read();
        if paginate.is_none() {
            let records = self.matching(&state.store, &query);
            drop(state);
            let data = records
                .iter()
                .map(|r| self.project(&query, r))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Value::Array(data));
        }
        let mut values = state.store.values();
        if let Some(sort) = &query.filters.sort {
            sort_records(&mut values, sort);
        }
        values.retain(|r| query.matches(r));
        let total = values.len();
        if let Some(skip) = query.filters.skip {
            let (from, to) = crate::query::page::slice_bounds(values.len(), skip, None);
            values = values[from..to].to_vec();
        }
        if let Some(limit) = query.filters.limit {
            let (from, to) = crate::query::page::slice_bounds(values.len(), 0.0, Some(limit));
            values = values[from..to].to_vec();
        }
        let data = values
            .into_iter()
            .map(|r| self.project(&query, r))
            .collect::<Result<Vec<_>>>()?;
        let skip = query
            .filters
            .skip
            .filter(|s| js::is_truthy(&js::number_value(*s)));
        Ok(Page {
            total,
            limit: query.filters.limit,
            skip: skip.unwrap_or(0.0),
            data,
        }
        .into_value())
    }

    /// memory's `_get`: the record at `String(id)` if it matches the query.
    fn lookup(
        &self,
        store: &Store,
        id: &Value,
        query: &std::result::Result<Query, QueryError>,
    ) -> Result<(String, Value)> {
        let key = js::to_string(id);
        let record = store.get(&key).ok_or_else(|| not_found(id))?;
        let query = query.as_ref().map_err(|e| e.clone().into_error())?;
        if !query.matches(record) {
            return Err(not_found(id));
        }
        Ok((key, record.clone()))
    }

    fn get_sync(&self, id: &Value, params: &Params) -> Result<Value> {
        let query = self.parse(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        // Projected straight from the stored record: one copy, not two.
        let state = self.read();
        let record = state
            .store
            .get(&js::to_string(id))
            .ok_or_else(|| not_found(id))?;
        let query = query.as_ref().map_err(|e| e.clone().into_error())?;
        if !query.matches(record) {
            return Err(not_found(id));
        }
        self.project(query, record)
    }

    fn create_sync(&self, data: Value, params: &Params) -> Result<Value> {
        let select = params.query.get("$select").and_then(Select::from_raw);
        let project =
            |r: &Value| crate::query::select::project(select.as_ref(), r, self.id_field());
        match data {
            Value::Array(items) => {
                if !self.options.adapter.multi.allows("create") {
                    return Err(Error::method_not_allowed("Can not create multiple entries"));
                }
                let created = {
                    let mut state = self.write();
                    items
                        .iter()
                        .map(|item| self.insert_new(&mut state, item))
                        .collect::<Result<Vec<_>>>()?
                };
                Ok(Value::Array(
                    created.iter().map(project).collect::<Result<_>>()?,
                ))
            }
            item => {
                let created = self.insert_new(&mut self.write(), &item)?;
                project(&created)
            }
        }
    }

    /// memory's `_create` of one record: a truthy id is kept, otherwise the next id is used.
    fn insert_new(&self, state: &mut State, data: &Value) -> Result<Value> {
        let id_field = self.id_field();
        let id = match js::get(data, id_field) {
            Some(id) if js::is_truthy(&id) => id.into_owned(),
            _ => {
                let id = state.next_id;
                state.next_id = id
                    .checked_add(1)
                    .ok_or_else(|| Error::general("The id sequence is exhausted"))?;
                Value::from(id)
            }
        };
        let mut record = js::spread(data);
        record.insert(id_field.to_owned(), id.clone());
        let record = Value::Object(js::js_ordered(record));
        state.store.insert(js::to_string(&id), record.clone());
        Ok(record)
    }

    fn update_sync(&self, id: &Value, data: &Value, params: &Params) -> Result<Value> {
        let query = self.parse(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        if id.is_null() || data.is_array() {
            return Err(Error::bad_request(
                "You can not replace multiple instances. Did you mean 'patch'?",
            ));
        }
        let mut state = self.write();
        let (key, old) = self.lookup(&state.store, id, &query)?;
        let query = query.map_err(QueryError::into_error)?;
        self.project(&query, &old)?;
        let mut record = js::spread(data);
        match js::get(&old, self.id_field()) {
            Some(old_id) => record.insert(self.id_field().to_owned(), old_id.into_owned()),
            None => record.remove(self.id_field()),
        };
        let record = Value::Object(js::js_ordered(record));
        state.store.insert(key, record.clone());
        // memory reads the record back through the query: new data that no longer matches
        // is written but answered with 404.
        if !query.matches(&record) {
            return Err(not_found(id));
        }
        self.project(&query, &record)
    }

    /// The records a multi patch/remove acts on: every match in store order. (memory's
    /// `_patch`/`_remove` strip `$limit`, `$skip`, `$sort` and `$select` before looking them
    /// up; `$select` still shapes the results.)
    fn multi_targets(
        &self,
        state: &State,
        method: &str,
        query: std::result::Result<Query, QueryError>,
    ) -> Result<(Query, Vec<Value>)> {
        if !self.options.adapter.multi.allows(method) {
            return Err(Error::method_not_allowed(format!(
                "Can not {method} multiple entries"
            )));
        }
        let query = query.map_err(QueryError::into_error)?;
        let targets = state
            .store
            .values()
            .into_iter()
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        Ok((query, targets))
    }

    fn patch_sync(&self, id: &Value, data: &Value, params: &Params) -> Result<Value> {
        let query = self.parse_without_limit(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        let mut state = self.write();
        if id.is_null() {
            let (query, targets) = self.multi_targets(&state, "patch", query)?;
            let patched = targets
                .iter()
                .map(|t| self.patch_entry(&mut state, t, data, &query))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Value::Array(patched));
        }
        let (_, entry) = self.lookup(&state.store, id, &query)?;
        let query = query.map_err(QueryError::into_error)?;
        self.project(&query, &entry)?;
        self.patch_entry(&mut state, &entry, data, &query)
    }

    /// `{...stored, ...data, [id]: stored id}`.
    fn patch_entry(
        &self,
        state: &mut State,
        entry: &Value,
        data: &Value,
        query: &Query,
    ) -> Result<Value> {
        let id_field = self.id_field();
        let current_id = js::get(entry, id_field).map(std::borrow::Cow::into_owned);
        let key = current_id
            .as_ref()
            .map_or_else(|| "undefined".to_owned(), js::to_string);
        let mut record = state.store.get(&key).map(js::spread).unwrap_or_default();
        record.extend(js::spread(data));
        match current_id {
            Some(current_id) => record.insert(id_field.to_owned(), current_id),
            None => record.remove(id_field),
        };
        let record = Value::Object(js::js_ordered(record));
        state.store.insert(key, record.clone());
        self.project(query, &record)
    }

    fn remove_sync(&self, id: &Value, params: &Params) -> Result<Value> {
        let query = self.parse_without_limit(params);
        if let Err(QueryError::Invalid(e)) = query {
            return Err(e);
        }
        let mut state = self.write();
        if id.is_null() {
            let (query, targets) = self.multi_targets(&state, "remove", query)?;
            for target in &targets {
                self.project(&query, target)?;
            }
            let mut removed = Vec::with_capacity(targets.len());
            for target in &targets {
                let key = js::get(target, self.id_field())
                    .map_or_else(|| "undefined".to_owned(), |id| js::to_string(&id));
                state.store.remove(&key);
                removed.push(self.project(&query, target)?);
            }
            return Ok(Value::Array(removed));
        }
        let (key, entry) = self.lookup(&state.store, id, &query)?;
        let query = query.map_err(QueryError::into_error)?;
        let result = self.project(&query, &entry)?;
        state.store.remove(&key);
        Ok(result)
    }
}

#[async_trait]
impl Service for MemoryService {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.find_sync(params)
    }

    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        self.get_sync(id, params)
    }

    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        self.create_sync(data, params)
    }

    async fn update(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.update_sync(id, &data, params)
    }

    async fn patch(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.patch_sync(id, &data, params)
    }

    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        self.remove_sync(id, params)
    }

    fn implemented_methods(&self) -> Vec<String> {
        STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::needless_pass_by_value)] // helpers take json!() literals
mod tests {
    use super::*;
    use crate::service::Multi;
    use serde_json::{json, Map};

    fn query(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn service(multi: Multi) -> MemoryService {
        let s = MemoryService::new(AdapterOptions {
            multi,
            ..AdapterOptions::default()
        });
        for name in ["a", "b", "c"] {
            s.create_sync(json!({ "name": name }), &Params::default())
                .unwrap();
        }
        s
    }

    fn with_query(v: Value) -> Params {
        Params::default().with_query(query(v))
    }

    #[test]
    fn ids_are_sequential_and_string_ids_match_numbers() {
        let s = service(Multi::default());
        let r = s.get_sync(&json!("1"), &Params::default()).unwrap();
        assert_eq!(r, json!({"name": "b", "id": 1}));
        let e = s.get_sync(&json!(9), &Params::default()).unwrap_err();
        assert_eq!(
            (e.code(), e.message.as_str()),
            (404, "No record found for id '9'")
        );
        let kept = s
            .create_sync(json!({"id": "x", "n": 1}), &Params::default())
            .unwrap();
        assert_eq!(kept["id"], json!("x"));
    }

    #[test]
    fn multi_rules() {
        let s = service(Multi::default());
        let msg = |r: Result<Value>| r.unwrap_err().message;
        assert_eq!(
            msg(s.create_sync(json!([{}]), &Params::default())),
            "Can not create multiple entries"
        );
        assert_eq!(
            msg(s.patch_sync(&Value::Null, &json!({}), &Params::default())),
            "Can not patch multiple entries"
        );
        assert_eq!(
            msg(s.remove_sync(&Value::Null, &Params::default())),
            "Can not remove multiple entries"
        );
        assert_eq!(
            msg(s.update_sync(&Value::Null, &json!({}), &Params::default())),
            "You can not replace multiple instances. Did you mean 'patch'?"
        );
        let s = service(Multi::All(true));
        let r = s
            .patch_sync(
                &Value::Null,
                &json!({"x": 1}),
                &with_query(json!({"$limit": 1})),
            )
            .unwrap();
        assert_eq!(r.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn update_keeps_stored_id_and_checks_query_first() {
        let s = service(Multi::default());
        let e = s
            .update_sync(
                &json!(1),
                &json!({"name": "z"}),
                &with_query(json!({"name": "a"})),
            )
            .unwrap_err();
        assert_eq!(e.code(), 404);
        assert_eq!(
            s.get_sync(&json!(1), &Params::default()).unwrap()["name"],
            json!("b")
        );
        let r = s
            .update_sync(
                &json!("1"),
                &json!({"id": 7, "name": "z"}),
                &Params::default(),
            )
            .unwrap();
        assert_eq!(r, json!({"id": 1, "name": "z"}));
    }

    #[test]
    fn pagination_and_override() {
        let s = MemoryService::new(AdapterOptions {
            paginate: Some(Paginate {
                default: Some(2),
                max: Some(3),
            }),
            ..AdapterOptions::default()
        });
        for i in 0..5 {
            s.create_sync(json!({ "i": i }), &Params::default())
                .unwrap();
        }
        let page = s
            .find_sync(&with_query(json!({"$limit": 10, "$skip": 1})))
            .unwrap();
        assert_eq!(
            (page["total"].clone(), page["limit"].clone()),
            (json!(5), json!(3))
        );
        assert_eq!(page["data"][0]["i"], json!(1));
        let params = Params {
            paginate: Some(crate::params::PaginateOverride::Disabled),
            ..Params::default()
        };
        assert_eq!(
            s.find_sync(&params).unwrap().as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn select_applies_to_every_method() {
        let s = service(Multi::All(true));
        let p = with_query(json!({"$select": ["x"]}));
        assert_eq!(
            s.create_sync(json!({"x": 1, "y": 2}), &p).unwrap(),
            json!({"x": 1, "id": 3})
        );
        assert_eq!(s.get_sync(&json!(3), &p).unwrap(), json!({"x": 1, "id": 3}));
        assert_eq!(
            s.patch_sync(&json!(3), &json!({"y": 5}), &p).unwrap(),
            json!({"x": 1, "id": 3})
        );
        assert_eq!(
            s.remove_sync(&json!(3), &p).unwrap(),
            json!({"x": 1, "id": 3})
        );
    }
}
