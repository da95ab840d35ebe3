//! The authentication hooks: `authenticate(strategies)` (docs/feathers-semantics.md §E13–E14),
//! `protect(fields)` and `hash_password(field)` (§E12).
//!
//! Each hook is one type implementing both [`Hook`] and [`AroundHook`], so it can be
//! registered in whichever form an app uses:
//!
//! ```text
//! users.hooks(HookMap::new()
//!     .around("get", auth.authenticate_hook(&["jwt"])?)
//!     .before("create", auth.hash_password("password"))
//!     .after(ALL, protect(&["password"])))?;
//! ```

use crate::base::Authentication;
use crate::strategy::{get_path, set_entity};
use async_trait::async_trait;
use roost_core::hooks::{AroundHook, Hook, HookType, Next};
use roost_core::js::is_truthy;
use roost_core::{Error, HookContext, Map, Result, Value};
use std::sync::Arc;

/// `authenticate(...strategies)`: a call passes when it is already authenticated, when its
/// `params.authentication` verifies with one of the strategies, or when it is internal.
#[derive(Debug, Clone)]
pub struct AuthenticateHook {
    auth: Authentication,
    strategies: Vec<String>,
}

impl Authentication {
    /// The `authenticate` hook for `strategies` (at least one, e.g. `["jwt"]`). Use it as a
    /// before or around hook.
    pub fn authenticate_hook<S: AsRef<str>>(
        &self,
        strategies: &[S],
    ) -> Result<Arc<AuthenticateHook>> {
        if strategies.is_empty() {
            return Err(Error::general(
                "The authenticate hook needs at least one allowed strategy",
            ));
        }
        Ok(Arc::new(AuthenticateHook {
            auth: self.clone(),
            strategies: strategies.iter().map(|s| s.as_ref().to_owned()).collect(),
        }))
    }

    /// The `hash_password` hook for `field` (a dot path): before create/update/patch, hashes
    /// `data[field]` (in every item of an array) when it is present. Use it as a before or
    /// around hook.
    pub fn hash_password(&self, field: &str) -> Arc<HashPasswordHook> {
        Arc::new(HashPasswordHook {
            auth: self.clone(),
            field: field.to_owned(),
        })
    }
}

impl AuthenticateHook {
    async fn check(&self, ctx: &mut HookContext) -> Result<()> {
        if matches!(ctx.hook_type, HookType::After | HookType::Error) {
            return Err(Error::not_authenticated(
                "The authenticate hook must be used as a before hook",
            ));
        }
        if self.auth.path() == Some(ctx.path.as_str()) {
            return Err(Error::not_authenticated(
                "The authenticate hook does not need to be used on the authentication service",
            ));
        }
        if ctx.params.authenticated {
            return Ok(());
        }
        let Some(authentication) = ctx.params.authentication.clone() else {
            if ctx.params.is_external() {
                return Err(Error::not_authenticated("Not authenticated"));
            }
            return Ok(());
        };
        let mut auth_params = ctx.params.clone();
        auth_params.provider = None;
        auth_params.authentication = None;
        let mut result = self
            .auth
            .authenticate(&authentication, &auth_params, &self.strategies)
            .await?;
        result.remove("accessToken");
        for (key, value) in result {
            match key.as_str() {
                "authentication" => ctx.params.authentication = Some(value),
                "authenticated" => {}
                _ => set_entity(&mut ctx.params, &key, value),
            }
        }
        ctx.params.authenticated = true;
        Ok(())
    }
}

#[async_trait]
impl Hook for AuthenticateHook {
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        self.check(ctx).await
    }
}

#[async_trait]
impl AroundHook for AuthenticateHook {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        self.check(ctx).await?;
        next.run(ctx).await
    }
}

/// `protect(...fields)`: removes `fields` (dot paths allowed) from what external callers
/// receive — every item of an array, every `data` item of a find page — by setting
/// `context.dispatch`; on external calls `context.result` becomes that dispatch too.
///
/// Registered as a before hook (or as an around hook, before the method runs), it also
/// refuses external queries that filter, sort or select on a protected field: a field that
/// never leaves the server must not be readable one comparison at a time either
/// (`GET /users?email=…&password[$gte]=…` would otherwise be an oracle on the hash).
/// Feathers' own `protect` only strips results; Roost refuses such queries with 400.
#[derive(Debug, Clone)]
pub struct ProtectHook {
    fields: Vec<String>,
}

/// The `protect` hook for `fields`. Use it as an after or around hook.
pub fn protect<S: AsRef<str>>(fields: &[S]) -> Arc<ProtectHook> {
    Arc::new(ProtectHook {
        fields: fields.iter().map(|f| f.as_ref().to_owned()).collect(),
    })
}

impl ProtectHook {
    /// 400 when an external call's query names a protected field (see [`guard_query`]).
    fn guard(&self, ctx: &HookContext) -> Result<()> {
        if !ctx.params.is_external() {
            return Ok(());
        }
        guard_query(&ctx.params.query, &self.fields)
    }

    fn apply(&self, ctx: &mut HookContext) {
        let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        // `context.dispatch || context.result`
        let source = ctx
            .dispatch
            .as_ref()
            .filter(|d| is_truthy(d))
            .or(ctx.result.as_ref())
            .filter(|r| is_truthy(r));
        if let Some(source) = source {
            let protected = match source {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|i| protect_value(i, &fields)).collect())
                }
                Value::Object(page)
                    if ctx.method == "find" && page.get("data").is_some_and(is_truthy) =>
                {
                    let mut page = page.clone();
                    if let Some(Value::Array(items)) = page.get_mut("data") {
                        for item in items.iter_mut() {
                            *item = protect_value(item, &fields);
                        }
                    }
                    Value::Object(page)
                }
                other => protect_value(other, &fields),
            };
            ctx.dispatch = Some(protected);
        }
        if ctx.params.is_external() {
            if let Some(dispatch) = &ctx.dispatch {
                ctx.result = Some(dispatch.clone());
            }
        }
    }
}

#[async_trait]
impl Hook for ProtectHook {
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        if ctx.hook_type == HookType::Before {
            return self.guard(ctx);
        }
        self.apply(ctx);
        Ok(())
    }
}

#[async_trait]
impl AroundHook for ProtectHook {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        self.guard(ctx)?;
        next.run(ctx).await?;
        self.apply(ctx);
        Ok(())
    }
}

/// Whether the query key `key` (a field name or dot path) reaches `field`: the field
/// itself, something inside it, or an object that contains it.
fn touches(key: &str, field: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes().get(outer.len()) == Some(&b'.')
    };
    key == field || inside(field, key) || inside(key, field)
}

fn refused(field: &str) -> Error {
    Error::bad_request(format!("Invalid query parameter '{field}'"))
}

/// `BadRequest` when `query` filters, sorts or selects on one of `fields` (dot paths), at
/// any depth of `$or`/`$and`. Used by [`ProtectHook`] before external calls; public so that
/// a service holding secrets without the hook can apply the same rule.
pub fn guard_query(query: &Map<String, Value>, fields: &[String]) -> Result<()> {
    let check = |key: &str| match fields.iter().find(|f| touches(key, f)) {
        Some(field) => Err(refused(field)),
        None => Ok(()),
    };
    for (key, value) in query {
        match key.as_str() {
            "$or" | "$and" => {
                let branches: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    Value::Object(items) => items.values().collect(),
                    _ => Vec::new(),
                };
                for branch in branches {
                    if let Value::Object(branch) = branch {
                        guard_query(branch, fields)?;
                    }
                }
            }
            "$sort" => {
                if let Value::Object(sort) = value {
                    sort.keys().try_for_each(|k| check(k))?;
                }
            }
            "$select" => match value {
                Value::String(name) => check(name)?,
                Value::Array(names) => names
                    .iter()
                    .filter_map(Value::as_str)
                    .try_for_each(&check)?,
                Value::Object(names) => names
                    .values()
                    .filter_map(Value::as_str)
                    .try_for_each(&check)?,
                _ => {}
            },
            k if k.starts_with('$') => {}
            field => check(field)?,
        }
    }
    Ok(())
}

/// A copy of `value` without `fields` (dot paths) when it is an object; other values are
/// returned as they are.
pub(crate) fn protect_value(value: &Value, fields: &[&str]) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut map = map.clone();
    for field in fields {
        remove_path(&mut map, field);
    }
    Value::Object(map)
}

fn remove_path(map: &mut Map<String, Value>, path: &str) {
    if map.remove(path).is_some() {
        return;
    }
    let Some((head, rest)) = path.split_once('.') else {
        return;
    };
    if let Some(Value::Object(inner)) = map.get_mut(head) {
        remove_path(inner, rest);
    }
}

/// `hashPassword(field)`: replaces a present `data[field]` with its bcrypt hash.
#[derive(Debug, Clone)]
pub struct HashPasswordHook {
    auth: Authentication,
    field: String,
}

impl HashPasswordHook {
    async fn apply(&self, ctx: &mut HookContext) -> Result<()> {
        match ctx.data.as_mut() {
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    self.hash_one(item).await?;
                }
            }
            Some(item) => self.hash_one(item).await?,
            None => {}
        }
        Ok(())
    }

    async fn hash_one(&self, item: &mut Value) -> Result<()> {
        let Some(password) = get_path(item, &self.field) else {
            tracing::debug!(field = %self.field, "hash_password: field missing");
            return Ok(());
        };
        let Value::String(password) = password else {
            // bcryptjs' own complaint about a non-string password, as a 400.
            let kind = match password {
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "object",
            };
            return Err(Error::bad_request(format!(
                "Illegal arguments: {kind}, number"
            )));
        };
        let hash = self.auth.hasher().hash(password.clone()).await?;
        set_path(item, &self.field, Value::String(hash));
        Ok(())
    }
}

/// Sets `path` (a key, or a dot path into existing objects) in `value`.
fn set_path(value: &mut Value, path: &str, new: Value) {
    let Value::Object(map) = value else {
        return;
    };
    if map.contains_key(path) || !path.contains('.') {
        map.insert(path.to_owned(), new);
        return;
    }
    if let Some((head, rest)) = path.split_once('.') {
        if let Some(inner) = map.get_mut(head) {
            set_path(inner, rest, new);
        }
    }
}

#[async_trait]
impl Hook for HashPasswordHook {
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        self.apply(ctx).await
    }
}

#[async_trait]
impl AroundHook for HashPasswordHook {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        self.apply(ctx).await?;
        next.run(ctx).await
    }
}

/// Where [`UserFieldHook`] writes the caller's user field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFieldTarget {
    /// `set_from_user`: into `data` (every item of an array) of create/update/patch, so a
    /// record records who made it.
    Data,
    /// `restrict_to_user`: into `params.query` of find/get/update/patch/remove, so a caller
    /// reaches only their own records (another's record is a 404, as if it did not exist).
    Query,
}

/// `set_from_user(field, user_field)` and `restrict_to_user(field, user_field)`: copy
/// `params.user[user_field]` into the call's data or query under `field` (like
/// feathers-authentication-hooks' `setField`). Internal calls without a user pass untouched;
/// an external call without a user is refused with NotAuthenticated, so put `authenticate`
/// first. Use as a before (or around) hook.
#[derive(Debug, Clone)]
pub struct UserFieldHook {
    target: UserFieldTarget,
    field: String,
    user_field: String,
}

impl UserFieldHook {
    /// The hook writing `params.user[user_field]` to `field` of `target`.
    pub fn new(target: UserFieldTarget, field: &str, user_field: &str) -> Arc<UserFieldHook> {
        Arc::new(UserFieldHook {
            target,
            field: field.to_owned(),
            user_field: user_field.to_owned(),
        })
    }

    fn apply(&self, ctx: &mut HookContext) -> Result<()> {
        let applies = match self.target {
            UserFieldTarget::Data => matches!(ctx.method.as_str(), "create" | "update" | "patch"),
            UserFieldTarget::Query => {
                matches!(
                    ctx.method.as_str(),
                    "find" | "get" | "update" | "patch" | "remove"
                )
            }
        };
        if !applies {
            return Ok(());
        }
        let value = ctx
            .params
            .user
            .as_ref()
            .and_then(|user| get_path(user, &self.user_field))
            .filter(|v| !v.is_null())
            .cloned();
        let Some(value) = value else {
            if ctx.params.is_external() {
                return Err(Error::not_authenticated(format!(
                    "Expected field params.user.{} not available",
                    self.user_field
                )));
            }
            return Ok(());
        };
        match self.target {
            UserFieldTarget::Data => match ctx.data.as_mut() {
                Some(Value::Array(items)) => {
                    for item in items.iter_mut() {
                        set_path(item, &self.field, value.clone());
                    }
                }
                Some(item) => set_path(item, &self.field, value),
                None => {}
            },
            UserFieldTarget::Query => {
                ctx.params.query.insert(self.field.clone(), value);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Hook for UserFieldHook {
    async fn call(&self, ctx: &mut HookContext) -> Result<()> {
        self.apply(ctx)
    }
}

#[async_trait]
impl AroundHook for UserFieldHook {
    async fn call(&self, ctx: &mut HookContext, next: Next<'_>) -> Result<()> {
        self.apply(ctx)?;
        next.run(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    #[test]
    fn guard_query_refuses_protected_fields_anywhere_in_the_query() {
        let fields = vec!["password".to_owned(), "profile.secret".to_owned()];
        let q = |v: Value| v.as_object().cloned().unwrap_or_default();
        let refused = [
            json!({"password": "x"}),
            json!({"email": "a", "password": {"$gte": "$2a"}}),
            json!({"$or": [{"email": "a"}, {"password": {"$lt": "z"}}]}),
            json!({"$and": [{"$or": [{"password.length": 3}]}]}),
            json!({"$sort": {"password": 1}}),
            json!({"$select": ["email", "password"]}),
            json!({"$select": "password"}),
            json!({"$select": {"0": "password"}}),
            json!({"profile": {"secret": "x"}}),
            json!({"profile.secret": {"$in": ["a"]}}),
        ];
        for query in refused {
            let err = guard_query(&q(query.clone()), &fields).expect_err(&query.to_string());
            assert_eq!(err.code(), 400, "{query}");
        }
        let allowed = [
            json!({"email": "a", "$limit": 1}),
            json!({"passwordHint": "x", "$sort": {"email": -1}}),
            json!({"profile.name": "x", "$select": ["email"]}),
            json!({"$or": [{"email": "a"}]}),
        ];
        for query in allowed {
            assert!(guard_query(&q(query.clone()), &fields).is_ok(), "{query}");
        }
    }

    #[test]
    fn protect_value_strips_paths() {
        let v = json!({"a": 1, "password": "x", "deep": {"secret": 2, "keep": 3}});
        assert_eq!(
            protect_value(&v, &["password", "deep.secret"]),
            json!({"a": 1, "deep": {"keep": 3}})
        );
        assert_eq!(protect_value(&json!(5), &["a"]), json!(5));
    }

    #[test]
    fn set_path_into_nested_objects() {
        let mut v = json!({"auth": {"password": "x"}});
        set_path(&mut v, "auth.password", json!("h"));
        assert_eq!(v, json!({"auth": {"password": "h"}}));
    }
}
