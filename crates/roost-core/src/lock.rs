//! The crate's `std` lock helpers. Locks survive a panicking holder: the data behind them
//! stays consistent because every critical section is a single insert or clone, so a
//! poisoned lock is used as it is. A leaf module.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A read guard on `lock`.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A write guard on `lock`.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
