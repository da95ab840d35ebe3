//! What the publish and cluster tests share.

use async_trait::async_trait;
use roost_core::{Params, Result, Service, Value};

/// A service with only `create`, which returns its data: every call publishes `created`.
pub(crate) struct Store;

#[async_trait]
impl Service for Store {
    async fn create(&self, data: Value, _params: &Params) -> Result<Value> {
        Ok(data)
    }
    fn implemented_methods(&self) -> Vec<String> {
        vec!["create".into()]
    }
}
