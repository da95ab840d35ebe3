//! `HookContext`: the state of one service call as it travels through the hook chain
//! (docs/feathers-semantics.md §B9–B14).

use crate::app::App;
use crate::error::Error;
use crate::params::Params;
use crate::publish::PublishTarget;
use serde_json::{Map, Value};

/// Which kind of hook is running (`context.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookType {
    /// Outside regular hooks: around hooks and the method itself.
    Around,
    /// A before hook.
    Before,
    /// An after hook.
    After,
    /// An error hook.
    Error,
}

impl HookType {
    /// The Feathers name (`"before"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::Around => "around",
            HookType::Before => "before",
            HookType::After => "after",
            HookType::Error => "error",
        }
    }
}

/// HTTP details a hook may set for REST responses (`context.http`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Http {
    /// Overrides the response status.
    pub status: Option<u16>,
    /// Extra response headers; several values for one name become repeated headers.
    pub headers: Vec<(String, String)>,
    /// Sets `Location` and, unless a status is set, answers 303.
    pub location: Option<String>,
}

/// The context of one service call.
#[derive(Debug, Clone)]
pub struct HookContext {
    /// The application.
    pub app: App,
    /// The registered service path (placeholders kept, no slashes).
    pub path: String,
    /// The method name (`find`, …, or a custom method).
    pub method: String,
    /// The kind of hook running now.
    pub hook_type: HookType,
    /// The id argument (get/update/patch/remove); `Value::Null` for multi calls.
    pub id: Option<Value>,
    /// The data argument (create/update/patch/custom).
    pub data: Option<Value>,
    /// The call's params.
    pub params: Params,
    /// The result. Setting it before the method runs skips the method; setting it in an
    /// error hook swallows the error. `Some(Value::Null)` is a real `null` result.
    pub result: Option<Value>,
    /// What external callers receive instead of `result`, when set.
    pub dispatch: Option<Value>,
    /// The error, in error hooks.
    pub error: Option<Error>,
    /// The event to emit on success; `None` emits nothing. Preset from the method.
    pub event: Option<String>,
    /// REST response details; `None` on socket and internal calls.
    pub http: Option<Http>,
    /// The channels this call's events go to, chosen by a hook. When set, it replaces the
    /// publishers for this call's events (docs/architecture.md §2: "a hook may pick the channels for one
    /// call"); `None` leaves the choice to the publishers.
    pub channels: Option<PublishTarget>,
    /// In error hooks: the hook type that was running when the call failed.
    pub original_type: Option<HookType>,
    /// Custom values hooks share with each other.
    pub extra: Map<String, Value>,
}

impl HookContext {
    /// A fresh context for `method` on `path`.
    pub fn new(app: App, path: impl Into<String>, method: impl Into<String>) -> Self {
        let method = method.into();
        HookContext {
            app,
            path: path.into(),
            event: crate::service::default_event(&method).map(str::to_owned),
            method,
            hook_type: HookType::Around,
            id: None,
            data: None,
            params: Params::default(),
            result: None,
            dispatch: None,
            error: None,
            http: None,
            original_type: None,
            channels: None,
            extra: Map::new(),
        }
    }

    /// `context.statusCode = n`: creates `http` when missing and sets its status.
    pub fn set_status_code(&mut self, status: u16) {
        self.http.get_or_insert_with(Http::default).status = Some(status);
    }

    /// `context.statusCode`.
    pub fn status_code(&self) -> Option<u16> {
        self.http.as_ref().and_then(|h| h.status)
    }

    /// What an external caller receives: `dispatch` when set, else `result`.
    pub fn dispatch_or_result(&self) -> Option<&Value> {
        self.dispatch.as_ref().or(self.result.as_ref())
    }
}
