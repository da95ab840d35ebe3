//! Where the default app keeps its records: one [`StoreFactory`] call per service, so
//! switching the app from memory to SQL is one argument of [`super::install_with`].

use roost_core::memory::{MemoryOptions, MemoryService};
use roost_core::schema::Schema;
use roost_core::service::AdapterOptions;
use roost_core::{Result, Service};
use std::sync::Arc;

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

/// Makes the store of each service of the default app.
pub trait StoreFactory: Send + Sync {
    /// The store for `spec`.
    fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>>;
}

/// Memory stores (records are lost on restart).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryStores;

impl StoreFactory for MemoryStores {
    fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        Ok(Arc::new(MemoryService::with_options(MemoryOptions {
            adapter: spec.adapter.clone(),
            start_id: spec.start_id,
            ..MemoryOptions::default()
        })))
    }
}

/// Any closure `Fn(&StoreSpec) -> Result<Arc<dyn Service>>` is a factory.
impl<F> StoreFactory for F
where
    F: Fn(&StoreSpec) -> Result<Arc<dyn Service>> + Send + Sync,
{
    fn store(&self, spec: &StoreSpec) -> Result<Arc<dyn Service>> {
        self(spec)
    }
}
