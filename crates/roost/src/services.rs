//! Services declared in the configuration, registered on the app without code.

use crate::config::{AdapterKind, DeclaredService};
use roost_core::hooks::{sync_hook, HookMap, ALL};
use roost_core::memory::MemoryService;
use roost_core::schema::{coerce_query, Schema};
use roost_core::service::{AdapterOptions, ServiceOptions};
use roost_core::{App, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers every declared service on `app`.
pub fn register_declared(app: &App, services: &BTreeMap<String, DeclaredService>) -> Result<()> {
    for (path, declared) in services {
        let adapter = AdapterOptions {
            id: declared.id.clone(),
            multi: declared.multi.clone(),
            paginate: declared.paginate(),
        };
        let service = match declared.adapter {
            AdapterKind::Memory => MemoryService::new(adapter),
        };
        let options = ServiceOptions {
            methods: declared.methods.clone(),
            ..ServiceOptions::default()
        };
        let handle = app.use_service(path, service, options)?;
        if !declared.schema.is_empty() {
            handle.hooks(HookMap::new().before(ALL, coerce_rest_query(&declared.schema)))?;
        }
        tracing::info!(path = handle.path(), adapter = ?declared.adapter, "declared service");
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
