//! Custom methods attached to any registered service (`app.use(path, service, { methods })`
//! with the implementation given once): a memory, SQL or hand-written service gains `join`,
//! `reset`, … without a wrapper that forwards the six standard methods.
//!
//! ```
//! use roost_core::{json, App, MemoryService, MethodCall, ServiceOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = App::new();
//! let todos = app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
//! // One place: the name and the handler. It is callable from clients and hookable.
//! todos.method("complete", |call: MethodCall| async move {
//!     let id = call.data["id"].clone();
//!     call.service()?.patch(id, json!({"done": true}), call.params).await
//! })?;
//! todos.create(json!({"text": "write docs"}), Default::default()).await?;
//! let done = todos.call("complete", json!({"id": 0}), Default::default()).await?;
//! assert_eq!(done["done"], true);
//! # Ok::<(), roost_core::Error>(())
//! # }).unwrap();
//! ```

use crate::app::{App, ServiceHandle};
use crate::error::{Error, Result};
use crate::lock::write;
use crate::params::Params;
use crate::service::{is_standard_method, RESERVED_METHODS};
use async_trait::async_trait;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// What a custom method receives: Feathers' `(data, params)` plus the app it runs in.
#[derive(Debug, Clone)]
pub struct MethodCall {
    /// The method's data argument (`null` when the caller sent none).
    pub data: Value,
    /// The call's params, after the before hooks.
    pub params: Params,
    /// The application, to reach other services, channels and custom events.
    pub app: App,
    /// The path of the service the method runs on.
    pub path: String,
    /// The method name.
    pub method: String,
}

impl MethodCall {
    /// The service this method runs on, hooks included (Feathers' `this`).
    pub fn service(&self) -> Result<ServiceHandle> {
        self.app.service(&self.path)
    }
}

/// The implementation of a custom method. Any `Fn(MethodCall) -> impl Future<Output =
/// Result<Value>>` closure is one.
#[async_trait]
pub trait CustomMethod: Send + Sync + 'static {
    /// Runs the method.
    async fn call(&self, call: MethodCall) -> Result<Value>;
}

#[async_trait]
impl<F, Fut> CustomMethod for F
where
    F: Fn(MethodCall) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value>> + Send + 'static,
{
    async fn call(&self, call: MethodCall) -> Result<Value> {
        (self)(call).await
    }
}

impl ServiceHandle {
    /// Adds the custom method `name` to this service: it becomes externally callable (as if
    /// listed in `methods`), hooks may name it, and calls run `handler` with the data, the
    /// params and the app. Works on every service, stored ones included, before or after
    /// its hooks are registered.
    ///
    /// Fails with `GeneralError` for a standard method name, a name Feathers reserves
    /// (`emit`, `setup`, …) or a method the service already has.
    pub fn method(&self, name: &str, handler: impl CustomMethod) -> Result<&Self> {
        self.method_arc(name, Arc::new(handler))
    }

    /// [`ServiceHandle::method`] with a shared handler.
    pub fn method_arc(&self, name: &str, handler: Arc<dyn CustomMethod>) -> Result<&Self> {
        let path = &self.entry.path;
        if is_standard_method(name) || RESERVED_METHODS.contains(&name) || name.is_empty() {
            return Err(Error::general(format!(
                "'{name}' on service '{path}' is not allowed as a custom method name"
            )));
        }
        let mut methods = write(&self.entry.methods);
        let mut options = write(&self.entry.options);
        if methods.contains_key(name) || options.hook_methods.iter().any(|m| m == name) {
            return Err(Error::general(format!(
                "Service '{path}' already has a method '{name}'"
            )));
        }
        let mut next = (**options).clone();
        next.methods.push(name.to_owned());
        next.hook_methods.push(name.to_owned());
        *options = Arc::new(next);
        methods.insert(name.to_owned(), handler);
        Ok(self)
    }

    /// The handler attached for `name`, if any.
    pub(crate) fn custom_method(&self, name: &str) -> Option<Arc<dyn CustomMethod>> {
        crate::lock::read(&self.entry.methods).get(name).cloned()
    }
}
