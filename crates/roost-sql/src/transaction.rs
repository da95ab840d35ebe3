//! The transaction of one call: opened by `Service::begin`, used by the methods through
//! `params.transaction`, committed or rolled back by the core after the hooks.

use crate::error::to_feathers_error;
use async_trait::async_trait;
use roost_core::transaction::{Transaction, TransactionHandle};
use roost_core::{Error, Result};
use sqlx::Any;
use std::any::Any as StdAny;
use tokio::sync::{Mutex, MutexGuard};

/// An open sqlx transaction shared by the method and the hooks of one call. `None` once it
/// was committed or rolled back.
pub struct SqlTransaction {
    key: u64,
    inner: Mutex<Option<sqlx::Transaction<'static, Any>>>,
}

impl std::fmt::Debug for SqlTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTransaction")
            .field("database", &self.key)
            .finish_non_exhaustive()
    }
}

impl SqlTransaction {
    pub(crate) fn new(key: u64, tx: sqlx::Transaction<'static, Any>) -> Self {
        SqlTransaction {
            key,
            inner: Mutex::new(Some(tx)),
        }
    }

    /// The transaction in `handle` when it belongs to the database numbered `key`.
    pub(crate) fn find(handle: Option<&TransactionHandle>, key: u64) -> Option<&SqlTransaction> {
        let tx = handle?.0.as_any()?.downcast_ref::<SqlTransaction>()?;
        (tx.key == key).then_some(tx)
    }

    /// Exclusive use of the open transaction (statements of one call run one at a time).
    pub(crate) async fn lock(&self) -> MutexGuard<'_, Option<sqlx::Transaction<'static, Any>>> {
        self.inner.lock().await
    }
}

fn finished() -> Error {
    Error::general("The transaction of this call has already ended")
}

#[async_trait]
impl Transaction for SqlTransaction {
    async fn commit(&self) -> Result<()> {
        let tx = self.inner.lock().await.take().ok_or_else(finished)?;
        tx.commit().await.map_err(|e| to_feathers_error(&e))
    }

    async fn rollback(&self) -> Result<()> {
        let tx = self.inner.lock().await.take().ok_or_else(finished)?;
        tx.rollback().await.map_err(|e| to_feathers_error(&e))
    }

    fn as_any(&self) -> Option<&dyn StdAny> {
        Some(self)
    }
}
