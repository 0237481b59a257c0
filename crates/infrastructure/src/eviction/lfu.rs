//! Least Frequently Used: evict the entry with the fewest hits since it was
//! inserted; among equals, the one that reached that count earliest.
//!
//! The classic policy (analysed by Aho, Denning, Ullman, "Principles of
//! optimal page replacement", JACM 1971). Semantics match libCacheSim's
//! `LFU.c` exactly: an entry's frequency starts at 1 on insert and is
//! forgotten on eviction (in-cache LFU), each hit adds 1, and within one
//! frequency the entries form a FIFO by the time they reached it.
//!
//! Implementation: the O(1) "frequency list" of Shah, Mitra, Matani ("An O(1)
//! algorithm for implementing the LFU cache eviction scheme", 2010): a list of
//! non-empty frequency buckets ordered by frequency, each holding a list of
//! entries, all in slabs.
//!
//! Invariants: every resident key is in `map` and linked exactly once in the
//! entry list of the bucket whose `freq` equals the entry's frequency;
//! buckets are non-empty and strictly ordered (lowest at the back of
//! `buckets`); `used` is the sum of resident weights and never exceeds
//! `capacity`.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, NIL, Slab};

/// Configuration of [`Lfu`]; this LFU has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LfuConfig;

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
    bucket: u32,
}

#[derive(Debug)]
struct Bucket {
    freq: u64,
    entries: List,
}

/// An LFU policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Lfu<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    bucket_slab: Slab<Bucket>,
    /// Buckets ordered by frequency: back = lowest, front = highest.
    buckets: List,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone> Lfu<K> {
    /// Creates an empty LFU holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &LfuConfig) -> Self {
        Self {
            map: HashMap::new(),
            slab: Slab::default(),
            bucket_slab: Slab::default(),
            buckets: List::default(),
            used: 0,
            capacity,
        }
    }

    /// Unlinks entry `idx` from its bucket, dropping the bucket if emptied.
    fn detach(&mut self, idx: u32) {
        let bucket = self.slab.get(idx).bucket;
        let mut entries = self.bucket_slab.get(bucket).entries;
        entries.unlink(&mut self.slab, idx);
        if entries.is_empty() {
            self.buckets.unlink(&mut self.bucket_slab, bucket);
            self.bucket_slab.free(bucket);
        } else {
            self.bucket_slab.get_mut(bucket).entries = entries;
        }
    }

    fn evict_one(&mut self, evicted: &mut Vec<(K, u64)>) -> bool {
        let Some(lowest) = self.buckets.back() else {
            return false;
        };
        let Some(idx) = self.bucket_slab.get(lowest).entries.back() else {
            return false;
        };
        self.detach(idx);
        let entry = self.slab.free(idx);
        self.map.remove(&entry.key);
        self.used -= entry.weight;
        evicted.push((entry.key, entry.weight));
        true
    }

    /// Walks the buckets and their entries and checks them against the index
    /// and the counters.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let buckets = self.buckets.check(&self.bucket_slab);
        assert_eq!(buckets.len(), self.bucket_slab.live());
        let mut last_freq = u64::MAX;
        let mut count = 0;
        let mut sum = 0;
        for bucket in buckets {
            let b = self.bucket_slab.get(bucket);
            assert!(b.freq < last_freq, "buckets out of order");
            last_freq = b.freq;
            assert!(!b.entries.is_empty(), "empty bucket kept");
            for idx in b.entries.check(&self.slab) {
                let entry = self.slab.get(idx);
                assert_eq!(entry.bucket, bucket);
                assert_eq!(self.map.get(&entry.key), Some(&idx));
                sum += entry.weight;
                count += 1;
            }
        }
        assert_eq!(count, self.map.len());
        assert_eq!(self.slab.live(), self.map.len());
        assert_eq!(sum, self.used);
        assert!(self.used <= self.capacity);
    }
}

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for Lfu<K> {
    fn access(&mut self, key: &K) -> bool {
        let Some(&idx) = self.map.get(key) else {
            return false;
        };
        let bucket = self.slab.get(idx).bucket;
        let freq = self.bucket_slab.get(bucket).freq + 1;
        let higher = self.bucket_slab.node(bucket).prev;
        let target = if higher != NIL && self.bucket_slab.get(higher).freq == freq {
            higher
        } else {
            let new = self.bucket_slab.alloc(Bucket {
                freq,
                entries: List::default(),
            });
            self.buckets
                .insert_before(&mut self.bucket_slab, bucket, new);
            new
        };
        self.detach(idx);
        let mut entries = self.bucket_slab.get(target).entries;
        entries.push_front(&mut self.slab, idx);
        self.bucket_slab.get_mut(target).entries = entries;
        self.slab.get_mut(idx).bucket = target;
        true
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
        let bucket = match self.buckets.back() {
            Some(lowest) if self.bucket_slab.get(lowest).freq == 1 => lowest,
            _ => {
                let new = self.bucket_slab.alloc(Bucket {
                    freq: 1,
                    entries: List::default(),
                });
                self.buckets.push_back(&mut self.bucket_slab, new);
                new
            }
        };
        let idx = self.slab.alloc(Entry {
            key: key.clone(),
            weight,
            bucket,
        });
        let mut entries = self.bucket_slab.get(bucket).entries;
        entries.push_front(&mut self.slab, idx);
        self.bucket_slab.get_mut(bucket).entries = entries;
        self.map.insert(key, idx);
        self.used += weight;
        true
    }

    fn remove(&mut self, key: &K) -> Option<u64> {
        let idx = self.map.remove(key)?;
        self.detach(idx);
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
        self.bucket_slab.clear();
        self.buckets.clear();
        self.used = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_frequent_then_earliest_to_reach_it() {
        let mut lfu = Lfu::new(3, &LfuConfig);
        let mut evicted = Vec::new();
        for k in [1, 2, 3] {
            lfu.insert(k, 1, None, &mut evicted);
        }
        lfu.access(&1);
        lfu.access(&1);
        lfu.access(&3);
        lfu.access(&2);
        lfu.check_invariants();
        // freq: 1 -> 3, 3 -> 2 (reached first), 2 -> 2.
        lfu.insert(4, 1, None, &mut evicted);
        assert_eq!(evicted, vec![(3, 1)], "3 reached frequency 2 before 2 did");
        lfu.insert(5, 1, None, &mut evicted);
        assert_eq!(
            evicted,
            vec![(3, 1), (4, 1)],
            "new entries have frequency 1"
        );
        lfu.check_invariants();
    }

    #[test]
    fn frequency_is_forgotten_on_eviction() {
        let mut lfu = Lfu::new(1, &LfuConfig);
        let mut evicted = Vec::new();
        lfu.insert('a', 1, None, &mut evicted);
        for _ in 0..10 {
            lfu.access(&'a');
        }
        lfu.insert('b', 1, None, &mut evicted);
        lfu.insert('a', 1, None, &mut evicted);
        lfu.insert('c', 1, None, &mut evicted);
        assert_eq!(evicted, vec![('a', 1), ('b', 1), ('a', 1)]);
        lfu.check_invariants();
    }
}
