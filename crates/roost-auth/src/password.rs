//! Password hashing: bcrypt on tokio's blocking pool behind a semaphore (semaphore-limited
//! concurrency, bounded waiting), compatible with bcryptjs (docs/feathers-semantics.md §E11).
//!
//! A cost-10 hash takes tens of milliseconds of CPU; run inline it would stall every
//! connection served by that worker thread, and run without a cap a burst of logins would
//! queue thousands of blocking jobs. So at most `password_concurrency` run at once and at
//! most `password_queue` wait; beyond that the caller gets 429 at once.

use roost_core::Error;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// Hashes and verifies passwords; cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cost: u32,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    refused: AtomicU64,
    /// A hash of a random password at `cost`, verified when the user does not exist so a
    /// failed lookup takes as long as a wrong password.
    dummy: OnceCell<String>,
}

/// Decrements the waiting count when a caller stops waiting, however it stops.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// A hasher producing `$2b$` hashes of `cost`, running at most `concurrency` jobs and
    /// letting at most `max_waiting` callers wait.
    pub fn new(cost: u32, concurrency: usize, max_waiting: usize) -> Self {
        PasswordHasher {
            inner: Arc::new(Inner {
                cost,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                waiting: AtomicUsize::new(0),
                max_waiting,
                refused: AtomicU64::new(0),
                dummy: OnceCell::new(),
            }),
        }
    }

    /// Hashes and verifications refused because `password_queue` callers were waiting.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// The cost of new hashes.
    pub fn cost(&self) -> u32 {
        self.inner.cost
    }

    /// Runs `job` on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        if inner.waiting.fetch_add(1, Ordering::AcqRel) >= inner.max_waiting {
            inner.waiting.fetch_sub(1, Ordering::AcqRel);
            inner.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("password hashing queue full; request refused");
            return Err(Error::new(
                roost_core::ErrorKind::TooManyRequests,
                "Too many password checks in progress",
            ));
        }
        let waiting = Waiting(&inner.waiting);
        let permit = Arc::clone(&inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::general("password hasher closed"))?;
        drop(waiting);
        // The permit travels with the job: a caller that gives up (its connection closed)
        // does not free the slot while the hash still runs.
        let result = tokio::task::spawn_blocking(move || {
            let output = job();
            drop(permit);
            output
        })
        .await;
        result.map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            Error::general("Error hashing password")
        })
    }

    /// Hashes `password` (bcrypt `$2b$`, truncated at 72 UTF-8 bytes as bcryptjs does).
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let cost = self.inner.cost;
        self.run(move || hash_blocking(&password, cost))
            .await?
            .map_err(|e| {
                tracing::error!(error = %e, "bcrypt hashing failed");
                Error::general("Error hashing password")
            })
    }

    /// Whether `password` matches `hash` (`$2a$`, `$2b$`, `$2x$` or `$2y$`). A malformed hash
    /// is a mismatch.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Error> {
        self.run(move || bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false))
            .await
    }

    /// Spends the time of one verification without a user, so an unknown username cannot be
    /// told from a wrong password by timing.
    pub(crate) async fn verify_dummy(&self, password: String) -> Result<(), Error> {
        let cost = self.inner.cost;
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| async {
                self.run(move || hash_blocking(&random_password(), cost))
                    .await?
                    .map_err(|_| Error::general("Error hashing password"))
            })
            .await?
            .clone();
        self.verify(password, dummy).await.map(|_| ())
    }
}

/// One bcrypt hash, on the current thread.
pub fn hash_blocking(password: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash_with_result(password.as_bytes(), cost)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
}

fn random_password() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(4, 1, 8);
        let hash = h.hash("secret ✓".into()).await.unwrap();
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(h.verify("secret ✓".into(), hash.clone()).await.unwrap());
        assert!(!h.verify("secret".into(), hash).await.unwrap());
        assert!(!h.verify("x".into(), "not a hash".into()).await.unwrap());
        h.verify_dummy("x".into()).await.unwrap();
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let h = PasswordHasher::new(4, 1, 1);
        h.inner.waiting.store(1, Ordering::SeqCst);
        let e = h.hash("x".into()).await.unwrap_err();
        assert_eq!(e.code(), 429);
        assert_eq!(h.inner.waiting.load(Ordering::SeqCst), 1);
        assert_eq!(h.refused(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_configured_number_of_jobs_run() {
        let h = PasswordHasher::new(11, 1, 8);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.hash("x".into()).await })
            })
            .collect();
        for _ in 0..500 {
            if h.inner.waiting.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(h.inner.waiting.load(Ordering::SeqCst), 2);
        assert_eq!(h.inner.permits.available_permits(), 0);
        for t in tasks {
            assert!(t.await.unwrap().unwrap().starts_with("$2b$11$"));
        }
        assert_eq!(h.inner.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(h.inner.permits.available_permits(), 1);
    }
}
