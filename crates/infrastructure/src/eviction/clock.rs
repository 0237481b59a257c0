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
//! The bookkeeping (index, queue, weights, capacity) is the shared
//! [`Keyed`] over one [`Queue`]; CLOCK adds only its discipline (the
//! counters and the hand). Invariants: those of [`Keyed`], and every
//! counter is `<= max_freq`.

use super::keyed::{Discipline, Entries, Keyed, Queue, keyed_policy};
use super::list::List;

/// Configuration of [`ClockPolicy`].
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

/// CLOCK's discipline: a hit bumps the entry's counter (its state); the
/// hand gives entries with a non-zero counter another lap.
#[derive(Debug)]
struct SecondChance {
    max_freq: u8,
}

impl<K> Discipline<K> for SecondChance {
    type State = u8;

    fn hint(&self, freq: &u8) -> u32 {
        u32::from(*freq)
    }

    #[inline]
    fn hit(&mut self, _queue: &mut List, entries: &mut Entries<K, u8>, idx: u32) {
        let freq = &mut entries.get_mut(idx).state;
        if *freq < self.max_freq {
            *freq += 1;
        }
    }

    #[inline]
    fn victim(&mut self, queue: &mut List, entries: &mut Entries<K, u8>) -> Option<u32> {
        while let Some(idx) = queue.back() {
            let freq = &mut entries.get_mut(idx).state;
            if *freq == 0 {
                return Some(idx);
            }
            *freq -= 1;
            queue.move_to_front(entries.slab_mut(), idx);
        }
        None
    }

    #[cfg(test)]
    fn check(&self, entries: &Entries<K, u8>, order: &[u32]) {
        for &idx in order {
            assert!(entries.get(idx).state <= self.max_freq);
        }
    }
}

/// A CLOCK policy over keys `K`, with capacity in weight units.
#[doc(alias = "CLOCK")]
#[derive(Debug)]
pub struct ClockPolicy<K>(Keyed<K, Queue<SecondChance>>);

impl<K: super::PolicyKey> ClockPolicy<K> {
    /// Creates an empty CLOCK holding at most `capacity` weight units.
    pub fn new(capacity: u64, config: &ClockConfig) -> Self {
        let bits = config.bits.clamp(1, 8);
        let max_freq = u8::try_from((1u16 << bits) - 1).unwrap_or(u8::MAX);
        Self(Keyed::new(capacity, Queue::new(SecondChance { max_freq })))
    }
}

keyed_policy!(ClockPolicy);

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
    use super::*;

    #[test]
    fn referenced_entries_get_a_second_chance() {
        let mut clock = ClockPolicy::new(3, &ClockConfig::default());
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
