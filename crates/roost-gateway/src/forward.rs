//! [`ForwardService`]: a Roost service whose every method is a call to the upstream app, so
//! Primus, Socket.IO and REST, Roost's hooks, acks and errors work for it unchanged.
//!
//! - Rest mode (zero-SDK): the call becomes the request `@feathersjs/rest-client` sends —
//!   `GET /path?qs`, `GET /path/<id>`, `POST /path`, `PUT|PATCH|DELETE /path/<id>`, custom
//!   methods as `POST /path` with `X-Service-Method`, the connection's access token as
//!   `Authorization: Bearer …` — and the status with its Feathers error JSON comes back as
//!   the ack.
//! - Plugin mode: the call goes as one JSON envelope to the plugin's `POST /_roost/call`,
//!   which runs it with Feathers params and answers with the result or error plus the
//!   channel joins/leaves and logins the app made on the connection (applied before the ack).

use crate::client::{Upstream, UpstreamAnswer, UpstreamRequest};
use crate::config::{GatewayConfig, GatewayMode};
use crate::metrics::GatewayMetrics;
use crate::qs;
use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::HeaderName;
use hyper::Method;
use roost_auth::connection::{is_valid_logout, ConnectionAuth};
use roost_core::service::{is_standard_method, STANDARD_METHODS};
use roost_core::{App, ConnectionId, Error, ErrorKind, Map, Params, Result, Service, Value};
use std::sync::{Arc, Mutex, PoisonError};

/// The route placeholder of the wildcard service: `:roostUpstreamPath` matches any
/// one-segment path (plus an id) that no literal Roost path matches.
pub(crate) const WILDCARD_PARAM: &str = "roostUpstreamPath";

/// The header carrying the shared secret between Roost and the plugin.
pub(crate) const SECRET_HEADER: &str = "x-roost-secret";

/// What the forwarding services share.
pub(crate) struct Shared {
    pub(crate) app: App,
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) upstream: Upstream,
    pub(crate) metrics: Arc<GatewayMetrics>,
    /// Connections the plugin has seen (it keeps a proxy for each until told they closed).
    pub(crate) seen: Mutex<std::collections::HashSet<u64>>,
    /// This process's id towards the plugin. Connection ids restart with Roost, so the plugin
    /// drops its proxies when the instance changes, and Roost ignores id-based parts of a
    /// post made for another instance.
    pub(crate) instance: String,
    /// Rest mode: the expiry of socket logins.
    pub(crate) expiries: crate::expiry::Expiries,
}

impl Shared {
    pub(crate) fn mark_seen(&self, id: ConnectionId) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.0);
    }

    pub(crate) fn forget(&self, id: ConnectionId) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id.0)
    }

    /// Applies the plugin's `changes` (`[id, "join"|"leave"|"leaveAll"|"disconnect", name]`) and `logins`
    /// (`[id, user|null, authentication|null]`) to the real connections.
    pub(crate) fn apply_changes(&self, changes: Option<&Value>, logins: Option<&Value>) {
        for change in changes.and_then(Value::as_array).into_iter().flatten() {
            let (Some(id), Some(op)) = (
                change.get(0).and_then(Value::as_u64),
                change.get(1).and_then(Value::as_str),
            ) else {
                continue;
            };
            let conn = ConnectionId(id);
            let name = change.get(2).and_then(Value::as_str).unwrap_or_default();
            let channels = self.app.channels();
            match op {
                "join" if !name.is_empty() => {
                    channels.channel(name).join([conn]);
                }
                "leave" if !name.is_empty() => {
                    channels.channel(name).leave([conn]);
                }
                "leaveAll" => channels.leave_all(conn),
                // The app disconnected the connection itself (its JWT strategy at token
                // expiry): as on a direct connection, the login goes, every channel is left
                // and the transport does what it does at expiry (Socket.IO sends `41`, a
                // Primus socket stays open).
                "disconnect" => {
                    if let Some(info) = self.app.connection(conn) {
                        info.clear_auth();
                    }
                    self.app.emit_disconnect(conn);
                }
                _ => continue,
            }
            GatewayMetrics::inc(&self.metrics.membership_changes);
        }
        for login in logins.and_then(Value::as_array).into_iter().flatten() {
            let Some(info) = login
                .get(0)
                .and_then(Value::as_u64)
                .and_then(|id| self.app.connection(ConnectionId(id)))
            else {
                continue;
            };
            match (login.get(1), login.get(2)) {
                (Some(user), Some(auth)) if !user.is_null() && !auth.is_null() => {
                    info.set_auth(user.clone(), auth.clone());
                }
                _ => info.clear_auth(),
            }
            GatewayMetrics::inc(&self.metrics.logins);
        }
    }
}

/// One upstream path served through the gateway.
pub(crate) struct ForwardService {
    pub(crate) shared: Arc<Shared>,
    /// The registered path; [`WILDCARD_PARAM`]'s placeholder for the wildcard service.
    pub(crate) pattern: String,
    pub(crate) methods: Vec<String>,
}

/// The standard methods plus `custom`, as the `methods` option of a forwarding service.
pub(crate) fn method_list(custom: &[String]) -> Vec<String> {
    let mut methods: Vec<String> = STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect();
    for m in custom {
        if !methods.contains(m) {
            methods.push(m.clone());
        }
    }
    methods
}

impl ForwardService {
    /// The concrete upstream path of this call: placeholders filled from `params.route`.
    fn upstream_path(&self, params: &Params) -> Result<String> {
        let mut out = Vec::new();
        for segment in self.pattern.split('/') {
            match segment.strip_prefix(':') {
                Some(name) => {
                    let value = params
                        .route
                        .get(name)
                        .map(roost_core::js::to_string)
                        .ok_or_else(|| Error::not_found("No route value for the upstream path"))?;
                    out.push(qs::encode_component(&value));
                }
                None => out.push(segment.to_owned()),
            }
        }
        Ok(out.join("/"))
    }

    async fn forward(
        &self,
        method: &str,
        id: Option<&Value>,
        data: Option<Value>,
        params: &Params,
    ) -> Result<Value> {
        let path = self.upstream_path(params)?;
        let shared = &self.shared;
        let result = match shared.config.mode {
            GatewayMode::Rest => self.forward_rest(&path, method, id, data, params).await?,
            GatewayMode::Plugin => {
                return self.forward_plugin(&path, method, id, data, params).await
            }
        };
        self.after_rest_call(&path, method, &result, params);
        Ok(result)
    }

    async fn forward_rest(
        &self,
        path: &str,
        method: &str,
        id: Option<&Value>,
        data: Option<Value>,
        params: &Params,
    ) -> Result<Value> {
        let verb = match method {
            "find" | "get" => Method::GET,
            "update" => Method::PUT,
            "patch" => Method::PATCH,
            "remove" => Method::DELETE,
            _ => Method::POST,
        };
        let mut url = format!("/{path}");
        if let Some(id) = id.filter(|id| !id.is_null()) {
            url.push('/');
            url.push_str(&qs::encode_component(&roost_core::js::to_string(id)));
        }
        let query = qs::stringify(&params.query);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let mut headers = Vec::new();
        if !is_standard_method(method) {
            headers.push((
                HeaderName::from_static("x-service-method"),
                method.to_owned(),
            ));
        }
        if let Some(auth) = authorization(params) {
            headers.push((HeaderName::from_static("authorization"), auth));
        }
        let body = match data {
            Some(data) => {
                Some(Bytes::from(serde_json::to_vec(&data).map_err(|_| {
                    Error::bad_request("The data cannot be forwarded")
                })?))
            }
            None => None,
        };
        let answer = self
            .shared
            .upstream
            .send(UpstreamRequest {
                method: verb,
                path_and_query: url,
                headers,
                body,
            })
            .await?;
        self.read_rest_answer(&answer)
    }

    fn read_rest_answer(&self, answer: &UpstreamAnswer) -> Result<Value> {
        let metrics = &self.shared.metrics;
        let parsed: Option<Value> = if answer.body.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_slice(&answer.body).ok()
        };
        if (200..300).contains(&answer.status) {
            return parsed.ok_or_else(|| {
                GatewayMetrics::inc(&metrics.bad_answers);
                Error::new(ErrorKind::BadGateway, "The upstream answer is not JSON")
            });
        }
        GatewayMetrics::inc(&metrics.upstream_errors);
        Err(match parsed.filter(Value::is_object) {
            Some(json) => Error::from_json(&json),
            None => Error::new(
                ErrorKind::from_code(answer.status).unwrap_or(ErrorKind::BadGateway),
                format!("The upstream answered {}", answer.status),
            ),
        })
    }

    /// Rest mode: keeps a socket login/logout on the connection and publishes the events of
    /// forwarded writes to `publish_channel`.
    fn after_rest_call(&self, path: &str, method: &str, result: &Value, params: &Params) {
        let shared = &self.shared;
        let app = &shared.app;
        if path == shared.config.authentication_path.trim_matches('/') {
            let Some(info) = params.connection.and_then(|id| app.connection(id)) else {
                return;
            };
            match method {
                "create" => {
                    let Some(login) = ConnectionAuth::from_login(result, Some("user")) else {
                        return;
                    };
                    let user = login
                        .entity
                        .as_ref()
                        .map_or(Value::Null, |(_, user)| user.clone());
                    info.set_auth(user, login.authentication());
                    match login.expires_in(std::time::SystemTime::now()) {
                        Some(after) => shared.expiries.arm(info.id(), after),
                        None => shared.expiries.disarm(info.id()),
                    }
                    // A generated Feathers app's channels.ts: a socket login moves the
                    // connection from `anonymous` to `authenticated`.
                    app.channels().channel("anonymous").leave([info.id()]);
                    app.channels().channel("authenticated").join([info.id()]);
                    GatewayMetrics::inc(&shared.metrics.logins);
                }
                "remove" => {
                    let token = info.authentication().and_then(|a| {
                        a.get("accessToken")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                    if is_valid_logout(token.as_deref(), result) {
                        shared.expiries.disarm(info.id());
                        info.clear_auth();
                        app.channels().leave_all(info.id());
                        GatewayMetrics::inc(&shared.metrics.logins);
                    }
                }
                _ => {}
            }
            return;
        }
        let channel = &shared.config.publish_channel;
        let Some(event) = roost_core::service::default_event(method) else {
            return;
        };
        // On a feathers-sync bus the app publishes this event itself and the forwarding
        // service's publisher delivers it from there (every write, wherever made): emitting
        // it here too would deliver it twice.
        if channel.is_empty() || app.on_upstream_bus() {
            return;
        }
        let items = match result {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        for item in items {
            app.deliver_upstream_event(path, event, item, app.channels().channel(channel));
        }
    }

    async fn forward_plugin(
        &self,
        path: &str,
        method: &str,
        id: Option<&Value>,
        data: Option<Value>,
        params: &Params,
    ) -> Result<Value> {
        let shared = &self.shared;
        let mut route = params.route.clone();
        route.remove(WILDCARD_PARAM);
        let mut envelope = Map::new();
        envelope.insert("instance".into(), Value::from(shared.instance.as_str()));
        envelope.insert("path".into(), Value::from(path));
        envelope.insert("method".into(), Value::from(method));
        if let Some(id) = id {
            envelope.insert("id".into(), id.clone());
        }
        if let Some(data) = data {
            envelope.insert("data".into(), data);
        }
        envelope.insert("query".into(), Value::Object(params.query.clone()));
        envelope.insert("route".into(), Value::Object(route));
        envelope.insert(
            "provider".into(),
            params.provider.clone().map_or(Value::Null, Value::from),
        );
        envelope.insert("headers".into(), Value::Object(params.headers.clone()));
        if let Some(conn) = params.connection {
            shared.mark_seen(conn);
            let mut c = Map::new();
            c.insert("id".into(), Value::from(conn.0));
            if let Some(user) = &params.user {
                c.insert("user".into(), user.clone());
            }
            if let Some(auth) = &params.authentication {
                c.insert("authentication".into(), auth.clone());
            }
            envelope.insert("connection".into(), Value::Object(c));
        } else if let Some(auth) = &params.authentication {
            envelope.insert("authentication".into(), auth.clone());
        }
        let body = serde_json::to_vec(&Value::Object(envelope))
            .map_err(|_| Error::bad_request("The call cannot be forwarded"))?;
        let answer = shared
            .upstream
            .send(UpstreamRequest {
                method: Method::POST,
                path_and_query: "/_roost/call".to_owned(),
                headers: vec![(
                    HeaderName::from_static(SECRET_HEADER),
                    shared.config.secret.clone(),
                )],
                body: Some(Bytes::from(body)),
            })
            .await?;
        let reply: Value = match serde_json::from_slice(&answer.body) {
            Ok(reply) if answer.status == 200 => reply,
            _ => {
                GatewayMetrics::inc(&shared.metrics.bad_answers);
                tracing::warn!(
                    status = answer.status,
                    "the upstream's /_roost/call did not answer as the feathers-roost plugin does"
                );
                return Err(Error::new(
                    ErrorKind::BadGateway,
                    "The upstream did not answer as the Roost plugin does",
                ));
            }
        };
        shared.apply_changes(reply.get("changes"), reply.get("logins"));
        match reply.get("error") {
            Some(error) if error.is_object() => {
                GatewayMetrics::inc(&shared.metrics.upstream_errors);
                Err(Error::from_json(error))
            }
            _ => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        }
    }
}

/// `Authorization` for the upstream: the REST caller's own header, else the connection's
/// access token as a Bearer token.
fn authorization(params: &Params) -> Option<String> {
    if let Some(header) = params.headers.get("authorization").and_then(Value::as_str) {
        return Some(header.to_owned());
    }
    params
        .authentication
        .as_ref()
        .and_then(|a| a.get("accessToken"))
        .and_then(Value::as_str)
        .map(|token| format!("Bearer {token}"))
}

#[async_trait]
impl Service for ForwardService {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.forward("find", None, None, params).await
    }
    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        self.forward("get", Some(id), None, params).await
    }
    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        self.forward("create", None, Some(data), params).await
    }
    async fn update(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.forward("update", Some(id), Some(data), params).await
    }
    async fn patch(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        self.forward("patch", Some(id), Some(data), params).await
    }
    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        self.forward("remove", Some(id), None, params).await
    }
    async fn call(&self, method: &str, data: Value, params: &Params) -> Result<Value> {
        self.forward(method, None, Some(data), params).await
    }
    fn implemented_methods(&self) -> Vec<String> {
        self.methods.clone()
    }
}
