//! `/dashboard` (off unless `[dashboard] enabled`): a few static files embedded in the binary
//! and the `roost-dashboard` service they read their figures from, over Primus with the
//! client library Roost serves. The page is public; its figures are not: `find` answers only
//! a logged-in user with the configured role (a socket login) or a caller giving the
//! configured token (`params.query.token`), and `Forbidden`/`NotAuthenticated` otherwise.

use super::observe::Observability;
use async_trait::async_trait;
use roost_core::{json, App, Error, Params, Result, Service, Value};
use roost_transport::primus::CloseReason;
use roost_transport::{Primus, SocketIo};
use serde::{Deserialize, Serialize};

/// The service path the page calls.
pub(crate) const SERVICE_PATH: &str = "roost-dashboard";

/// `[dashboard]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve `/dashboard` and the `roost-dashboard` service (default `false`).
    pub enabled: bool,
    /// Logged-in users with this role see the figures (default `admin`).
    pub role: String,
    /// A token that also opens the figures (`/dashboard?token=…`); unset: users with `role`
    /// only. Compared in constant time; never logged or printed by `roost config`.
    pub token: Option<String>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: false,
            role: "admin".to_owned(),
            token: None,
        }
    }
}

impl std::fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardConfig")
            .field("enabled", &self.enabled)
            .field("role", &self.role)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl DashboardConfig {
    /// The token replaced by `<redacted>`, for `roost config`.
    pub fn redacted(&self) -> DashboardConfig {
        DashboardConfig {
            token: self.token.as_ref().map(|_| "<redacted>".to_owned()),
            ..self.clone()
        }
    }

    /// Checks made at start.
    pub fn validate(&self, app_enabled: bool) -> std::result::Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err("dashboard.token must be at least 16 characters".into());
        }
        if self.token.is_none() && !app_enabled {
            return Err(
                "dashboard.enabled needs dashboard.token or the default app's logins ([app] enabled)"
                    .into(),
            );
        }
        if self.role.is_empty() {
            return Err("dashboard.role must not be empty".into());
        }
        Ok(())
    }
}

/// The embedded page.
pub(crate) const INDEX_HTML: &str = include_str!("../../assets/dashboard/index.html");
/// Its script.
pub(crate) const SCRIPT: &str = include_str!("../../assets/dashboard/dashboard.js");
/// Its style sheet.
pub(crate) const STYLE: &str = include_str!("../../assets/dashboard/dashboard.css");

/// The file for `path` under `/dashboard`: (content type, body).
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/dashboard" | "/dashboard/" | "/dashboard/index.html" => {
            Some(("text/html; charset=utf-8", INDEX_HTML))
        }
        "/dashboard/dashboard.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        "/dashboard/dashboard.css" => Some(("text/css; charset=utf-8", STYLE)),
        _ => None,
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The figures, for admins only.
pub(crate) struct DashboardService {
    pub(crate) config: DashboardConfig,
    pub(crate) app: App,
    pub(crate) primus: Option<Primus>,
    pub(crate) socketio: Option<SocketIo>,
    pub(crate) auth: Option<roost_auth::Authentication>,
    pub(crate) observability: Observability,
}

impl DashboardService {
    fn allowed(&self, params: &Params) -> Result<()> {
        if let (Some(want), Some(Value::String(given))) =
            (&self.config.token, params.query.get("token"))
        {
            if same(want.as_bytes(), given.as_bytes()) {
                return Ok(());
            }
            return Err(Error::not_authenticated("Invalid dashboard token"));
        }
        match &params.user {
            Some(user) => {
                let admin = user
                    .get("roles")
                    .and_then(Value::as_array)
                    .is_some_and(|roles| {
                        roles.iter().any(|r| r.as_str() == Some(&self.config.role))
                    });
                if admin {
                    Ok(())
                } else {
                    Err(Error::forbidden("The dashboard is for administrators"))
                }
            }
            None => Err(Error::not_authenticated(
                "Log in as an administrator to see the dashboard",
            )),
        }
    }

    fn figures(&self) -> Value {
        let transport = |name: &str,
                         m: Option<&roost_transport::primus::TransportMetrics>,
                         open: usize| {
            let get = roost_transport::primus::TransportMetrics::get;
            match m {
                Some(m) => json!({
                    "transport": name,
                    "connections": open,
                    "calls": get(&m.calls),
                    "framesOut": get(&m.frames_out),
                    "slowClientsClosed": m.closes(CloseReason::SlowConsumer),
                }),
                None => {
                    json!({"transport": name, "connections": 0, "calls": 0, "framesOut": 0, "slowClientsClosed": 0, "off": true})
                }
            }
        };
        let primus = transport(
            "primus",
            self.primus.as_ref().map(Primus::metrics),
            self.primus.as_ref().map_or(0, Primus::connection_count),
        );
        let socketio = transport(
            "socketio",
            self.socketio.as_ref().map(SocketIo::metrics),
            self.socketio.as_ref().map_or(0, SocketIo::connection_count),
        );
        let channels_api = self.app.channels();
        let mut channels: Vec<(String, usize)> = channels_api
            .names()
            .into_iter()
            .map(|name| {
                let members = channels_api.channel(&name).len();
                (name, members)
            })
            .collect();
        channels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        channels.truncate(20);
        let (logins, login_failures) = self.auth.as_ref().map_or((0, 0), |a| {
            (a.metrics().logins(), a.metrics().login_failures())
        });
        let o = &self.observability;
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "transports": [primus, socketio],
            "connections": self.primus.as_ref().map_or(0, Primus::connection_count)
                + self.socketio.as_ref().map_or(0, SocketIo::connection_count),
            "logins": logins,
            "loginFailures": login_failures,
            "calls": o.calls_total(),
            "events": o.events_total(),
            "p50Ms": o.call_quantile_ms(0.5),
            "p99Ms": o.call_quantile_ms(0.99),
            "channels": channels.into_iter().map(|(name, members)| json!({"name": name, "members": members})).collect::<Vec<_>>(),
            "recentErrors": o.recent_errors(),
        })
    }
}

#[async_trait]
impl Service for DashboardService {
    async fn find(&self, params: &Params) -> Result<Value> {
        self.allowed(params)?;
        Ok(self.figures())
    }

    fn implemented_methods(&self) -> Vec<String> {
        vec!["find".to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdefgh", b"abcdefgh"));
        assert!(!same(b"abcdefgh", b"abcdefgX"));
        assert!(!same(b"abc", b"abcd"));
        let config = DashboardConfig {
            enabled: true,
            token: Some("short".into()),
            ..DashboardConfig::default()
        };
        assert!(config.validate(true).is_err());
        assert!(!format!("{:?}", config.redacted()).contains("short"));
        assert!(DashboardConfig {
            enabled: true,
            ..DashboardConfig::default()
        }
        .validate(false)
        .is_err());
        assert!(asset("/dashboard").is_some() && asset("/dashboard/x").is_none());
    }
}
