//! The `local` strategy: username and password against a bcrypt hash (docs/feathers-semantics.md §E5, §E9–E11).
//!
//! Every failure — no password, no username, no such user, a user without a hash, a wrong
//! password — is the same 401 with the configured message and no data, and all but the
//! first two spend one bcrypt verification, so neither the answer nor its timing tells
//! whether the user exists.

use super::{entity_service, get_entity, get_path, AuthStrategy};
use crate::base::Authentication;
use async_trait::async_trait;
use roost_core::js::is_truthy;
use roost_core::{Error, Map, Params, Result, Value};

/// The username/password strategy. Configured by [`crate::AuthConfig::local`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStrategy;

#[async_trait]
impl AuthStrategy for LocalStrategy {
    async fn authenticate(
        &self,
        name: &str,
        auth: &Authentication,
        data: &Value,
        params: &Params,
    ) -> Result<Map<String, Value>> {
        let config = &auth.config().local;
        let invalid = || Error::not_authenticated(config.error_message.clone());
        let password = get_path(data, &config.password_field)
            .filter(|p| is_truthy(p))
            .ok_or_else(invalid)?;
        let username = get_path(data, &config.username_field)
            .filter(|u| is_truthy(u))
            .ok_or_else(invalid)?;
        // Feathers puts the username into the query as given; an object there would be a
        // query operator (`{$ne: null}`), so Roost accepts only scalars.
        if !matches!(
            username,
            Value::String(_) | Value::Number(_) | Value::Bool(_)
        ) {
            return Err(invalid());
        }
        let Value::String(password) = password else {
            return Err(invalid());
        };
        let service = entity_service(auth)?;
        let mut query = Map::new();
        query.insert("$limit".into(), 1.into());
        query.insert(config.entity_username_field().to_owned(), username.clone());
        let mut find_params = params.clone();
        find_params.provider = None;
        find_params.query = query;
        let found = service.find(find_params).await?;
        let first = match &found {
            Value::Array(list) => list.first(),
            page => page
                .get("data")
                .and_then(Value::as_array)
                .and_then(|l| l.first()),
        };
        let hasher = auth.hasher();
        let hash = first
            .and_then(|entity| get_path(entity, config.entity_password_field()))
            .filter(|h| is_truthy(h))
            .and_then(Value::as_str);
        let (Some(entity), Some(hash)) = (first, hash) else {
            tracing::debug!("local login: no entity or no hash");
            hasher.verify_dummy(password.clone()).await?;
            return Err(invalid());
        };
        if !hasher.verify(password.clone(), hash.to_owned()).await? {
            tracing::debug!("local login: wrong password");
            return Err(invalid());
        }
        let id_field = auth.config().entity_id_field();
        let id = get_path(entity, id_field)
            .cloned()
            .ok_or_else(|| Error::not_authenticated("Could not get local entity"))?;
        let mut result = Map::new();
        let mut authentication = Map::new();
        authentication.insert("strategy".into(), name.into());
        result.insert("authentication".into(), Value::Object(authentication));
        if let Some(key) = auth.config().entity.as_deref() {
            let user = if params.is_external() {
                get_entity(auth, &service, id, params).await?
            } else {
                entity.clone()
            };
            result.insert(key.to_owned(), user);
        }
        Ok(result)
    }
}
