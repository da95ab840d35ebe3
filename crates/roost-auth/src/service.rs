//! The `authentication` service (docs/feathers-semantics.md §E4–E6, §E17–E19): `create` logs in and issues
//! (or, for `jwt`, returns) an access token; `remove` logs out. It offers no other method,
//! publishes nothing, and fires the app-level `login`/`logout` events.

use crate::base::Authentication;
use crate::connection::ConnectionAuth;
use crate::events::AuthEventKind;
use crate::hooks::protect_value;
use crate::jwt;
use crate::strategy::{get_path, js_string};
use async_trait::async_trait;
use roost_core::hooks::{around_fn, HookMap};
use roost_core::js::is_truthy;
use roost_core::{
    Error, Map, Params, Publisher, Result, Service, ServiceHandle, ServiceOptions, Value,
};

/// The `authentication` service as registered on the app.
#[derive(Debug, Clone)]
pub struct AuthenticationService {
    auth: Authentication,
}

impl AuthenticationService {
    /// The service of `auth`.
    pub fn new(auth: Authentication) -> Self {
        AuthenticationService { auth }
    }
}

#[async_trait]
impl Service for AuthenticationService {
    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        let result = self.auth.create(&data, params).await;
        self.auth.metrics().count_login(result.is_ok());
        result
    }

    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        let result = self.auth.remove(id, params).await;
        if result.is_ok() {
            self.auth.metrics().count_logout();
        }
        result
    }

    fn implemented_methods(&self) -> Vec<String> {
        vec!["create".to_owned(), "remove".to_owned()]
    }
}

impl Authentication {
    /// Registers the authentication service at `path` (Feathers: `authentication`) with
    /// methods `create` and `remove` only, a publisher that sends nothing, and the hook that
    /// fires `login`/`logout`. Mount once per [`Authentication`].
    pub fn mount(&self, path: &str) -> Result<ServiceHandle> {
        let handle = self.app()?.use_service(
            path,
            AuthenticationService::new(self.clone()),
            ServiceOptions::default(),
        )?;
        if !self.set_path(handle.path().to_owned()) {
            return Err(Error::general(
                "The authentication service is already mounted",
            ));
        }
        handle.entry().publishers().set_all(Publisher::nothing());
        for (method, kind) in [
            ("create", AuthEventKind::Login),
            ("remove", AuthEventKind::Logout),
        ] {
            let auth = self.clone();
            let hook = around_fn(move |ctx, next| {
                let auth = auth.clone();
                Box::pin(async move {
                    next.run(ctx).await?;
                    if let Some(result) = ctx.result.as_ref() {
                        auth.events().emit(kind, result, &ctx.params);
                    }
                    Ok(())
                })
            });
            handle.hooks(HookMap::new().around(method, hook))?;
        }
        Ok(handle)
    }

    /// `create(data, params)`: authenticates with one of `auth_strategies` and returns
    /// `{accessToken, authentication: {strategy, …, payload}, user}`. A strategy that returns
    /// a token (`jwt`) keeps it; otherwise a new token is signed for the entity. The user in
    /// the result never carries the password field.
    pub async fn create(&self, data: &Value, params: &Params) -> Result<Value> {
        let config = self.config();
        let allowed = params
            .extra
            .get("authStrategies")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|| config.auth_strategies.clone());
        if allowed.is_empty() {
            return Err(Error::not_authenticated(
                "No authentication strategies allowed for creating a JWT (`authStrategies`)",
            ));
        }
        let mut result = self.authenticate(data, params, &allowed).await?;
        if result.get("accessToken").is_some_and(is_truthy) {
            return Ok(self.protect_entity(result));
        }
        let payload = match params.extra.get("payload") {
            Some(Value::Object(p)) => p.clone(),
            _ => Map::new(),
        };
        let subject = match config.entity.as_deref() {
            Some(entity) if !config.service.is_empty() => {
                match result.get(entity).filter(|v| is_truthy(v)) {
                    Some(value) => {
                        let id_field = config.entity_id_field();
                        let id = get_path(value, id_field).ok_or_else(|| {
                            Error::not_authenticated(format!(
                                "Can not set subject from {entity}.{id_field}"
                            ))
                        })?;
                        Some(js_string(id))
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let token = self.create_access_token(payload, subject);
        let decoded = jwt::decode_unverified(&token).unwrap_or(Value::Null);
        let mut authentication = match result.remove("authentication") {
            Some(Value::Object(a)) => a,
            _ => Map::new(),
        };
        authentication.insert("payload".into(), decoded);
        let mut out = Map::new();
        out.insert("accessToken".into(), token.into());
        out.insert("authentication".into(), Value::Object(authentication));
        out.extend(result);
        Ok(self.protect_entity(out))
    }

    /// `remove(id, params)` (logout): `id` must be null or the caller's own access token;
    /// the caller's authentication is verified again and its result returned.
    pub async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        let authentication = params.authentication.as_ref();
        if !id.is_null() {
            let token = authentication.and_then(|a| a.get("accessToken"));
            if token != Some(id) {
                return Err(Error::not_authenticated("Invalid access token"));
            }
        }
        let data = authentication.cloned().unwrap_or(Value::Null);
        let result = self
            .authenticate(&data, params, &self.config().auth_strategies)
            .await?;
        Ok(self.protect_entity(result))
    }

    /// Strips the local password field from the entity in an authentication result.
    fn protect_entity(&self, mut result: Map<String, Value>) -> Value {
        let config = self.config();
        if let Some(entity) = config.entity.as_deref() {
            if let Some(user) = result.get_mut(entity) {
                let field = config.local.entity_password_field();
                *user = protect_value(user, &[field]);
            }
        }
        Value::Object(result)
    }

    /// The connection state a socket login leaves behind (`connection.authentication`,
    /// `connection.user`, the expiry), from a `create` result. The expiry comes from the
    /// result's payload or, failing that, from verifying its token. `None` when the result
    /// carries no access token.
    pub fn connection_auth(&self, result: &Value) -> Result<Option<ConnectionAuth>> {
        let Some(mut state) = ConnectionAuth::from_login(result, self.config().entity.as_deref())
        else {
            return Ok(None);
        };
        if state.exp.is_none() {
            state.exp = self.verify_access_token(&state.access_token)?.exp();
        }
        Ok(Some(state))
    }
}
