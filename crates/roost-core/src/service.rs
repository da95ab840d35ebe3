//! Services: the `Service` trait, service options and the adapter options that the memory and
//! SQL adapters share (docs/feathers-semantics.md §A).

use crate::error::{Error, Result};
use crate::params::Params;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The six standard method names, in Feathers' order.
pub const STANDARD_METHODS: [&str; 6] = ["find", "get", "create", "update", "patch", "remove"];

/// Names that can never be custom methods (docs/feathers-semantics.md §A5): Object.prototype keys, EventEmitter
/// methods and the names Feathers itself puts on a service.
pub(crate) const RESERVED_METHODS: &[&str] = &[
    // Object.prototype
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "__proto__",
    // EventEmitter
    "addListener",
    "emit",
    "eventNames",
    "getMaxListeners",
    "listenerCount",
    "listeners",
    "off",
    "on",
    "once",
    "prependListener",
    "prependOnceListener",
    "rawListeners",
    "removeAllListeners",
    "removeListener",
    "setMaxListeners",
    // Feathers
    "all",
    "around",
    "before",
    "after",
    "error",
    "hooks",
    "setup",
    "teardown",
    "publish",
];

/// Whether `name` is one of the six standard methods.
pub fn is_standard_method(name: &str) -> bool {
    STANDARD_METHODS.contains(&name)
}

/// A Feathers service. Every method has a default that answers `NotImplemented`; a service
/// overrides what it offers and lists it in [`Service::implemented_methods`].
///
/// Ids are JSON values: `Value::Null` is Feathers' `null` id of multi `patch`/`remove` and of
/// `update(null)`. REST ids arrive as strings, socket ids keep their JSON type.
///
/// Custom methods are best attached with [`ServiceHandle::method`](crate::ServiceHandle::method)
/// (on any service, stored ones included); a service may also implement [`Service::call`] and
/// list the names in `implemented_methods` and [`ServiceOptions::methods`].
///
/// ```
/// use roost_core::{async_trait, json, App, Error, Params, Result, Service, ServiceOptions, Value};
///
/// /// `GET /health`: a service with one method.
/// struct Health;
///
/// #[async_trait]
/// impl Service for Health {
///     async fn find(&self, params: &Params) -> Result<Value> {
///         Ok(json!({"status": "ok", "external": params.is_external()}))
///     }
///     fn implemented_methods(&self) -> Vec<String> {
///         vec!["find".into()]
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let app = App::new();
/// let health = app.use_service("health", Health, ServiceOptions::default())?;
/// assert_eq!(health.find(Params::default()).await?["status"], "ok");
/// // Methods it does not offer are refused.
/// let e = health.get(json!(1), Params::default()).await.unwrap_err();
/// assert_eq!(e.code(), 405);
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// `find(params)`.
    async fn find(&self, _params: &Params) -> Result<Value> {
        Err(not_implemented("find"))
    }
    /// `get(id, params)`.
    async fn get(&self, _id: &Value, _params: &Params) -> Result<Value> {
        Err(not_implemented("get"))
    }
    /// `create(data, params)`; `data` may be an array for multi create.
    async fn create(&self, _data: Value, _params: &Params) -> Result<Value> {
        Err(not_implemented("create"))
    }
    /// `update(id, data, params)`.
    async fn update(&self, _id: &Value, _data: Value, _params: &Params) -> Result<Value> {
        Err(not_implemented("update"))
    }
    /// `patch(id, data, params)`; a null id patches every record matching the query.
    async fn patch(&self, _id: &Value, _data: Value, _params: &Params) -> Result<Value> {
        Err(not_implemented("patch"))
    }
    /// `remove(id, params)`; a null id removes every record matching the query.
    async fn remove(&self, _id: &Value, _params: &Params) -> Result<Value> {
        Err(not_implemented("remove"))
    }
    /// A custom method `name(data, params)`.
    async fn call(&self, method: &str, _data: Value, _params: &Params) -> Result<Value> {
        Err(not_implemented(method))
    }
    /// Called once when the service is registered (`app.use`), with a weak handle on the app
    /// and the normalized path: Feathers' `setup(app, path)`, but synchronous and run at
    /// registration. A service that calls other services or emits events keeps the
    /// [`WeakApp`](crate::WeakApp) (an `App` clone would be a reference cycle). The default
    /// does nothing.
    fn setup(&self, _app: crate::app::WeakApp, _path: &str) {}
    /// The standard and custom methods this service implements. The default is the six
    /// standard methods; a service with custom methods or fewer standard ones overrides it.
    fn implemented_methods(&self) -> Vec<String> {
        STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect()
    }
}

fn not_implemented(method: &str) -> Error {
    Error::not_implemented(format!("Method `{method}` is not implemented"))
}

/// Options given when a service is registered (`app.use(path, service, options)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceOptions {
    /// The externally callable methods. `None` means the standard methods the service
    /// implements. Custom methods are callable from outside only when listed.
    pub methods: Option<Vec<String>>,
    /// Custom events the service emits itself (not emitted by its methods).
    pub events: Vec<String>,
    /// Replaces the publishable event list (default: the four standard events + `events`).
    pub service_events: Option<Vec<String>>,
    /// Fixed values merged into `params.route` of every call.
    pub route_params: Map<String, Value>,
}

/// The four events the standard methods emit, in order.
pub const STANDARD_EVENTS: [&str; 4] = ["created", "updated", "patched", "removed"];

/// The event a method emits by default (`context.event` preset), if any.
pub fn default_event(method: &str) -> Option<&'static str> {
    match method {
        "create" => Some("created"),
        "update" => Some("updated"),
        "patch" => Some("patched"),
        "remove" => Some("removed"),
        _ => None,
    }
}

/// The checked, resolved options of a registered service.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOptions {
    /// Externally callable methods.
    pub methods: Vec<String>,
    /// Every method hooks wrap: implemented standard methods plus listed custom methods.
    pub hook_methods: Vec<String>,
    /// Custom events the service emits itself.
    pub events: Vec<String>,
    /// Events that publishers may handle and that reach clients.
    pub service_events: Vec<String>,
    /// Fixed route values.
    pub route_params: Map<String, Value>,
}

impl ServiceOptions {
    /// Checks these options against `service` as Feathers does at `app.use` (§A3–A6).
    pub(crate) fn resolve(self, path: &str, service: &dyn Service) -> Result<ResolvedOptions> {
        let implemented = service.implemented_methods();
        if implemented.is_empty() && self.methods.is_none() {
            return Err(Error::general(format!(
                "Invalid service object passed for path `{path}`"
            )));
        }
        let standard: Vec<String> = STANDARD_METHODS
            .iter()
            .filter(|m| implemented.iter().any(|i| i == *m))
            .map(|m| (*m).to_owned())
            .collect();
        let methods = self.methods.unwrap_or_else(|| standard.clone());
        for name in &methods {
            if !is_standard_method(name) && RESERVED_METHODS.contains(&name.as_str()) {
                return Err(Error::general(format!(
                    "'{name}' on service '{path}' is not allowed as a custom method name"
                )));
            }
            if !implemented.contains(name) {
                return Err(Error::general(format!(
                    "Can not apply hooks. '{name}' is not a function"
                )));
            }
        }
        let mut hook_methods = standard;
        for name in &methods {
            if !hook_methods.contains(name) {
                hook_methods.push(name.clone());
            }
        }
        let events = self.events;
        let service_events = self.service_events.unwrap_or_else(|| {
            let mut all: Vec<String> = STANDARD_EVENTS.iter().map(|e| (*e).to_owned()).collect();
            all.extend(events.iter().cloned());
            all
        });
        Ok(ResolvedOptions {
            methods,
            hook_methods,
            events,
            service_events,
            route_params: self.route_params,
        })
    }
}

pub use crate::params::Paginate;

/// Which methods may act on several records at once (the adapter `multi` option, §A9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Multi {
    /// `true` allows every method, `false` none.
    All(bool),
    /// Only the listed methods (`create`, `patch`, `remove`).
    Methods(Vec<String>),
}

impl Default for Multi {
    fn default() -> Self {
        Multi::All(false)
    }
}

impl Multi {
    /// Whether `method` may act on several records.
    pub fn allows(&self, method: &str) -> bool {
        match self {
            Multi::All(all) => *all,
            Multi::Methods(list) => list.iter().any(|m| m == method),
        }
    }
}

/// The options the database adapters share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterOptions {
    /// The id field (`id` by default).
    pub id: String,
    /// Multi permissions.
    pub multi: Multi,
    /// Pagination; `None` returns plain arrays from find.
    pub paginate: Option<Paginate>,
}

impl AdapterOptions {
    /// The pagination in force for one call: `params.paginate` when a hook set it, else this
    /// adapter's setting.
    pub fn paginate_for(&self, params: &Params) -> Option<Paginate> {
        match params.paginate {
            Some(crate::params::PaginateOverride::Disabled) => None,
            Some(crate::params::PaginateOverride::With(p)) => Some(p),
            None => self.paginate,
        }
    }
}

impl Default for AdapterOptions {
    fn default() -> Self {
        AdapterOptions {
            id: "id".to_owned(),
            multi: Multi::default(),
            paginate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    #[async_trait]
    impl Service for Echo {
        async fn call(&self, _m: &str, data: Value, _p: &Params) -> Result<Value> {
            Ok(data)
        }
        fn implemented_methods(&self) -> Vec<String> {
            vec!["find".into(), "get".into(), "emit".into(), "join".into()]
        }
    }

    struct Empty;
    impl Service for Empty {
        fn implemented_methods(&self) -> Vec<String> {
            Vec::new()
        }
    }

    fn opts(methods: &[&str]) -> ServiceOptions {
        ServiceOptions {
            methods: Some(methods.iter().map(|m| (*m).to_owned()).collect()),
            ..ServiceOptions::default()
        }
    }

    #[test]
    fn default_methods_are_the_implemented_standard_ones() {
        let r = ServiceOptions::default().resolve("echo", &Echo).unwrap();
        assert_eq!(r.methods, vec!["find", "get"]);
        assert_eq!(r.service_events, STANDARD_EVENTS.to_vec());
    }

    #[test]
    fn custom_methods_must_exist_and_not_be_reserved() {
        let r = opts(&["find", "join"]).resolve("echo", &Echo).unwrap();
        assert_eq!(r.hook_methods, vec!["find", "get", "join"]);
        let e = opts(&["leave"]).resolve("echo", &Echo).unwrap_err();
        assert_eq!(e.message, "Can not apply hooks. 'leave' is not a function");
        let e = opts(&["emit"]).resolve("echo", &Echo).unwrap_err();
        assert_eq!(
            e.message,
            "'emit' on service 'echo' is not allowed as a custom method name"
        );
    }

    #[test]
    fn a_service_with_no_method_is_invalid() {
        let e = ServiceOptions::default().resolve("x", &Empty).unwrap_err();
        assert_eq!(e.message, "Invalid service object passed for path `x`");
    }

    #[test]
    fn custom_events_extend_service_events() {
        let o = ServiceOptions {
            events: vec!["typing".into()],
            ..ServiceOptions::default()
        };
        let r = o.resolve("echo", &Echo).unwrap();
        assert_eq!(r.service_events.last().map(String::as_str), Some("typing"));
    }

    #[test]
    fn multi_allows() {
        assert!(!Multi::default().allows("create"));
        assert!(Multi::All(true).allows("remove"));
        let m: Multi = serde_json::from_str(r#"["create","patch"]"#).unwrap();
        assert!(m.allows("patch") && !m.allows("remove"));
        let m: Multi = serde_json::from_str("true").unwrap();
        assert!(m.allows("patch"));
    }
}
