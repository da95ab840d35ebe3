//! Roost's cluster broker on Redis pub/sub ([`RedisBroker`], an implementation of
//! [`roost_core::broker::Broker`]).
//!
//! Two modes ([`ClusterMode`]):
//! - **`roost`** (native): one Redis channel per Roost channel, `<prefix>:ch:<name>`, plus
//!   `<prefix>:all` and `<prefix>:node:<id>`. A node subscribes to a channel's Redis channel
//!   only while it has local members of it, so an event reaches only the nodes that can
//!   deliver it. Messages are [`Envelope`]s as JSON.
//! - **`feathers-sync`**: service events go on the feathers-sync key (`feathers-sync`) in the
//!   exact format Node's `feathers-sync` 3.x reads and writes ([`feathers_sync`]), JSON or
//!   flatted, so Roost nodes and Node pods share one cluster. Every node receives every event,
//!   as feathers-sync does. Server events (to all, to one connection) have no feathers-sync
//!   form and use the native `<prefix>:all` / `<prefix>:node:<id>` channels, which Node pods
//!   do not read.
//!
//! Both modes: local delivery never waits for Redis (the caller delivers before publishing),
//! a node never delivers its own envelope again, each envelope reaches a node's sink once, and
//! sequence gaps are counted. Two connections per node: one for `PUBLISH` (all sends go through
//! one task, in order) and one for `SUBSCRIBE`. Both reconnect with exponential backoff; the
//! state is `connected` only while both are up.
//!
//! # Public surface
//! For an application that embeds Roost as a library (the `roost` binary does the same from
//! `[cluster]`): [`RedisConfig`], [`ClusterMode`], [`Serializer`], [`RedisBroker`] and its
//! error, [`redact_url`] for logs; and the two codecs, [`feathers_sync`] (the feathers-sync
//! message) and [`flatted`] (npm `flatted`), public for the fuzz targets, the test vectors and
//! anyone who needs to read or write that traffic.
//!
//! # Example
//! A node of a native cluster, joined to an app (needs a Redis server, so not run here):
//! ```no_run
//! use roost_core::cluster::ClusterOptions;
//! use roost_core::App;
//! use roost_redis::{RedisBroker, RedisConfig};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig {
//!     url: "redis://127.0.0.1:6379".into(),
//!     node_id: Some("node-a".into()),
//!     ..RedisConfig::default()
//! };
//! // Inside a tokio runtime: starts its two tasks and returns at once.
//! let broker = Arc::new(RedisBroker::start(config)?);
//! if !broker.wait_connected(Duration::from_secs(2)).await {
//!     eprintln!("Redis not reachable yet; the broker keeps retrying");
//! }
//! let app = App::new();
//! app.join_cluster(broker, ClusterOptions::default());
//! # Ok(())
//! # }
//! ```

mod broker;
pub mod feathers_sync;
pub mod flatted;

pub use broker::{RedisBroker, RedisBrokerError};
pub use feathers_sync::Serializer;

use roost_core::broker::{Envelope, EnvelopeLimits};
use serde::{Deserialize, Serialize};

/// How a node talks to the rest of the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// Roost's own envelopes with interest routing.
    #[default]
    Roost,
    /// The feathers-sync 3.x message on one key, next to Node pods.
    FeathersSync,
}

/// Configuration of a [`RedisBroker`]: `[cluster]` in the `roost` binary's file, where every
/// field has the same name. Deserializes with defaults for missing fields and refuses unknown
/// ones.
///
/// ```
/// use roost_redis::{ClusterMode, RedisConfig, Serializer};
///
/// // Next to Node pods running feathers-sync with the flatted serializer.
/// let config: RedisConfig = serde_json::from_str(
///     r#"{"url": "redis://10.0.0.5:6379", "mode": "feathers-sync", "serializer": "flatted"}"#,
/// )?;
/// assert_eq!(config.mode, ClusterMode::FeathersSync);
/// assert_eq!(config.serializer, Serializer::Flatted);
/// assert_eq!(config.sync_key, "feathers-sync");
/// assert_eq!(config.key_prefix, "roost");
/// assert!(serde_json::from_str::<RedisConfig>(r#"{"urls": "redis://x"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`; `rediss://` with the `tls` feature.
    /// Default `redis://127.0.0.1:6379`. Also accepted as `redis` (`[cluster] redis = …`).
    #[serde(alias = "redis")]
    pub url: String,
    /// PEM file of the certificate authority that signed the Redis server's certificate, for
    /// `rediss://` with a private CA (needs the `tls` feature). Default: none (the webpki
    /// roots).
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// This node's id (1–64 of `A-Z a-z 0-9 . _ -`, not `feathers-sync`), unique in the
    /// cluster. Default: random at each start (logged).
    pub node_id: Option<String>,
    /// Prefix of Roost's Redis channels (`<prefix>:ch:<name>`, `<prefix>:all`,
    /// `<prefix>:node:<id>`). Default `roost`.
    pub key_prefix: String,
    /// `roost` or `feathers-sync`. Default `roost`.
    pub mode: ClusterMode,
    /// The serializer written in feathers-sync mode (both are read). Default `json`.
    pub serializer: Serializer,
    /// The feathers-sync key (its Redis channel). Default `feathers-sync`.
    pub sync_key: String,
    /// Envelope size limits.
    pub limits: EnvelopeLimits,
    /// Envelopes waiting to be sent; past this, publishes fail and are counted. Default 10,000.
    pub queue_capacity: usize,
    /// First reconnect delay, in milliseconds; doubles up to `reconnect_max_ms`. Default 100.
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay, in milliseconds. Default 5,000.
    pub reconnect_max_ms: u64,
    /// Connect and command timeout, in milliseconds. Default 2,000.
    pub timeout_ms: u64,
    /// Whether the node's readiness (`/readyz` of `roost serve`) requires this broker to be
    /// connected. Default `true`. With `false` the `cluster` check still reports the broker's
    /// state but never makes the node unready: a Redis outage reaches every node at once, and
    /// each still serves its own clients. Read by the server, not by the broker.
    pub ready_requires_broker: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            tls_ca_file: None,
            node_id: None,
            key_prefix: "roost".into(),
            mode: ClusterMode::Roost,
            serializer: Serializer::Json,
            sync_key: "feathers-sync".into(),
            limits: EnvelopeLimits::default(),
            queue_capacity: 10_000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
            timeout_ms: 2_000,
            ready_requires_broker: true,
        }
    }
}

/// `url` with any password replaced by `***`, for logs and errors.
///
/// ```
/// assert_eq!(
///     roost_redis::redact_url("redis://:s3cret@10.0.0.1:6379/2"),
///     "redis://:***@10.0.0.1:6379/2"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The Redis channel name of a route key under `prefix`.
pub(crate) fn redis_channel(prefix: &str, route_key: &str) -> String {
    format!("{prefix}:{route_key}")
}

/// Whether `envelope` goes on the feathers-sync key in feathers-sync mode (a service event);
/// other envelopes use the native routes.
pub(crate) fn uses_sync_key(envelope: &Envelope) -> bool {
    envelope.path.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("redis://:s3cret@10.0.0.1:6379/2"),
            "redis://:***@10.0.0.1:6379/2"
        );
        assert_eq!(
            redact_url("rediss://roost:p@ss@redis.internal"),
            "rediss://roost:***@redis.internal"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn config_reads_kebab_case_modes_and_rejects_unknown_keys() {
        let config: RedisConfig =
            serde_json::from_str(r#"{"mode":"feathers-sync","serializer":"flatted"}"#).unwrap();
        assert_eq!(config.mode, ClusterMode::FeathersSync);
        assert_eq!(config.serializer, Serializer::Flatted);
        assert_eq!(config.sync_key, "feathers-sync");
        assert!(config.ready_requires_broker);
        let relaxed: RedisConfig =
            serde_json::from_str(r#"{"ready_requires_broker":false}"#).unwrap();
        assert!(!relaxed.ready_requires_broker);
        assert!(serde_json::from_str::<RedisConfig>(r#"{"modes":"roost"}"#).is_err());
        assert!(RedisBroker::start(RedisConfig {
            url: "http://nope".into(),
            ..RedisConfig::default()
        })
        .is_err());
        #[cfg(not(feature = "tls"))]
        assert!(matches!(
            RedisBroker::start(RedisConfig {
                tls_ca_file: Some("ca.pem".into()),
                ..RedisConfig::default()
            }),
            Err(RedisBrokerError::CaFile { .. })
        ));
        for bad in ["not valid!", "feathers-sync"] {
            assert!(RedisBroker::start(RedisConfig {
                node_id: Some(bad.into()),
                ..RedisConfig::default()
            })
            .is_err());
        }
    }
}
