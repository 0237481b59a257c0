//! S3-FIFO: three static FIFO queues. New keys enter a small FIFO (10% of
//! the capacity); when they reach its back, keys hit at least
//! `move_to_main_threshold` times move to the main FIFO and the others are
//! evicted into a ghost FIFO that remembers keys only. A miss on a ghost key
//! inserts it straight into main. Main is a CLOCK with a 2-bit counter.
//!
//! Paper: J. Yang, Y. Zhang, Z. Qiu, Y. Yue, K. V. Rashmi, "FIFO queues are
//! all you need for cache eviction", SOSP 2023. Semantics follow the paper's
//! artifact, libCacheSim's `S3FIFOv0.c` (the variant its unit test checks),
//! with two documented differences that do not change the reference
//! results: the small queue holds at least one weight unit (so tiny caches
//! still admit), and an entry is admissible when its weight is at most the
//! small queue's capacity (libCacheSim additionally drops, after evicting,
//! a non-ghost entry exactly as large as the small queue).
//!
//! The bookkeeping (index, the three queues and their weights) is the
//! shared [`Entries`] and [`Segments`]. Invariants: those of [`Segments`]
//! (every tracked key linked exactly once, in the queue its state names,
//! whose weight sum is kept); `used = small + main <= capacity`; the ghost
//! weighs at most `ghost_cap`; ghosts are not resident.

use std::borrow::Borrow;
use std::hash::Hash;

use super::keyed::{Entries, InSegment, Segment, Segments};
use super::{EvictionPolicy, PolicyKey};

/// Configuration of [`S3Fifo`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct S3FifoConfig {
    /// Share of the capacity given to the small FIFO, in `(0, 1)`.
    pub small_ratio: f64,
    /// Weight of keys the ghost FIFO remembers, as a share of the capacity.
    pub ghost_ratio: f64,
    /// Hits needed while in the small FIFO to be moved to main.
    pub move_to_main_threshold: u8,
}

impl Default for S3FifoConfig {
    fn default() -> Self {
        Self {
            small_ratio: 0.1,
            ghost_ratio: 0.9,
            move_to_main_threshold: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
    Ghost,
}

impl Segment for Queue {
    #[inline]
    fn slot(self) -> usize {
        match self {
            Self::Small => 0,
            Self::Main => 1,
            Self::Ghost => 2,
        }
    }
}

#[derive(Debug)]
struct State {
    freq: u8,
    queue: Queue,
}

impl InSegment<Queue> for State {
    #[inline]
    fn segment(&self) -> Queue {
        self.queue
    }

    #[inline]
    fn set_segment(&mut self, segment: Queue) {
        self.queue = segment;
    }
}

/// An S3-FIFO policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct S3Fifo<K> {
    entries: Entries<K, State>,
    queues: Segments<Queue, 3>,
    capacity: u64,
    small_cap: u64,
    main_cap: u64,
    ghost_cap: u64,
    threshold: u8,
}

impl<K: PolicyKey> S3Fifo<K> {
    /// Creates an empty S3-FIFO holding at most `capacity` weight units.
    pub fn new(capacity: u64, config: &S3FifoConfig) -> Self {
        let share = |ratio: f64| (capacity as f64 * ratio.clamp(0.0, 1.0)) as u64;
        let small_cap = share(config.small_ratio).max(1).min(capacity);
        Self {
            entries: Entries::default(),
            queues: Segments::default(),
            capacity,
            small_cap,
            main_cap: capacity - small_cap,
            ghost_cap: share(config.ghost_ratio),
            threshold: config.move_to_main_threshold,
        }
    }

    fn size(&self, queue: Queue) -> u64 {
        self.queues.size(queue)
    }

    /// Turns the unlinked entry `idx` into a ghost, trimming the ghost FIFO.
    fn remember(&mut self, idx: u32) {
        let weight = self.entries.get(idx).weight();
        if weight > self.ghost_cap {
            self.entries.free(idx);
            return;
        }
        while self.size(Queue::Ghost) + weight > self.ghost_cap {
            match self.queues.back(Queue::Ghost) {
                Some(oldest) => {
                    self.queues.delete(&mut self.entries, oldest);
                }
                None => break,
            }
        }
        self.entries.get_mut(idx).state.freq = 0;
        self.queues.push_front(&mut self.entries, idx, Queue::Ghost);
    }

    fn evict_small(&mut self, evicted: &mut Vec<(K, u64)>) {
        while let Some(idx) = self.queues.back(Queue::Small) {
            self.queues.unlink(&mut self.entries, idx);
            let entry = self.entries.get_mut(idx);
            if entry.state.freq >= self.threshold {
                entry.state.freq = 0;
                self.queues.push_front(&mut self.entries, idx, Queue::Main);
            } else {
                let weight = entry.weight();
                evicted.push((self.entries.take_key(idx), weight));
                self.remember(idx);
                return;
            }
        }
    }

    fn evict_main(&mut self, evicted: &mut Vec<(K, u64)>) {
        while let Some(idx) = self.queues.back(Queue::Main) {
            let state = &mut self.entries.get_mut(idx).state;
            if state.freq >= 1 {
                state.freq = state.freq.min(3) - 1;
                self.queues
                    .move_to_front(&mut self.entries, Queue::Main, idx);
            } else {
                let entry = self.queues.delete(&mut self.entries, idx);
                evicted.push(entry.into_parts());
                return;
            }
        }
    }

    fn evict(&mut self, evicted: &mut Vec<(K, u64)>) {
        if self.size(Queue::Main) > self.main_cap || self.size(Queue::Small) == 0 {
            self.evict_main(evicted);
        } else {
            self.evict_small(evicted);
        }
    }

    fn resident(&self) -> u64 {
        self.size(Queue::Small) + self.size(Queue::Main)
    }

    /// Walks the three queues and checks them against the index and sizes.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.queues.check(&self.entries);
        assert!(self.resident() <= self.capacity);
        assert!(self.size(Queue::Ghost) <= self.ghost_cap);
    }
}

impl<K: PolicyKey> EvictionPolicy<K> for S3Fifo<K> {
    fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(idx) = self.entries.index(key) else {
            return false;
        };
        let state = &mut self.entries.get_mut(idx).state;
        if state.queue == Queue::Ghost {
            return false;
        }
        state.freq = state.freq.saturating_add(1);
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
        if weight > self.capacity || weight > self.small_cap || weight > super::MAX_WEIGHT {
            return false;
        }
        let mut ghost_hit = false;
        if let Some(idx) = self.entries.index(&key) {
            self.queues.delete(&mut self.entries, idx);
            ghost_hit = true;
        }
        while self.resident() + weight > self.capacity {
            let before = self.resident();
            self.evict(evicted);
            if before == 0 {
                break;
            }
        }
        let state = State {
            freq: 0,
            queue: Queue::Small,
        };
        let idx = self.entries.alloc(key, weight, state);
        let queue = if ghost_hit { Queue::Main } else { Queue::Small };
        self.queues.push_front(&mut self.entries, idx, queue);
        true
    }

    /// Removes a resident key. A ghost of the key, if any, is kept.
    fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.entries.index(key)?;
        if self.entries.get(idx).state.queue == Queue::Ghost {
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
        (entry.state.queue != Queue::Ghost).then_some(&entry.key)
    }

    fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
        for entry in self.entries.iter() {
            if entry.state.queue != Queue::Ghost {
                f(&entry.key, entry.weight());
            }
        }
    }

    fn len(&self) -> usize {
        self.queues.len(Queue::Small) + self.queues.len(Queue::Main)
    }

    fn used(&self) -> u64 {
        self.resident()
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        let out = self
            .queues
            .collect(&self.entries, &[Queue::Small, Queue::Main]);
        self.entries.clear();
        self.queues.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hit_wonders_leave_through_the_small_queue_and_ghosts_return_to_main() {
        let mut s3 = S3Fifo::new(10, &S3FifoConfig::default()); // small 1, main 9, ghost 9
        let mut evicted = Vec::new();
        s3.insert(1, 1, None, &mut evicted);
        s3.access(&1);
        s3.access(&1); // freq 2: will move to main
        s3.insert(2, 1, None, &mut evicted); // not full yet: nothing moves
        assert!(evicted.is_empty());
        assert!(s3.contains(&1) && s3.contains(&2));
        for k in 3..=11 {
            s3.insert(k, 1, None, &mut evicted);
        }
        // Each new key pushed the previous one-hit wonder out of small.
        assert_eq!(evicted.first(), Some(&(2, 1)));
        assert!(s3.contains(&1), "the hot key survived in main");
        assert!(!s3.contains(&2));
        s3.insert(2, 1, None, &mut evicted); // ghost hit -> main
        assert!(s3.contains(&2));
        s3.check_invariants();
    }
}
