//! Write transactions. [`WriteTx`] owns its pooled connection and runs `BEGIN`, `COMMIT` and
//! `ROLLBACK` itself (on SQLite only after its turn as the one writer), so that a connection whose transaction could not be ended cleanly is
//! closed instead of going back to the pool still inside a transaction (where every later
//! write on it, on any table, would fail). [`SqlTransaction`] is a call's `WriteTx`, shared by
//! the method and the hooks through `params.transaction`: opened in the call's handle by the
//! first write, committed or rolled back by the core after the hooks.

use crate::config::Database;
use async_trait::async_trait;
use roost_core::transaction::{Transaction, TransactionHandle};
use roost_core::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};
use std::any::Any as StdAny;
use tokio::sync::{Mutex, MutexGuard, OwnedSemaphorePermit};

/// An open write transaction on a connection of its own.
///
/// Ended by [`WriteTx::commit`] or [`WriteTx::rollback`]. When either fails the connection is
/// closed rather than returned to the pool. When it is dropped while still open (a failed or
/// cancelled call), it is rolled back in the background and closed if that fails.
pub struct WriteTx {
    /// `None` once ended.
    conn: Option<PoolConnection<Any>>,
    /// SQLite's one writer at a time; released once the transaction has ended.
    permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl WriteTx {
    /// Opens a write transaction on a connection from `db`'s pool, after waiting for the
    /// writer's turn (SQLite; see [`Database::write_permit`]).
    pub(crate) async fn begin(db: &Database) -> Result<WriteTx> {
        let permit = db.write_permit().await?;
        Self::begin_with(db, permit)
            .await
            .map_err(|e| db.to_feathers_error(&e))
    }

    /// [`WriteTx::begin`] for migrations, which run before any call: waits for the writer's
    /// turn without a deadline.
    pub(crate) async fn begin_migration(db: &Database) -> Result<WriteTx, sqlx::Error> {
        let permit = db.write_permit_unbounded().await;
        Self::begin_with(db, permit).await
    }

    async fn begin_with(
        db: &Database,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<WriteTx, sqlx::Error> {
        let mut conn = db.pool().acquire().await?;
        if let Err(e) = conn.execute(db.dialect().begin_write()).await {
            // Whatever state a failed BEGIN left behind is not for the next caller.
            conn.close_on_drop();
            return Err(e);
        }
        Ok(WriteTx {
            conn: Some(conn),
            permit,
        })
    }

    /// The connection, inside the transaction.
    pub(crate) fn conn(&mut self) -> Result<&mut AnyConnection> {
        self.conn.as_deref_mut().ok_or_else(ended)
    }

    /// Makes the work durable. On failure the connection is closed (the database discards
    /// the unfinished transaction with it).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let ended = self.end("COMMIT").await;
        if ended.is_ok() {
            crate::error::note_commit();
        }
        ended
    }

    /// Discards the work. On failure the connection is closed.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.end("ROLLBACK").await
    }

    async fn end(&mut self, statement: &str) -> Result<(), sqlx::Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        match conn.execute(statement).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, statement, "closing a connection whose transaction did not end cleanly");
                conn.close_on_drop();
                Err(e)
            }
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let permit = self.permit.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    // The next writer waits until this one's work is discarded.
                    let _permit = permit;
                    if let Err(e) = conn.execute("ROLLBACK").await {
                        tracing::warn!(error = %e, "closing a connection whose transaction could not be rolled back");
                        conn.close_on_drop();
                    }
                });
            }
            // No runtime to roll back on: closing the connection discards the transaction.
            Err(_) => conn.close_on_drop(),
        }
    }
}

fn ended() -> Error {
    Error::general("The transaction of this call has already ended")
}

/// The write transaction of one call, shared by the method and the hooks. `None` once it was
/// committed or rolled back.
pub struct SqlTransaction {
    key: u64,
    inner: Mutex<Option<WriteTx>>,
}

impl std::fmt::Debug for SqlTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTransaction")
            .field("database", &self.key)
            .finish_non_exhaustive()
    }
}

impl SqlTransaction {
    pub(crate) fn new(key: u64, tx: WriteTx) -> Self {
        SqlTransaction {
            key,
            inner: Mutex::new(Some(tx)),
        }
    }

    /// The transaction opened in `handle` when it belongs to the database numbered `key`.
    pub(crate) fn find(handle: Option<&TransactionHandle>, key: u64) -> Option<&SqlTransaction> {
        Self::own(handle?.opened()?, key)
    }

    /// `tx` when it is this adapter's transaction on the database numbered `key`.
    pub(crate) fn own(tx: &dyn Transaction, key: u64) -> Option<&SqlTransaction> {
        let tx = tx.as_any()?.downcast_ref::<SqlTransaction>()?;
        (tx.key == key).then_some(tx)
    }

    /// Exclusive use of the open transaction (statements of one call run one at a time).
    pub(crate) async fn lock(&self) -> MutexGuard<'_, Option<WriteTx>> {
        self.inner.lock().await
    }
}

#[async_trait]
impl Transaction for SqlTransaction {
    async fn commit(&self) -> Result<()> {
        let tx = self.inner.lock().await.take().ok_or_else(ended)?;
        tx.commit()
            .await
            .map_err(|e| crate::error::to_feathers_error(&e))
    }

    async fn rollback(&self) -> Result<()> {
        let tx = self.inner.lock().await.take().ok_or_else(ended)?;
        tx.rollback()
            .await
            .map_err(|e| crate::error::to_feathers_error(&e))
    }

    fn as_any(&self) -> Option<&dyn StdAny> {
        Some(self)
    }
}
