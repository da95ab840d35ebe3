//! Shared immutable JSON values, interned: equal values handed to one [`Interner`] come back
//! as one allocation ([`Arc<Value>`]), held as long as someone holds it.
//!
//! Connections use it for the values a login leaves on them ([`ConnectionInfo`]'s `user`
//! and `authentication`): 10,000 connections of one user with one token keep one copy of that
//! user and one of `{strategy, accessToken}` instead of 10,000 each. The values are
//! immutable; a connection that gets a new `user` gets another `Arc` (interned again), and
//! the others keep theirs.
//!
//! # Cost and bounds
//! Interning hashes the value once (SipHash with a random key, so crafted collisions are
//! not cheap to find) and, when the table holds a live value with that hash, compares the
//! two: O(size of the JSON) either way, under one short lock. "Equal" is strict: same
//! variants, same number representation (`1` and `1.0` differ, as they print differently)
//! and the same key order (key order is visible to clients), so an interned value always
//! prints exactly as the one given. Two different values with the same 64-bit hash are not
//! shared (the second one stays on its own), which costs memory, never correctness.
//!
//! The table holds values weakly: the last holder dropping a value frees it. The table's own
//! entry for a freed value (a hash and a weak pointer, plus the `Arc`'s empty shell of about
//! 100 bytes) is reused by the next value with that hash and removed by a sweep of the whole
//! table, which runs when an insert finds the table twice as large as after the last sweep
//! (at least [`FIRST_SWEEP`] entries): the table stays within about twice the number of
//! live values plus [`FIRST_SWEEP`], at an amortised O(1) per insert.
//!
//! [`ConnectionInfo`]: crate::ConnectionInfo

use serde_json::{Map, Number, Value};
use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

/// The table size below which no sweep runs.
pub const FIRST_SWEEP: usize = 64;

/// A set of shared JSON values; see the module docs. [`connection_values`] is the one
/// connections use.
pub struct Interner {
    state: RandomState,
    table: Mutex<Table>,
}

struct Table {
    /// Hash of the value → the value.
    values: HashMap<u64, Weak<Value>>,
    /// A sweep runs when an insert makes `values` larger than this.
    sweep_at: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Interner {
            state: RandomState::new(),
            table: Mutex::new(Table {
                values: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every critical section leaves the table consistent (one map operation at a time).
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared copy of `value`: the one this interner already holds when it is equal
    /// (strictly, see the module docs), otherwise `value` itself, now shared.
    pub fn intern(&self, value: Value) -> Arc<Value> {
        let hash = self.hash(&value);
        let mut table = self.lock();
        let shared = match table.values.entry(hash) {
            Entry::Occupied(mut entry) => match entry.get().upgrade() {
                Some(held) if same(&held, &value) => {
                    drop(table);
                    // `value` is dropped here, outside the lock.
                    return held;
                }
                // Another value with the same hash: this one is not shared.
                Some(_) => return Arc::new(value),
                None => {
                    let shared = Arc::new(value);
                    entry.insert(Arc::downgrade(&shared));
                    shared
                }
            },
            Entry::Vacant(entry) => {
                let shared = Arc::new(value);
                entry.insert(Arc::downgrade(&shared));
                shared
            }
        };
        if table.values.len() > table.sweep_at {
            table.sweep();
        }
        shared
    }

    /// How many entries the table holds, including those whose value was freed and that no
    /// sweep removed yet.
    pub fn len(&self) -> usize {
        self.lock().values.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many values are alive (a walk over the table).
    pub fn live(&self) -> usize {
        self.lock()
            .values
            .values()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }

    /// Removes the entries of freed values now (inserts do it on their own; see the module
    /// docs).
    pub fn sweep(&self) {
        self.lock().sweep();
    }

    fn hash(&self, value: &Value) -> u64 {
        let mut hasher = self.state.build_hasher();
        hash_value(value, &mut hasher);
        hasher.finish()
    }
}

impl Table {
    fn sweep(&mut self) {
        self.values.retain(|_, weak| weak.strong_count() > 0);
        let live = self.values.len();
        if self.values.capacity() > 4 * live.max(FIRST_SWEEP) {
            self.values.shrink_to(2 * live);
        }
        self.sweep_at = (2 * live).max(FIRST_SWEEP);
    }
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

/// The interner of connection values (`connection.user`, `connection.authentication`), one
/// per process: values are immutable, so apps in one process may share them.
pub fn connection_values() -> &'static Interner {
    static VALUES: OnceLock<Interner> = OnceLock::new();
    VALUES.get_or_init(Interner::new)
}

/// A number as it prints: integers by sign, floats by their bits (`0.0` and `-0.0` differ).
#[derive(PartialEq)]
enum NumberKey {
    Unsigned(u64),
    Signed(i64),
    Float(u64),
}

fn number_key(n: &Number) -> NumberKey {
    if let Some(u) = n.as_u64() {
        NumberKey::Unsigned(u)
    } else if let Some(i) = n.as_i64() {
        NumberKey::Signed(i)
    } else {
        NumberKey::Float(n.as_f64().unwrap_or(f64::NAN).to_bits())
    }
}

fn hash_value(value: &Value, h: &mut impl Hasher) {
    match value {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => h.write_u8(1 + u8::from(*b)),
        Value::Number(n) => match number_key(n) {
            NumberKey::Unsigned(u) => {
                h.write_u8(3);
                h.write_u64(u);
            }
            NumberKey::Signed(i) => {
                h.write_u8(4);
                h.write_i64(i);
            }
            NumberKey::Float(bits) => {
                h.write_u8(5);
                h.write_u64(bits);
            }
        },
        Value::String(s) => {
            h.write_u8(6);
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        Value::Array(items) => {
            h.write_u8(7);
            h.write_usize(items.len());
            for item in items {
                hash_value(item, h);
            }
        }
        Value::Object(map) => {
            h.write_u8(8);
            h.write_usize(map.len());
            for (key, item) in map {
                h.write_usize(key.len());
                h.write(key.as_bytes());
                hash_value(item, h);
            }
        }
    }
}

/// Equal and printing the same: `==` on JSON ignores key order and compares `0.0` equal to
/// `-0.0`; this does not.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => number_key(a) == number_key(b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => same_maps(a, b),
        _ => false,
    }
}

fn same_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_share_one_allocation_until_the_last_holder_drops_it() {
        let interner = Interner::new();
        let a = interner.intern(json!({"id": 1, "email": "a@example.com"}));
        let b = interner.intern(json!({"id": 1, "email": "a@example.com"}));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(Arc::strong_count(&a), 2);
        assert_eq!((interner.len(), interner.live()), (1, 1));
        let other = interner.intern(json!({"id": 2, "email": "b@example.com"}));
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(interner.live(), 2);

        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "freed with its last holder");
        assert_eq!(interner.live(), 1);
        // Interned again after it was freed: a new allocation, the entry reused.
        let again = interner.intern(json!({"id": 1, "email": "a@example.com"}));
        assert_eq!(*again, json!({"id": 1, "email": "a@example.com"}));
        assert_eq!((interner.len(), interner.live()), (2, 2));
    }

    #[test]
    fn values_that_print_differently_are_not_shared() {
        let interner = Interner::new();
        let pairs = [
            (json!({"a": 1, "b": 2}), json!({"b": 2, "a": 1})),
            (json!(1), json!(1.0)),
            (json!(0.0), json!(-0.0)),
            (json!(-1), json!(-1.0)),
            (json!([1, [2]]), json!([[1], 2])),
            (json!({"a": null}), json!({"a": false})),
            (json!(""), json!(null)),
            (json!({"ab": "c"}), json!({"a": "bc"})),
        ];
        for (a, b) in pairs {
            // `==` says equal for some of these; printing says not.
            let printed = (a.to_string(), b.to_string());
            let (a, b) = (interner.intern(a), interner.intern(b));
            assert!(!Arc::ptr_eq(&a, &b), "{printed:?}");
            assert_eq!((a.to_string(), b.to_string()), printed);
        }
        let deep = json!({"a": [1, {"b": [true, null, "x", -2, 2.5]}]});
        let a = interner.intern(deep.clone());
        let b = interner.intern(deep);
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn freed_entries_are_swept_so_the_table_stays_bounded() {
        let interner = Interner::new();
        let kept: Vec<_> = (0..10)
            .map(|i| interner.intern(json!({"kept": i})))
            .collect();
        // 10,000 distinct values, each dropped at once: the table is swept as it grows.
        for i in 0..10_000 {
            drop(interner.intern(json!({"user": i})));
            assert!(interner.len() <= 2 * kept.len() + FIRST_SWEEP + 1);
        }
        assert_eq!(interner.live(), kept.len());
        interner.sweep();
        assert_eq!(interner.len(), kept.len());
        for (i, value) in kept.iter().enumerate() {
            assert!(Arc::ptr_eq(value, &interner.intern(json!({"kept": i}))));
        }
        // Many live values: the sweep keeps them all.
        let many: Vec<_> = (0..1000).map(|i| interner.intern(json!(i))).collect();
        assert_eq!(interner.live(), kept.len() + many.len());
        assert!(many
            .iter()
            .enumerate()
            .all(|(i, v)| Arc::ptr_eq(v, &interner.intern(json!(i)))));
    }
}
