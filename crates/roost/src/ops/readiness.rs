//! `/readyz`: whether this node should get traffic. Not ready while draining (SIGTERM) or
//! while any [`ReadinessCheck`] fails; each check runs with `server.readiness_timeout_ms`.
//! Storage always; the cluster broker ([`BrokerCheck`]) when `[cluster]` is set.

use crate::storage::Storage;
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One thing the node needs to serve: the database, later a broker.
#[async_trait]
pub(crate) trait ReadinessCheck: Send + Sync + 'static {
    /// The key in the `/readyz` answer (`storage`).
    fn name(&self) -> &'static str;
    /// `Ok` when the dependency answers; the error says why not (no secrets).
    async fn check(&self) -> Result<(), String>;
    /// Whether a failure makes the node unready (default). A check that is not required
    /// still reports its failure, under `checks` and `degraded`.
    fn required(&self) -> bool {
        true
    }
}

/// The readiness state of one server. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    draining: AtomicBool,
    checks: Vec<Arc<dyn ReadinessCheck>>,
    timeout: Duration,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("draining", &self.is_draining())
            .field(
                "checks",
                &self
                    .inner
                    .checks
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What `/readyz` answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// 200 or 503.
    pub ready: bool,
    /// The JSON body: `status`, `reason` when not ready, each check's result.
    pub body: Value,
}

impl Readiness {
    /// Readiness with these checks, each bounded by `timeout`.
    pub(crate) fn new(checks: Vec<Arc<dyn ReadinessCheck>>, timeout: Duration) -> Readiness {
        Readiness {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                checks,
                timeout,
            }),
        }
    }

    /// From now on the node is not ready (the drain began). Never undone.
    pub(crate) fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether the drain began.
    pub(crate) fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Runs every check (concurrently, each within the timeout) unless draining.
    pub(crate) async fn report(&self) -> Report {
        if self.is_draining() {
            return Report {
                ready: false,
                body: json!({"status": "unavailable", "reason": "draining"}),
            };
        }
        let timeout = self.inner.timeout;
        let results = futures_util::future::join_all(self.inner.checks.iter().map(|check| {
            let check = Arc::clone(check);
            async move {
                let result = match tokio::time::timeout(timeout, check.check()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                (check.name(), check.required(), result)
            }
        }))
        .await;
        let mut checks = Map::new();
        let mut reasons = Vec::new();
        let mut degraded = Vec::new();
        for (name, required, result) in results {
            match result {
                Ok(()) => {
                    checks.insert(name.to_owned(), json!("ok"));
                }
                Err(why) => {
                    if required {
                        reasons.push(format!("{name}: {why}"));
                    } else {
                        degraded.push(format!("{name}: {why}"));
                    }
                    checks.insert(name.to_owned(), json!(why));
                }
            }
        }
        if reasons.is_empty() {
            let mut body = json!({"status": "ready", "checks": checks});
            if !degraded.is_empty() {
                body["degraded"] = json!(degraded.join("; "));
            }
            Report { ready: true, body }
        } else {
            Report {
                ready: false,
                body: json!({"status": "unavailable", "reason": reasons.join("; "), "checks": checks}),
            }
        }
    }
}

/// The `[storage]` database answers `SELECT 1` (always ready when services live in memory,
/// or before any SQL service opened the pool).
#[derive(Debug)]
pub(crate) struct StorageCheck(pub Arc<Storage>);

#[async_trait]
impl ReadinessCheck for StorageCheck {
    fn name(&self) -> &'static str {
        "storage"
    }

    async fn check(&self) -> Result<(), String> {
        match self.0.opened() {
            Some(_) if roost_sql::error::disk_full_now() => Err(roost_sql::error::DISK_FULL.into()),
            Some(db) => db.ping().await.map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

/// The cluster broker is connected (`[cluster]`): a node that cannot reach Redis still
/// serves its own connections, but a balancer should prefer nodes that reach the others.
/// Not required (`[cluster] ready_requires_broker = false`): reported, never unready.
pub(crate) struct BrokerCheck {
    broker: Arc<dyn roost_core::broker::Broker>,
    required: bool,
}

impl BrokerCheck {
    /// A check of `broker`'s state; `required` as `[cluster] ready_requires_broker`.
    pub(crate) fn new(broker: Arc<dyn roost_core::broker::Broker>, required: bool) -> BrokerCheck {
        BrokerCheck { broker, required }
    }
}

impl std::fmt::Debug for BrokerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerCheck")
            .field("node", &self.broker.node_id().as_str())
            .field("required", &self.required)
            .finish()
    }
}

#[async_trait]
impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "cluster"
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> Result<(), String> {
        let state = self.broker.state();
        if state.is_ready() {
            Ok(())
        } else {
            Err(format!("cluster broker {}", state.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<(), String>);

    #[async_trait]
    impl ReadinessCheck for Fixed {
        fn name(&self) -> &'static str {
            "broker"
        }
        async fn check(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    struct Stuck;

    #[async_trait]
    impl ReadinessCheck for Stuck {
        fn name(&self) -> &'static str {
            "stuck"
        }
        async fn check(&self) -> Result<(), String> {
            std::future::pending().await
        }
    }

    struct Optional(Result<(), String>);

    #[async_trait]
    impl ReadinessCheck for Optional {
        fn name(&self) -> &'static str {
            "cluster"
        }
        fn required(&self) -> bool {
            false
        }
        async fn check(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    #[tokio::test]
    async fn a_check_that_is_not_required_reports_without_making_the_node_unready() {
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(Fixed(Ok(()))),
            Arc::new(Optional(Err("cluster broker disconnected".into()))),
        ];
        let report = Readiness::new(checks, Duration::from_secs(1))
            .report()
            .await;
        assert!(report.ready, "{}", report.body);
        assert_eq!(report.body["status"], "ready");
        assert_eq!(
            report.body["checks"]["cluster"],
            "cluster broker disconnected"
        );
        assert_eq!(
            report.body["degraded"],
            "cluster: cluster broker disconnected"
        );

        // A required failure still wins, and names only itself as the reason.
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(Fixed(Err("connection refused".into()))),
            Arc::new(Optional(Err("cluster broker disconnected".into()))),
        ];
        let report = Readiness::new(checks, Duration::from_secs(1))
            .report()
            .await;
        assert!(!report.ready);
        assert_eq!(report.body["reason"], "broker: connection refused");
        assert_eq!(
            report.body["checks"]["cluster"],
            "cluster broker disconnected"
        );

        // Connected again: no `degraded`.
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(Optional(Ok(())))];
        let report = Readiness::new(checks, Duration::from_secs(1))
            .report()
            .await;
        assert!(report.ready);
        assert!(report.body.get("degraded").is_none(), "{}", report.body);
    }

    #[tokio::test]
    async fn every_check_must_pass_and_draining_wins() {
        let ok = Readiness::new(vec![Arc::new(Fixed(Ok(())))], Duration::from_secs(1));
        let report = ok.report().await;
        assert!(report.ready);
        assert_eq!(report.body["checks"]["broker"], "ok");
        ok.start_draining();
        let report = ok.report().await;
        assert!(!report.ready);
        assert_eq!(report.body["reason"], "draining");

        let down = Readiness::new(
            vec![
                Arc::new(Fixed(Err("connection refused".into()))),
                Arc::new(Stuck),
            ],
            Duration::from_millis(50),
        );
        let report = down.report().await;
        assert!(!report.ready);
        let reason = report.body["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("broker: connection refused"), "{reason}");
        assert!(reason.contains("stuck: no answer within 50 ms"), "{reason}");
    }
}
