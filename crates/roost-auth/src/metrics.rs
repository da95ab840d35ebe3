//! [`AuthMetrics`]: what `/metrics` shows of authentication.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Authentication counters. Cheap to clone: clones count into the same cells.
#[derive(Debug, Clone, Default)]
pub struct AuthMetrics {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    logins: AtomicU64,
    login_failures: AtomicU64,
    logouts: AtomicU64,
    expiries: AtomicU64,
}

fn bump(cell: &AtomicU64) {
    cell.fetch_add(1, Ordering::Relaxed);
}

impl AuthMetrics {
    /// Successful `authentication.create` calls (any strategy, any provider).
    pub fn logins(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// `authentication.create` calls that failed.
    pub fn login_failures(&self) -> u64 {
        self.inner.login_failures.load(Ordering::Relaxed)
    }

    /// Successful `authentication.remove` calls.
    pub fn logouts(&self) -> u64 {
        self.inner.logouts.load(Ordering::Relaxed)
    }

    /// Socket connections logged out because their access token expired.
    pub fn expiries(&self) -> u64 {
        self.inner.expiries.load(Ordering::Relaxed)
    }

    pub(crate) fn count_login(&self, ok: bool) {
        bump(if ok {
            &self.inner.logins
        } else {
            &self.inner.login_failures
        });
    }

    pub(crate) fn count_logout(&self) {
        bump(&self.inner.logouts);
    }

    pub(crate) fn count_expiry(&self) {
        bump(&self.inner.expiries);
    }
}
