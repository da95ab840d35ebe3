//! Authentication strategies (Feathers' `AuthenticationBaseStrategy`): [`local`] checks a
//! username and password, [`jwt`] checks an access token. Both find the entity (the user)
//! through the entity service, internally, as docs/feathers-semantics.md §E8–E9 describe.

pub mod jwt;
pub mod local;

pub use jwt::JwtStrategy;
pub use local::LocalStrategy;

use crate::base::Authentication;
use async_trait::async_trait;
use roost_core::call::CallArgs;
use roost_core::{Error, ErrorKind, Map, Params, Result, ServiceHandle, Value};

/// One way to authenticate. `authenticate` receives the request data (`{strategy, …}`) and
/// the call's params (with `authenticated: true` already set, so entity lookups pass
/// `authenticate` hooks) and returns the authentication result object:
/// `{authentication: {strategy, …}, user?, accessToken?}`.
///
/// A result without `accessToken` makes the authentication service issue a token.
#[async_trait]
pub trait AuthStrategy: Send + Sync + 'static {
    /// Authenticates `data` as the strategy registered under `name`.
    async fn authenticate(
        &self,
        name: &str,
        auth: &Authentication,
        data: &Value,
        params: &Params,
    ) -> Result<Map<String, Value>>;
}

/// The entity service (`users`), or Feathers' error when it is not registered.
pub(crate) fn entity_service(auth: &Authentication) -> Result<ServiceHandle> {
    auth.app()?
        .service(&auth.config().service)
        .map_err(|_| Error::not_authenticated("Could not find entity service"))
}

/// Puts `value` into `params` under the entity key (`params.user` for `user`).
pub(crate) fn set_entity(params: &mut Params, entity: &str, value: Value) {
    if entity == "user" {
        params.user = Some(value);
    } else {
        params.extra.insert(entity.to_owned(), value);
    }
}

/// Fetches the entity `id`: internally first (no provider, empty query). For external
/// calls it is fetched again with the caller's params and the raw entity in them, and the
/// dispatch (what external callers may see, e.g. without the password) is returned, as
/// Feathers' `getEntity` followed by `resolveDispatch` gives.
pub(crate) async fn get_entity(
    auth: &Authentication,
    service: &ServiceHandle,
    id: Value,
    params: &Params,
) -> Result<Value> {
    let mut internal = params.clone();
    internal.provider = None;
    internal.query = Map::new();
    let raw = service.get(id.clone(), internal).await?;
    if !params.is_external() {
        return Ok(raw);
    }
    let mut external = params.clone();
    if let Some(entity) = auth.config().entity.as_deref() {
        set_entity(&mut external, entity, raw);
    }
    let ctx = service
        .run(
            "get",
            CallArgs {
                id: Some(id),
                data: None,
                params: external,
                http: None,
            },
        )
        .await?;
    Ok(ctx.dispatch_or_result().cloned().unwrap_or(Value::Null))
}

/// `lodash.get(value, path)` for dot paths (`a.b.c`; array indices as segments).
pub(crate) fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(direct) = value.get(path) {
        return Some(direct);
    }
    path.split('.')
        .try_fold(value, |current, key| match current {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// JavaScript's `String(value)` for the JSON values an id can be.
pub(crate) fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// Whether an error means "no such record".
pub(crate) fn is_not_found(e: &Error) -> bool {
    e.kind == ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    #[test]
    fn paths_and_strings() {
        let v = json!({"a": {"b": [1, {"c": 2}]}, "x.y": 3});
        assert_eq!(get_path(&v, "a.b.1.c"), Some(&json!(2)));
        assert_eq!(get_path(&v, "x.y"), Some(&json!(3)));
        assert_eq!(get_path(&v, "a.z"), None);
        assert_eq!(js_string(&json!(1)), "1");
        assert_eq!(js_string(&json!(1.0)), "1");
        assert_eq!(js_string(&json!(1.5)), "1.5");
        assert_eq!(js_string(&json!("abc")), "abc");
        assert_eq!(js_string(&json!([1, null, "a"])), "1,,a");
        assert_eq!(js_string(&json!({})), "[object Object]");
    }
}
