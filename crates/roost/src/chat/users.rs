//! `users` (CHAT-APP.md): public signup, bcrypt-hashed passwords that are never returned,
//! unique emails (409), JWT for everything else, and only yourself unless admin (403).

use super::store::{StoreFactory, StoreSpec};
use roost_auth::{protect, Authentication};
use roost_core::hooks::{hook_fn, sync_hook, Hook, HookMap, ALL};
use roost_core::js::to_string;
use roost_core::params::PaginateOverride;
use roost_core::schema::FieldType;
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::transaction::TransactionHandle;
use roost_core::{
    json, App, Error, HookContext, Map, Params, Result, Service, ServiceHandle, ServiceOptions,
    Value,
};
use std::sync::Arc;

/// Fields only seed users and admins may set.
const PRIVILEGED: [&str; 2] = ["roles", "permissions"];

/// The message of a change to someone else's user.
pub(crate) const NOT_YOURSELF: &str = "You can only change your own user";

/// How the `users` part is set up; [`UsersOptions::default`] is the default app's. The path
/// and the email and password fields are the authentication's (`[auth] service`,
/// `local.username_field`, `local.password_field`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsersOptions {
    /// Pagination of `find` (default off, as the default app).
    pub paginate: Option<Paginate>,
    /// The roles a new user gets when the create does not set any (external creates never
    /// do: clients cannot set roles). Default none.
    pub default_roles: Vec<String>,
    /// The role that may change other users (default `admin`).
    pub admin_role: String,
}

impl Default for UsersOptions {
    fn default() -> Self {
        UsersOptions {
            paginate: None,
            default_roles: Vec::new(),
            admin_role: "admin".to_owned(),
        }
    }
}

impl UsersOptions {
    /// Sets the pagination (`None`: off).
    pub fn paginate(mut self, paginate: Option<Paginate>) -> Self {
        self.paginate = paginate;
        self
    }

    /// Sets the roles of a new user.
    pub fn default_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.default_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the role that may change other users.
    pub fn admin_role(mut self, role: impl Into<String>) -> Self {
        self.admin_role = role.into();
        self
    }
}

/// Registers `users` on `app` at the authentication's entity service (`users`): a store from
/// `stores` behind the unique-email rule, with its hooks (signup open, JWT for the rest,
/// passwords hashed and never returned, only yourself unless admin, default roles). Add your
/// own hooks to the returned handle: they run after these.
pub async fn install(
    app: &App,
    auth: &Authentication,
    options: &UsersOptions,
    stores: &dyn StoreFactory,
) -> Result<ServiceHandle> {
    if options.admin_role.is_empty() {
        return Err(Error::general("the admin role must not be empty"));
    }
    let path = auth.config().service.clone();
    super::ensure_free(app, &path)?;
    let local = &auth.config().local;
    let email_field = local.entity_username_field().to_owned();
    let mut spec = spec(&path, &email_field, local.entity_password_field());
    spec.adapter.paginate = options.paginate;
    let store = stores.store(&spec).await?;
    let users = app.use_service(
        &path,
        Users::new(store, &spec.adapter.id, &email_field),
        ServiceOptions::default(),
    )?;
    users.hooks(hooks(auth, options)?)?;
    Ok(users)
}

/// The store spec of `users` at `path` (without pagination).
pub(crate) fn spec(path: &str, email_field: &str, password_field: &str) -> StoreSpec {
    let schema = [
        (email_field.to_owned(), FieldType::String),
        (password_field.to_owned(), FieldType::String),
        ("roles".to_owned(), FieldType::Json),
        ("permissions".to_owned(), FieldType::Json),
    ]
    .into_iter()
    .collect();
    StoreSpec {
        path: path.to_owned(),
        adapter: AdapterOptions {
            id: "id".to_owned(),
            multi: Multi::All(false),
            paginate: None,
        },
        start_id: 1,
        schema,
        unique: vec![email_field.to_owned()],
    }
}

/// The store plus the unique-email rule. Checking and writing happen under one lock, so
/// two signups with the same email cannot both pass; hashing happens before (in hooks),
/// so the lock is held only for the lookup and the write. A store with transactions commits
/// after the lock is released, so the email is checked again after the write, inside the
/// call's transaction: on SQLite, whose writers take turns, a signup that wrote after
/// another committed sees it there and is rolled back.
pub(crate) struct Users {
    store: Arc<dyn Service>,
    id_field: String,
    email_field: String,
    writes: tokio::sync::Mutex<()>,
}

impl Users {
    /// `users` on `store`, emails in `email_field`.
    pub(crate) fn new(store: Arc<dyn Service>, id_field: &str, email_field: &str) -> Self {
        Users {
            store,
            id_field: id_field.to_owned(),
            email_field: email_field.to_owned(),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// 409 when a user other than `except` has the email of `data`; read inside
    /// `transaction` when it is open.
    async fn check_email(
        &self,
        data: &Value,
        except: Option<&Value>,
        transaction: Option<&TransactionHandle>,
    ) -> Result<()> {
        let Some(Value::String(email)) = data.get(&self.email_field) else {
            return Ok(());
        };
        let mut query = Map::new();
        query.insert(self.email_field.clone(), Value::String(email.clone()));
        query.insert("$limit".into(), json!(2));
        let params = Params {
            query,
            paginate: Some(PaginateOverride::Disabled),
            transaction: transaction.cloned(),
            ..Params::default()
        };
        let found = self.store.find(&params).await?;
        let taken = found.as_array().is_some_and(|users| {
            users.iter().any(|user| match except {
                Some(id) => user.get(&self.id_field).map(to_string) != Some(to_string(id)),
                None => true,
            })
        });
        if taken {
            return Err(Error::conflict(format!(
                "A user with this {} already exists",
                self.email_field
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Service for Users {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.store.find(params).await
    }
    async fn get(&self, id: &Value, params: &Params) -> Result<Value> {
        self.store.get(id, params).await
    }
    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        let _guard = self.writes.lock().await;
        let items = match &data {
            Value::Array(items) => items.clone(),
            item => vec![item.clone()],
        };
        for item in &items {
            self.check_email(item, None, None).await?;
        }
        let created = self.store.create(data, params).await?;
        let records = match &created {
            Value::Array(records) => records.iter().collect(),
            record => vec![record],
        };
        for (item, record) in items.iter().zip(records) {
            let id = record.get(&self.id_field);
            self.check_email(item, id, params.transaction.as_ref())
                .await?;
        }
        Ok(created)
    }
    async fn update(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        let _guard = self.writes.lock().await;
        self.check_email(&data, Some(id), None).await?;
        let updated = self.store.update(id, data.clone(), params).await?;
        self.check_email(&data, Some(id), params.transaction.as_ref())
            .await?;
        Ok(updated)
    }
    async fn patch(&self, id: &Value, data: Value, params: &Params) -> Result<Value> {
        let _guard = self.writes.lock().await;
        if id.is_null() {
            return self.store.patch(id, data, params).await;
        }
        self.check_email(&data, Some(id), None).await?;
        let patched = self.store.patch(id, data.clone(), params).await?;
        self.check_email(&data, Some(id), params.transaction.as_ref())
            .await?;
        Ok(patched)
    }
    async fn remove(&self, id: &Value, params: &Params) -> Result<Value> {
        self.store.remove(id, params).await
    }
}

/// The caller's entity (`params.user` for the entity `user`).
pub fn caller<'p>(params: &'p Params, entity: &str) -> Option<&'p Value> {
    if entity == "user" {
        params.user.as_ref()
    } else {
        params.extra.get(entity)
    }
}

/// Whether `user` has `role`.
pub fn has_role(user: &Value, role: &str) -> bool {
    user.get("roles")
        .and_then(Value::as_array)
        .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(role)))
}

/// The hooks of `users`.
pub(crate) fn hooks(auth: &Authentication, options: &UsersOptions) -> Result<HookMap> {
    let admin_role = options.admin_role.as_str();
    let config = auth.config();
    let entity = config.entity.clone().unwrap_or_else(|| "user".to_owned());
    let password = config.local.entity_password_field().to_owned();
    let jwt = auth.authenticate_hook(&["jwt"])?;
    let mut map = HookMap::new().before("create", drop_privileged_on_signup());
    if !options.default_roles.is_empty() {
        map = map.before("create", default_roles(options.default_roles.clone()));
    }
    for method in ["find", "get", "update", "patch", "remove"] {
        map = map.around(method, jwt.clone());
    }
    for method in ["update", "patch", "remove"] {
        map = map.before(method, only_yourself(&entity, admin_role));
    }
    for method in ["update", "patch"] {
        map = map.before(method, keep_privileged(&entity, admin_role));
    }
    for method in ["create", "update", "patch"] {
        map = map.before(method, auth.hash_password(&password));
    }
    // Before every method, `protect` also refuses external queries on the password hash.
    let protect = protect(&[password]);
    Ok(map.before(ALL, protect.clone()).after(ALL, protect))
}

fn strip_fields(data: &mut Value, fields: &[&str]) {
    match data {
        Value::Object(map) => {
            for field in fields {
                map.shift_remove(*field);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| strip_fields(item, fields)),
        _ => {}
    }
}

fn strip(data: &mut Value) {
    strip_fields(data, &PRIVILEGED);
}

/// External creates may not set roles or permissions, nor the id: the server numbers
/// users itself (a client id near the integer limit would exhaust the table's ids).
fn drop_privileged_on_signup() -> Arc<dyn Hook> {
    sync_hook(|ctx| {
        if ctx.params.is_external() {
            if let Some(data) = ctx.data.as_mut() {
                strip_fields(data, &[PRIVILEGED[0], PRIVILEGED[1], "id"]);
            }
        }
        Ok(())
    })
}

/// A new user without `roles` gets `roles`.
fn default_roles(roles: Vec<String>) -> Arc<dyn Hook> {
    sync_hook(move |ctx| {
        let give = |item: &mut Value| {
            if let Value::Object(map) = item {
                if !map.contains_key("roles") {
                    map.insert("roles".to_owned(), json!(roles));
                }
            }
        };
        match ctx.data.as_mut() {
            Some(Value::Array(items)) => items.iter_mut().for_each(give),
            Some(item) => give(item),
            None => {}
        }
        Ok(())
    })
}

fn is_admin(ctx: &HookContext, entity: &str, admin_role: &str) -> bool {
    caller(&ctx.params, entity).is_some_and(|user| has_role(user, admin_role))
}

/// External update/patch/remove of another user: 403, unless the caller is an admin.
fn only_yourself(entity: &str, admin_role: &str) -> Arc<dyn Hook> {
    let entity = entity.to_owned();
    let admin_role = admin_role.to_owned();
    sync_hook(move |ctx| {
        if !ctx.params.is_external() || is_admin(ctx, &entity, &admin_role) {
            return Ok(());
        }
        let own = caller(&ctx.params, &entity)
            .and_then(|user| user.get("id"))
            .map(to_string);
        let target = ctx.id.as_ref().filter(|id| !id.is_null()).map(to_string);
        match (own, target) {
            (Some(own), Some(target)) if own == target => Ok(()),
            _ => Err(Error::forbidden(NOT_YOURSELF)),
        }
    })
}

/// A non-admin changing their own user keeps their roles and permissions: a patch drops
/// those fields, an update (which replaces the record) carries the stored ones over.
fn keep_privileged(entity: &str, admin_role: &str) -> Arc<dyn Hook> {
    let entity = entity.to_owned();
    let admin_role = admin_role.to_owned();
    hook_fn(move |ctx| {
        let entity = entity.clone();
        let admin_role = admin_role.clone();
        Box::pin(async move {
            if !ctx.params.is_external() || is_admin(ctx, &entity, &admin_role) {
                return Ok(());
            }
            let Some(data) = ctx.data.as_mut() else {
                return Ok(());
            };
            strip(data);
            if ctx.method == "update" {
                let id = ctx.id.clone().unwrap_or(Value::Null);
                let stored = ctx
                    .app
                    .service(&ctx.path)?
                    .get(id, Params::default())
                    .await?;
                if let Some(map) = ctx.data.as_mut().and_then(Value::as_object_mut) {
                    for field in PRIVILEGED {
                        if let Some(value) = stored.get(field) {
                            map.insert(field.to_owned(), value.clone());
                        }
                    }
                }
            }
            Ok(())
        })
    })
}
