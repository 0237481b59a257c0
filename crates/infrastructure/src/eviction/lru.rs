//! Least Recently Used: evict the entry whose last access is oldest.
//!
//! The classic policy (Mattson, Gecsei, Slutz, Traiger, "Evaluation
//! techniques for storage hierarchies", IBM Systems Journal 1970, which also
//! introduced the stack-distance view behind miss-ratio curves). Semantics
//! match libCacheSim's `LRU.c`: insert at the front, a hit moves the entry to
//! the front, evict from the back.
//!
//! The bookkeeping (index, queue, weights, capacity) is the shared
//! [`Keyed`] over one [`Queue`]; LRU adds only its discipline. Invariants:
//! those of [`Keyed`], with the queue ordered by last access.

use super::keyed::{Discipline, Entries, Keyed, Queue, keyed_policy};
use super::list::List;

/// Configuration of [`Lru`]; LRU has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LruConfig;

/// LRU's discipline: a hit moves the entry to the front, the oldest goes.
#[derive(Debug)]
struct Recency;

impl<K> Discipline<K> for Recency {
    type State = ();

    #[inline]
    fn hit(&mut self, queue: &mut List, entries: &mut Entries<K, ()>, idx: u32) {
        queue.move_to_front(entries.slab_mut(), idx);
    }
}

/// An LRU policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Lru<K>(Keyed<K, Queue<Recency>>);

impl<K: super::PolicyKey> Lru<K> {
    /// Creates an empty LRU holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &LruConfig) -> Self {
        Self(Keyed::new(capacity, Queue::new(Recency)))
    }

    /// Removes and returns the least recently used key with its weight,
    /// or `None` when empty: for a caller that evicts on its own schedule
    /// (to a watermark) instead of on insert.
    pub fn pop_victim(&mut self) -> Option<(K, u64)> {
        self.0.pop_victim()
    }
}

keyed_policy!(Lru);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
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
