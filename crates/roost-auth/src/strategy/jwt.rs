//! The `jwt` strategy: an access token, verified, and the entity its `sub` names
//! (docs/feathers-semantics.md §E6–E8). The result carries the SAME token: nothing new is issued.

use super::{entity_service, get_entity, is_not_found, AuthStrategy};
use crate::base::Authentication;
use async_trait::async_trait;
use roost_core::js::is_truthy;
use roost_core::{json, Error, Map, Params, Result, Value};

/// The access-token strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct JwtStrategy;

#[async_trait]
impl AuthStrategy for JwtStrategy {
    async fn authenticate(
        &self,
        name: &str,
        auth: &Authentication,
        data: &Value,
        params: &Params,
    ) -> Result<Map<String, Value>> {
        let token = data
            .get("accessToken")
            .filter(|t| is_truthy(t))
            .ok_or_else(|| Error::not_authenticated("No access token"))?;
        let Value::String(token) = token else {
            return Err(Error::not_authenticated("jwt must be a string")
                .with_data(json!({"name": "JsonWebTokenError"})));
        };
        let payload = auth.verify_access_token(token)?.into_value();
        let sub = payload.get("sub").filter(|s| !s.is_null()).cloned();
        let mut result = Map::new();
        result.insert("accessToken".into(), token.clone().into());
        result.insert(
            "authentication".into(),
            json!({"strategy": name, "accessToken": token, "payload": payload}),
        );
        let Some(entity) = auth.config().entity.as_deref() else {
            return Ok(result);
        };
        let sub = sub.ok_or_else(|| Error::not_authenticated("Invalid access token"))?;
        let service = entity_service(auth)?;
        // A token outliving its user is refused as unauthenticated, not as a missing record.
        let user = get_entity(auth, &service, sub, params).await.map_err(|e| {
            if is_not_found(&e) {
                Error::not_authenticated(e.message)
            } else {
                e
            }
        })?;
        result.insert(entity.to_owned(), user);
        Ok(result)
    }
}
