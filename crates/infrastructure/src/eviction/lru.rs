//! Least Recently Used: evict the entry whose last access is oldest.
//!
//! The classic policy (Mattson, Gecsei, Slutz, Traiger, "Evaluation
//! techniques for storage hierarchies", IBM Systems Journal 1970, which also
//! introduced the stack-distance view behind miss-ratio curves). Semantics
//! match libCacheSim's `LRU.c`: insert at the front, a hit moves the entry to
//! the front, evict from the back.
//!
//! Invariants: every resident key is in `map` and linked exactly once in
//! `queue`; `used` is the sum of their weights and never exceeds `capacity`.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, Slab};

/// Configuration of [`Lru`]; LRU has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LruConfig;

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
}

/// An LRU policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Lru<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    queue: List,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone> Lru<K> {
    /// Creates an empty LRU holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &LruConfig) -> Self {
        Self {
            map: HashMap::new(),
            slab: Slab::default(),
            queue: List::default(),
            used: 0,
            capacity,
        }
    }

    fn evict_one(&mut self, evicted: &mut Vec<(K, u64)>) -> bool {
        let Some(idx) = self.queue.pop_back(&mut self.slab) else {
            return false;
        };
        let entry = self.slab.free(idx);
        self.map.remove(&entry.key);
        self.used -= entry.weight;
        evicted.push((entry.key, entry.weight));
        true
    }

    /// Walks the queue and checks it against the index and the counters.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let order = self.queue.check(&self.slab);
        assert_eq!(order.len(), self.map.len());
        assert_eq!(self.slab.live(), self.map.len());
        let mut sum = 0;
        for idx in order {
            let entry = self.slab.get(idx);
            assert_eq!(self.map.get(&entry.key), Some(&idx));
            sum += entry.weight;
        }
        assert_eq!(sum, self.used);
        assert!(self.used <= self.capacity);
    }
}

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for Lru<K> {
    fn access(&mut self, key: &K) -> bool {
        match self.map.get(key) {
            Some(&idx) => {
                self.queue.move_to_front(&mut self.slab, idx);
                true
            }
            None => false,
        }
    }

    fn insert(
        &mut self,
        key: K,
        weight: u64,
        _expires_at_ms: Option<u64>,
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
        let idx = self.slab.alloc(Entry {
            key: key.clone(),
            weight,
        });
        self.queue.push_front(&mut self.slab, idx);
        self.map.insert(key, idx);
        self.used += weight;
        true
    }

    fn remove(&mut self, key: &K) -> Option<u64> {
        let idx = self.map.remove(key)?;
        self.queue.unlink(&mut self.slab, idx);
        let entry = self.slab.free(idx);
        self.used -= entry.weight;
        Some(entry.weight)
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
        self.slab.clear();
        self.queue.clear();
        self.used = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut lru = Lru::new(3, &LruConfig);
        let mut evicted = Vec::new();
        for k in [1, 2, 3] {
            assert!(lru.insert(k, 1, None, &mut evicted));
        }
        assert!(lru.access(&1));
        lru.insert(4, 1, None, &mut evicted);
        assert_eq!(evicted, vec![(2, 1)]);
        assert!(lru.contains(&1) && lru.contains(&3) && lru.contains(&4));
        lru.check_invariants();
    }

    #[test]
    fn weighted_insert_evicts_until_it_fits() {
        let mut lru = Lru::new(10, &LruConfig);
        let mut evicted = Vec::new();
        lru.insert(1, 4, None, &mut evicted);
        lru.insert(2, 4, None, &mut evicted);
        lru.insert(3, 6, None, &mut evicted);
        assert_eq!(evicted, vec![(1, 4)]);
        assert_eq!(lru.used(), 10);
        lru.check_invariants();
    }
}
