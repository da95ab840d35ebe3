//! Where the default app keeps its records: one [`StoreFactory`] call per service, so
//! switching the app from memory to SQL is one argument of [`super::install_with`].

use async_trait::async_trait;
use roost_core::memory::{MemoryOptions, MemoryService};
use roost_core::schema::Schema;
use roost_core::service::AdapterOptions;
use roost_core::{Result, Service};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What a store for one of the default app's services must provide.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSpec {
    /// The service path, also a fine table name (`users`, `messages`).
    pub path: String,
    /// Id field, multi and pagination.
    pub adapter: AdapterOptions,
    /// The first generated id (the app's ids start at 1, so no id is falsy).
    pub start_id: i64,
    /// The fields the app reads and writes, with their types.
    pub schema: Schema,
    /// Fields whose values must be unique (the app checks too, under a lock; a store may
    /// add a unique index).
    pub unique: Vec<String>,
}

/// Makes the store of each service of the default app (async: an SQL store migrates its table).
#[async_trait]
pub trait StoreFactory: Send + Sync {
    /// The store for `spec`.
    async fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>>;
}

/// Memory stores (records are lost on restart).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryStores;

#[async_trait]
impl StoreFactory for MemoryStores {
    async fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        Ok(Arc::new(MemoryService::with_options(MemoryOptions {
            adapter: spec.adapter.clone(),
            start_id: spec.start_id,
            ..MemoryOptions::default()
        })))
    }
}

/// Memory stores that stay reachable by path after the parts registered them, so that
/// server code (a fixtures service, a test) can [`MemoryService::reset`] them. Cheap to
/// clone: clones share the stores.
#[derive(Debug, Clone, Default)]
pub struct SharedMemoryStores(Arc<Mutex<BTreeMap<String, Arc<MemoryService>>>>);

impl SharedMemoryStores {
    /// The store made for `path`, if one was.
    pub fn get(&self, path: &str) -> Option<Arc<MemoryService>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }
}

#[async_trait]
impl StoreFactory for SharedMemoryStores {
    async fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        let store = Arc::new(MemoryService::with_options(MemoryOptions {
            adapter: spec.adapter.clone(),
            start_id: spec.start_id,
            ..MemoryOptions::default()
        }));
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(spec.path.clone(), Arc::clone(&store));
        Ok(store)
    }
}

/// Any closure `Fn(&StoreSpec) -> Result<Arc<dyn Service>>` is a factory.
#[async_trait]
impl<F> StoreFactory for F
where
    F: Fn(&StoreSpec) -> Result<Arc<dyn Service>> + Send + Sync,
{
    async fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        self(spec)
    }
}

/// The stores of the `[storage]` database: SQL tables named after the paths (migrated like
/// declared services, so `roost migrate` covers them), or memory when `storage.url = "memory"`.
pub struct StorageStores<'a>(pub &'a crate::storage::Storage);

#[async_trait]
impl StoreFactory for StorageStores<'_> {
    async fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        if self.0.is_memory() {
            return MemoryStores.store(spec).await;
        }
        let table = crate::storage::SqlTable {
            table: spec.path.replace('/', "_"),
            schema: spec.schema.clone(),
            id_type: roost_sql::IdType::Integer,
        };
        crate::storage::service_for(self.0, &spec.path, table, spec.adapter.clone())
            .await
            .map_err(|e| roost_core::Error::unavailable(e.to_string()))
    }
}
