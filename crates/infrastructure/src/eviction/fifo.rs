//! First In, First Out: evict the entry that was inserted earliest.
//!
//! The classic queue discipline (Belady, "A study of replacement algorithms
//! for a virtual-storage computer", IBM Systems Journal 1966, analysed it
//! alongside OPT). Semantics match libCacheSim's `FIFO.c`: a hit changes
//! nothing, insert at the front, evict from the back.
//!
//! Invariants: every resident key is in `map` and linked exactly once in
//! `queue`, ordered by insertion time; `used` is the sum of their weights and
//! never exceeds `capacity`.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, Slab};

/// Configuration of [`Fifo`]; FIFO has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FifoConfig;

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
}

/// A FIFO policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Fifo<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    queue: List,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone> Fifo<K> {
    /// Creates an empty FIFO holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &FifoConfig) -> Self {
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

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for Fifo<K> {
    fn access(&mut self, key: &K) -> bool {
        self.map.contains_key(key)
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
    fn a_hit_does_not_save_the_oldest_entry() {
        let mut fifo = Fifo::new(2, &FifoConfig);
        let mut evicted = Vec::new();
        fifo.insert('a', 1, None, &mut evicted);
        fifo.insert('b', 1, None, &mut evicted);
        assert!(fifo.access(&'a'));
        fifo.insert('c', 1, None, &mut evicted);
        assert_eq!(evicted, vec![('a', 1)]);
        fifo.check_invariants();
    }
}
