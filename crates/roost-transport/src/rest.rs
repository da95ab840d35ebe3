//! REST, as Feathers 5 on Koa serves it (docs/feathers-semantics.md §H1–H9): every service answers at
//! `<path>` and `<path>/:__id`, verbs map to methods, `X-Service-Method` selects a custom
//! method on POST, and errors are Feathers JSON with the error's code as status.

use crate::headers::header_map;
use crate::response::{error_response, json_response};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use roost_core::hooks::Http;
use roost_core::{App, CallArgs, Error, ErrorKind, Map, Params, Value};
use roost_wire::json_cost;
use roost_wire::qs::{self, QsOptions};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The REST settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestConfig {
    /// Largest accepted request body, in bytes (default 1 MiB, like koa-body). A larger body
    /// is answered with 413 and a Feathers error.
    pub body_limit: usize,
    /// Most JSON values a JSON body may hold (default 20000; parsed JSON costs up to about
    /// 1 KiB per value). A body with more is answered 400 without being parsed.
    pub max_body_values: usize,
    /// How query strings are parsed (Koa's `qs` settings by default).
    pub query: QsOptions,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            body_limit: 1024 * 1024,
            max_body_values: 20_000,
            query: QsOptions::default(),
        }
    }
}

/// Completes the params of every REST request before its call runs, from what the
/// transport already put there (headers, query). The binary installs one that parses the
/// `Authorization` header into `params.authentication` (docs/feathers-semantics.md §E15), so this crate needs
/// no dependency on roost-auth. It must not fail: a bad credential fails later, in the
/// `authenticate` hook of a service that demands one (§E16).
pub type RequestParamsHook = Arc<dyn Fn(&mut Params) + Send + Sync>;

/// The REST counters `/metrics` shows. Cheap to clone: clones count into the same cells.
#[derive(Debug, Clone, Default)]
pub struct RestMetrics {
    inner: Arc<RestCounters>,
}

#[derive(Debug, Default)]
struct RestCounters {
    requests: AtomicU64,
    body_limit_hits: AtomicU64,
    query_limit_hits: AtomicU64,
    bad_bodies: AtomicU64,
}

impl RestMetrics {
    /// Requests answered (any status).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Bodies refused at `rest.body_limit`.
    pub fn body_limit_hits(&self) -> u64 {
        self.inner.body_limit_hits.load(Ordering::Relaxed)
    }

    /// Query strings (and form bodies) refused at a `rest.query` limit: depth, parameter or
    /// array limit with `strict_depth` / `throw_on_limit_exceeded` set.
    pub fn query_limit_hits(&self) -> u64 {
        self.inner.query_limit_hits.load(Ordering::Relaxed)
    }

    /// Bodies that were not valid JSON objects/arrays or form data.
    pub fn bad_bodies(&self) -> u64 {
        self.inner.bad_bodies.load(Ordering::Relaxed)
    }

    /// Every limit hit: bodies over the size limit and queries over a `qs` limit.
    pub fn limit_hits(&self) -> u64 {
        self.body_limit_hits() + self.query_limit_hits()
    }

    fn count(cell: &AtomicU64) {
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// Every [`qs::QsError`] is a limit refusing the input.
    fn count_qs_error(&self, _error: &qs::QsError) {
        Self::count(&self.inner.query_limit_hits);
    }
}

/// What the REST handler needs, shared by every request.
#[derive(Clone)]
pub(crate) struct RestState {
    /// The application.
    pub app: App,
    /// The settings.
    pub config: Arc<RestConfig>,
    /// Runs on every request's params before the call (see [`RequestParamsHook`]).
    pub params_hook: Option<RequestParamsHook>,
    /// The counters.
    pub metrics: RestMetrics,
}

impl std::fmt::Debug for RestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestState")
            .field("app", &self.app)
            .field("config", &self.config)
            .field("params_hook", &self.params_hook.is_some())
            .finish()
    }
}

/// Ids and route values arrive percent-encoded (the JS client sends
/// `encodeURIComponent(id)`). Feathers on Koa passes them on still encoded (feathers#2563),
/// so `get('a b')` looks for `a%20b` and fails; Roost decodes them, which makes string ids
/// with reserved characters work. Invalid UTF-8 after decoding keeps the raw text.
fn decode(segment: &str) -> String {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| segment.to_owned())
}

fn unsupported(method: &str) -> Error {
    Error::method_not_allowed(format!(
        "Method `{method}` is not supported by this endpoint."
    ))
}

/// Which service method a request calls: `(method, has_id_argument)`.
fn select_method(
    verb: &Method,
    has_id: bool,
    headers: &HeaderMap,
) -> Result<(String, bool), Error> {
    let method = match (verb.as_str(), has_id) {
        ("GET" | "HEAD", false) => "find",
        ("GET" | "HEAD", true) => "get",
        ("POST", _) => {
            if let Some(custom) = headers.get("x-service-method") {
                let name = custom.to_str().unwrap_or_default();
                if roost_core::service::is_standard_method(name) || name.is_empty() {
                    return Err(unsupported(name));
                }
                return Ok((name.to_owned(), false));
            }
            "create"
        }
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "remove",
        (other, _) => {
            return Err(Error::method_not_allowed(format!(
                "Method {other} not allowed"
            )))
        }
    };
    let takes_id = matches!(method, "get" | "update" | "patch" | "remove");
    Ok((method.to_owned(), takes_id))
}

/// Reads the request body within `limit` bytes, as koa-body does: JSON (objects and arrays
/// only, like its strict mode) or `application/x-www-form-urlencoded` (parsed with `qs`,
/// values stay strings). An empty body is `{}`.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    config: &RestConfig,
    metrics: &RestMetrics,
) -> Result<Value, Error> {
    let limit = config.body_limit;
    // A body over the limit is bad input like any other: a Feathers BadRequest (the
    // reference answers a bare 500 `request entity too large`).
    let bytes = to_bytes(body, limit).await.map_err(|e| {
        // The server's deadline on reading a body (`server.body_timeout_secs`), counted
        // where it fired; the connection is closed after this answer.
        if crate::body_timeout::is_body_timeout(&e) {
            return Error::new(
                ErrorKind::Timeout,
                "The request body was not received in time",
            );
        }
        RestMetrics::count(&metrics.inner.body_limit_hits);
        Error::bad_request(format!(
            "Request body is larger than the limit of {limit} bytes"
        ))
        .with_data(serde_json::json!({"limit": limit}))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            RestMetrics::count(&metrics.inner.bad_bodies);
            Error::bad_request("The form body is not valid UTF-8")
        })?;
        return qs::parse(text, &config.query).map_err(|e| {
            metrics.count_qs_error(&e);
            Error::bad_request(e.to_string())
        });
    }
    let max_values = config.max_body_values;
    if bytes.len() > max_values && json_cost::has_more_values_than(&bytes, max_values) {
        RestMetrics::count(&metrics.inner.body_limit_hits);
        return Err(Error::bad_request(format!(
            "The request body holds more than {max_values} JSON values"
        ))
        .with_data(serde_json::json!({ "limit": max_values })));
    }
    let parsed = match serde_json::from_slice(&bytes) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Ok(value),
        Ok(_) => Err(Error::bad_request(
            "Invalid JSON: the body must be an object or an array",
        )),
        Err(e) => Err(Error::bad_request(format!(
            "Invalid JSON in request body: {e}"
        ))),
    };
    if parsed.is_err() {
        RestMetrics::count(&metrics.inner.bad_bodies);
    }
    parsed
}

/// Answers one REST request.
pub(crate) async fn handle(State(state): State<RestState>, request: Request) -> Response {
    RestMetrics::count(&state.metrics.inner.requests);
    let is_head = request.method() == Method::HEAD;
    let mut response = match call(&state, request).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    if is_head {
        *response.body_mut() = Body::empty();
    }
    response
}

async fn call(state: &RestState, request: Request) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some((service, mut route)) = state.app.lookup(path) else {
        return Err(Error::not_found(format!("Path {path} not found")));
    };
    let id = match route.remove("__id") {
        Some(Value::String(raw)) => Some(Value::String(decode(&raw))),
        _ => None,
    };
    for value in route.values_mut() {
        if let Value::String(raw) = value {
            *raw = decode(raw);
        }
    }
    let (method, takes_id) = select_method(&parts.method, id.is_some(), &parts.headers)?;
    if !service.entry().allows_external(&method) {
        return Err(unsupported(&method));
    }
    let query = match parts.uri.query() {
        Some(raw) => match qs::parse(raw, &state.config.query) {
            Ok(Value::Object(map)) => map,
            Ok(_) => Map::new(),
            Err(e) => {
                state.metrics.count_qs_error(&e);
                return Err(Error::bad_request(e.to_string()));
            }
        },
        None => Map::new(),
    };
    let has_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    let data = if has_body {
        Some(read_body(body, &parts.headers, &state.config, &state.metrics).await?)
    } else {
        None
    };
    let mut params = Params {
        query,
        provider: Some("rest".to_owned()),
        route,
        headers: header_map(&parts.headers),
        ..Params::default()
    };
    if let Some(hook) = &state.params_hook {
        hook(&mut params);
    }
    let args = CallArgs {
        id: if takes_id {
            Some(id.unwrap_or(Value::Null))
        } else {
            None
        },
        data,
        params,
        http: Some(Http::default()),
    };
    let ctx = service.run(&method, args).await?;
    let body = ctx.dispatch_or_result().cloned().unwrap_or(Value::Null);
    let http = ctx.http.unwrap_or_default();
    Ok(success_response(&method, &body, &http))
}

/// Status order of Feathers 5.0.50: `http.status`, then `http.location` (303), then a falsy
/// body (204, no content), then create (201), else 200.
fn success_response(method: &str, body: &Value, http: &Http) -> Response {
    let falsy = !roost_core::js::is_truthy(body);
    let status = http
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(if http.location.is_some() {
            StatusCode::SEE_OTHER
        } else if falsy {
            StatusCode::NO_CONTENT
        } else if method == "create" {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        });
    let mut response = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        let mut r = json_response(body);
        *r.status_mut() = status;
        r
    };
    let headers = response.headers_mut();
    if let Some(location) = &http.location {
        let encoded = percent_encoding::utf8_percent_encode(location, LOCATION_SET).to_string();
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            headers.insert(header::LOCATION, v);
        }
    }
    for (name, value) in &http.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// Characters Koa's `encodeurl` escapes in `Location`: controls, space and non-URL characters.
const LOCATION_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');
