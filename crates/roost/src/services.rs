//! Services declared in the configuration, registered on the app without code.

use crate::config::{AdapterKind, DeclaredService};
use crate::storage::{self, SqlTable, Storage, StorageError};
use roost_core::hooks::{sync_hook, HookMap, ALL};
use roost_core::memory::MemoryService;
use roost_core::schema::{coerce_query, Schema};
use roost_core::service::{AdapterOptions, ServiceOptions};
use roost_core::{App, Service};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers every declared service on `app`; `adapter = "sql"` services go to `storage`
/// (tables created or extended first, see [`storage::service_for`]).
pub(crate) async fn register_declared(
    app: &App,
    services: &BTreeMap<String, DeclaredService>,
    storage: &Storage,
) -> Result<(), StorageError> {
    for (path, declared) in services {
        let adapter = AdapterOptions {
            id: declared.id.clone(),
            multi: declared.multi.clone(),
            paginate: declared.paginate(),
        };
        let service: Arc<dyn Service> = match declared.adapter {
            AdapterKind::Memory => Arc::new(MemoryService::new(adapter)),
            AdapterKind::Sql => {
                let table = SqlTable {
                    table: (declared.table.clone()).unwrap_or_else(|| storage::default_table(path)),
                    schema: declared.schema.clone(),
                    id_type: declared.id_type.unwrap_or_default(),
                };
                storage::service_for(storage, path, table, adapter).await?
            }
        };
        let options = ServiceOptions {
            methods: declared.methods.clone(),
            events: declared.events.clone(),
            ..ServiceOptions::default()
        };
        let app_error = |e: roost_core::Error| StorageError::App(format!("{path}: {}", e.message));
        let handle = app
            .use_arc_service(path, service, options)
            .map_err(app_error)?;
        if !declared.schema.is_empty() {
            handle
                .hooks(HookMap::new().before(ALL, coerce_rest_query(&declared.schema)))
                .map_err(app_error)?;
        }
        tracing::info!(path = handle.path(), adapter = ?declared.adapter, events = ?declared.events, "declared service");
    }
    Ok(())
}

/// Registers the built-in hooks each declared service names (`[services.<path>.hooks]`),
/// after the default app is installed: `authenticate` and `hash_password` use its
/// authentication (`auth`), and `set_from_user`/`restrict_to_user` default to its entity's id
/// field. Runs after the schema's query coercion, so hooks see typed queries.
pub(crate) fn attach_declared_hooks(
    app: &App,
    services: &BTreeMap<String, DeclaredService>,
    auth: Option<&roost_auth::Authentication>,
) -> Result<(), StorageError> {
    let user_id_field = auth.map_or("id", |a| a.config().entity_id_field());
    for (path, declared) in services {
        if declared.hooks.is_empty() {
            continue;
        }
        let bad = |why: String| StorageError::App(format!("services.{path}: {why}"));
        let map = declared.hooks.build(auth, user_id_field).map_err(bad)?;
        let handle = app.service(path).map_err(|e| bad(e.message))?;
        handle.hooks(map).map_err(|e| bad(e.message))?;
    }
    Ok(())
}

/// A before hook that coerces REST query strings to the schema's types; socket queries
/// already carry JSON types and are left alone.
fn coerce_rest_query(schema: &Schema) -> Arc<dyn roost_core::hooks::Hook> {
    let schema = schema.clone();
    sync_hook(move |ctx| {
        if ctx.params.provider.as_deref() == Some("rest") {
            coerce_query(&schema, &mut ctx.params.query)?;
        }
        Ok(())
    })
}
