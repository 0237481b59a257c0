//! SIEVE: a FIFO queue with one "visited" bit per entry and a hand that
//! sweeps from the oldest toward the newest entry, clearing bits, and evicts
//! the first unvisited entry in place (survivors are not moved).
//!
//! Paper: Y. Zhang, J. Yang, Y. Yue, Y. Vigfusson, K. V. Rashmi, "SIEVE is
//! Simpler than LRU: an Efficient Turn-Key Eviction Algorithm for Web
//! Caches", NSDI 2024. Semantics match libCacheSim's `Sieve.c` exactly: new
//! entries go to the front unvisited; a hit sets the bit; eviction starts at
//! the hand (or the back when the hand is unset), wraps from the front to
//! the back, and leaves the hand on the evicted entry's newer neighbour
//! (unset when the evicted entry was the newest).
//!
//! Invariants: every resident key is in `map` and linked exactly once in
//! `queue`; the hand, when set, is a linked entry; `used` is the sum of
//! resident weights and never exceeds `capacity`.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, NIL, Slab};

/// Configuration of [`Sieve`]; SIEVE has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SieveConfig;

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
    visited: bool,
}

/// A SIEVE policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Sieve<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    queue: List,
    hand: u32,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone> Sieve<K> {
    /// Creates an empty SIEVE holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &SieveConfig) -> Self {
        Self {
            map: HashMap::new(),
            slab: Slab::default(),
            queue: List::default(),
            hand: NIL,
            used: 0,
            capacity,
        }
    }

    fn evict_one(&mut self, evicted: &mut Vec<(K, u64)>) -> bool {
        let Some(back) = self.queue.back() else {
            return false;
        };
        let mut idx = if self.hand == NIL { back } else { self.hand };
        loop {
            let node = self.slab.node_mut(idx);
            if !node.value.visited {
                break;
            }
            node.value.visited = false;
            idx = if node.prev == NIL { back } else { node.prev };
        }
        self.hand = self.slab.node(idx).prev;
        self.queue.unlink(&mut self.slab, idx);
        let entry = self.slab.free(idx);
        self.map.remove(&entry.key);
        self.used -= entry.weight;
        evicted.push((entry.key, entry.weight));
        true
    }

    /// Walks the queue and checks it against the index, the hand and the
    /// counters.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let order = self.queue.check(&self.slab);
        assert_eq!(order.len(), self.map.len());
        assert_eq!(self.slab.live(), self.map.len());
        assert!(
            self.hand == NIL || order.contains(&self.hand),
            "hand points outside the queue"
        );
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

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for Sieve<K> {
    fn access(&mut self, key: &K) -> bool {
        match self.map.get(key) {
            Some(&idx) => {
                self.slab.get_mut(idx).visited = true;
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
            visited: false,
        });
        self.queue.push_front(&mut self.slab, idx);
        self.map.insert(key, idx);
        self.used += weight;
        true
    }

    fn remove(&mut self, key: &K) -> Option<u64> {
        let idx = self.map.remove(key)?;
        if self.hand == idx {
            self.hand = self.slab.node(idx).prev;
        }
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
        while let Some(idx) = self.queue.pop_back(&mut self.slab) {
            let entry = self.slab.free(idx);
            out.push((entry.key, entry.weight));
        }
        self.map.clear();
        self.slab.clear();
        self.hand = NIL;
        self.used = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the SIEVE paper (Figure 1): cache of 7 holding
    /// A..G (A oldest) with A, B, G visited; a miss on H evicts C, and a
    /// following miss on I evicts D without re-examining A and B.
    #[test]
    fn paper_example() {
        let mut sieve = Sieve::new(7, &SieveConfig);
        let mut evicted = Vec::new();
        for k in ['A', 'B', 'C', 'D', 'E', 'F', 'G'] {
            sieve.insert(k, 1, None, &mut evicted);
        }
        for k in ['A', 'B', 'G'] {
            assert!(sieve.access(&k));
        }
        sieve.insert('H', 1, None, &mut evicted);
        assert_eq!(evicted, vec![('C', 1)]);
        // A and B lost their bits when the hand passed; D is next.
        assert!(sieve.access(&'A'));
        sieve.insert('I', 1, None, &mut evicted);
        assert_eq!(evicted, vec![('C', 1), ('D', 1)]);
        sieve.check_invariants();
    }

    #[test]
    fn removing_the_entry_under_the_hand_moves_the_hand() {
        let mut sieve = Sieve::new(3, &SieveConfig);
        let mut evicted = Vec::new();
        for k in [1, 2, 3] {
            sieve.insert(k, 1, None, &mut evicted);
        }
        sieve.insert(4, 1, None, &mut evicted); // evicts 1, hand -> 2
        assert_eq!(sieve.remove(&2), Some(1));
        sieve.check_invariants();
        sieve.insert(5, 1, None, &mut evicted);
        sieve.insert(6, 1, None, &mut evicted);
        sieve.check_invariants();
        assert_eq!(sieve.len(), 3);
    }
}
