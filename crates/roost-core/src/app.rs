//! `App`: the registry of services, app-level hooks, channels and publishers.

use crate::channels::Channels;
use crate::connection::Connections;
use crate::error::{Error, Result};
use crate::events::Listeners;
use crate::hooks::store::HookStore;
use crate::hooks::HookMap;
use crate::lock::{read, write};
use crate::method::CustomMethod;
use crate::publish::Publishers;
use crate::routing::{normalize_path, split_request_path, RoutePattern};
use crate::service::{ResolvedOptions, Service, ServiceOptions};
use serde_json::{Map, Value};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, Weak};

/// A Roost application: cheap to clone, shared by every transport and hook. It holds the
/// services ([`App::use_service`], [`App::service`]), the app hooks ([`App::hooks`]), the
/// channels ([`App::channel`]) and the publishers ([`App::publish`]).
///
/// Code the app holds itself (a service, a listener) keeps a [`WeakApp`] instead of a clone.
///
/// ```
/// use roost_core::{json, App, MemoryService, Params, ServiceOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let app = App::new();
/// app.use_service("users", MemoryService::default(), ServiceOptions::default())?;
/// let users = app.service("users")?;
/// let ada = users.create(json!({"name": "ada"}), Params::default()).await?;
/// assert_eq!(ada, json!({"id": 0, "name": "ada"}));
/// assert_eq!(users.find(Params::default()).await?, json!([ada]));
/// # Ok::<(), roost_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) channels: Channels,
    pub(crate) connections: Connections,
    pub(crate) publishers: Publishers,
    pub(crate) services: RwLock<Vec<Arc<ServiceEntry>>>,
    pub(crate) hooks: RwLock<HookStore>,
    /// The cluster broker, when this app is one node of several (docs/cluster.md).
    pub(crate) cluster: RwLock<Option<crate::cluster::Link>>,
}

/// A registered service: the implementation, its checked options and its own hooks,
/// publishers and event listeners.
pub struct ServiceEntry {
    pub(crate) path: String,
    pub(crate) pattern: RoutePattern,
    pub(crate) service: Arc<dyn Service>,
    /// The same service as `Any`, when its concrete type is known at registration.
    pub(crate) concrete: Option<Arc<dyn Any + Send + Sync>>,
    /// Replaced (not edited) when a custom method is added, so a call reads one snapshot.
    pub(crate) options: RwLock<Arc<ResolvedOptions>>,
    /// Custom methods attached with [`ServiceHandle::method`], by name.
    pub(crate) methods: RwLock<HashMap<String, Arc<dyn CustomMethod>>>,
    pub(crate) hooks: RwLock<HookStore>,
    pub(crate) publishers: Publishers,
    pub(crate) listeners: Listeners,
}

impl ServiceEntry {
    /// The registered path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The checked options (a snapshot: adding a custom method replaces them).
    pub fn options(&self) -> Arc<ResolvedOptions> {
        Arc::clone(&read(&self.options))
    }

    /// The service-level publishers.
    pub fn publishers(&self) -> &Publishers {
        &self.publishers
    }
}

impl fmt::Debug for ServiceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceEntry")
            .field("path", &self.path)
            .field("options", &self.options())
            .finish_non_exhaustive()
    }
}

/// The best route match so far: the entry, its route values and its rank.
type Match<'a> = (&'a Arc<ServiceEntry>, Map<String, Value>, (usize, bool));

/// A service registered on an app: call its methods (through the hook chain), register its
/// hooks, publishers and listeners, emit custom events.
#[derive(Clone, Debug)]
pub struct ServiceHandle {
    pub(crate) app: App,
    pub(crate) entry: Arc<ServiceEntry>,
}

impl ServiceHandle {
    /// The registered entry.
    pub fn entry(&self) -> &ServiceEntry {
        &self.entry
    }

    /// The registered path.
    pub fn path(&self) -> &str {
        &self.entry.path
    }

    /// The registered service as its concrete type `S`, when it was registered with
    /// [`App::use_service`] or [`App::use_shared_service`] and is an `S`.
    ///
    /// ```
    /// # use roost_core::{App, MemoryService, ServiceOptions};
    /// let app = App::new();
    /// app.use_service("todos", MemoryService::default(), ServiceOptions::default()).unwrap();
    /// let todos = app.service("todos").unwrap().downcast::<MemoryService>().unwrap();
    /// todos.reset();
    /// ```
    pub fn downcast<S: Service>(&self) -> Option<Arc<S>> {
        let concrete = Arc::clone(self.entry.concrete.as_ref()?);
        concrete.downcast::<S>().ok()
    }

    /// Registers hooks on this service. Naming a method the service does not hook is an
    /// error, as in Feathers.
    pub fn hooks(&self, map: HookMap) -> Result<&Self> {
        if let Some(bad) = map
            .methods()
            .find(|m| !self.entry.options().hook_methods.iter().any(|h| h == m))
        {
            return Err(Error::general(format!(
                "Method {bad} is not a Feathers hooks enabled service method"
            )));
        }
        write(&self.entry.hooks).register(map, true);
        Ok(self)
    }
}

impl App {
    /// An empty application.
    pub fn new() -> Self {
        App {
            inner: Arc::new(AppInner {
                channels: Channels::default(),
                connections: Connections::default(),
                publishers: Publishers::default(),
                services: RwLock::new(Vec::new()),
                hooks: RwLock::new(HookStore::default()),
                cluster: RwLock::new(None),
            }),
        }
    }

    /// The channel registry.
    pub fn channels(&self) -> &Channels {
        &self.inner.channels
    }

    /// The app-level publishers.
    pub fn publishers(&self) -> &Publishers {
        &self.inner.publishers
    }

    /// Registers `service` at `path` (`app.use(path, service, options)`). Registering a path
    /// again replaces the earlier service.
    pub fn use_service(
        &self,
        path: &str,
        service: impl Service,
        options: ServiceOptions,
    ) -> Result<ServiceHandle> {
        self.use_shared_service(path, Arc::new(service), options)
    }

    /// [`App::use_service`] for a service the caller keeps a handle on (to clear a
    /// [`MemoryService`](crate::MemoryService) from a fixtures method, say). The registered
    /// service is also reachable as its type through [`ServiceHandle::downcast`].
    pub fn use_shared_service<S: Service>(
        &self,
        path: &str,
        service: Arc<S>,
        options: ServiceOptions,
    ) -> Result<ServiceHandle> {
        let concrete: Arc<dyn Any + Send + Sync> = service.clone();
        self.register(path, service, Some(concrete), options)
    }

    /// [`App::use_service`] for a service that is already shared as a trait object (not
    /// reachable through [`ServiceHandle::downcast`]).
    pub fn use_arc_service(
        &self,
        path: &str,
        service: Arc<dyn Service>,
        options: ServiceOptions,
    ) -> Result<ServiceHandle> {
        self.register(path, service, None, options)
    }

    fn register(
        &self,
        path: &str,
        service: Arc<dyn Service>,
        concrete: Option<Arc<dyn Any + Send + Sync>>,
        options: ServiceOptions,
    ) -> Result<ServiceHandle> {
        let path = normalize_path(path);
        let options = options.resolve(&path, service.as_ref())?;
        service.setup(self.downgrade(), &path);
        let entry = Arc::new(ServiceEntry {
            pattern: RoutePattern::new(&path),
            path: path.clone(),
            service,
            concrete,
            options: RwLock::new(Arc::new(options)),
            methods: RwLock::new(HashMap::new()),
            hooks: RwLock::new(HookStore::default()),
            publishers: Publishers::default(),
            listeners: Listeners::default(),
        });
        let mut services = write(&self.inner.services);
        services.retain(|e| e.path != path);
        services.push(Arc::clone(&entry));
        Ok(ServiceHandle {
            app: self.clone(),
            entry,
        })
    }

    /// The service registered at exactly `path` (`app.service(path)`), slashes ignored.
    pub fn service(&self, path: &str) -> Result<ServiceHandle> {
        let path = normalize_path(path);
        read(&self.inner.services)
            .iter()
            .find(|e| e.path == path)
            .map(|entry| ServiceHandle {
                app: self.clone(),
                entry: Arc::clone(entry),
            })
            .ok_or_else(|| Error::general(format!("Can not find service '{path}'")))
    }

    /// Every registered path, in registration order.
    pub fn service_paths(&self) -> Vec<String> {
        read(&self.inner.services)
            .iter()
            .map(|e| e.path.clone())
            .collect()
    }

    /// Finds the service for a concrete request path such as `users/5/messages` or
    /// `messages/7`, with the route values (`userId`, `__id`) it fills. Literal segments
    /// win over placeholders.
    pub fn lookup(&self, request_path: &str) -> Option<(ServiceHandle, Map<String, Value>)> {
        let parts = split_request_path(request_path);
        let services = read(&self.inner.services);
        let mut best: Option<Match<'_>> = None;
        for entry in services.iter() {
            if let Some((route, rank)) = entry.pattern.matches(&parts) {
                if best.as_ref().is_none_or(|(_, _, r)| rank > *r) {
                    best = Some((entry, route, rank));
                }
            }
        }
        best.map(|(entry, route, _)| {
            (
                ServiceHandle {
                    app: self.clone(),
                    entry: Arc::clone(entry),
                },
                route,
            )
        })
    }

    /// Whether some service lets external callers use `method` (Feathers binds a socket
    /// listener exactly for these names, docs/feathers-semantics.md §H14).
    pub fn is_external_method(&self, method: &str) -> bool {
        read(&self.inner.services)
            .iter()
            .any(|e| e.allows_external(method))
    }

    /// Registers app-level hooks, which wrap every service's hooks.
    pub fn hooks(&self, map: HookMap) -> &Self {
        write(&self.inner.hooks).register(map, false);
        self
    }
}

/// A weak reference to an [`App`], for code the app itself holds (services, listeners,
/// publishers) that must reach the app without keeping it alive: holding an `App` clone
/// inside a service registered on that app would be a reference cycle. Services receive
/// one in [`Service::setup`].
#[derive(Clone, Default)]
pub struct WeakApp(Weak<AppInner>);

impl WeakApp {
    /// The app, while it is alive.
    pub fn upgrade(&self) -> Option<App> {
        self.0.upgrade().map(|inner| App { inner })
    }

    /// The app, or a `GeneralError` when it was dropped (a call that outlived its app).
    pub fn app(&self) -> Result<App> {
        self.upgrade()
            .ok_or_else(|| Error::general("The application is no longer running"))
    }
}

impl fmt::Debug for WeakApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.strong_count() > 0 {
            "WeakApp(alive)"
        } else {
            "WeakApp(gone)"
        })
    }
}

impl App {
    /// A weak handle on this app (see [`WeakApp`]).
    pub fn downgrade(&self) -> WeakApp {
        WeakApp(Arc::downgrade(&self.inner))
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("services", &self.service_paths())
            .finish_non_exhaustive()
    }
}
