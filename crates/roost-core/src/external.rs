//! Calls from real-time clients: `(method, path, ...args)` as Primus and Socket.IO carry them
//! (docs/protocol.md §6, docs/feathers-semantics.md §H11–H16), checked and turned into a service call. Both socket
//! transports use this one function, so their answers cannot drift apart.

use crate::app::App;
use crate::call::CallArgs;
use crate::error::{Error, Result};
use crate::hooks::HookContext;
use crate::params::Params;
use crate::service::is_standard_method;
use serde_json::{Map, Value};

/// Where the query sits among the arguments after the path, and how many arguments a method
/// takes: find `[query]`, get/remove `[id, query]`, update/patch `[id, data, query]`,
/// create and custom methods `[data, query]`.
fn layout(method: &str) -> (usize, usize) {
    match method {
        "find" => (0, 1),
        "update" | "patch" => (2, 3),
        _ => (1, 2),
    }
}

/// Runs a socket call. `base` carries what the transport knows: provider, handshake
/// headers, the connection and every field stored on it (user, authentication, …).
pub async fn call_external(
    app: &App,
    method: &str,
    path: &Value,
    mut args: Vec<Value>,
    base: Params,
) -> Result<HookContext> {
    let Value::String(path) = path else {
        return Err(Error::not_found("Invalid service path"));
    };
    let Some((service, route)) = app.lookup(path) else {
        let shown = path.trim_matches('/');
        return Err(Error::not_found(format!("Service '{shown}' not found")));
    };
    if !service.entry().allows_external(method) {
        return Err(Error::method_not_allowed(format!(
            "Method '{method}' not allowed on service '{}'",
            service.path()
        )));
    }
    let (query_at, arity) = layout(method);
    if args.len() > arity {
        return Err(Error::bad_request(format!(
            "Too many arguments for '{method}' method"
        )));
    }
    args.resize(arity, Value::Null);
    let query = match std::mem::take(&mut args[query_at]) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        _ => return Err(Error::bad_request("The query must be an object")),
    };
    let mut params = base;
    params.query = query;
    params.route = route;
    let mut args = args.into_iter();
    let call = match method {
        "find" => CallArgs {
            params,
            ..CallArgs::default()
        },
        "get" | "remove" => CallArgs {
            id: args.next(),
            data: None,
            params,
            http: None,
        },
        "update" | "patch" => CallArgs {
            id: args.next(),
            data: args.next(),
            params,
            http: None,
        },
        _ => {
            debug_assert!(method == "create" || !is_standard_method(method));
            CallArgs {
                id: None,
                data: args.next(),
                params,
                http: None,
            }
        }
    };
    service.run(method, call).await
}
