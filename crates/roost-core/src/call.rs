//! One service call: build the context, run the hook chain around the method, emit the
//! events on success (docs/feathers-semantics.md §B, §C1–C3). The call's transaction: see
//! [`crate::transaction`].

use crate::app::{ServiceEntry, ServiceHandle};
use crate::error::{Error, Result};
use crate::hooks::store::Layers;
use crate::hooks::{BoxFuture, HookContext, Http, Next};
use crate::lock::read;
use crate::method::MethodCall;
use crate::params::Params;
use crate::service::Service;
use crate::transaction::TransactionHandle;
use serde_json::Value;

/// The arguments of one call, as the method receives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallArgs {
    /// The id (get/update/patch/remove); `Value::Null` for multi calls.
    pub id: Option<Value>,
    /// The data (create/update/patch/custom).
    pub data: Option<Value>,
    /// The params.
    pub params: Params,
    /// `context.http`: `Some` for REST calls, whose hooks may set status and headers.
    pub http: Option<Http>,
}

fn unsupported(method: &str) -> Error {
    Error::method_not_allowed(format!(
        "Method `{method}` is not supported by this endpoint."
    ))
}

async fn invoke(handle: &ServiceHandle, ctx: &HookContext) -> Result<Value> {
    let service: &dyn Service = handle.entry.service.as_ref();
    let null = Value::Null;
    let id = ctx.id.as_ref().unwrap_or(&null);
    let data = || ctx.data.clone().unwrap_or(Value::Null);
    let params = &ctx.params;
    match ctx.method.as_str() {
        "find" => service.find(params).await,
        "get" => service.get(id, params).await,
        "create" => service.create(data(), params).await,
        "update" => service.update(id, data(), params).await,
        "patch" => service.patch(id, data(), params).await,
        "remove" => service.remove(id, params).await,
        custom => match handle.custom_method(custom) {
            Some(handler) => {
                let call = MethodCall {
                    data: data(),
                    params: params.clone(),
                    app: handle.app.clone(),
                    path: handle.entry.path.clone(),
                    method: custom.to_owned(),
                };
                handler.call(call).await
            }
            None => service.call(custom, data(), params).await,
        },
    }
}

/// Gives a closure the higher-ranked signature of a chain's terminal.
fn as_terminal<F>(f: F) -> F
where
    F: for<'c> Fn(&'c mut HookContext) -> BoxFuture<'c, Result<()>> + Send + Sync,
{
    f
}

impl ServiceHandle {
    /// Runs `method` through the whole hook chain and emits its events. Returns the final
    /// context, whose `result`, `dispatch` and `http` the transports answer with.
    pub async fn run(&self, method: &str, args: CallArgs) -> Result<HookContext> {
        let entry = &self.entry;
        let options = entry.options();
        if !options.hook_methods.iter().any(|m| m == method) {
            return Err(unsupported(method));
        }
        let mut ctx = HookContext::new(self.app.clone(), entry.path.clone(), method);
        ctx.id = args.id;
        ctx.data = args.data;
        ctx.params = args.params;
        ctx.http = args.http;
        for (k, v) in &options.route_params {
            ctx.params.route.insert(k.clone(), v.clone());
        }
        let (app_layers, service_layers) = self.layers(method);
        let handle = self.clone();
        let terminal = as_terminal(move |ctx| {
            let handle = handle.clone();
            Box::pin(async move {
                // Any result set before the method (even null) skips it (§B8).
                if ctx.result.is_none() {
                    let result = invoke(&handle, ctx).await?;
                    ctx.result = Some(result);
                }
                Ok(())
            })
        });
        // A call that may write gets an empty transaction handle, which the adapter fills
        // when it first writes; a call made with its caller's params shares the caller's,
        // and the caller commits it.
        let transaction = if matches!(method, "find" | "get") || ctx.params.transaction.is_some() {
            None
        } else {
            let tx = TransactionHandle::new();
            ctx.params.transaction = Some(tx.clone());
            Some(tx)
        };
        let outcome = Next::new(&app_layers, &service_layers, &terminal)
            .run(&mut ctx)
            .await;
        if let Some(tx) = transaction {
            match &outcome {
                Ok(()) => tx.commit().await?,
                Err(_) => {
                    if let Err(e) = tx.rollback().await {
                        tracing::warn!(path = %entry.path, method, error = %e, "rollback failed");
                    }
                }
            }
        }
        outcome?;
        self.emit_result_events(&ctx).await;
        Ok(ctx)
    }

    /// The app's layers and the service's, each outermost first.
    fn layers(&self, method: &str) -> (Layers, Layers) {
        (
            read(&self.app.inner.hooks).layers(method),
            read(&self.entry.hooks).layers(method),
        )
    }

    async fn run_result(&self, method: &str, args: CallArgs) -> Result<Value> {
        let ctx = self.run(method, args).await?;
        Ok(ctx.result.unwrap_or(Value::Null))
    }

    /// `find(params)`.
    pub async fn find(&self, params: Params) -> Result<Value> {
        let args = CallArgs {
            params,
            ..CallArgs::default()
        };
        self.run_result("find", args).await
    }

    /// `get(id, params)`.
    pub async fn get(&self, id: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: Some(id),
            data: None,
            params,
            http: None,
        };
        self.run_result("get", args).await
    }

    /// `create(data, params)`.
    pub async fn create(&self, data: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: None,
            data: Some(data),
            params,
            http: None,
        };
        self.run_result("create", args).await
    }

    /// `update(id, data, params)`.
    pub async fn update(&self, id: Value, data: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: Some(id),
            data: Some(data),
            params,
            http: None,
        };
        self.run_result("update", args).await
    }

    /// `patch(id, data, params)`.
    pub async fn patch(&self, id: Value, data: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: Some(id),
            data: Some(data),
            params,
            http: None,
        };
        self.run_result("patch", args).await
    }

    /// `remove(id, params)`.
    pub async fn remove(&self, id: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: Some(id),
            data: None,
            params,
            http: None,
        };
        self.run_result("remove", args).await
    }

    /// A custom method `name(data, params)`.
    pub async fn call(&self, method: &str, data: Value, params: Params) -> Result<Value> {
        let args = CallArgs {
            id: None,
            data: Some(data),
            params,
            http: None,
        };
        self.run_result(method, args).await
    }
}

impl ServiceEntry {
    /// Whether external callers may use `method` (the `methods` option).
    pub fn allows_external(&self, method: &str) -> bool {
        self.options().methods.iter().any(|m| m == method)
    }
}
