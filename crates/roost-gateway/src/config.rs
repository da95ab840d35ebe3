//! `[gateway]`: where the upstream Feathers app is, which paths it serves, how calls reach it
//! and how long Roost waits for it. Self-contained so the binary embeds it as one field.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The service-path entry that forwards every path Roost does not serve itself.
pub const ALL_SERVICES: &str = "*";

/// How forwarded calls reach the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    /// Zero-SDK: each call becomes the REST request `@feathersjs/rest-client` would send.
    Rest,
    /// Through the `feathers-roost` plugin installed in the upstream: exact Feathers params,
    /// channel membership and `app.publish` decided by the app.
    Plugin,
}

/// `[gateway]`. Off while `upstream` is empty. Deserializes with defaults for missing fields
/// and refuses unknown ones; the `roost` binary reads it from its configuration file.
///
/// ```
/// use roost_gateway::{GatewayConfig, GatewayMode};
///
/// let config: GatewayConfig = serde_json::from_str(
///     r#"{"upstream": "http://127.0.0.1:3030", "mode": "plugin", "secret": "a long shared secret"}"#,
/// )?;
/// assert!(config.enabled());
/// assert_eq!(config.mode, GatewayMode::Plugin);
/// assert_eq!(config.services, ["*"]);
/// assert!(config.validate().is_ok());
/// assert!(!format!("{:?}", config.redacted()).contains("long shared"));
/// // Plugin mode needs the shared secret.
/// let no_secret = GatewayConfig { secret: String::new(), ..config };
/// assert!(no_secret.validate().is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The upstream Feathers app, `http://host:port` (plain HTTP). Empty: gateway off.
    pub upstream: String,
    /// `rest` (default, zero-SDK) or `plugin`.
    pub mode: GatewayMode,
    /// Paths the upstream serves: `["*"]` (default: every single-segment path Roost does not
    /// serve itself) and/or literal paths such as `users/:userId/messages`. A service Roost
    /// registers itself always wins.
    pub services: Vec<String>,
    /// Custom methods callable per path (`"*"` for the wildcard), e.g.
    /// `methods = { messages = ["join", "leave"] }`. A path named here is forwarded even
    /// when `services` does not list it.
    pub methods: BTreeMap<String, Vec<String>>,
    /// The upstream's authentication service; a socket login through it is kept on the
    /// connection (default `authentication`).
    pub authentication_path: String,
    /// Shared secret between Roost and the plugin (plugin mode: required).
    pub secret: String,
    /// Rest mode: the channel that receives the events of forwarded writes (default
    /// `authenticated`, as a generated Feathers app publishes); empty: no events.
    pub publish_channel: String,
    /// Milliseconds to open a TCP connection to the upstream (default 1000).
    pub connect_timeout_ms: u64,
    /// Milliseconds for one upstream answer once sent (default 10000); then `Unavailable`.
    pub request_timeout_ms: u64,
    /// Milliseconds a call keeps retrying while the upstream refuses connections (default
    /// 2000); then the caller gets `Unavailable` (503).
    pub unavailable_wait_ms: u64,
    /// Milliseconds between two connection attempts while the upstream is down (default 100).
    pub retry_interval_ms: u64,
    /// Upstream requests in flight at once (default 256); more callers queue within their
    /// `request_timeout_ms`.
    pub max_concurrent_requests: usize,
    /// Largest upstream answer in bytes (default 16 MiB); larger ones give `BadGateway`.
    pub max_response_bytes: usize,
    /// Largest body the plugin may POST to Roost's `/_roost/events` (default 4 MiB).
    pub max_event_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            upstream: String::new(),
            mode: GatewayMode::Rest,
            services: vec![ALL_SERVICES.to_owned()],
            methods: BTreeMap::new(),
            authentication_path: "authentication".to_owned(),
            secret: String::new(),
            publish_channel: "authenticated".to_owned(),
            connect_timeout_ms: 1000,
            request_timeout_ms: 10_000,
            unavailable_wait_ms: 2000,
            retry_interval_ms: 100,
            max_concurrent_requests: 256,
            max_response_bytes: 16 * 1024 * 1024,
            max_event_bytes: 4 * 1024 * 1024,
        }
    }
}

impl GatewayConfig {
    /// Whether the gateway is on.
    pub fn enabled(&self) -> bool {
        !self.upstream.is_empty()
    }

    /// Checks the values that would only fail at first use.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        let rest = self
            .upstream
            .strip_prefix("http://")
            .ok_or("gateway.upstream must be an http:// URL (no TLS)")?;
        if rest.trim_end_matches('/').is_empty() {
            return Err("gateway.upstream has no host".into());
        }
        if self.services.is_empty() {
            return Err("gateway.services is empty: give [\"*\"] or a list of paths".into());
        }
        for (name, value) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("retry_interval_ms", self.retry_interval_ms),
        ] {
            if value == 0 {
                return Err(format!("gateway.{name} must be > 0"));
            }
        }
        if self.max_concurrent_requests == 0
            || self.max_response_bytes == 0
            || self.max_event_bytes == 0
        {
            return Err("gateway limits must be > 0".into());
        }
        if self.mode == GatewayMode::Plugin && self.secret.len() < 16 {
            return Err("gateway.secret must have at least 16 characters in plugin mode".into());
        }
        Ok(())
    }

    /// The upstream URL without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        self.upstream.trim_end_matches('/')
    }

    /// A copy with the secret replaced, for printing.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        if !copy.secret.is_empty() {
            copy.secret = "<redacted>".to_owned();
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked_when_on() {
        let mut c = GatewayConfig::default();
        assert!(!c.enabled() && c.validate().is_ok());
        c.upstream = "https://x".into();
        assert!(c.validate().unwrap_err().contains("http://"));
        c.upstream = "http://127.0.0.1:3031/".into();
        assert!(c.validate().is_ok());
        assert_eq!(c.base_url(), "http://127.0.0.1:3031");
        c.mode = GatewayMode::Plugin;
        assert!(c.validate().unwrap_err().contains("secret"));
        c.secret = "0123456789abcdef".into();
        assert!(c.validate().is_ok());
        assert_eq!(c.redacted().secret, "<redacted>");
        c.request_timeout_ms = 0;
        assert!(c.validate().is_err());
    }
}
