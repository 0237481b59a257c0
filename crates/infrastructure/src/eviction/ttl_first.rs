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
//! Invariants: `map` and `order` hold exactly the same keys, each under the
//! same `(expiry, sequence)` pair; `used` is the sum of resident weights and
//! never exceeds `capacity`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use super::EvictionPolicy;

/// Configuration of [`TtlFirst`]; it has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TtlFirstConfig;

#[derive(Debug, Clone, Copy)]
struct Slot {
    expires_at_ms: u64,
    seq: u64,
    weight: u64,
}

/// A TTL-first policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct TtlFirst<K> {
    map: HashMap<K, Slot>,
    order: BTreeMap<(u64, u64), K>,
    next_seq: u64,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone> TtlFirst<K> {
    /// Creates an empty TTL-first policy holding at most `capacity` weight
    /// units.
    pub fn new(capacity: u64, _config: &TtlFirstConfig) -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            used: 0,
            capacity,
        }
    }

    fn evict_one(&mut self, evicted: &mut Vec<(K, u64)>) -> bool {
        let Some((_, key)) = self.order.pop_first() else {
            return false;
        };
        if let Some(slot) = self.map.remove(&key) {
            self.used -= slot.weight;
            evicted.push((key, slot.weight));
        }
        true
    }

    /// Checks that the index and the expiry order agree.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        assert_eq!(self.map.len(), self.order.len());
        let mut sum = 0;
        for (&(expires_at_ms, seq), key) in &self.order {
            let slot = self.map.get(key).copied();
            assert!(slot.is_some_and(|s| s.expires_at_ms == expires_at_ms && s.seq == seq));
            sum += slot.map_or(0, |s| s.weight);
        }
        assert_eq!(sum, self.used);
        assert!(self.used <= self.capacity);
    }
}

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for TtlFirst<K> {
    fn access(&mut self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    fn insert(
        &mut self,
        key: K,
        weight: u64,
        expires_at_ms: Option<u64>,
        evicted: &mut Vec<(K, u64)>,
    ) -> bool {
        self.remove(&key);
        if weight > self.capacity {
            return false;
        }
        while self.used + weight > self.capacity {
            if !self.evict_one(evicted) {
                break;
            }
        }
        let slot = Slot {
            expires_at_ms: expires_at_ms.unwrap_or(u64::MAX),
            seq: self.next_seq,
            weight,
        };
        self.next_seq += 1;
        self.order
            .insert((slot.expires_at_ms, slot.seq), key.clone());
        self.map.insert(key, slot);
        self.used += weight;
        true
    }

    fn remove(&mut self, key: &K) -> Option<u64> {
        let slot = self.map.remove(key)?;
        self.order.remove(&(slot.expires_at_ms, slot.seq));
        self.used -= slot.weight;
        Some(slot.weight)
    }

    fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        let mut out = Vec::with_capacity(self.map.len());
        while self.evict_one(&mut out) {}
        self.map.clear();
        self.used = 0;
        out
    }
}

#[cfg(test)]
mod tests {
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
