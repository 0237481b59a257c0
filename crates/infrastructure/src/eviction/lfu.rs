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
//! The bookkeeping (index, weights, capacity) is the shared [`Keyed`]; LFU
//! is only the [`Ranking`] by frequency buckets. Invariants: those of
//! [`Keyed`]; every entry is linked exactly once in the entry list of the
//! bucket its state names, whose `freq` is the entry's frequency; buckets
//! are non-empty and strictly ordered (lowest at the back of `buckets`).

use super::keyed::{Entries, Keyed, Ranking, keyed_policy};
use super::list::{List, NIL, Slab};

/// Configuration of [`Lfu`]; this LFU has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LfuConfig;

#[derive(Debug)]
struct Bucket {
    freq: u64,
    entries: List,
}

/// The frequency buckets; an entry's state is the slab index of its bucket.
#[derive(Debug, Default)]
struct Frequencies {
    bucket_slab: Slab<Bucket>,
    /// Buckets ordered by frequency: back = lowest, front = highest.
    buckets: List,
}

impl Frequencies {
    /// Links entry `idx` at the front (newest end) of `bucket`.
    fn push<K>(&mut self, entries: &mut Entries<K, u32>, bucket: u32, idx: u32) {
        let mut list = self.bucket_slab.get(bucket).entries;
        list.push_front(entries.slab_mut(), idx);
        self.bucket_slab.get_mut(bucket).entries = list;
        entries.get_mut(idx).state = bucket;
    }
}

impl<K> Ranking<K> for Frequencies {
    type State = u32;

    fn hint(&self, entries: &Entries<K, u32>, idx: u32) -> u32 {
        let freq = self.bucket_slab.get(entries.get(idx).state).freq;
        u32::try_from(freq).unwrap_or(u32::MAX)
    }

    fn new_state(&mut self, _expires_at_ms: Option<u64>) -> u32 {
        NIL
    }

    fn link(&mut self, entries: &mut Entries<K, u32>, idx: u32) {
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
        self.push(entries, bucket, idx);
    }

    /// Unlinks entry `idx` from its bucket, dropping the bucket if emptied.
    fn unlink(&mut self, entries: &mut Entries<K, u32>, idx: u32) {
        let bucket = entries.get(idx).state;
        let mut list = self.bucket_slab.get(bucket).entries;
        list.unlink(entries.slab_mut(), idx);
        if list.is_empty() {
            self.buckets.unlink(&mut self.bucket_slab, bucket);
            self.bucket_slab.free(bucket);
        } else {
            self.bucket_slab.get_mut(bucket).entries = list;
        }
    }

    fn hit(&mut self, entries: &mut Entries<K, u32>, idx: u32) {
        let bucket = entries.get(idx).state;
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
        self.unlink(entries, idx);
        self.push(entries, target, idx);
    }

    fn evict(&mut self, entries: &mut Entries<K, u32>) -> Option<u32> {
        let lowest = self.buckets.back()?;
        let idx = self.bucket_slab.get(lowest).entries.back()?;
        self.unlink(entries, idx);
        Some(idx)
    }

    fn pop_oldest(&mut self, entries: &mut Entries<K, u32>) -> Option<u32> {
        self.evict(entries)
    }

    fn clear(&mut self) {
        self.bucket_slab.clear();
        self.buckets.clear();
    }

    #[cfg(test)]
    fn check(&self, entries: &Entries<K, u32>) -> Vec<u32> {
        let buckets = self.buckets.check(&self.bucket_slab);
        assert_eq!(buckets.len(), self.bucket_slab.live());
        let mut last_freq = u64::MAX;
        let mut ranked = Vec::new();
        for bucket in buckets {
            let b = self.bucket_slab.get(bucket);
            assert!(b.freq < last_freq, "buckets out of order");
            last_freq = b.freq;
            assert!(!b.entries.is_empty(), "empty bucket kept");
            for idx in b.entries.check(entries.slab()) {
                assert_eq!(entries.get(idx).state, bucket);
                ranked.push(idx);
            }
        }
        ranked
    }
}

/// An LFU policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Lfu<K>(Keyed<K, Frequencies>);

impl<K: super::PolicyKey> Lfu<K> {
    /// Creates an empty LFU holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &LfuConfig) -> Self {
        Self(Keyed::new(capacity, Frequencies::default()))
    }
}

keyed_policy!(Lfu);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
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
