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
//! The bookkeeping (index, queue, weights, capacity) is the shared
//! [`Keyed`] over one [`Queue`]; SIEVE adds only its discipline (the
//! visited bits and the hand). Invariants: those of [`Keyed`], and the
//! hand, when set, is a linked entry.

use super::keyed::{Discipline, Entries, Keyed, Queue, keyed_policy};
use super::list::{List, NIL};

/// Configuration of [`Sieve`]; SIEVE has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SieveConfig;

/// SIEVE's discipline: a hit sets the entry's visited bit (its state); the
/// hand sweeps toward the front, clearing bits, and stops at an unvisited
/// entry.
#[derive(Debug)]
struct Hand {
    /// The entry the next sweep starts at, or [`NIL`] for the back.
    at: u32,
}

impl<K> Discipline<K> for Hand {
    type State = bool;

    #[inline]
    fn hit(&mut self, _queue: &mut List, entries: &mut Entries<K, bool>, idx: u32) {
        entries.get_mut(idx).state = true;
    }

    fn hint(&self, visited: &bool) -> u32 {
        u32::from(*visited)
    }

    #[inline]
    fn victim(&mut self, queue: &mut List, entries: &mut Entries<K, bool>) -> Option<u32> {
        let back = queue.back()?;
        let mut idx = if self.at == NIL { back } else { self.at };
        loop {
            let node = entries.slab_mut().node_mut(idx);
            if !node.value.state {
                break;
            }
            node.value.state = false;
            idx = if node.prev == NIL { back } else { node.prev };
        }
        self.at = entries.slab().node(idx).prev;
        Some(idx)
    }

    #[inline]
    fn unlinking(&mut self, entries: &Entries<K, bool>, idx: u32) {
        if self.at == idx {
            self.at = entries.slab().node(idx).prev;
        }
    }

    fn clear(&mut self) {
        self.at = NIL;
    }

    #[cfg(test)]
    fn check(&self, _entries: &Entries<K, bool>, order: &[u32]) {
        assert!(
            self.at == NIL || order.contains(&self.at),
            "hand points outside the queue"
        );
    }
}

/// A SIEVE policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Sieve<K>(Keyed<K, Queue<Hand>>);

impl<K: super::PolicyKey> Sieve<K> {
    /// Creates an empty SIEVE holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &SieveConfig) -> Self {
        Self(Keyed::new(capacity, Queue::new(Hand { at: NIL })))
    }
}

keyed_policy!(Sieve);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
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
