//! `params`: what a service method sees besides its id and data (docs/feathers-semantics.md §A14–A15).

use crate::ids::ConnectionId;
use crate::transaction::TransactionHandle;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Pagination settings of an adapter: `{default, max}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Paginate {
    /// Page size when the query has no valid `$limit`.
    pub default: Option<usize>,
    /// Largest page size; a larger `$limit` is capped.
    pub max: Option<usize>,
}

/// A server-side override of the service's pagination for one call (`params.paginate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaginateOverride {
    /// `params.paginate = false`: find returns a plain array.
    Disabled,
    /// `params.paginate = {default, max}`: replaces the service setting.
    With(Paginate),
}

/// The parameters of one service call.
///
/// External callers can only set `query`, `route` (through the path) and, over REST,
/// `headers`; everything else is set by the transport or by hooks on the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// The query object (`{}` when the caller sent none).
    pub query: Map<String, Value>,
    /// `"rest"`, `"primus"`, `"socketio"`; `None` for internal calls.
    pub provider: Option<String>,
    /// Route placeholders (`users/:userId/messages` gives `userId`), as strings.
    pub route: Map<String, Value>,
    /// Request headers (REST) or handshake headers (sockets), lower-case names.
    pub headers: Map<String, Value>,
    /// The real-time connection making the call.
    pub connection: Option<ConnectionId>,
    /// The authenticated entity, set by the `authenticate` hook or the connection.
    pub user: Option<Value>,
    /// The authentication information (`{strategy, accessToken, payload?}`).
    pub authentication: Option<Value>,
    /// Set once the `authenticate` hook has verified this call.
    pub authenticated: bool,
    /// Server-only pagination override.
    pub paginate: Option<PaginateOverride>,
    /// Every other property: connection fields, values set by hooks.
    pub extra: Map<String, Value>,
    /// The transaction the adapter opened for this call, if it opens one.
    pub transaction: Option<TransactionHandle>,
}

impl Params {
    /// Params of an external call made through `provider`.
    pub fn external(provider: impl Into<String>) -> Self {
        Params {
            provider: Some(provider.into()),
            ..Params::default()
        }
    }

    /// Params carrying `query`.
    pub fn with_query(mut self, query: Map<String, Value>) -> Self {
        self.query = query;
        self
    }

    /// Whether the call came from outside the server (`provider` is set).
    pub fn is_external(&self) -> bool {
        self.provider.is_some()
    }
}
