//! ARC, the Adaptive Replacement Cache: two LRU lists, T1 for entries seen
//! once recently and T2 for entries seen at least twice, plus ghost lists B1
//! and B2 remembering keys recently evicted from each; a ghost hit moves the
//! target size `p` of T1 toward the list that would have kept the key.
//!
//! Paper: N. Megiddo, D. S. Modha, "ARC: A Self-Tuning, Low Overhead
//! Replacement Cache", USENIX FAST 2003. Semantics follow libCacheSim's
//! `ARC.c` (the variable-size generalisation with a fractional `p`, weights
//! in place of page counts): a miss that is a ghost hit only runs REPLACE
//! until the new entry fits, other misses run the paper's case IV (trim B1 or
//! B2, then REPLACE, or drop the back of T1 when B1 is empty).
//!
//! The bookkeeping (index, the four lists and their weights) is the shared
//! [`Entries`] and [`Segments`]. Invariants: those of [`Segments`] (every
//! tracked key linked exactly once, in the list its state names, whose
//! weight sum is kept); `used = t1 + t2 <= capacity`; `0 <= p <= capacity`;
//! ghosts are not resident (`contains` is false for them).

use std::borrow::Borrow;
use std::hash::Hash;

use super::keyed::{Entries, InSegment, Segment, Segments};
use super::{EvictionPolicy, PolicyKey};

/// Configuration of [`ArcPolicy`]; ARC is self-tuning and has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArcConfig;

/// The list holding an entry, which is the entry's whole state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    T1,
    T2,
    B1,
    B2,
}

impl Segment for Queue {
    #[inline]
    fn slot(self) -> usize {
        match self {
            Self::T1 => 0,
            Self::T2 => 1,
            Self::B1 => 2,
            Self::B2 => 3,
        }
    }
}

impl InSegment<Queue> for Queue {
    #[inline]
    fn segment(&self) -> Queue {
        *self
    }

    #[inline]
    fn set_segment(&mut self, segment: Queue) {
        *self = segment;
    }
}

/// An ARC policy over keys `K`, with capacity in weight units.
#[doc(alias = "ARC")]
#[derive(Debug)]
pub struct ArcPolicy<K> {
    entries: Entries<K, Queue>,
    queues: Segments<Queue, 4>,
    /// Target weight of T1, in weight units.
    p: f64,
    capacity: u64,
}

impl<K: PolicyKey> ArcPolicy<K> {
    /// Creates an empty ARC holding at most `capacity` weight units (ghost
    /// lists remember up to about `capacity` more, as keys only).
    pub fn new(capacity: u64, _config: &ArcConfig) -> Self {
        Self {
            entries: Entries::default(),
            queues: Segments::default(),
            p: 0.0,
            capacity,
        }
    }

    /// The current target weight of T1 (the adaptive parameter `p`).
    pub fn target_t1(&self) -> f64 {
        self.p
    }

    fn size(&self, queue: Queue) -> u64 {
        self.queues.size(queue)
    }

    /// Deletes the oldest ghost of `queue` (B1 or B2).
    fn drop_ghost(&mut self, queue: Queue) {
        if let Some(idx) = self.queues.back(queue) {
            self.queues.delete(&mut self.entries, idx);
        }
    }

    /// Moves the back of `from` (T1 or T2) to the front of its ghost list.
    fn demote(&mut self, from: Queue, ghost: Queue, evicted: &mut Vec<(K, u64)>) {
        if let Some(idx) = self.queues.back(from) {
            self.queues.relink(&mut self.entries, idx, ghost);
            let weight = self.entries.get(idx).weight();
            evicted.push((self.entries.take_key(idx), weight));
        }
    }

    /// The paper's REPLACE.
    fn replace(&mut self, hit_in_b2: bool, evicted: &mut Vec<(K, u64)>) {
        let t1 = self.size(Queue::T1);
        let t1_f = t1 as f64;
        let from_t1 = (t1 > 0 && (t1_f > self.p || (t1_f == self.p && hit_in_b2)))
            || self.size(Queue::T2) == 0;
        if from_t1 {
            self.demote(Queue::T1, Queue::B1, evicted);
        } else {
            self.demote(Queue::T2, Queue::B2, evicted);
        }
    }

    /// The paper's case IV (a miss on all four lists).
    fn evict_on_full_miss(&mut self, weight: u64, evicted: &mut Vec<(K, u64)>) {
        let (t1, t2, b1, b2) = (
            self.size(Queue::T1),
            self.size(Queue::T2),
            self.size(Queue::B1),
            self.size(Queue::B2),
        );
        if t1 + b1 + weight > self.capacity {
            if b1 > 0 {
                self.drop_ghost(Queue::B1);
                self.replace(false, evicted);
            } else if let Some(idx) = self.queues.back(Queue::T1) {
                let entry = self.queues.delete(&mut self.entries, idx);
                evicted.push(entry.into_parts());
            } else {
                self.replace(false, evicted);
            }
        } else {
            if t1 + b1 + t2 + b2 >= self.capacity.saturating_mul(2) && b2 > 0 {
                self.drop_ghost(Queue::B2);
            }
            self.replace(false, evicted);
        }
    }

    fn resident(&self) -> u64 {
        self.size(Queue::T1) + self.size(Queue::T2)
    }

    /// Walks the four lists and checks them against the index and the sizes.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.queues.check(&self.entries);
        assert!(self.resident() <= self.capacity);
        assert!(self.p >= 0.0 && self.p <= self.capacity as f64);
    }
}

impl<K: PolicyKey> EvictionPolicy<K> for ArcPolicy<K> {
    fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(idx) = self.entries.index(key) else {
            return false;
        };
        match self.entries.get(idx).state {
            Queue::T1 => {
                self.queues.relink(&mut self.entries, idx, Queue::T2);
                true
            }
            Queue::T2 => {
                self.queues.move_to_front(&mut self.entries, Queue::T2, idx);
                true
            }
            Queue::B1 | Queue::B2 => false,
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
        if weight > self.capacity || weight > super::MAX_WEIGHT {
            return false;
        }
        let mut ghost_hit = None;
        if let Some(idx) = self.entries.index(&key) {
            let queue = self.entries.get(idx).state;
            let (b1, b2) = (self.size(Queue::B1) as f64, self.size(Queue::B2) as f64);
            match queue {
                Queue::T1 | Queue::T2 => {}
                Queue::B1 => {
                    let delta = if b1 > 0.0 { (b2 / b1).max(1.0) } else { 1.0 };
                    self.p = (self.p + delta).min(self.capacity as f64);
                    ghost_hit = Some(Queue::B1);
                }
                Queue::B2 => {
                    let delta = if b2 > 0.0 { (b1 / b2).max(1.0) } else { 1.0 };
                    self.p = (self.p - delta).max(0.0);
                    ghost_hit = Some(Queue::B2);
                }
            }
            if ghost_hit.is_some() {
                self.queues.delete(&mut self.entries, idx);
            }
        }
        while self.resident() + weight > self.capacity {
            let before = self.resident();
            match ghost_hit {
                Some(queue) => self.replace(queue == Queue::B2, evicted),
                None => self.evict_on_full_miss(weight, evicted),
            }
            if self.resident() == before && before == 0 {
                break;
            }
        }
        let idx = self.entries.alloc(key, weight, Queue::T1);
        let queue = if ghost_hit.is_some() {
            Queue::T2
        } else {
            Queue::T1
        };
        self.queues.push_front(&mut self.entries, idx, queue);
        true
    }

    /// Removes a resident key. Ghost history of the key, if any, is kept.
    fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.entries.index(key)?;
        if matches!(self.entries.get(idx).state, Queue::B1 | Queue::B2) {
            return None;
        }
        Some(self.queues.delete(&mut self.entries, idx).weight())
    }

    fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get(self.entries.index(key)?);
        matches!(entry.state, Queue::T1 | Queue::T2).then_some(&entry.key)
    }

    fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
        for entry in self.entries.iter() {
            if matches!(entry.state, Queue::T1 | Queue::T2) {
                f(&entry.key, entry.weight());
            }
        }
    }

    fn len(&self) -> usize {
        self.queues.len(Queue::T1) + self.queues.len(Queue::T2)
    }

    fn used(&self) -> u64 {
        self.resident()
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        let out = self.queues.collect(&self.entries, &[Queue::T1, Queue::T2]);
        self.entries.clear();
        self.queues.clear();
        self.p = 0.0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_b1_ghost_hit_grows_p_and_lands_in_t2() {
        let mut arc = ArcPolicy::new(4, &ArcConfig);
        let mut evicted = Vec::new();
        for k in 1..=4 {
            arc.insert(k, 1, None, &mut evicted);
        }
        assert!(arc.access(&4), "4 moves to T2");
        arc.insert(5, 1, None, &mut evicted);
        assert_eq!(
            evicted,
            vec![(1, 1)],
            "the oldest T1 entry becomes a B1 ghost"
        );
        assert!(!arc.contains(&1));
        assert!(!arc.access(&1), "a ghost is a miss");
        assert_eq!(arc.target_t1(), 0.0);
        arc.insert(1, 1, None, &mut evicted);
        assert_eq!(arc.target_t1(), 1.0, "a B1 hit grows the T1 target");
        assert!(arc.contains(&1));
        arc.check_invariants();
        // 1 came back into T2: a hit keeps it there.
        assert!(arc.access(&1));
        arc.check_invariants();
    }

    #[test]
    fn a_b2_ghost_hit_shrinks_p() {
        let mut arc = ArcPolicy::new(2, &ArcConfig);
        let mut evicted = Vec::new();
        arc.insert('a', 1, None, &mut evicted);
        arc.insert('b', 1, None, &mut evicted);
        arc.access(&'a');
        arc.access(&'b'); // T2 = [b, a]
        arc.insert('c', 1, None, &mut evicted); // T1 empty -> a goes to B2
        assert_eq!(evicted, vec![('a', 1)]);
        arc.insert('d', 1, None, &mut evicted); // c (T1) -> B1
        arc.insert('c', 1, None, &mut evicted); // B1 hit: p grows
        let grown = arc.target_t1();
        assert!(grown > 0.0);
        arc.insert('a', 1, None, &mut evicted); // B2 hit: p shrinks
        assert!(arc.target_t1() < grown);
        arc.check_invariants();
    }
}
