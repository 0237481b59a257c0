//! First In, First Out: evict the entry that was inserted earliest.
//!
//! The classic queue discipline (Belady, "A study of replacement algorithms
//! for a virtual-storage computer", IBM Systems Journal 1966, analysed it
//! alongside OPT). Semantics match libCacheSim's `FIFO.c`: a hit changes
//! nothing, insert at the front, evict from the back.
//!
//! The bookkeeping (index, queue, weights, capacity) is the shared
//! [`Keyed`] over one [`Queue`]; FIFO adds only its discipline. Invariants:
//! those of [`Keyed`], with the queue ordered by insertion time.

use super::keyed::{Discipline, Entries, Keyed, Queue, keyed_policy};
use super::list::List;

/// Configuration of [`Fifo`]; FIFO has no tunables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FifoConfig;

/// FIFO's discipline: a hit changes nothing, the oldest entry goes.
#[derive(Debug)]
struct InsertionOrder;

impl<K> Discipline<K> for InsertionOrder {
    type State = ();

    #[inline]
    fn hit(&mut self, _queue: &mut List, _entries: &mut Entries<K, ()>, _idx: u32) {}
}

/// A FIFO policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct Fifo<K>(Keyed<K, Queue<InsertionOrder>>);

impl<K: super::PolicyKey> Fifo<K> {
    /// Creates an empty FIFO holding at most `capacity` weight units.
    pub fn new(capacity: u64, _config: &FifoConfig) -> Self {
        Self(Keyed::new(capacity, Queue::new(InsertionOrder)))
    }
}

keyed_policy!(Fifo);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
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
