//! Transactions around one call. Every call that may write (`create`, `update`, `patch`,
//! `remove` and custom methods) carries an empty [`TransactionHandle`] in
//! `params.transaction`; an adapter that can roll back opens its transaction in it when it
//! first writes, so nothing is locked while the before hooks run (hashing a password, refusing
//! an unauthenticated caller). The method and every hook of the call share that one
//! transaction; reads made before it opened use the database outside it.
//!
//! After the hook chain the core commits it — only when every hook succeeded, and before the
//! events are emitted. A call that fails anywhere (method, after hook, error hook that does
//! not recover) rolls it back and emits nothing. A call whose adapter never opened one has
//! nothing to commit. Calls made from hooks with the caller's params share the caller's
//! handle: the outermost call commits.

use crate::error::Result;
use async_trait::async_trait;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A unit of work an adapter opened for one call.
#[async_trait]
pub trait Transaction: Send + Sync + 'static {
    /// Makes the work durable. Called at most once, after every hook succeeded.
    async fn commit(&self) -> Result<()>;
    /// Discards the work. Called at most once, when the call failed.
    async fn rollback(&self) -> Result<()>;
    /// The concrete transaction, so that the adapter that opened it can find its own
    /// connection again in `params.transaction`. The default hides it.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// The transaction of one call, carried in [`crate::Params`]: empty until an adapter opens
/// one in it. Clones share it.
#[derive(Clone, Default)]
pub struct TransactionHandle(Arc<OnceCell<Arc<dyn Transaction>>>);

impl TransactionHandle {
    /// An empty handle, for a call that may write.
    pub fn new() -> Self {
        TransactionHandle::default()
    }

    /// The transaction opened in this handle, if any.
    pub fn opened(&self) -> Option<&dyn Transaction> {
        self.0.get().map(|tx| &**tx)
    }

    /// The transaction opened in this handle, opening it with `open` first if there is none.
    /// Concurrent callers wait for one `open`; when it fails, the handle stays empty. The
    /// transaction returned may be another adapter's (the first to write opens it): an
    /// adapter checks with [`Transaction::as_any`] that it is its own.
    pub async fn open_with<F, Fut>(&self, open: F) -> Result<&dyn Transaction>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<dyn Transaction>>>,
    {
        let tx = self.0.get_or_try_init(open).await?;
        Ok(&**tx)
    }

    /// Commits the transaction, if one was opened.
    pub async fn commit(&self) -> Result<()> {
        match self.opened() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    /// Rolls the transaction back, if one was opened.
    pub async fn rollback(&self) -> Result<()> {
        match self.opened() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for TransactionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionHandle")
            .field("opened", &self.0.initialized())
            .finish()
    }
}

/// Two handles are equal when they are the same call's.
impl PartialEq for TransactionHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
