//! Transactions around one call: an adapter that can roll back opens one before the hook
//! chain, the method and every hook see it in `params.transaction`, and it is committed only
//! after every hook succeeded — before the events are emitted. A call that fails anywhere
//! (method, after hook, error hook that does not recover) is rolled back and emits nothing.

use crate::error::Result;
use async_trait::async_trait;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

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

/// A shared handle to a call's transaction, carried in [`crate::Params`].
#[derive(Clone)]
pub struct TransactionHandle(pub Arc<dyn Transaction>);

impl TransactionHandle {
    /// Wraps a transaction.
    pub fn new(transaction: impl Transaction) -> Self {
        TransactionHandle(Arc::new(transaction))
    }
}

impl fmt::Debug for TransactionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionHandle")
    }
}

/// Two handles are equal when they are the same transaction.
impl PartialEq for TransactionHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
