//! TTL-first: evict the resident key that expires soonest; keys without an
//! expiry go last, oldest insertion first.
//!
//! Model: Redis's `volatile-ttl` maxmemory policy ("Key eviction", Redis
//! documentation), made exact instead of sampled, and with a defined
//! fallback: where Redis refuses writes when no key has a TTL, this policy
//! evicts keys without expiry in insertion (FIFO) order. Accesses do not
//! change the order. Useful when expiry times already encode how long a
//! value is worth keeping (sessions, rate-limit windows, build results with
//! a retention period).
//!
//! The bookkeeping (index, weights, capacity) is the shared [`Keyed`];
//! TTL-first is only the [`Ranking`] by `(expiry, sequence)`. Invariants:
//! those of [`Keyed`]; `order` holds every entry exactly once, under the
//! `(expiry, sequence)` pair that is the entry's state.

use std::collections::BTreeMap;

use super::keyed::{Entries, Keyed, Ranking, keyed_policy};

/// Configuration of [`TtlFirst`]; it has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TtlFirstConfig;

/// The expiry order: `(expires_at_ms, insertion sequence)` to slab index;
/// keys without expiry rank at `u64::MAX`, by insertion.
#[derive(Debug, Default)]
struct ExpiryOrder {
    order: BTreeMap<(u64, u64), u32>,
    next_seq: u64,
}

impl<K> Ranking<K> for ExpiryOrder {
    type State = (u64, u64);

    fn new_state(&mut self, expires_at_ms: Option<u64>) -> (u64, u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        (expires_at_ms.unwrap_or(u64::MAX), seq)
    }

    fn link(&mut self, entries: &mut Entries<K, (u64, u64)>, idx: u32) {
        self.order.insert(entries.get(idx).state, idx);
    }

    fn unlink(&mut self, entries: &mut Entries<K, (u64, u64)>, idx: u32) {
        self.order.remove(&entries.get(idx).state);
    }

    fn hit(&mut self, _entries: &mut Entries<K, (u64, u64)>, _idx: u32) {}

    fn evict(&mut self, _entries: &mut Entries<K, (u64, u64)>) -> Option<u32> {
        self.order.pop_first().map(|(_, idx)| idx)
    }

    fn pop_oldest(&mut self, entries: &mut Entries<K, (u64, u64)>) -> Option<u32> {
        self.evict(entries)
    }

    fn clear(&mut self) {
        self.order.clear();
    }

    #[cfg(test)]
    fn check(&self, entries: &Entries<K, (u64, u64)>) -> Vec<u32> {
        for (rank, &idx) in &self.order {
            assert_eq!(&entries.get(idx).state, rank);
        }
        self.order.values().copied().collect()
    }
}

/// A TTL-first policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct TtlFirst<K>(Keyed<K, ExpiryOrder>);

impl<K: super::PolicyKey> TtlFirst<K> {
    /// Creates an empty TTL-first policy holding at most `capacity` weight
    /// units.
    pub fn new(capacity: u64, _config: &TtlFirstConfig) -> Self {
        Self(Keyed::new(capacity, ExpiryOrder::default()))
    }
}

keyed_policy!(TtlFirst);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
    use super::*;

    #[test]
    fn evicts_soonest_expiry_then_keys_without_ttl_in_insertion_order() {
        let mut ttl = TtlFirst::new(3, &TtlFirstConfig);
        let mut evicted = Vec::new();
        ttl.insert("forever-1", 1, None, &mut evicted);
        ttl.insert("late", 1, Some(2_000), &mut evicted);
        ttl.insert("soon", 1, Some(1_000), &mut evicted);
        ttl.insert("forever-2", 1, None, &mut evicted);
        assert_eq!(evicted, vec![("soon", 1)]);
        ttl.insert("x", 1, Some(5_000), &mut evicted);
        ttl.insert("y", 1, None, &mut evicted);
        assert_eq!(evicted, vec![("soon", 1), ("late", 1), ("x", 1)]);
        ttl.insert("z", 1, None, &mut evicted);
        assert_eq!(evicted.last(), Some(&("forever-1", 1)));
        ttl.check_invariants();
    }
}
