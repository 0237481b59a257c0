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
//! Invariants: every key in `map` is linked exactly once, in the queue named
//! by its `queue`; `sizes` are the weight sums of the queues;
//! `used = small + main <= capacity`; the ghost weighs at most `ghost_cap`;
//! ghosts are not resident.

use std::collections::HashMap;
use std::hash::Hash;

use super::EvictionPolicy;
use super::list::{List, Slab};

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

const fn slot(queue: Queue) -> usize {
    match queue {
        Queue::Small => 0,
        Queue::Main => 1,
        Queue::Ghost => 2,
    }
}

#[derive(Debug)]
struct Entry<K> {
    key: K,
    weight: u64,
    freq: u8,
    queue: Queue,
}

/// An S3-FIFO policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct S3Fifo<K> {
    map: HashMap<K, u32>,
    slab: Slab<Entry<K>>,
    lists: [List; 3],
    sizes: [u64; 3],
    capacity: u64,
    small_cap: u64,
    main_cap: u64,
    ghost_cap: u64,
    threshold: u8,
}

impl<K: Hash + Eq + Clone> S3Fifo<K> {
    /// Creates an empty S3-FIFO holding at most `capacity` weight units.
    pub fn new(capacity: u64, config: &S3FifoConfig) -> Self {
        let share = |ratio: f64| (capacity as f64 * ratio.clamp(0.0, 1.0)) as u64;
        let small_cap = share(config.small_ratio).max(1).min(capacity);
        Self {
            map: HashMap::new(),
            slab: Slab::default(),
            lists: [List::default(); 3],
            sizes: [0; 3],
            capacity,
            small_cap,
            main_cap: capacity - small_cap,
            ghost_cap: share(config.ghost_ratio),
            threshold: config.move_to_main_threshold,
        }
    }

    fn size(&self, queue: Queue) -> u64 {
        self.sizes[slot(queue)]
    }

    fn unlink(&mut self, idx: u32) {
        let (queue, weight) = {
            let e = self.slab.get(idx);
            (e.queue, e.weight)
        };
        self.lists[slot(queue)].unlink(&mut self.slab, idx);
        self.sizes[slot(queue)] -= weight;
    }

    fn push_front(&mut self, idx: u32, queue: Queue) {
        let entry = self.slab.get_mut(idx);
        entry.queue = queue;
        let weight = entry.weight;
        self.lists[slot(queue)].push_front(&mut self.slab, idx);
        self.sizes[slot(queue)] += weight;
    }

    fn delete(&mut self, idx: u32) -> Entry<K> {
        self.unlink(idx);
        let entry = self.slab.free(idx);
        self.map.remove(&entry.key);
        entry
    }

    /// Turns the unlinked entry `idx` into a ghost, trimming the ghost FIFO.
    fn remember(&mut self, idx: u32) {
        let weight = self.slab.get(idx).weight;
        if weight > self.ghost_cap {
            let entry = self.slab.free(idx);
            self.map.remove(&entry.key);
            return;
        }
        while self.size(Queue::Ghost) + weight > self.ghost_cap {
            match self.lists[slot(Queue::Ghost)].back() {
                Some(oldest) => {
                    self.delete(oldest);
                }
                None => break,
            }
        }
        self.slab.get_mut(idx).freq = 0;
        self.push_front(idx, Queue::Ghost);
    }

    fn evict_small(&mut self, evicted: &mut Vec<(K, u64)>) {
        while let Some(idx) = self.lists[slot(Queue::Small)].back() {
            self.unlink(idx);
            if self.slab.get(idx).freq >= self.threshold {
                self.slab.get_mut(idx).freq = 0;
                self.push_front(idx, Queue::Main);
            } else {
                let entry = self.slab.get(idx);
                evicted.push((entry.key.clone(), entry.weight));
                self.remember(idx);
                return;
            }
        }
    }

    fn evict_main(&mut self, evicted: &mut Vec<(K, u64)>) {
        while let Some(idx) = self.lists[slot(Queue::Main)].back() {
            let entry = self.slab.get_mut(idx);
            if entry.freq >= 1 {
                entry.freq = entry.freq.min(3) - 1;
                self.lists[slot(Queue::Main)].move_to_front(&mut self.slab, idx);
            } else {
                let entry = self.delete(idx);
                evicted.push((entry.key, entry.weight));
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
        let mut total = 0;
        for queue in [Queue::Small, Queue::Main, Queue::Ghost] {
            let mut sum = 0;
            for idx in self.lists[slot(queue)].check(&self.slab) {
                let entry = self.slab.get(idx);
                assert_eq!(entry.queue, queue);
                assert_eq!(self.map.get(&entry.key), Some(&idx));
                sum += entry.weight;
                total += 1;
            }
            assert_eq!(sum, self.size(queue), "{queue:?} size");
        }
        assert_eq!(total, self.map.len());
        assert_eq!(self.slab.live(), self.map.len());
        assert!(self.resident() <= self.capacity);
        assert!(self.size(Queue::Ghost) <= self.ghost_cap);
    }
}

impl<K: Hash + Eq + Clone + Send> EvictionPolicy<K> for S3Fifo<K> {
    fn access(&mut self, key: &K) -> bool {
        let Some(&idx) = self.map.get(key) else {
            return false;
        };
        let entry = self.slab.get_mut(idx);
        if entry.queue == Queue::Ghost {
            return false;
        }
        entry.freq = entry.freq.saturating_add(1);
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
        if weight > self.capacity || weight > self.small_cap {
            return false;
        }
        let mut ghost_hit = false;
        if let Some(&idx) = self.map.get(&key) {
            self.delete(idx);
            ghost_hit = true;
        }
        while self.resident() + weight > self.capacity {
            let before = self.resident();
            self.evict(evicted);
            if before == 0 {
                break;
            }
        }
        let idx = self.slab.alloc(Entry {
            key: key.clone(),
            weight,
            freq: 0,
            queue: Queue::Small,
        });
        self.push_front(idx, if ghost_hit { Queue::Main } else { Queue::Small });
        self.map.insert(key, idx);
        true
    }

    /// Removes a resident key. A ghost of the key, if any, is kept.
    fn remove(&mut self, key: &K) -> Option<u64> {
        let &idx = self.map.get(key)?;
        if self.slab.get(idx).queue == Queue::Ghost {
            return None;
        }
        Some(self.delete(idx).weight)
    }

    fn contains(&self, key: &K) -> bool {
        self.map
            .get(key)
            .is_some_and(|&idx| self.slab.get(idx).queue != Queue::Ghost)
    }

    fn len(&self) -> usize {
        self.lists[slot(Queue::Small)].len() + self.lists[slot(Queue::Main)].len()
    }

    fn used(&self) -> u64 {
        self.resident()
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        let mut out = Vec::with_capacity(self.len());
        for queue in [Queue::Small, Queue::Main] {
            let list = self.lists[slot(queue)];
            for idx in list.iter_from_back(&self.slab) {
                let entry = self.slab.get(idx);
                out.push((entry.key.clone(), entry.weight));
            }
        }
        self.map.clear();
        self.slab.clear();
        self.lists = [List::default(); 3];
        self.sizes = [0; 3];
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
