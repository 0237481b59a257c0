//! CLOCK (second chance, FIFO-reinsertion): a FIFO whose entries carry an
//! n-bit reference counter; the eviction hand gives referenced entries
//! another lap instead of evicting them.
//!
//! Paper: F. J. Corbató, "A paging experiment with the Multics system",
//! MIT Project MAC report MAC-M-384, 1968. Semantics match libCacheSim's
//! `Clock.c` exactly: new entries start with counter 0 at the front; a hit
//! increments the counter up to `2^bits - 1`; eviction looks at the back and,
//! while the back entry's counter is non-zero, decrements it and moves the
//! entry to the front; the first entry found at zero is evicted.
//!
//! Invariants: every resident key is in `map` and linked exactly once in
//! `queue`; every counter is `<= max_freq`; `used` is the sum of resident
//! weights and never exceeds `capacity`.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, Slab};

/// Configuration of [`Clock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockConfig {
    /// Width of each entry's reference counter in bits (1 = classic CLOCK).
    /// Values are clamped to `1..=8`.
    pub bits: u8,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self { bits: 1 }
    }
}

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
    freq: u8,
}

/// A CLOCK policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Clock<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    queue: List,
    used: u64,
    capacity: u64,
    max_freq: u8,
}

impl<K: Hash + Eq + Clone> Clock<K> {
    /// Creates an empty CLOCK holding at most `capacity` weight units.
    pub fn new(capacity: u64, config: &ClockConfig) -> Self {
        let bits = config.bits.clamp(1, 8);
        Self {
            map: HashMap::new(),
            slab: Slab::default(),
            queue: List::default(),
            used: 0,
            capacity,
            max_freq: u8::try_from((1u16 << bits) - 1).unwrap_or(u8::MAX),
        }
    }

    fn evict_one(&mut self, evicted: &mut Vec<(K, u64)>) -> bool {
        while let Some(idx) = self.queue.back() {
            let entry = self.slab.get_mut(idx);
            if entry.freq >= 1 {
                entry.freq -= 1;
                self.queue.move_to_front(&mut self.slab, idx);
                continue;
            }
            self.queue.unlink(&mut self.slab, idx);
            let entry = self.slab.free(idx);
            self.map.remove(&entry.key);
            self.used -= entry.weight;
            evicted.push((entry.key, entry.weight));
            return true;
        }
        false
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
            assert!(entry.freq <= self.max_freq);
            sum += entry.weight;
        }
        assert_eq!(sum, self.used);
        assert!(self.used <= self.capacity);
    }
}

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for Clock<K> {
    fn access(&mut self, key: &K) -> bool {
        match self.map.get(key) {
            Some(&idx) => {
                let entry = self.slab.get_mut(idx);
                if entry.freq < self.max_freq {
                    entry.freq += 1;
                }
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
            freq: 0,
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
        while let Some(idx) = self.queue.pop_back(&mut self.slab) {
            let entry = self.slab.free(idx);
            out.push((entry.key, entry.weight));
        }
        self.map.clear();
        self.slab.clear();
        self.used = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_entries_get_a_second_chance() {
        let mut clock = Clock::new(3, &ClockConfig::default());
        let mut evicted = Vec::new();
        for k in [1, 2, 3] {
            clock.insert(k, 1, None, &mut evicted);
        }
        assert!(clock.access(&1));
        assert!(clock.access(&1), "the counter saturates at 1");
        clock.insert(4, 1, None, &mut evicted);
        // 1 was referenced: it moves to the front with its bit cleared; 2 goes.
        assert_eq!(evicted, vec![(2, 1)]);
        clock.insert(5, 1, None, &mut evicted);
        assert_eq!(evicted, vec![(2, 1), (3, 1)]);
        clock.insert(6, 1, None, &mut evicted);
        assert_eq!(evicted, vec![(2, 1), (3, 1), (1, 1)]);
        clock.check_invariants();
    }
}
