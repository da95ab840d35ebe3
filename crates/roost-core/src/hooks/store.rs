//! Where hooks are kept, and how one level's hooks become its layers of the chain.

use super::{AroundHook, Collected, Hook};
use crate::lock::{read, write};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The key that registers a hook for every method.
pub const ALL: &str = "all";

enum Registration {
    Middleware(String, Arc<dyn AroundHook>),
    Around(String, Arc<dyn AroundHook>),
    Before(String, Arc<dyn Hook>),
    After(String, Arc<dyn Hook>),
    Error(String, Arc<dyn Hook>),
}

impl Registration {
    fn method(&self) -> &str {
        match self {
            Registration::Middleware(m, _)
            | Registration::Around(m, _)
            | Registration::Before(m, _)
            | Registration::After(m, _)
            | Registration::Error(m, _) => m,
        }
    }
}

/// A set of hook registrations, given to `app.hooks(…)` or `service.hooks(…)`.
/// The method key is a method name or `"all"`. Registrations append in order.
///
/// ```
/// use roost_core::hooks::{around_fn, sync_hook, HookMap, ALL};
/// use roost_core::{json, App, MemoryService, Params, ServiceOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let app = App::new();
/// let todos = app.use_service("todos", MemoryService::default(), ServiceOptions::default())?;
/// todos.hooks(
///     HookMap::new()
///         // before: set a default
///         .before("create", sync_hook(|ctx| {
///             if let Some(data) = ctx.data.as_mut().and_then(|d| d.as_object_mut()) {
///                 data.entry("done").or_insert(json!(false));
///             }
///             Ok(())
///         }))
///         // after, for every method: what external callers get
///         .after(ALL, sync_hook(|ctx| {
///             ctx.dispatch = ctx.result.clone();
///             Ok(())
///         }))
///         // around: code before and after the rest of the chain
///         .around("find", around_fn(|ctx, next| Box::pin(async move {
///             next.run(ctx).await?;
///             ctx.extra.insert("counted".into(), json!(true));
///             Ok(())
///         }))),
/// )?;
/// let todo = todos.create(json!({"text": "a"}), Params::default()).await?;
/// assert_eq!(todo["done"], false);
/// # Ok::<(), roost_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct HookMap {
    entries: Vec<Registration>,
}

impl HookMap {
    /// An empty map.
    pub fn new() -> Self {
        HookMap::default()
    }

    /// `around: {method: [hook]}`.
    pub fn around(mut self, method: &str, hook: Arc<dyn AroundHook>) -> Self {
        self.entries
            .push(Registration::Around(method.to_owned(), hook));
        self
    }

    /// `before: {method: [hook]}`.
    pub fn before(mut self, method: &str, hook: Arc<dyn Hook>) -> Self {
        self.entries
            .push(Registration::Before(method.to_owned(), hook));
        self
    }

    /// `after: {method: [hook]}`.
    pub fn after(mut self, method: &str, hook: Arc<dyn Hook>) -> Self {
        self.entries
            .push(Registration::After(method.to_owned(), hook));
        self
    }

    /// `error: {method: [hook]}`.
    pub fn error(mut self, method: &str, hook: Arc<dyn Hook>) -> Self {
        self.entries
            .push(Registration::Error(method.to_owned(), hook));
        self
    }

    /// The other registration forms: `service.hooks([hook])` (method `"all"`) and
    /// `service.hooks({method: [hook]})`. On a service they run after the app's hooks and
    /// before the service's `around` hooks; on the app they are `around` hooks.
    pub fn middleware(mut self, method: &str, hook: Arc<dyn AroundHook>) -> Self {
        self.entries
            .push(Registration::Middleware(method.to_owned(), hook));
        self
    }

    /// The method names this map names, `"all"` excluded.
    pub(crate) fn methods(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .map(Registration::method)
            .filter(|m| *m != ALL)
    }
}

/// The hooks registered at one level (the app or one service).
#[derive(Default)]
pub(crate) struct HookStore {
    middleware: HashMap<String, Vec<Arc<dyn AroundHook>>>,
    around: HashMap<String, Vec<Arc<dyn AroundHook>>>,
    before: HashMap<String, Vec<Arc<dyn Hook>>>,
    after: HashMap<String, Vec<Arc<dyn Hook>>>,
    error: HashMap<String, Vec<Arc<dyn Hook>>>,
    /// The layers of each method already called, built once: a call looks its method up
    /// once instead of a dozen times, and does not allocate the `Collected` groups again.
    /// Emptied by every registration. Keys are method names that reached the chain (the
    /// methods hooks wrap), so it stays as small as the app's method list.
    cache: RwLock<HashMap<String, Layers>>,
}

/// One level's layers for one method, outermost first.
pub(crate) type Layers = Arc<[Arc<dyn AroundHook>]>;

fn list<T: ?Sized>(map: &HashMap<String, Vec<Arc<T>>>, key: &str) -> Vec<Arc<T>> {
    map.get(key).cloned().unwrap_or_default()
}

impl HookStore {
    /// Adds `map`'s registrations. `method_middleware` is where the middleware form goes:
    /// the service keeps its own list, the app treats it as `around`.
    pub(crate) fn register(&mut self, map: HookMap, is_service: bool) {
        self.cache
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        for entry in map.entries {
            match entry {
                Registration::Middleware(m, h) if is_service => {
                    self.middleware.entry(m).or_default().push(h)
                }
                Registration::Middleware(m, h) | Registration::Around(m, h) => {
                    self.around.entry(m).or_default().push(h)
                }
                Registration::Before(m, h) => self.before.entry(m).or_default().push(h),
                Registration::After(m, h) => self.after.entry(m).or_default().push(h),
                Registration::Error(m, h) => self.error.entry(m).or_default().push(h),
            }
        }
    }

    /// This level's layers for `method`, outermost first (shared: built at the first call
    /// of `method` after a registration).
    pub(crate) fn layers(&self, method: &str) -> Layers {
        if let Some(layers) = read(&self.cache).get(method) {
            return Arc::clone(layers);
        }
        let mut built = Vec::new();
        self.build_layers(method, &mut built);
        let built: Layers = built.into();
        write(&self.cache).insert(method.to_owned(), Arc::clone(&built));
        built
    }

    /// [`HookStore::layers`] built from the registrations.
    fn build_layers(&self, method: &str, out: &mut Vec<Arc<dyn AroundHook>>) {
        // The middleware form keeps registration order across "all" and the method: both
        // lists are appended to as registered, so "all" first is the documented order.
        out.extend(list(&self.middleware, ALL));
        out.extend(list(&self.middleware, method));
        out.extend(list(&self.around, ALL));
        out.extend(list(&self.around, method));
        let before_all = list(&self.before, ALL);
        let error_all = list(&self.error, ALL);
        if !before_all.is_empty() || !error_all.is_empty() {
            out.push(Arc::new(Collected {
                before: before_all,
                after: Vec::new(),
                error: error_all,
            }));
        }
        let before = list(&self.before, method);
        let after = list(&self.after, method);
        let error = list(&self.error, method);
        if !before.is_empty() || !after.is_empty() || !error.is_empty() {
            out.push(Arc::new(Collected {
                before,
                after,
                error,
            }));
        }
        let after_all = list(&self.after, ALL);
        if !after_all.is_empty() {
            out.push(Arc::new(Collected {
                before: Vec::new(),
                after: after_all,
                error: Vec::new(),
            }));
        }
    }
}
